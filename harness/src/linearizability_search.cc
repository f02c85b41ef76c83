// The Wing-Gong-Lowe search (Wing and Gong 1993, as refined by Lowe 2017, "Testing for
// linearizability"): the history is a doubly linked list of call and return entries in time
// order. The search walks it from the front; a call whose operation the model accepts in the
// current state is linearized: its call and return are lifted out of the list and the search
// restarts from the front. Reaching a return whose operation is not linearized yet means no
// pending operation can come next: the last linearization is undone (unlifted) and the
// search moves past it. A cache of visited (set of linearized operations, state) pairs cuts
// every branch that reached an already explored configuration.
//
// The linearized set is kept compact: with operations numbered in call order, it is
// [0, m) minus a short sorted list of holes, where m - 1 is the highest linearized op. Every
// hole is an operation concurrent with a linearized one (or an indeterminate one that is still
// pending), so the list is about as long as the number of clients; the cache stores that list
// instead of an n-bit set, and both are updated and undone in O(holes) per step.
#include <algorithm>
#include <cstring>
#include <limits>

#include "linearizability_internal.h"

namespace duende::harness::linearizability::internal {
namespace {

uint64_t Mix(uint64_t x) {  // splitmix64's finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

// An open-addressing set of (state, m, holes) with the holes in one arena: 24 bytes a
// configuration plus 4 a hole, and no allocation per entry.
class VisitedSet {
 public:
  VisitedSet() : slots_(1u << 12) {}

  // Inserts the configuration; false when it was already there.
  bool Insert(int32_t state, uint32_t m, const std::vector<uint32_t>& holes) {
    uint64_t h = Mix((static_cast<uint64_t>(m) << 32) ^ static_cast<uint32_t>(state));
    for (uint32_t x : holes) h = Mix(h ^ x);
    h |= 1;  // 0 marks an empty slot
    if ((size_ + 1) * 10 > slots_.size() * 7) Grow();
    const size_t mask = slots_.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      Slot& s = slots_[i];
      if (s.hash == 0) {
        s = Slot{h, m, state, static_cast<uint32_t>(arena_.size()),
                 static_cast<uint32_t>(holes.size())};
        arena_.insert(arena_.end(), holes.begin(), holes.end());
        ++size_;
        return true;
      }
      if (s.hash == h && s.m == m && s.state == state && s.len == holes.size() &&
          (holes.empty() ||
           std::memcmp(&arena_[s.off], holes.data(), holes.size() * sizeof(uint32_t)) == 0)) {
        return false;
      }
    }
  }

  uint64_t size() const { return size_; }
  uint64_t bytes() const {
    return slots_.capacity() * sizeof(Slot) + arena_.capacity() * sizeof(uint32_t);
  }

 private:
  struct Slot {
    uint64_t hash = 0;
    uint32_t m = 0;
    int32_t state = 0;
    uint32_t off = 0;
    uint32_t len = 0;
  };

  void Grow() {
    std::vector<Slot> old(slots_.size() * 2);
    old.swap(slots_);
    const size_t mask = slots_.size() - 1;
    for (const Slot& s : old) {
      if (s.hash == 0) continue;
      size_t i = s.hash & mask;
      while (slots_[i].hash != 0) i = (i + 1) & mask;
      slots_[i] = s;
    }
  }

  std::vector<Slot> slots_;
  std::vector<uint32_t> arena_;
  uint64_t size_ = 0;
};

// The sequential register: whether `op` may take effect in `state`, and the state after.
bool Step(const SearchOp& op, int32_t state, int32_t* next) {
  switch (op.f) {
    case Function::kRead:
      *next = state;
      return state == op.a;
    case Function::kWrite:
      *next = op.a;
      return true;
    case Function::kCas:
      if (state == op.a) {
        *next = op.b;
        return true;
      }
      // An indeterminate cas that finds another value fails without effect, which is
      // consistent with its unknown reply; a completed one must have found its value.
      *next = state;
      return op.indeterminate;
  }
  return false;
}

}  // namespace

SearchReport Search(const std::vector<SearchOp>& ops, int32_t initial, const SearchLimits& limits,
                    bool record_longest) {
  SearchReport report;
  const auto n = static_cast<uint32_t>(ops.size());
  if (n == 0) return report;
  // Entries 0..2n-1: call of op i at 2i, its return at 2i+1; `head` is the list's sentinel.
  // Operation numbers are call order (the holes representation needs it): sort ops by call.
  std::vector<uint32_t> order(n);
  for (uint32_t i = 0; i < n; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](uint32_t x, uint32_t y) { return ops[x].call < ops[y].call; });
  std::vector<SearchOp> by_call(n);
  for (uint32_t i = 0; i < n; ++i) by_call[i] = ops[order[i]];

  std::vector<uint32_t> entries(2 * n);
  for (uint32_t i = 0; i < 2 * n; ++i) entries[i] = i;
  auto time_of = [&](uint32_t e) { return e % 2 == 0 ? by_call[e / 2].call : by_call[e / 2].ret; };
  // Calls before returns at the same time: touching operations count as concurrent, the
  // lenient reading of a clock's resolution.
  std::sort(entries.begin(), entries.end(), [&](uint32_t x, uint32_t y) {
    const int64_t tx = time_of(x), ty = time_of(y);
    if (tx != ty) return tx < ty;
    if (x % 2 != y % 2) return x % 2 == 0;
    return x < y;
  });
  const uint32_t head = 2 * n;
  constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();
  std::vector<uint32_t> next(2 * n + 1), prev(2 * n + 1);
  uint32_t last = head;
  for (uint32_t e : entries) {
    next[last] = e;
    prev[e] = last;
    last = e;
  }
  next[last] = kNone;

  auto lift = [&](uint32_t e) {
    for (uint32_t x : {e, e + 1}) {
      next[prev[x]] = next[x];
      if (next[x] != kNone) prev[next[x]] = prev[x];
    }
  };
  auto unlift = [&](uint32_t e) {  // the reverse order of lift (dancing links)
    for (uint32_t x : {e + 1, e}) {
      next[prev[x]] = x;
      if (next[x] != kNone) prev[next[x]] = x;
    }
  };

  struct Frame {
    uint32_t entry;
    int32_t state;
    uint32_t old_m;
    uint32_t hole_pos;  // kNone: op >= old_m, holes were appended
  };
  std::vector<Frame> stack;
  stack.reserve(n);
  std::vector<uint32_t> holes;
  uint32_t m = 0;
  int32_t state = initial;
  VisitedSet visited;

  // Marks op j linearized in (m, holes); returns the frame that undoes it.
  auto mark = [&](uint32_t entry, uint32_t j) {
    Frame f{entry, state, m, kNone};
    if (j >= m) {
      for (uint32_t k = m; k < j; ++k) holes.push_back(k);
      m = j + 1;
    } else {
      auto it = std::lower_bound(holes.begin(), holes.end(), j);
      f.hole_pos = static_cast<uint32_t>(it - holes.begin());
      holes.erase(it);
    }
    return f;
  };
  auto unmark = [&](const Frame& f) {
    const uint32_t j = f.entry / 2;
    if (f.hole_pos == kNone) {
      holes.resize(holes.size() - (j - f.old_m));
      m = f.old_m;
    } else {
      holes.insert(holes.begin() + f.hole_pos, j);
    }
  };

  uint32_t e = next[head];
  while (next[head] != kNone) {
    if ((++report.steps & 0xfff) == 0 &&
        (Clock::now() > limits.deadline || visited.size() > limits.max_states ||
         visited.bytes() > limits.max_bytes)) {
      report.outcome = SearchOutcome::kOutOfBudget;
      report.states = visited.size();
      return report;
    }
    if (e % 2 == 0) {
      const uint32_t j = e / 2;
      int32_t after = 0;
      if (Step(by_call[j], state, &after)) {
        Frame f = mark(e, j);
        if (visited.Insert(after, m, holes)) {
          stack.push_back(f);
          state = after;
          lift(e);
          if (record_longest && stack.size() > report.longest.size()) {
            report.longest.clear();
            for (const Frame& s : stack) report.longest.push_back(order[s.entry / 2]);
          }
          e = next[head];
          continue;
        }
        unmark(f);
      }
      e = next[e];
    } else {
      // A return whose op is still pending: nothing pending can be placed before it.
      if (stack.empty()) {
        report.outcome = SearchOutcome::kNotLinearizable;
        report.states = visited.size();
        return report;
      }
      const Frame f = stack.back();
      stack.pop_back();
      state = f.state;
      unmark(f);
      unlift(f.entry);
      e = next[f.entry];
    }
  }
  report.states = visited.size();
  if (record_longest) {
    report.longest.clear();
    for (const Frame& s : stack) report.longest.push_back(order[s.entry / 2]);
  }
  return report;
}

// The zone test. The cluster of a value is its write and the reads that returned it; its zone
// runs from the earliest completion in the cluster to the latest invocation. When the
// earliest completion comes first the zone is forward: the value must hold during all of it.
// Otherwise (backward) all of the cluster's ops overlap and the value can hold for an instant
// anywhere in it. Linearizable exactly when every read's write began before the read ended,
// no two forward zones overlap, and no backward zone lies inside a forward one. The initial
// value is written by a virtual write at -infinity.
std::optional<bool> ZoneDecision(const std::vector<SearchOp>& ops, int32_t initial) {
  int32_t max_id = initial;
  for (const SearchOp& s : ops) {
    if (s.f == Function::kCas || s.indeterminate) return std::nullopt;
    max_id = std::max(max_id, s.a);
  }
  struct Cluster {
    bool written = false;
    bool read = false;
    int64_t write_call = 0;
    int64_t min_ret = INT64_MAX;
    int64_t max_call = INT64_MIN;
  };
  std::vector<Cluster> clusters(static_cast<size_t>(max_id) + 1);
  Cluster& init = clusters[static_cast<size_t>(initial)];
  init.written = true;
  init.write_call = INT64_MIN;
  init.min_ret = INT64_MIN;
  for (const SearchOp& s : ops) {
    Cluster& c = clusters[static_cast<size_t>(s.a)];
    if (s.f == Function::kWrite) {
      if (c.written) return std::nullopt;  // a value written twice: the search decides
      c.written = true;
      c.write_call = s.call;
    } else {
      c.read = true;
    }
    c.min_ret = std::min(c.min_ret, s.ret);
    c.max_call = std::max(c.max_call, s.call);
  }
  for (const SearchOp& s : ops) {
    if (s.f != Function::kRead) continue;
    const Cluster& c = clusters[static_cast<size_t>(s.a)];
    if (!c.written || s.ret < c.write_call) return false;  // nothing wrote it before it ended
  }
  std::vector<std::pair<int64_t, int64_t>> forward, backward;
  for (size_t v = 0; v < clusters.size(); ++v) {
    const Cluster& c = clusters[v];
    if (!c.written || (static_cast<int32_t>(v) == initial && !c.read)) continue;
    if (c.min_ret < c.max_call) {
      forward.emplace_back(c.min_ret, c.max_call);
    } else {
      backward.emplace_back(c.max_call, c.min_ret);
    }
  }
  std::sort(forward.begin(), forward.end());
  for (size_t i = 1; i < forward.size(); ++i) {
    if (forward[i].first < forward[i - 1].second) return false;  // two values at once
  }
  for (const auto& [start, end] : backward) {
    // The only forward zone that can hold it is the last one starting before it starts.
    auto it = std::lower_bound(forward.begin(), forward.end(), std::make_pair(start, INT64_MIN));
    if (it == forward.begin()) continue;
    --it;
    if (it->first < start && end < it->second) return false;
  }
  return true;
}

SearchOutcome Decide(const std::vector<SearchOp>& ops, int32_t initial, const SearchLimits& limits,
                     bool fast, SearchReport* report) {
  if (fast) {
    if (auto zones = ZoneDecision(ops, initial)) {
      if (report != nullptr) report->by_zones = true;
      return *zones ? SearchOutcome::kLinearizable : SearchOutcome::kNotLinearizable;
    }
  }
  SearchReport r = Search(ops, initial, limits);
  if (report != nullptr) *report = r;
  return r.outcome;
}

}  // namespace duende::harness::linearizability::internal
