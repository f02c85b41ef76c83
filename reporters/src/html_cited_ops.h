// The HTML report's "cited operations" lanes: the operations a failed check's evidence cites
// (cited_ops.h), drawn under the timeline on the same time axis.
#pragma once

#include <string>

#include "duende/model/model.h"
#include "report_util.h"

namespace duende::reporters::internal {

/// An SVG of the operations cited by the checks that did not pass ("" when none cites any):
/// an overview strip on the timeline's scale (`t_end`: its right edge in seconds) marking
/// where they are, then a detail window around them with one lane per (check, client), one
/// row per operation, a bar from invocation to completion labelled with what it did and read;
/// target exits as dashed lines.
std::string CitedOpsChart(const model::ScenarioResult& s, const RunStats& st, double t_end);

/// The CSS of the chart's classes.
const char* CitedOpsCss();

}  // namespace duende::reporters::internal
