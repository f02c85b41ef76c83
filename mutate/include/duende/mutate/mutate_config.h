// The [mutate] section of a gates.toml, read through TomlReader.
//
//   [mutate]
//   compile_db = "build/compile_commands.json"   # required; relative to this file
//   files = ["src/*.cc"]                          # default: non-test sources
//   test_command = ["ctest"]                      # default: each ctest test
//   min_score = 80.0                              # percent; exit 1 below
//   max_survivors = 10
//   [[mutate.ignore]]
//   file = "src/calc.cc"
//   line = 12
//   reason = "equivalent: both branches return the same value"
#pragma once

#include <string>

#include "duende/framework/result.h"
#include "duende/mutate/engine.h"
#include "duende/mutate/report.h"

namespace duende::mutate {

struct MutateConfig {
  MutateOptions options;
  MutateGate gate;
  ReportPaths reports;
};

/// Reads the [mutate] table of `path` into `config` (values present override it); relative
/// paths are resolved against the file's directory. Other tables of the file are left to
/// their owners. Errors: invalid_argument with every problem as `file:line:col: message`;
/// the read error when the file cannot be read.
framework::Result<void> LoadMutateConfig(const std::string& path, MutateConfig* config);

}  // namespace duende::mutate
