// Fuzz target: the history readers of `duende check-history` (duende JSONL, Jepsen EDN and
// jepsen.util log lines) and the checker behind them. The first byte picks the format and the
// model; the rest is the file. A rejected file names its place; an accepted one is checked
// (small budget), and a reported violation must fail on its own.
#include <chrono>

#include "duende/harness/linearizability.h"
#include "duende/harness/linearizability_history.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace duende;
  namespace lin = harness::linearizability;
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  const lin::HistoryFormat formats[] = {lin::HistoryFormat::kJsonl, lin::HistoryFormat::kEdn,
                                        lin::HistoryFormat::kJepsenLog, lin::HistoryFormat::kAuto};
  const lin::Model models[] = {lin::Model::kRegister, lin::Model::kCasRegister, lin::Model::kKv};
  const lin::Model model = models[(mode >> 2) % 3];
  auto h = lin::ParseHistory(fuzz::AsText(data + 1, size - 1), "fuzz", model, formats[mode % 4]);
  if (!h.ok()) {
    fuzz::CheckErrorNamesFile(h.error(), "fuzz");
    return 0;
  }
  if (h->ops.size() > 200) return 0;  // the search is exponential in the worst case
  lin::CheckOptions o;
  o.model = model;
  o.budget = std::chrono::milliseconds(200);
  o.minimize_budget = std::chrono::milliseconds(200);
  auto r = lin::CheckHistory(h->ops, o);
  if (!r.ok()) return 0;  // e.g. an op completed before it was invoked: a clean refusal
  if (r->verdict == lin::Verdict::kNotLinearizable) {
    fuzz::Check(r->violation.has_value() && !r->violation->ops.empty(),
                "a violation without operations");
    fuzz::Check(!lin::IsLinearizable(r->violation->ops, model, o.initial),
                "the reported sub-history is linearizable");
    (void)lin::FormatViolation(*r->violation, h->times_are_positions);
  }
  return 0;
}
