// Helpers shared by the verbs: error printing in one shape, CLI11 parsing with our exit codes.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <string>

#include "duende/framework/result.h"

namespace duende::cli {

/// Prints "duende: error: <message>" to stderr.
void PrintError(const std::string& message);
/// Prints "duende: warning: <message>" to stderr.
void PrintWarning(const std::string& message);

/// Parses argv with `app`. Returns -1 when parsing succeeded and the verb should run, else the
/// exit code to return (0 after --help, 2 after a usage error, with the message printed).
int ParseArgs(CLI::App& app, int argc, char** argv);

/// Parses the duration flag `flag` ("--for") with the shared duration rules (0 to 365 days,
/// framework::kMaxDuration). On failure prints `--for is "-5s"; it must be a duration between
/// 0s and 365 days` (or "must be a duration such as ...") and returns false.
bool ParseDurationFlag(const std::string& flag, const std::string& text,
                       std::chrono::nanoseconds* out);

}  // namespace duende::cli
