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

// CMakeCache.txt values (KEY:TYPE=value).
std::map<std::string, std::string> ReadCmakeCache(const fs::path& dir) {
  std::map<std::string, std::string> out;
  std::ifstream in(dir / "CMakeCache.txt");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line[0] == '/') continue;
    auto colon = line.find(':');
    auto eq = line.find('=');
    if (colon == std::string::npos || eq == std::string::npos || colon > eq) continue;
    out[line.substr(0, colon)] = line.substr(eq + 1);
  }
  return out;
}

Result<void> Engine::Configure() {
  std::vector<std::string> argv = {
      "cmake", "-S", copy_, "-B", work_ + "/build", "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON"};
  for (const char* key :
       {"CMAKE_GENERATOR", "CMAKE_BUILD_TYPE", "CMAKE_CXX_COMPILER", "CMAKE_C_COMPILER"}) {
    auto it = cache_.find(key);
    if (it == cache_.end() || it->second.empty()) continue;
    if (std::string(key) == "CMAKE_GENERATOR") {
      argv.push_back("-G");
      argv.push_back(it->second);
      generator_ = it->second;
    } else {
      argv.push_back(std::string("-D") + key + "=" + it->second);
    }
  }
  argv.insert(argv.end(), o_.cmake_args.begin(), o_.cmake_args.end());
  std::string out;
  auto st = RunCaptured(argv, work_, &out);
  if (!st.ok()) return st.error();
  if (!st->success()) {
    return MessageError("configuring the copy failed (" + st->ToString() + "):\n" + Tail(out),
                        std::errc::io_error);
  }
  return {};
}

std::string Engine::Tail(const std::string& s) {
  return s.size() > 3000 ? "..." + s.substr(s.size() - 3000) : s;
}

// One build of the copy. Returns whether it succeeded and its output.
Result<bool> Engine::Build(std::string* out) {
  std::vector<std::string> argv = {"cmake", "--build", work_ + "/build", "-j",
                                   std::to_string(o_.jobs)};
  for (const auto& t : o_.build_targets) {
    argv.push_back("--target");
    argv.push_back(t);
  }
  argv.push_back("--");
  if (generator_.find("Ninja") != std::string::npos) {
    argv.push_back("-k");
    argv.push_back("0");
  } else {
    argv.push_back("-k");
  }
  int64_t t0 = framework::MonotonicNs();
  auto st = RunCaptured(argv, work_, out);
  run_.build_ns += framework::MonotonicNs() - t0;
  ++run_.builds;
  if (!st.ok()) return st.error();
  return st->success();
}

Result<void> Engine::BuildPlain() {
  std::string out;
  auto ok = Build(&out);
  if (!ok.ok()) return ok.error();
  if (!*ok) {
    return MessageError("the unmutated project does not build:\n" + Tail(out), std::errc::io_error);
  }
  return {};
}

Result<void> Engine::BuildSchemata() {
  // The mutants of each file still in the schemata build.
  std::map<std::string, std::vector<uint32_t>> active;
  for (auto& m : run_.mutants) {
    if (m.status == Status::kPending) active[m.file].push_back(m.id);
  }
  std::map<std::string, std::string> copy_to_file;
  for (const auto& [file, ids] : active) copy_to_file[Canonical(CopyOf(file), "/")] = file;
  for (int round = 0;; ++round) {
    for (auto& [file, ids] : active) {
      std::vector<const Mutant*> ms;
      for (uint32_t id : ids) ms.push_back(by_id_[id]);
      SchemataFile sf = RenderSchemata(run_.sources[file], ms, id_limit_);
      for (uint32_t id : sf.unplaced) {
        fallback_.push_back(id);
        std::erase(ids, id);
      }
      DUENDE_TRY(WriteFile(CopyOf(file), sf.text));
      schemata_[file] = std::move(sf);
    }
    std::string out;
    auto ok = Build(&out);
    if (!ok.ok()) return ok.error();
    Log("schemata build " + std::to_string(round + 1) + ": " + (*ok ? "ok" : "errors") + " (" +
        std::to_string(run_.Count(Status::kCompileError)) + " mutants dropped so far)");
    if (*ok) return {};
    if (round >= 8) break;
    std::vector<BuildError> errors;
    std::vector<BuildError> context;
    std::vector<std::string> failed;
    ParseBuildOutput(out, &errors, &context, &failed);
    std::set<std::string> blamed_files;
    bool progress = false;
    auto blame = [&](const BuildError& e) {
      auto it = copy_to_file.find(Canonical(e.file, work_ + "/build"));
      if (it == copy_to_file.end() || active.count(it->second) == 0) return false;
      const std::string& file = it->second;
      blamed_files.insert(file);
      std::vector<uint32_t> ids = BlameError(schemata_[file], e.line, e.column);
      for (uint32_t id : ids) {
        auto& list = active[file];
        if (std::find(list.begin(), list.end(), id) == list.end()) continue;
        std::erase(list, id);
        by_id_[id]->status = Status::kCompileError;
        by_id_[id]->detail = e.message;
        progress = true;
      }
      return !ids.empty();
    };
    for (const auto& e : errors) {
      if (!blame(e)) {
        // An error in a header instantiated from mutated code: blame the mutated place
        // that required it.
        for (const auto& c : context) blame(c);
      }
    }
    // A failed source without a blamed position: take it out of the schemata.
    for (const auto& f : failed) {
      auto it = copy_to_file.find(Canonical(f, work_ + "/build"));
      if (it == copy_to_file.end() || blamed_files.count(it->second) > 0) continue;
      if (active.count(it->second) == 0) continue;
      Log("cannot map the compile errors of " + it->second + " to mutants; rebuild mode for it");
      for (uint32_t id : active[it->second]) fallback_.push_back(id);
      DUENDE_TRY(WriteFile(CopyOf(it->second), run_.sources[it->second]));
      active.erase(it->second);
      progress = true;
    }
    if (!progress) {
      return MessageError(
          "the project does not build (errors outside the mutated code):\n" + Tail(out),
          std::errc::io_error);
    }
  }
  // Still failing: give up on the schemata, mutate one at a time.
  for (auto& [file, ids] : active) {
    for (uint32_t id : ids) fallback_.push_back(id);
    DUENDE_TRY(WriteFile(CopyOf(file), run_.sources[file]));
  }
  return BuildPlain();
}

}  // namespace duende::mutate::internal
