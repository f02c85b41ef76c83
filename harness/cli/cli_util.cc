#include "cli_util.h"

#include <unistd.h>

#include <iostream>

#include "duende/framework/clock.h"
#include "duende/framework/exit_code.h"

namespace duende::cli {

void PrintLoadError(const framework::Error& e) {
  PrintError(e.context.empty()                       ? e.Message()
             : e.code == std::errc::invalid_argument ? e.context
                                                     : e.Message());
}

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

void AddQuietFlag(CLI::App& app, bool* quiet, const std::string& what) {
  app.add_flag("-q,--quiet", *quiet, "quiet: leave out " + what + "; print only the result");
}

CLI::Option* AddSeedOption(CLI::App& app, uint64_t* seed, const std::string& what) {
  return app.add_option("--seed", *seed,
                        "seed of " + what + " (the same seed replays the same choices)");
}

void AddSetOption(CLI::App& app, std::vector<std::string>* sets, const std::string& what,
                  const std::string& example) {
  app.add_option("--set", *sets, "override " + what + " (repeatable), e.g. --set " + example)
      ->type_name("KEY=VALUE");
}

void AddReportOptions(CLI::App& app, ReportPaths* paths, unsigned options) {
  struct Declared {
    ReportOption bit;
    const char* name;
    std::string ReportPaths::*field;
    const char* help;
  };
  static const Declared kDeclared[] = {
      {kEventsOption, "--events", &ReportPaths::events, "write the event log (JSON Lines) here"},
      {kJunitOption, "--junit", &ReportPaths::junit, "write a JUnit XML report here"},
      {kJsonOption, "--json", &ReportPaths::json, "write a JSON report here"},
      {kHtmlOption, "--html", &ReportPaths::html, "write a self-contained HTML report here"},
      {kMarkdownOption, "--markdown", &ReportPaths::markdown, "write a Markdown summary here"},
  };
  for (const Declared& d : kDeclared) {
    if ((options & d.bit) != 0) app.add_option(d.name, paths->*d.field, d.help)->type_name("FILE");
  }
}

framework::Result<void> AddReportWriters(reporters::MultiReporter& out, const ReportPaths& paths) {
  return reporters::AddFileReporters(out, {{"jsonl", paths.events},
                                           {"junit", paths.junit},
                                           {"json", paths.json},
                                           {"html", paths.html},
                                           {"markdown", paths.markdown}});
}

void PrintReportPaths(std::ostream& out, const ReportPaths& paths) {
  for (const auto& [path, what] : {std::pair{paths.html, "HTML report"},
                                   {paths.junit, "JUnit report"},
                                   {paths.json, "JSON report"},
                                   {paths.markdown, "Markdown summary"},
                                   {paths.events, "event log"}}) {
    if (!path.empty()) out << what << ": " << path << '\n';
  }
}

reporters::ConsoleOptions ConsoleOptionsForStdout(bool quiet) {
  reporters::ConsoleOptions o = reporters::ConsoleOptionsFor(STDOUT_FILENO);
  if (quiet) {
    o.progress = false;
    o.live = false;
  }
  return o;
}

}  // namespace duende::cli
