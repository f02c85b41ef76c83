#include "duende/framework/metrics.h"

#include <bit>
#include <cmath>
#include <sstream>

#include "duende/framework/clock.h"

namespace duende::framework {

void MetricsRecorder::RecordLatency(std::chrono::nanoseconds latency) {
  uint64_t ns = latency.count() < 0 ? 0 : static_cast<uint64_t>(latency.count());
  uint64_t us = ns / 1000;
  // Bucket i holds [2^(i-1), 2^i) microseconds; bucket 0 holds < 1us.
  size_t i = us == 0 ? 0 : static_cast<size_t>(std::bit_width(us));
  if (i >= kBuckets) i = kBuckets - 1;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  latency_count_.fetch_add(1, std::memory_order_relaxed);
  latency_sum_ns_.fetch_add(ns, std::memory_order_relaxed);
}

void MetricsRecorder::Set(const std::string& name, double value) {
  std::lock_guard lock(custom_mu_);
  custom_[name] = value;
}

MetricsSnapshot MetricsRecorder::Snapshot() const {
  MetricsSnapshot s;
  s.requests = requests_.load(std::memory_order_relaxed);
  s.errors = errors_.load(std::memory_order_relaxed);
  for (size_t i = 0; i < kBuckets; ++i) {
    s.buckets.push_back(buckets_[i].load(std::memory_order_relaxed));
    s.bucket_upper_ns.push_back(i + 1 == kBuckets ? UINT64_MAX : (uint64_t{1} << i) * 1000);
  }
  s.latency_count = latency_count_.load(std::memory_order_relaxed);
  s.latency_sum_ns = latency_sum_ns_.load(std::memory_order_relaxed);
  std::lock_guard lock(custom_mu_);
  s.custom = custom_;
  return s;
}

uint64_t MetricsSnapshot::QuantileNs(double q) const {
  uint64_t total = 0;
  for (uint64_t b : buckets) total += b;
  if (total == 0) return 0;
  uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(total)));
  if (rank == 0) rank = 1;
  uint64_t seen = 0;
  for (size_t i = 0; i < buckets.size(); ++i) {
    seen += buckets[i];
    if (seen >= rank) return bucket_upper_ns[i];
  }
  return bucket_upper_ns.back();
}

std::string MetricsSnapshot::ToText() const {
  std::ostringstream out;
  auto q = [this](double x) {
    uint64_t ns = QuantileNs(x);
    return ns == UINT64_MAX ? std::string("inf")
                            : FormatDuration(std::chrono::nanoseconds(static_cast<int64_t>(ns)));
  };
  out << "requests=" << requests << " errors=" << errors << " latency_count=" << latency_count
      << " p50<=" << q(0.5) << " p99<=" << q(0.99);
  for (const auto& [k, v] : custom) out << " " << k << "=" << v;
  return out.str();
}

std::string MetricsSnapshot::ToJson() const {
  std::ostringstream out;
  out << "{\"requests\":" << requests << ",\"errors\":" << errors
      << ",\"latency_count\":" << latency_count << ",\"latency_sum_ns\":" << latency_sum_ns
      << ",\"latency_buckets\":[";
  bool first = true;
  for (size_t i = 0; i < buckets.size(); ++i) {
    if (buckets[i] == 0) continue;
    out << (first ? "" : ",") << "{\"le_ns\":";
    if (bucket_upper_ns[i] == UINT64_MAX) {
      out << "null";
    } else {
      out << bucket_upper_ns[i];
    }
    out << ",\"count\":" << buckets[i] << "}";
    first = false;
  }
  out << "],\"custom\":{";
  first = true;
  for (const auto& [k, v] : custom) {
    // Custom names are daemon-chosen identifiers; quotes and backslashes are escaped anyway.
    std::string name;
    for (char c : k) {
      if (c == '"' || c == '\\') name += '\\';
      name += c;
    }
    out << (first ? "" : ",") << "\"" << name << "\":" << (std::isfinite(v) ? v : 0.0);
    first = false;
  }
  out << "}}";
  return out.str();
}

}  // namespace duende::framework
