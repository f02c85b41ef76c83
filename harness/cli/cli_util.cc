#include "cli_util.h"

#include <iostream>

#include "duende/framework/clock.h"
#include "duende/framework/exit_code.h"

namespace duende::cli {

void PrintError(const std::string& message) { std::cerr << "duende: error: " << message << '\n'; }

void PrintWarning(const std::string& message) {
  std::cerr << "duende: warning: " << message << '\n';
}

int ParseArgs(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return framework::kExitOk;
  } catch (const CLI::CallForAllHelp&) {
    std::cout << app.help("", CLI::AppFormatMode::All);
    return framework::kExitOk;
  } catch (const CLI::ParseError& e) {
    PrintError(std::string(e.what()) + " (see 'duende " + app.get_name() + " --help')");
    return framework::kExitUsage;
  }
  return -1;
}

bool ParseDurationFlag(const std::string& flag, const std::string& text,
                       std::chrono::nanoseconds* out) {
  auto d = framework::ParseDurationIn(text, std::chrono::nanoseconds(0));
  if (!d.ok()) {
    PrintError(flag + " " + d.error().context);
    return false;
  }
  *out = *d;
  return true;
}

}  // namespace duende::cli
