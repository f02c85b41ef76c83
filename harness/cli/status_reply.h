// The figures of the control sockets' "status" reply that `duende top` reads: what a service's
// (or a scenario target's) processes cost now, and the sample time. Written by `duende
// supervise` and `duende run --control`, read by `duende top`; the one owner of their JSON
// shape (docs/top.md, "The status reply").
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "duende/framework/metrics.h"
#include "duende/framework/process_usage.h"

namespace duende::cli {

/// {"processes", "cpu_seconds", "rss_bytes", "fds", "vmlck_bytes"} of `usage`.
nlohmann::json UsageJson(const framework::ProcessUsage& usage);

/// The usage object `j` (from another process: checked, never trusted). nullopt when `j` is not
/// an object with those five non-negative numbers.
std::optional<framework::ProcessUsage> ReadUsageJson(const nlohmann::json& j);

/// {"upper_ns": [...], "counts": [...]} of the latency histogram of `snapshot` (cumulative
/// since the run began; the open-ended last bucket's bound is 2^64-1).
nlohmann::json LatencyJson(const framework::MetricsSnapshot& snapshot);

/// The histogram of a LatencyJson object, or nullopt when `j` has not that shape (two arrays of
/// the same length of non-negative integers, at most MetricsRecorder::kBuckets long).
std::optional<framework::MetricsSnapshot> ReadLatencyJson(const nlohmann::json& j);

/// The key of the sample time (CLOCK_MONOTONIC ns, the same clock in every process of the
/// machine) at the reply's top level.
inline constexpr const char* kSampledNsKey = "sampled_ns";

}  // namespace duende::cli
