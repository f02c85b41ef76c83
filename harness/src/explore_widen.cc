// Wider variants of a shrunk fault plan: the same faults with more time between them, longer
// durations, and away from the start of the window, for a minimal plan that fails only
// sometimes (see WidenedPlans in explore.h).
#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "duende/harness/explore.h"

namespace duende::harness {
namespace {

// The factors the gaps and durations are multiplied by, least change first. 1 only moves
// the plan to the middle of the window.
constexpr int64_t kFactors[] = {1, 2, 3, 4, 6};

// The duration range of the template `f` was drawn from (its kind, its target, a range that
// holds its duration); {d, d} when none matches (a plan not generated from these bounds).
std::pair<int64_t, int64_t> DurationRange(const PlannedFault& f, const ExploreBounds& b) {
  const int64_t d = *f.duration_ms;
  for (const FaultTemplate& t : b.faults) {
    if (t.kind != f.kind || !t.duration_ms) continue;
    const auto& targets = t.targets.empty() ? b.targets : t.targets;
    if (std::find(targets.begin(), targets.end(), f.target) == targets.end()) continue;
    if (d >= t.duration_ms->first && d <= t.duration_ms->second) return *t.duration_ms;
  }
  return {d, d};
}

int64_t FloorTo(int64_t value, int64_t step) { return value / step * step; }

}  // namespace

uint32_t RequiredCount(double rate, uint32_t runs) {
  if (runs == 0) return 0;
  // 1e-9: 0.9 * 10 is 9.000000000000002 in binary floating point, and must give 9.
  auto need = static_cast<uint32_t>(std::ceil(rate * runs - 1e-9));
  return std::clamp<uint32_t>(need, 1, runs);
}

std::vector<Plan> WidenedPlans(const Plan& plan, const ExploreBounds& bounds) {
  std::vector<Plan> out;
  if (plan.faults.empty()) return out;
  const int64_t step = std::max<int64_t>(1, bounds.step_ms);
  const int64_t room = std::max<int64_t>(0, bounds.window_end_ms - bounds.window_start_ms);
  // The faults in time order (equal times in plan order, the order the runner injects them).
  std::vector<size_t> order(plan.faults.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return plan.faults[a].at_ms < plan.faults[b].at_ms; });
  const int64_t first = plan.faults[order.front()].at_ms;
  // A gap of 0 (two faults at once) grows too, in steps of a sixteenth of the window.
  const int64_t unit = std::max(step, room / 16);
  std::set<std::string> seen{DescribePlan(plan)};
  for (int64_t factor : kFactors) {
    Plan p = plan;
    // Offsets from the first injection with every gap multiplied; squeezed back into the
    // window when they no longer fit (the order of the faults never changes).
    std::vector<int64_t> offsets(p.faults.size(), 0);
    for (size_t k = 1; k < order.size(); ++k) {
      int64_t gap = plan.faults[order[k]].at_ms - plan.faults[order[k - 1]].at_ms;
      offsets[order[k]] = offsets[order[k - 1]] + std::max(gap * factor, (factor - 1) * unit);
    }
    int64_t span = offsets[order.back()];
    for (auto& off : offsets) {
      if (span > room) off = off * room / span;
      off = FloorTo(off, step);
    }
    span = offsets[order.back()];
    // The middle of the window, never earlier than the plan was (the shrinker moved it as
    // early as it still failed) and never past the window's end.
    int64_t start = bounds.window_start_ms + FloorTo((room - span) / 2, step);
    start = std::min(std::max(start, first), bounds.window_end_ms - span);
    for (size_t i = 0; i < p.faults.size(); ++i) {
      PlannedFault& f = p.faults[i];
      f.at_ms = start + offsets[i];
      if (!f.duration_ms) continue;
      auto [lo, hi] = DurationRange(plan.faults[i], bounds);
      int64_t d = std::clamp(*plan.faults[i].duration_ms * factor, lo, hi);
      // Heal by the end of the scenario, as generated faults do.
      if (bounds.timeline_ms > f.at_ms) d = std::min(d, bounds.timeline_ms - f.at_ms);
      f.duration_ms = d;
    }
    if (seen.insert(DescribePlan(p)).second) out.push_back(std::move(p));
  }
  return out;
}

}  // namespace duende::harness
