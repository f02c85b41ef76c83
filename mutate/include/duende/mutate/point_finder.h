// PointFinder: finds mutation points in one C++ source file with libclang.
//
// Points come from the AST (built-in operators, return statements, calls, function bodies),
// so they are never inside comments or string literals; any point whose range touches a macro
// expansion is skipped, as is code that must stay a constant expression (constexpr functions
// and variables, static_assert, case labels, template arguments, enumerators, sizeof).
#pragma once

#include <string>
#include <vector>

#include "duende/framework/result.h"
#include "duende/mutate/mutant.h"

namespace duende::mutate {

struct FindOptions {
  OperatorSet operators = kDefaultOperators;
};

/// The mutants of one file, sorted by offset, with id 0 (the engine numbers them).
struct FileMutants {
  std::string file;
  std::string text;  ///< the file's contents as parsed
  std::vector<Mutant> mutants;
  std::vector<std::string> parse_errors;  ///< clang errors (points may be incomplete)
};

/// Parses `file` with the compiler arguments `args` (flags only: no compiler, no -o/-c, no
/// source file) and lists its mutation points. Errors: ENOENT when the file cannot be read,
/// invalid_argument when libclang cannot parse it at all.
framework::Result<FileMutants> FindMutants(const std::string& file,
                                           const std::vector<std::string>& args,
                                           const FindOptions& options = {});

}  // namespace duende::mutate
