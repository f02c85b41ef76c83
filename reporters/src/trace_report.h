// The report's syscall-trace and trace-context section (private to the reporters): decoded
// from the trace.summary / trace.window events and load.summary's trace_ids, rendered as
// console text, Markdown and HTML by trace_report.cc. Empty output when a run has none.
#pragma once

#include <string>

#include "report_util.h"

namespace duende::reporters::internal {

/// Plain text for the console summary ("" without traces or trace ids).
std::string TraceConsole(const ScenarioResult& s);
/// A Markdown section ("" without traces or trace ids).
std::string TraceMarkdown(const ScenarioResult& s);
/// An HTML section (<h3>Syscalls</h3>...; "" without traces or trace ids). `esc` escapes text.
std::string TraceHtml(const ScenarioResult& s);
/// The same figures for the JSON report: {"syscalls": {...per target}, "windows": [...],
/// "trace_ids": {...}} (null without any).
nlohmann::json TraceJson(const ScenarioResult& s);

}  // namespace duende::reporters::internal
