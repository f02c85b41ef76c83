// Linearizability checking of a recorded history of register operations: the models
// `register`, `cas-register` and `kv` (a map of cas-registers, checked key by key), searched
// with the Wing-Gong-Lowe algorithm and a cache of visited (linearized set, state) pairs. Pure
// logic: it knows nothing of the runner, and any recorder feeds it through `Operation`.
// docs/linearizability.md describes the algorithm, the formats and the figures.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "duende/framework/result.h"

namespace duende::harness::linearizability {

/// A register value, compared by its text ("3", "abc"). std::nullopt is nil: the value of a
/// register nothing was written to, and what a read of it returns.
using Value = std::optional<std::string>;

/// What an operation did.
enum class Function : uint8_t {
  kRead,   ///< `value`: what the read returned (ok), unknown (info)
  kWrite,  ///< `value`: what was written
  kCas,    ///< compare-and-set: `value` the expected value, `new_value` the one set
};

/// How an operation ended, as Jepsen names it.
enum class Outcome : uint8_t {
  kOk,    ///< completed: it took effect, once, between invoke and complete
  kFail,  ///< definitely did not take effect (a refused cas, a request never sent)
  kInfo,  ///< indeterminate (timeout, dropped connection): it may or may not have taken
          ///< effect, at any time after its invocation; its complete_ns is ignored
};

/// One operation of one client: invocation and completion paired.
struct Operation {
  uint32_t client = 0;      ///< the process / connection that issued it
  int64_t invoke_ns = 0;    ///< when it was invoked (any monotonic clock, or event positions)
  int64_t complete_ns = 0;  ///< when its completion arrived (>= invoke_ns unless kInfo)
  Function f = Function::kRead;
  Value value;      ///< read: the value returned; write: the value written; cas: expected
  Value new_value;  ///< cas only: the value set when the register held `value`
  Outcome outcome = Outcome::kOk;
  std::string key;    ///< model kv: the register's key; ignored by the other models
  uint32_t line = 0;  ///< where it came from in a history file (1-based; 0: unknown)
};

/// The sequential specification operations are checked against.
enum class Model : uint8_t {
  kRegister,     ///< one register: read, write (a cas is bad input)
  kCasRegister,  ///< one register: read, write, cas
  kKv,           ///< a map of cas-registers by `key`; each key is checked on its own
};

/// "register", "cas-register", "kv".
const char* ModelName(Model model);
/// Parses a model name; false when `name` is none of ModelName's.
bool ParseModel(std::string_view name, Model* model);
/// "read", "write", "cas" / "ok", "fail", "info".
const char* FunctionName(Function f);
const char* OutcomeName(Outcome outcome);

struct CheckOptions {
  Model model = Model::kCasRegister;
  /// The value every register holds before the history starts.
  Value initial;
  /// Wall-clock budget for the search (all keys together); past it the answer is kUndecided.
  std::chrono::nanoseconds budget = std::chrono::seconds(60);
  /// At most this many distinct (linearized set, state) pairs are cached per search, in at
  /// most `max_memory_bytes` (24 bytes a pair plus 4 per concurrent op, about 180 bytes with
  /// 50 clients); past either the answer is kUndecided rather than a machine out of memory.
  uint64_t max_states = 10'000'000;
  uint64_t max_memory_bytes = uint64_t{1} << 30;
  /// Budget for shrinking a violation to a smaller failing sub-history (taken from what is
  /// left of `budget`); when it runs out, the smallest found so far is reported.
  std::chrono::nanoseconds minimize_budget = std::chrono::seconds(10);
  /// Decide histories where every value is written once (no cas, no indeterminate op) with
  /// the O(n log n) zone test instead of the search. Off only to compare the two.
  bool zone_fast_path = true;
};

enum class Verdict : uint8_t {
  kLinearizable,     ///< some order of the operations explains every result
  kNotLinearizable,  ///< no order does; `violation` shows a failing sub-history
  kUndecided,        ///< the budget or the state limit ran out first
};

/// "linearizable", "not linearizable", "undecided".
const char* VerdictName(Verdict verdict);

/// A non-linearizable sub-history of one key.
struct Violation {
  std::string key;  ///< model kv: the key whose history fails; "" otherwise
  /// The smallest failing sub-history found, sorted by invoke time. It is itself not
  /// linearizable, and it implies that the whole history is not: only reads, and writes whose
  /// values nothing left reads or compares, were removed from the key's history.
  std::vector<Operation> ops;
  /// The longest order of `ops` the search could build (a linearizable prefix), and the
  /// operations of `ops` left over when it could not be extended (indices into ops).
  std::vector<size_t> longest_order;
  std::vector<size_t> stuck;
  size_t key_ops = 0;    ///< operations of the key before shrinking (fail / info reads too)
  bool minimal = false;  ///< shrinking finished: removing any one more op makes it pass
};

struct Stats {
  size_t ops = 0;        ///< operations checked (after dropping fail ops and info reads)
  size_t keys = 0;       ///< independent sub-histories (1 unless kv)
  uint64_t states = 0;   ///< (linearized set, state) pairs cached, all keys together
  uint64_t steps = 0;    ///< search steps (linearize or backtrack)
  size_t zone_keys = 0;  ///< keys the zone test decided (no search)
  std::chrono::nanoseconds elapsed{0};
};

struct CheckResult {
  Verdict verdict = Verdict::kLinearizable;
  std::optional<Violation> violation;  ///< set when kNotLinearizable
  std::string undecided_key;           ///< kUndecided: the key whose search ran out ("" single)
  Stats stats;
};

/// Checks `ops` against `options.model`. Fail operations and indeterminate reads are
/// dropped (they changed nothing); an indeterminate write or cas may be linearized anywhere
/// after its invocation, or never. Ops may come in any order. Errors (invalid_argument, with
/// the op's line when known): a cas under model register, an ok or failed op completed
/// before it was invoked.
framework::Result<CheckResult> CheckHistory(const std::vector<Operation>& ops,
                                            const CheckOptions& options);

/// Whether `ops` of one register (the key is ignored) are linearizable, by the search alone
/// (no zone test), with no budget and no shrinking: what tests compare against. Ops must be
/// valid.
bool IsLinearizable(const std::vector<Operation>& ops, Model model, const Value& initial = {});

/// The violation as text: the key, each operation of the sub-history on one line (client,
/// function and values, outcome, times relative to its first invocation, file line), the
/// operations that could not be ordered marked with '*', and the longest order found.
/// `times_are_positions`: times are event positions in a file, not nanoseconds.
/// `origin_ns`: times are "+duration" from it instead (a run's start, so that a report can
/// place the operations on the run's timeline).
std::string FormatViolation(const Violation& violation, bool times_are_positions = false,
                            std::optional<int64_t> origin_ns = std::nullopt);

/// One operation as text: "client 2 cas 1->3 ok" (no times).
std::string FormatOperation(const Operation& op);

}  // namespace duende::harness::linearizability
