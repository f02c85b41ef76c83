// CompileDb: the entries of a compile_commands.json (CMAKE_EXPORT_COMPILE_COMMANDS=ON).
#pragma once

#include <string>
#include <vector>

#include "duende/framework/result.h"

namespace duende::mutate {

struct CompileEntry {
  std::string directory;
  std::string file;               ///< absolute, normalized
  std::vector<std::string> argv;  ///< the whole command, compiler first
  /// The flags libclang needs: argv without the compiler, -c, -o X, dependency-file options
  /// and the source file itself.
  std::vector<std::string> ParseArgs() const;
};

/// Reads compile_commands.json. Errors: ENOENT when it cannot be read; invalid_argument
/// ("path: not a compilation database: ...") when it is not the expected JSON.
framework::Result<std::vector<CompileEntry>> LoadCompileDb(const std::string& path);

/// Splits a shell command line (single/double quotes and backslashes; no expansion).
std::vector<std::string> SplitCommand(const std::string& command);

}  // namespace duende::mutate
