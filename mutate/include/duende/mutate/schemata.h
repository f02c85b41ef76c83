// Mutant schemata: every mutant of a file compiled into one translation unit, each behind a
// run-time switch, so one build serves all mutants.
//
// A site `a < b` with mutants 7 and 8 becomes
//   (duende_mutant_check(7u) ? (a <= b) : duende_mutant_check(8u) ? (a >= b) : (a < b))
// and a void function body gets `{ if (duende_mutant_check(9u)) return; ...`. The switch
// function (RuntimeSource) reads DUENDE_MUTANT once; when DUENDE_MUTANT_TRACE names a file,
// it also appends the id of every site reached (once per process), which is how the engine
// learns which tests cover which mutants.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "duende/mutate/mutant.h"

namespace duende::mutate {

/// The environment variable that selects the active mutant (unset: none).
inline constexpr const char* kMutantEnv = "DUENDE_MUTANT";
/// The environment variable naming the coverage trace file (unset: no tracing).
inline constexpr const char* kTraceEnv = "DUENDE_MUTANT_TRACE";

/// A file rewritten as a schemata, with enough layout to blame compile errors on mutants.
struct SchemataFile {
  struct Span {
    uint32_t id = 0;
    uint32_t begin = 0;  ///< offsets in `text`
    uint32_t end = 0;
    bool alternative = false;  ///< the mutant's own text (else the whole site)
  };
  std::string text;
  std::vector<Span> spans;
  /// Mutants that could not be placed (their site overlaps another one without nesting).
  std::vector<uint32_t> unplaced;
  /// Offset in `text` of the original file's first byte (a `#line 1` precedes it).
  uint32_t body_offset = 0;
};

/// Rewrites `original` with every mutant in `mutants` (all of the same file, ids < id_limit).
/// The switch function is defined (weak) at the end of the file, so no extra source has to be
/// added to the user's build.
SchemataFile RenderSchemata(std::string_view original, const std::vector<const Mutant*>& mutants,
                            uint32_t id_limit);

/// The mutants to blame for a compiler error at `line`:`column` (as the compiler reports it
/// for the generated file). Empty when the position is outside every mutant's code.
std::vector<uint32_t> BlameError(const SchemataFile& file, uint32_t line, uint32_t column);

/// The definition of `duende_mutant_check` (C++; ids must be < id_limit).
std::string RuntimeSource(uint32_t id_limit);

}  // namespace duende::mutate
