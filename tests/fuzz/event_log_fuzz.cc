// Fuzz target: the event-log reader (`duende report run/events.jsonl`) and everything `report`
// does with what it reads: rebuilding the results and rendering every output format.
#include <sstream>

#include "duende/model/event_log.h"
#include "duende/reporters/reporter.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace duende;
  const std::string name = "events.jsonl";
  auto events = model::ParseEventLog(fuzz::AsText(data, size), name);
  if (!events.ok()) {
    fuzz::CheckErrorNamesFile(events.error(), name);
    return 0;
  }
  const model::RunReport report = model::RunReportFromEvents(std::move(events).value());
  for (const auto& scenario : report.scenarios) {
    (void)reporters::RenderConsoleSummary(scenario, /*color=*/true);
  }
  std::ostringstream console;
  reporters::ConsoleOptions options;
  options.color = true;
  auto reporter = reporters::MakeConsoleReporter(console, options);
  reporters::Replay(report, *reporter);
  (void)reporters::RenderJson(report);
  (void)reporters::RenderJunit(report);
  (void)reporters::RenderMarkdown(report);
  (void)reporters::RenderHtml(report);
  return 0;
}
