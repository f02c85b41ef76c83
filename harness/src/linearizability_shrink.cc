// Shrinking a failing register history to a small failing sub-history (delta debugging,
// Zeller and Hildebrandt 2002, after cutting the history at the shortest failing prefix).
//
// Removing operations can make a history fail that did not (drop the write a read saw, and
// the read fails), so a removal is tried only when it is sound: the smaller history failing
// must imply the larger one fails. A set R of operations may go when no remaining operation
// reads, or compares in a cas, a value written or set by an operation of R. Then any
// linearization of the larger history, minus R, with the indeterminate cas ops that saw R's
// values moved to the end (where they fail without effect), linearizes the smaller one.
// Reads may always go.
#include <algorithm>

#include "linearizability_internal.h"

namespace duende::harness::linearizability::internal {
namespace {

class Shrinker {
 public:
  Shrinker(const std::vector<SearchOp>& ops, int32_t initial, Clock::time_point deadline, bool fast)
      : ops_(ops), initial_(initial), deadline_(deadline), fast_(fast) {
    int32_t max_id = initial;
    for (const SearchOp& s : ops) max_id = std::max({max_id, s.a, s.b});
    mark_.assign(static_cast<size_t>(max_id) + 1, 0);
  }

  // Whether `keep` (indices into ops, a subset of `current`) still fails, and removing the
  // others from `current` is sound.
  bool Accept(const std::vector<size_t>& current, const std::vector<size_t>& keep) {
    if (Clock::now() > deadline_) {
      cut_short_ = true;
      return false;
    }
    // Values produced by removed ops.
    std::vector<char> in_keep(ops_.size(), 0);
    for (size_t i : keep) in_keep[i] = 1;
    std::fill(mark_.begin(), mark_.end(), 0);
    bool any = false;
    for (size_t i : current) {
      const SearchOp& s = ops_[i];
      if (in_keep[i] || s.f == Function::kRead) continue;
      mark_[static_cast<size_t>(s.f == Function::kCas ? s.b : s.a)] = 1;
      any = true;
    }
    if (any) {
      for (size_t i : keep) {
        const SearchOp& s = ops_[i];
        if (s.f != Function::kWrite && mark_[static_cast<size_t>(s.a)]) return false;
      }
    }
    std::vector<SearchOp> sub;
    sub.reserve(keep.size());
    for (size_t i : keep) sub.push_back(ops_[i]);
    SearchLimits limits;
    limits.deadline = deadline_;
    const SearchOutcome outcome = Decide(sub, initial_, limits, fast_);
    if (outcome == SearchOutcome::kOutOfBudget) cut_short_ = true;
    return outcome == SearchOutcome::kNotLinearizable;
  }

  bool cut_short() const { return cut_short_; }

 private:
  const std::vector<SearchOp>& ops_;
  int32_t initial_;
  Clock::time_point deadline_;
  bool fast_;
  std::vector<char> mark_;
  bool cut_short_ = false;
};

}  // namespace

std::vector<size_t> Shrink(const std::vector<SearchOp>& ops, int32_t initial,
                           Clock::time_point deadline, bool fast, bool* minimal) {
  Shrinker shrinker(ops, initial, deadline, fast);
  std::vector<size_t> current(ops.size());
  for (size_t i = 0; i < ops.size(); ++i) current[i] = i;
  // The shortest failing prefix in call order (binary search; each accepted prefix fails).
  std::stable_sort(current.begin(), current.end(),
                   [&](size_t x, size_t y) { return ops[x].call < ops[y].call; });
  size_t lo = 1, hi = current.size();
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    std::vector<size_t> prefix(current.begin(), current.begin() + static_cast<ptrdiff_t>(mid));
    if (shrinker.Accept(current, prefix)) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  current.resize(hi);
  // ddmin: remove chunks of 1/n of what is left, refining n down to single operations.
  size_t n = 2;
  while (current.size() >= 2 && !shrinker.cut_short()) {
    const size_t chunk = (current.size() + n - 1) / n;
    bool removed = false;
    for (size_t begin = 0; begin < current.size(); begin += chunk) {
      std::vector<size_t> keep(current.begin(), current.begin() + static_cast<ptrdiff_t>(begin));
      keep.insert(keep.end(),
                  current.begin() + static_cast<ptrdiff_t>(std::min(begin + chunk, current.size())),
                  current.end());
      if (shrinker.Accept(current, keep)) {
        current = std::move(keep);
        n = std::max<size_t>(n - 1, 2);
        removed = true;
        break;
      }
    }
    if (!removed) {
      if (chunk == 1) break;
      n = std::min(current.size(), n * 2);
    }
  }
  // ddmin removes one set at a time, and a set may be sound to remove only together with the
  // ops that read what it wrote (two cas ops each expecting the other's value): last, try
  // each op with everything that depends on it, until nothing more goes.
  for (bool changed = true; changed && !shrinker.cut_short();) {
    changed = false;
    for (size_t i : current) {
      std::vector<char> gone(ops.size(), 0);
      gone[i] = 1;
      for (bool grew = true; grew;) {
        grew = false;
        for (size_t p : current) {
          const SearchOp& s = ops[p];
          if (!gone[p] || s.f == Function::kRead) continue;
          const int32_t v = s.f == Function::kCas ? s.b : s.a;
          for (size_t q : current) {
            if (!gone[q] && ops[q].f != Function::kWrite && ops[q].a == v) {
              gone[q] = 1;
              grew = true;
            }
          }
        }
      }
      std::vector<size_t> keep;
      for (size_t q : current) {
        if (!gone[q]) keep.push_back(q);
      }
      if (shrinker.Accept(current, keep)) {
        current = std::move(keep);
        changed = true;
        break;
      }
    }
  }
  *minimal = !shrinker.cut_short();
  std::sort(current.begin(), current.end());
  return current;
}

}  // namespace duende::harness::linearizability::internal
