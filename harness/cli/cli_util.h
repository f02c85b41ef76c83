// Helpers shared by the verbs: error printing in one shape, CLI11 parsing with our exit codes,
// and the options several verbs share (-q, --seed, --set, the report paths), each declared
// and honoured here once so that it has one name, one help text and one meaning everywhere.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "duende/framework/result.h"
#include "duende/reporters/reporter.h"

namespace duende::cli {

/// Prints "duende: error: <message>" to stderr.
void PrintError(const std::string& message);
/// Prints "duende: warning: <message>" to stderr.
void PrintWarning(const std::string& message);
/// Prints why a file could not be loaded: a validation error's file:line:col lines as they are
/// (invalid_argument), any other error with its errno text.
void PrintLoadError(const framework::Error& e);

/// Parses argv with `app`. Returns -1 when parsing succeeded and the verb should run, else the
/// exit code to return (0 after --help, 2 after a usage error, with the message printed).
int ParseArgs(CLI::App& app, int argc, char** argv);

/// Parses the duration flag `flag` ("--for") with the shared duration rules (0 to 365 days,
/// framework::kMaxDuration). On failure prints `--for is "-5s"; it must be a duration between
/// 0s and 365 days` (or "must be a duration such as ...") and returns false.
bool ParseDurationFlag(const std::string& flag, const std::string& text,
                       std::chrono::nanoseconds* out);

/// Declares -q/--quiet: leave out the progress lines (events, plans, mutants, service events,
/// warnings), print only the result (summary tables, verdicts, seeds, where reports went).
/// `what` names what is left out for this verb, e.g. "the event lines".
void AddQuietFlag(CLI::App& app, bool* quiet, const std::string& what);

/// Declares --seed N, the seed of `what`; the option's count() says whether it was given.
CLI::Option* AddSeedOption(CLI::App& app, uint64_t* seed, const std::string& what);

/// Declares --set KEY=VALUE (repeatable) overriding `what`, with an example.
void AddSetOption(CLI::App& app, std::vector<std::string>* sets, const std::string& what,
                  const std::string& example);

/// The report files a verb writes; "" = not wanted.
struct ReportPaths {
  std::string events;    ///< --events: the event log, JSON Lines (docs/events.md)
  std::string junit;     ///< --junit: JUnit XML
  std::string json;      ///< --json: one JSON document
  std::string html;      ///< --html: a self-contained HTML page
  std::string markdown;  ///< --markdown: a Markdown summary
};

/// The report options a verb offers (a bit set).
enum ReportOption : unsigned {
  kEventsOption = 1u << 0,
  kJunitOption = 1u << 1,
  kJsonOption = 1u << 2,
  kHtmlOption = 1u << 3,
  kMarkdownOption = 1u << 4,
  kAllReportOptions = (1u << 5) - 1,
};

/// Declares the report options in `options` (ReportOption bits), each taking a file path.
void AddReportOptions(CLI::App& app, ReportPaths* paths, unsigned options);

/// Adds a reporter (reporters/) for each path given. Errors: the first file that cannot be
/// created ("unable to open PATH: ..."); the verb prints it and exits 3 before running.
framework::Result<void> AddReportWriters(reporters::MultiReporter& out, const ReportPaths& paths);

/// Prints "HTML report: PATH" (and so on) for each path given, after the reports are written.
void PrintReportPaths(std::ostream& out, const ReportPaths& paths);

/// Console reporter options for stdout (live line and colour on a terminal), with progress
/// off under -q.
reporters::ConsoleOptions ConsoleOptionsForStdout(bool quiet);

}  // namespace duende::cli
