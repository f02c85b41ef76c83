// Reports of a mutation run: compiler-style survivor lines, Stryker JSON (mutation-testing-
// report-schema, so existing viewers open it), a self-contained HTML page, JUnit XML. The files
// are written by the reporters' file writers, the JUnit XML by their JUnit renderer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "duende/framework/result.h"
#include "duende/model/model.h"
#include "duende/mutate/engine.h"

namespace duende::mutate {

/// The thresholds a run must meet.
struct MutateGate {
  std::optional<double> min_score;  ///< percent
  std::optional<uint32_t> max_survivors;
};

struct GateResult {
  bool pass = true;
  std::string message;  ///< "mutation score 75.0% < 80.0%" or "mutation score 90.0% >= 80.0%"
};

/// Passes when the score (MutateRun::Score(), percent) is >= min_score and the undetected
/// mutants (survived + no coverage) are <= max_survivors; a bound left unset always holds,
/// so an empty gate passes. `message` shows each measured value against its bound.
GateResult EvaluateGate(const MutateRun& run, const MutateGate& gate);

/// `file:line:col: warning: survived: '<' -> '<=' [EqualityOperator]` per survivor, then the
/// same shape with "no coverage" for uncovered mutants. Paths are shown relative to `base`.
std::string SurvivorLines(const MutateRun& run, const std::string& base);

/// One line: "mutate: 40 mutants: 30 killed, 1 timeout, 5 survived, 2 no coverage, ...
/// score 79.5%".
std::string SummaryLine(const MutateRun& run);

/// The Stryker mutation-testing-report JSON (schemaVersion 1).
std::string StrykerJson(const MutateRun& run);

/// A self-contained HTML page: score, per-file table, survivors with their diffs.
std::string HtmlReport(const MutateRun& run, const GateResult& gate);

/// The run in the result model: one scenario "duende-mutate" whose checks are the gate and one
/// per tested mutant ("file:line:col '<' -> '<='", kind = the mutator); survivors and uncovered
/// mutants FAIL, as does the gate when it does not hold.
model::RunReport AsRunReport(const MutateRun& run, const GateResult& gate);

/// JUnit XML (the reporters' RenderJunit of AsRunReport): a test case per tested mutant
/// (survivors and uncovered ones fail) and one for the gate.
std::string JunitReport(const MutateRun& run, const GateResult& gate);

/// Where reports go ("" : not written).
struct ReportPaths {
  std::string json;
  std::string html;
  std::string junit;
};

/// Writes each wanted report through the reporters' file writers. Errors: the first file that
/// cannot be opened or written ("unable to open PATH: ...", errno).
framework::Result<void> WriteReports(const ReportPaths& paths, const MutateRun& run,
                                     const GateResult& gate);

}  // namespace duende::mutate
