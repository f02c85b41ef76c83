// Load generators: drive requests at a loopback target while faults happen, and read back
// acknowledged writes afterwards (for the lost-write check). See docs/load.md.
//
// Open loop sends at a constant rate on a fixed schedule and measures each latency from the
// request's INTENDED send time, so a stalled target shows as latency rather than as fewer
// requests (no coordinated omission). Closed loop keeps N connections each with one request in
// flight. Every request ends exactly once as ok, error or timeout; a dropped connection is
// reconnected after a short bounded delay. Everything is bounded in time and stops by itself.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "duende/framework/result.h"
#include "duende/harness/histogram.h"
#include "duende/harness/load_history.h"
#include "duende/harness/load_protocol.h"

namespace duende::harness {

/// One kind of operation of a mixed workload: the models' histories (counter, set, register,
/// queue) need to know what each request did and what it read.
struct LoadOpKind {
  std::string f;        ///< its name in the history: "incr", "read", "add", "write", ...
  std::string request;  ///< request template, as LoadConfig::request
  /// The regex the whole reply must match; its first capture group, if it has one, is the
  /// value read ("VALUE (\\d+)").
  std::string expect;
  double weight = 1;  ///< share of the requests, relative to the other kinds' weights
  std::string path;   ///< http: this kind's path template ("" = LoadConfig::http_path)
};

/// What load to drive. Templates expand {seq} (a sequence number, unique and increasing per
/// key), {key} ("k<index>", index < keys) and {n} (the bare index). With keys = 0 (unique
/// keys) the index is the request's own seq: every request names a key no other one names.
struct LoadConfig {
  std::string protocol = "tcp-line";  ///< "tcp-line" | "http" | "redis"
  std::string address;                ///< "127.0.0.1:PORT" (loopback, or one of node_addresses)
  /// Load spread over the nodes of a cluster: (node name, "ADDR:PORT") each; empty: every
  /// connection talks to `address`. Which node a connection talks to is `spread`'s choice,
  /// made at each (re)connect: "round-robin" (the next node in turn), "random" (from `seed`)
  /// or "pinned" (connection i always to node i mod N). Each history op names its node.
  std::vector<std::pair<std::string, std::string>> nodes;
  /// The IPv4 addresses of the nodes duende created for this run (198.18.0.0/15): `address`
  /// may be one of them; any other address outside 127.0.0.0/8 is refused.
  std::vector<std::string> node_addresses;
  std::string spread = "round-robin";
  std::string mode = "open";  ///< "open" (at `rate`) | "closed" (`connections`)
  double rate = 100;          ///< requests per second, open loop
  uint32_t connections = 4;
  std::chrono::nanoseconds duration = std::chrono::seconds(5);
  std::chrono::nanoseconds timeout = std::chrono::milliseconds(500);
  /// Request template (tcp-line: the line; redis: the command, split on spaces; http: the
  /// body of a POST/PUT/PATCH) and the regex the whole reply (http: the body of a 2xx reply)
  /// must match ("" = any reply).
  std::string request = "PING";
  std::string expect;
  /// A mixed workload: when not empty, each request is one of these kinds, chosen at random
  /// by weight (from `seed`), and `request`/`expect` are unused. Each history op then
  /// carries its kind, the value it wrote and the value it read (LoadOp). Not with
  /// key-value mode.
  std::vector<LoadOpKind> ops;
  /// Key-value mode (when write_template is set): the load sends writes, e.g.
  /// "SET {key} {seq}" whose reply matches `expect` (e.g. "OK"); ReadBack() later sends
  /// read_template ("GET {key}") and finds {seq} in the reply with read_expect
  /// ("VALUE {seq}"). Each key is written by one connection at a time, so keys >= connections.
  std::string write_template, read_template, read_expect;
  /// What {value} in a template expands to ({len} is its byte length): "{seq}" by default,
  /// e.g. "v{seq}-{key}"; it may use {seq}, {key} and {n}.
  std::string value{kDefaultValueTemplate};
  /// tcp-line: appended to every request ("\n" or "\r\n").
  std::string terminator = "\n";
  /// tcp-line: how a reply to the load's requests, and to the read-back's, is framed (one line
  /// by default; memcached's get: end_line "END").
  ReplyFraming reply, read_reply;
  uint32_t keys = 64;               ///< key space; 0: unique keys (each write a fresh key)
  std::string http_method = "GET";  ///< http: GET | POST | PUT | DELETE | PATCH
  std::string http_path = "/";      ///< http: path template
  uint64_t seed = 1;                ///< drives key choice
  /// http: a W3C `traceparent` header on every request, its ids a function of (seed, seq)
  /// (framework::TraceContextFor); the summary lists the failed and slowest requests' ids.
  bool traceparent = false;
  uint32_t threads = 2;  ///< worker threads (each with its own epoll loop)
};

/// One second of load (completions in that second of the run).
struct LoadSecond {
  int64_t second = 0;  ///< 0-based second since Start()
  uint64_t sent = 0, ok = 0, errors = 0, timeouts = 0;
  double rate = 0;      ///< ok replies in this second per second of it (the last may be partial)
  int64_t span_ns = 0;  ///< how long the second was: 1 s, or less for the load's last
  int64_t p50_us = 0, p90_us = 0, p99_us = 0, p999_us = 0, max_us = 0;
};

/// A request the summary names by its W3C trace id.
struct TracedRequest {
  std::string trace_id;
  int64_t latency_us = 0;
  std::string outcome;  ///< "ok", "timeout", "error"
};
inline constexpr size_t kMaxTracedRequests = 10;

/// A span in which a worker of the load generator itself ran late (it asked to wake at
/// `start_ns` and ran again only at `end_ns`, CLOCK_MONOTONIC): the machine did not schedule
/// it. Requests in flight then measure the load generator, not the target.
struct LoadStall {
  int64_t start_ns = 0, end_ns = 0;
};

/// The whole run.
struct LoadSummary {
  uint64_t sent = 0;         ///< requests issued (each ends as ok, error, timeout or abandoned)
  uint64_t ok = 0;           ///< replies that matched
  uint64_t errors = 0;       ///< wrong replies, dropped connections, refused connects
  uint64_t timeouts = 0;     ///< no reply within the timeout (kept in the histogram)
  uint64_t abandoned = 0;    ///< still in flight when Stop() cut the run short
  uint64_t connects = 0;     ///< successful connects (reconnects = connects - connections)
  uint64_t drops = 0;        ///< connections lost or closed after an error or timeout
  double elapsed_s = 0;      ///< Start() to the last reply or timeout (or to Stop())
  double target_rate = 0;    ///< configured rate (open loop), 0 for closed loop
  double achieved_rate = 0;  ///< ok / elapsed_s
  double sent_rate = 0;      ///< sent / elapsed_s
  int64_t p50_us = 0, p90_us = 0, p99_us = 0, p999_us = 0, max_us = 0;
  double mean_us = 0;
  /// Latencies (ns) of every reply and every timeout.
  std::shared_ptr<const Histogram> histogram;
  /// The first few error messages ("connect: Connection refused", "unexpected reply 'ERR'").
  std::vector<std::string> error_examples;
  /// With LoadConfig::traceparent: the trace ids of the first failed requests and of the
  /// slowest ones (each at most kMaxTracedRequests), slowest first.
  std::vector<TracedRequest> failed_traces, slowest_traces;
  /// The load generator's own stalls of at least a third of the timeout (20-100 ms), in time
  /// order (at most 64 per worker thread).
  std::vector<LoadStall> stalls;
};

/// An acknowledged write (key-value mode).
struct AckedWrite {
  std::string key;
  uint64_t seq = 0;
  int64_t ack_ns = 0;  ///< CLOCK_MONOTONIC of the acknowledgement
};

class LoadGenerator {
 public:
  /// Validates `config` (protocol, mode, address, rate, templates, regexes). Errors: EINVAL
  /// with a message naming the field and the fix. Nothing starts until Start().
  static framework::Result<std::unique_ptr<LoadGenerator>> Create(const LoadConfig& config);
  ~LoadGenerator();  ///< Stop()s

  /// Starts the workers and returns. `on_second` (may be empty) is called from a reporting
  /// thread once per second of the run, and once for a last partial second. `on_ops` (may be
  /// empty: then no history is kept) gets every finished request, in batches about every
  /// 200 ms from the same thread, the last batch (abandoned requests too) before Wait() or
  /// Stop() returns; each request is in exactly one batch.
  void Start(std::function<void(const LoadSecond&)> on_second,
             std::function<void(std::vector<LoadOp>&&)> on_ops = {});
  /// Waits until the run ends by itself (duration + at most one timeout to drain).
  void Wait();
  /// Ends the run now (in-flight requests count as abandoned) and joins every thread.
  /// Prompt: returns within a few milliseconds. Idempotent.
  void Stop();

  /// Totals; complete after Wait() or Stop().
  LoadSummary Summary() const;
  /// Key-value mode: the highest acknowledged seq of each written key; complete after
  /// Wait() or Stop().
  const std::map<std::string, uint64_t>& LastAckedPerKey() const;
  /// The same with acknowledgement times, ordered by key.
  std::vector<AckedWrite> LastAckedWrites() const;

  struct Impl;

 private:
  explicit LoadGenerator(std::unique_ptr<Impl> impl);
  void Finish();
  std::unique_ptr<Impl> impl_;
};

/// Result of reading back every acknowledged write.
struct ReadbackResult {
  uint64_t keys = 0;          ///< keys read back
  uint64_t acked_writes = 0;  ///< keys with an acknowledged write
  uint64_t lost = 0;          ///< keys whose value is older than the last acknowledged write
  /// Up to 10 lost keys: key, acknowledged seq, what the read found ("VALUE 12", "(nil)").
  std::vector<std::tuple<std::string, uint64_t, std::string>> lost_examples;
  /// Every read, as history ops (key, `found` = the seq read or 0, `text` = the reply when the
  /// acknowledged seq was not found), for the readback.ops events.
  std::vector<LoadOp> reads;
};

/// Reads back every key of `last_acked` with config.read_template and read_expect, over one
/// connection per 2000 keys (at most 8). A key is lost when the seq read back is lower than
/// its last acknowledged seq, or absent; a higher seq is fine (a later write, unacknowledged,
/// may have landed). Errors: EINVAL for a bad config; the errno when the target cannot be
/// reached or stops answering within config.timeout per key (retried until a connection
/// works, for at most max(1 s, 10 timeouts) without progress), or ETIMEDOUT when the whole
/// read-back takes more than 30 s — a failed read-back is not a verdict.
framework::Result<ReadbackResult> ReadBack(const LoadConfig& config,
                                           const std::map<std::string, uint64_t>& last_acked);

}  // namespace duende::harness
