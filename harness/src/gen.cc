// rapidcheck generators of fault plans within a scenario's [explore] bounds.
#include "duende/harness/gen.h"

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace duende::harness::gen {
namespace {

std::string QuoteMs(int64_t ms) { return "\"" + std::to_string(ms) + "ms\""; }

// [lo, hi], shrinking toward lo; a constant when lo == hi (no shrink steps wasted on it).
rc::Gen<int64_t> Range(int64_t lo, int64_t hi) {
  if (lo >= hi) return rc::gen::just(lo);
  return rc::gen::inRange<int64_t>(lo, hi + 1);
}

// One of `choices`, shrinking toward the first.
rc::Gen<std::string> Choice(const std::vector<std::string>& choices) {
  if (choices.size() == 1) return rc::gen::just(choices.front());
  return rc::gen::map(rc::gen::inRange<size_t>(0, choices.size()),
                      [choices](size_t i) { return choices[i]; });
}

// lo + k * step in [lo, hi] (and hi itself), shrinking toward lo.
rc::Gen<int64_t> Stepped(int64_t lo, int64_t hi, int64_t step) {
  if (lo >= hi || step <= 1) return Range(lo, hi);
  int64_t n = (hi - lo + step - 1) / step;
  return rc::gen::map(Range(0, n),
                      [lo, hi, step](int64_t k) { return std::min(hi, lo + k * step); });
}

rc::Gen<PlannedFault> FromTemplate(const FaultTemplate& t, const ExploreBounds& b) {
  return rc::gen::exec([t, b] {
    PlannedFault f;
    f.kind = t.kind;
    f.target = *Choice(t.targets.empty() ? b.targets : t.targets);
    f.at_ms = *Stepped(b.window_start_ms, b.window_end_ms, b.step_ms);
    if (t.duration_ms) {
      int64_t d = *Stepped(t.duration_ms->first, t.duration_ms->second, b.step_ms);
      // Heal by the end of the scenario (the parser rejects faults that outlast it).
      if (b.timeline_ms > f.at_ms) d = std::min(d, b.timeline_ms - f.at_ms);
      f.duration_ms = d;
    }
    for (const ParamBound& p : t.params) {
      switch (p.kind) {
        case ParamBound::Kind::kFixed:
          f.params.emplace_back(p.name, p.choices.front());
          break;
        case ParamBound::Kind::kChoice:
          f.params.emplace_back(p.name, *Choice(p.choices));
          break;
        case ParamBound::Kind::kIntRange:
          f.params.emplace_back(p.name, std::to_string(*Range(p.min, p.max)));
          break;
        case ParamBound::Kind::kDurationRange:
          f.params.emplace_back(p.name, QuoteMs(*Range(p.min, p.max)));
          break;
      }
    }
    return f;
  });
}

// rapidcheck's inRange narrows its range at small sizes; plans are generated at the nominal
// size so that every choice is uniform over its whole bounds from the first plan on.
constexpr int kPlanSize = rc::kNominalSize;

}  // namespace

rc::Gen<PlannedFault> Fault(const ExploreBounds& bounds) {
  std::vector<rc::Gen<PlannedFault>> per_template;
  per_template.reserve(bounds.faults.size());
  for (const auto& t : bounds.faults) per_template.push_back(FromTemplate(t, bounds));
  return rc::gen::exec([per_template] {
    size_t i = per_template.size() == 1 ? 0 : *rc::gen::inRange<size_t>(0, per_template.size());
    return *per_template[i];
  });
}

rc::Gen<Plan> FaultPlan(const ExploreBounds& bounds) {
  rc::Gen<PlannedFault> fault = Fault(bounds);
  // Each of max_faults slots holds a fault with probability 2/3. The slots are independent
  // elements of a fixed-size container, so emptying one (the first shrink tried for it: the
  // draw shrinks toward 0 = empty; weightedElement would not shrink at all) leaves the others
  // as they are; shrinking drops faults before it touches their parameters.
  rc::Gen<std::optional<PlannedFault>> slot = rc::gen::exec([fault] {
    bool present = *rc::gen::inRange(0, 3) != 0;
    return present ? std::optional<PlannedFault>(*fault) : std::nullopt;
  });
  auto slots = rc::gen::container<std::vector<std::optional<PlannedFault>>>(bounds.max_faults,
                                                                            std::move(slot));
  auto plan = rc::gen::map(std::move(slots), [](std::vector<std::optional<PlannedFault>> v) {
    Plan p;
    for (auto& f : v) {
      if (f) p.faults.push_back(std::move(*f));
    }
    return p;
  });
  return rc::gen::resize(kPlanSize, rc::gen::suchThat(std::move(plan), [](const Plan& p) {
                           return !p.faults.empty();
                         }));
}

}  // namespace duende::harness::gen
