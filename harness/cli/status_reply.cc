#include "status_reply.h"

namespace duende::cli {

using nlohmann::json;

json UsageJson(const framework::ProcessUsage& u) {
  json j;
  j["processes"] = u.processes;
  j["cpu_seconds"] = u.cpu_seconds;
  j["rss_bytes"] = u.resident_bytes;
  j["fds"] = u.open_fds;
  j["vmlck_bytes"] = u.locked_bytes;
  return j;
}

std::optional<framework::ProcessUsage> ReadUsageJson(const json& j) {
  if (!j.is_object()) return std::nullopt;
  for (const char* key : {"processes", "rss_bytes", "fds", "vmlck_bytes"}) {
    if (!j.contains(key) || !j[key].is_number_unsigned()) return std::nullopt;
  }
  if (!j.contains("cpu_seconds") || !j["cpu_seconds"].is_number()) return std::nullopt;
  framework::ProcessUsage u;
  u.cpu_seconds = j["cpu_seconds"].get<double>();
  if (!(u.cpu_seconds >= 0) || u.cpu_seconds > 1e12) return std::nullopt;
  u.processes = static_cast<uint32_t>(std::min<uint64_t>(j["processes"].get<uint64_t>(), 1u << 30));
  u.resident_bytes = j["rss_bytes"].get<uint64_t>();
  u.open_fds = j["fds"].get<uint64_t>();
  u.locked_bytes = j["vmlck_bytes"].get<uint64_t>();
  return u;
}

json LatencyJson(const framework::MetricsSnapshot& s) {
  json j;
  j["upper_ns"] = s.bucket_upper_ns;
  j["counts"] = s.buckets;
  return j;
}

std::optional<framework::MetricsSnapshot> ReadLatencyJson(const json& j) {
  if (!j.is_object() || !j.contains("upper_ns") || !j.contains("counts")) return std::nullopt;
  const json& upper = j["upper_ns"];
  const json& counts = j["counts"];
  if (!upper.is_array() || !counts.is_array() || upper.size() != counts.size() ||
      upper.size() > framework::MetricsRecorder::kBuckets) {
    return std::nullopt;
  }
  framework::MetricsSnapshot s;
  for (size_t i = 0; i < upper.size(); ++i) {
    if (!upper[i].is_number_unsigned() || !counts[i].is_number_unsigned()) return std::nullopt;
    s.bucket_upper_ns.push_back(upper[i].get<uint64_t>());
    s.buckets.push_back(counts[i].get<uint64_t>());
    s.latency_count += s.buckets.back();
  }
  return s;
}

}  // namespace duende::cli
