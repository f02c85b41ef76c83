// The request history of a run: one record per request the load generator issued (and per
// key the read-back read), written into the event log as compact `load.ops` batches. It is
// the project's history recorder: the checks that judge requests (error_rate, p99_latency,
// no_lost_writes) read it, and so can later checkers (linearizability, counters). The format
// is documented in docs/events.md ("Request history").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "duende/model/events.h"
#include "duende/model/model.h"

namespace duende::harness {

/// How one request ended. The letter is the one written into the event log.
enum class OpOutcome : char {
  kOk = 'o',          ///< a reply that matched `expect`
  kWrongReply = 'e',  ///< a reply that did not match (definite: the target answered)
  kNotSent = 'n',     ///< never reached the target (no connection): definitely not applied
  kDropped = 'd',     ///< the connection failed with the request in flight: indeterminate
  kTimeout = 't',     ///< no reply within the timeout: indeterminate
  kAbandoned = 'a',   ///< still in flight when the run was stopped: indeterminate
};

/// True for outcomes whose effect on the target is unknown (Jepsen's :info).
bool Indeterminate(OpOutcome outcome);
/// Parses the letter of an outcome; false when `letter` is none of them.
bool ParseOutcome(char letter, OpOutcome* outcome);

/// One request. Times are CLOCK_MONOTONIC ns, the clock of every event's ts_ns.
struct LoadOp {
  uint32_t client = 0;      ///< connection index (0..connections-1); read-back: its own
  int64_t invoke_ns = 0;    ///< open loop: when the request was due; closed loop: when sent
  int64_t complete_ns = 0;  ///< reply, failure or timeout (complete - invoke = latency)
  OpOutcome outcome = OpOutcome::kOk;
  uint64_t key = 0;  ///< the {n} of {key} ("k<key>")
  uint64_t seq = 0;  ///< the {seq} sent; 0: nothing was sent (kNotSent, or a read-back op)
  /// Failures: the reply (wrong replies, at most kMaxOpText bytes, verbatim) or why there was
  /// none ("connection closed by the target"). Read-back: the reply of a read that did not
  /// find the value. Empty otherwise.
  std::string text;
  /// Read-back ops: the seq found in the reply (0: none found).
  uint64_t found = 0;
  /// Mixed workloads (LoadConfig::ops): the operation's kind as configured ("incr", "read",
  /// "add", "write", "enqueue", "dequeue", ...); "" for the other loads and for requests
  /// that never got as far as choosing one.
  std::string f;
  /// The value the request wrote: its {value} expansion, or its {seq} when it has no {value};
  /// "" when it writes none (a read, "INCR {key}"). At most kMaxOpValue bytes.
  std::string value;
  /// The value read: the first capture group of the op's `expect` in an ok reply ("" when
  /// that group did not match); none when the reply was not ok or `expect` captures nothing.
  /// At most kMaxOpValue bytes (a longer capture is cut: see ValueCut()).
  std::optional<std::string> read;
  /// Load spread over nodes (LoadConfig::nodes): the node the request went to; "" otherwise.
  std::string node;
};

inline constexpr size_t kMaxOpText = 64;
/// The most bytes of a written or read value the history keeps.
inline constexpr size_t kMaxOpValue = 4096;

/// `value` cut to kMaxOpValue bytes.
std::string TruncateOpValue(std::string_view value);
/// True when a recorded value may have been cut (it is kMaxOpValue bytes long).
inline bool ValueCut(const std::string& value) { return value.size() >= kMaxOpValue; }

/// Encodes a batch as the data of a load.ops / readback.ops event:
/// {"base_ns": B, "ops": [[client, invoke-B, complete-invoke, "o", key, seq(, text)], ...]}
/// Read-back rows (readback = true) carry `found` in place of seq. Ops of a mixed workload
/// (non-empty `f`) have ten fields: [..., seq, text, f, value, read] with text "" when there
/// is none and read null when nothing was read. Ops may be in any order.
nlohmann::json EncodeOps(const std::vector<LoadOp>& ops, bool readback = false);

/// Decodes one batch; malformed rows are skipped and counted in `*bad_rows` (may be null).
std::vector<LoadOp> DecodeOps(const nlohmann::json& data, bool readback = false,
                              size_t* bad_rows = nullptr);

/// Every op of the load (`type` = events::kLoadOps) or of the read-back (kReadbackOps) in
/// `events`, ordered by invoke time.
std::vector<LoadOp> OpsFromEvents(const std::vector<model::Event>& events,
                                  const char* type = model::events::kLoadOps);

/// `text` cut to kMaxOpText bytes (the recorder's truncation, one place).
std::string TruncateOpText(std::string_view text);

/// `text` for a message: \n and \r spelled out, other control bytes as '?', cut to
/// `max_bytes` with "..." appended when longer.
std::string PrintableText(std::string_view text, size_t max_bytes = SIZE_MAX);

}  // namespace duende::harness
