// MetricsRecorder: a daemon's counters, a latency histogram and named custom values.
//
// Recording is lock-free (relaxed atomics) so a request path can call it at any rate; a
// Snapshot() is a consistent-enough copy for reporting (counters may move while it is taken).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace duende::framework {

/// A point-in-time copy of a daemon's metrics.
struct MetricsSnapshot {
  uint64_t requests = 0;
  uint64_t errors = 0;
  /// Latency histogram: buckets[i] counts requests with latency < bucket_upper_ns[i] (and >=
  /// the previous bound); the last bucket is open-ended.
  std::vector<uint64_t> buckets;
  std::vector<uint64_t> bucket_upper_ns;
  uint64_t latency_count = 0;
  uint64_t latency_sum_ns = 0;
  std::map<std::string, double> custom;

  /// Latency at quantile q in [0,1], as the upper bound of the bucket it falls in (0 if none).
  uint64_t QuantileNs(double q) const;
  /// "requests=10 errors=1 p50=120us p99=2.1ms latency_count=10 name=value ..."
  std::string ToText() const;
  /// One JSON object with the same fields (and the histogram).
  std::string ToJson() const;
};

class MetricsRecorder {
 public:
  /// Buckets: 1us * 2^i for i = 0..kBuckets-2 (1us ... ~16s), plus an open-ended one.
  static constexpr size_t kBuckets = 26;

  void AddRequest() { requests_.fetch_add(1, std::memory_order_relaxed); }
  void AddError() { errors_.fetch_add(1, std::memory_order_relaxed); }
  void RecordLatency(std::chrono::nanoseconds latency);
  /// Sets a named value (e.g. "keys", "wal_bytes"); last write wins.
  void Set(const std::string& name, double value);

  MetricsSnapshot Snapshot() const;

 private:
  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> errors_{0};
  std::array<std::atomic<uint64_t>, kBuckets> buckets_{};
  std::atomic<uint64_t> latency_count_{0};
  std::atomic<uint64_t> latency_sum_ns_{0};
  mutable std::mutex custom_mu_;
  std::map<std::string, double> custom_;
};

}  // namespace duende::framework
