#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "duende/framework/clock.h"
#include "duende/framework/unique_fd.h"
#include "duende/mutate/compile_db.h"
#include "duende/mutate/engine.h"
#include "duende/mutate/point_finder.h"
#include "duende/mutate/schemata.h"
#include "duende/mutate/test_runner.h"
#include "engine_internal.h"

namespace duende::mutate::internal {

// "path:line:col: error: message" and "path:line:col:   required from here" lines, plus the
// sources of failed compile commands ("FAILED: x.o" followed by a command with "-c src").
void ParseBuildOutput(const std::string& out, std::vector<BuildError>* errors,
                      std::vector<BuildError>* context, std::vector<std::string>* failed_sources) {
  static const std::regex kError(R"(^([^:\s][^:]*):(\d+):(\d+): (?:fatal )?error: (.*)$)");
  static const std::regex kContext(R"(^([^:\s][^:]*):(\d+):(\d+):\s+(required from|note:)(.*)$)");
  std::istringstream in(out);
  std::string line;
  bool after_failed = false;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, kError)) {
      errors->push_back({m[1], static_cast<uint32_t>(std::stoul(m[2])),
                         static_cast<uint32_t>(std::stoul(m[3])), m[4]});
    } else if (std::regex_match(line, m, kContext)) {
      context->push_back({m[1], static_cast<uint32_t>(std::stoul(m[2])),
                          static_cast<uint32_t>(std::stoul(m[3])), m[4]});
    }
    if (after_failed) {
      auto args = SplitCommand(line);
      for (size_t i = 0; i + 1 < args.size(); ++i) {
        if (args[i] == "-c") failed_sources->push_back(args[i + 1]);
      }
      after_failed = false;
    }
    if (line.rfind("FAILED: ", 0) == 0) after_failed = true;
  }
}

std::string Canonical(const std::string& p, const std::string& base) {
  std::error_code ec;
  fs::path path = fs::path(p).is_absolute() ? fs::path(p) : fs::path(base) / p;
  return fs::weakly_canonical(path, ec).string();
}

}  // namespace duende::mutate::internal
