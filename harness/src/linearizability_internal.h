// The linearizability checker's parts that its files share: the search over one register's
// history (linearizability_search.cc) and the shrinker (linearizability_shrink.cc).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "duende/harness/linearizability.h"

namespace duende::harness::linearizability::internal {

using Clock = std::chrono::steady_clock;

/// One register's operation as the search sees it: values interned to small integers.
struct SearchOp {
  int64_t call = 0;
  int64_t ret = 0;  ///< INT64_MAX for an indeterminate op: it never has to be placed early
  Function f = Function::kRead;
  bool indeterminate = false;
  int32_t a = 0;  ///< read: value read; write: value written; cas: expected
  int32_t b = 0;  ///< cas: value set
};

/// Values as small integers: nil is 0, each distinct text gets the next number.
class ValueTable {
 public:
  int32_t Id(const Value& v);

 private:
  std::unordered_map<std::string, int32_t> ids_;
};

enum class SearchOutcome { kLinearizable, kNotLinearizable, kOutOfBudget };

struct SearchLimits {
  Clock::time_point deadline = Clock::time_point::max();
  uint64_t max_states = UINT64_MAX;
  uint64_t max_bytes = UINT64_MAX;  ///< the visited set's memory
};

struct SearchReport {
  SearchOutcome outcome = SearchOutcome::kLinearizable;
  uint64_t states = 0;
  uint64_t steps = 0;
  bool by_zones = false;  ///< Decide: the zone test decided, there was no search
  /// With record_longest: the longest linearizable order found (indices into ops).
  std::vector<uint32_t> longest;
};

/// Wing-Gong-Lowe search of `ops` (one register, fail ops and indeterminate reads removed)
/// from the value `initial`.
SearchReport Search(const std::vector<SearchOp>& ops, int32_t initial, const SearchLimits& limits,
                    bool record_longest = false);

/// Gibbons and Korach's zone test (1997; as stated by Golab, Li and Shah 2011): decides a
/// register history in O(n log n) when every value is written at most once (and never the
/// initial value) and there is no cas and no indeterminate op, as with duende's {seq} writes.
/// nullopt when it does not apply.
std::optional<bool> ZoneDecision(const std::vector<SearchOp>& ops, int32_t initial);

/// ZoneDecision when it applies (and `fast` is set), else Search.
SearchOutcome Decide(const std::vector<SearchOp>& ops, int32_t initial, const SearchLimits& limits,
                     bool fast, SearchReport* report = nullptr);

/// The ops of one register that the search needs, interned: fail ops and indeterminate reads
/// dropped, and indeterminate writes and cas whose values nothing reads or compares (placing
/// those last, where nothing sees them, is as good as any other place). `kept` receives the
/// index in `ops` of each SearchOp returned.
std::vector<SearchOp> Prepare(const std::vector<Operation>& ops, ValueTable& values,
                              int32_t initial, std::vector<size_t>* kept);

/// Shrinks a failing history of one register (`ops`, already Prepare'd: every op kept) to a
/// smaller one that still fails, removing only what keeps "the smaller one fails" implying
/// "this one fails". Returns indices into ops, sorted; `*minimal` says whether it is
/// 1-minimal (no single op more could be removed) or the deadline cut shrinking short.
/// `fast`: decide candidates with the zone test where it applies.
std::vector<size_t> Shrink(const std::vector<SearchOp>& ops, int32_t initial,
                           Clock::time_point deadline, bool fast, bool* minimal);

}  // namespace duende::harness::linearizability::internal
