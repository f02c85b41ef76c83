// Helpers shared by the verbs: error printing in one shape, CLI11 parsing with our exit codes.
#pragma once

#include <CLI/CLI.hpp>
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

}  // namespace duende::cli
