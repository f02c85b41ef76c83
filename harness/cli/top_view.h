// What `duende top` shows: a control socket's "status" reply parsed into a TopSample, two
// samples turned into a TopFrame (CPU % and req/s are rates between them), and the frame
// rendered as text lines for a terminal or --once, or as one JSON object for --json. Pure
// functions: no terminal, no socket (top_command.cc does those).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "duende/framework/metrics.h"
#include "duende/framework/process_usage.h"
#include "duende/framework/result.h"

namespace duende::cli {

/// One service of `duende supervise` or one target of a scenario.
struct TopEntry {
  std::string name;
  std::string state;  ///< "running", "backoff", ... (a target: "up" or "down")
  int64_t pid = -1;   ///< main process, -1 when none
  uint64_t restarts = 0;
  std::string note;  ///< last exit, reason, status text
  std::optional<framework::ProcessUsage> usage;
};

struct TopFault {
  std::string name;
  std::string kind;
  std::string on;
};

/// One status reply.
struct TopSample {
  std::string kind;  ///< "supervise" or "run"
  int64_t sampled_ns = 0;
  std::vector<TopEntry> entries;
  // A scenario's (kind "run"): what its load did so far, and its faults now.
  std::string scenario;
  uint64_t ok = 0;
  uint64_t errors = 0;  ///< wrong replies, not sent, dropped
  uint64_t timeouts = 0;
  uint64_t abandoned = 0;
  std::optional<framework::MetricsSnapshot> latency;
  std::vector<TopFault> faults;
  uint64_t faults_injected = 0;
};

/// Parses a reply line. Errors (invalid_argument) say what is wrong with it: a reply is data
/// from another process and must never crash top. A reply {"ok": false, "error": E} is an
/// error with E.
framework::Result<TopSample> ParseTopReply(const std::string& reply);

struct TopRow {
  TopEntry entry;
  /// 100 x CPU seconds / wall seconds between the two samples (100 = one CPU); nullopt without
  /// a previous sample of the same pid.
  std::optional<double> cpu_percent;
};

struct TopFrame {
  TopSample now;
  std::vector<TopRow> rows;
  double window_s = 0;  ///< between the two samples (0: only one)
  std::optional<double> requests_per_s;
  std::optional<double> errors_per_s;  ///< errors, timeouts and abandoned requests
  /// Latency quantiles of the requests that ended in the window (or, when none did or there is
  /// no previous sample, of the whole run: latency_window false); nullopt without requests.
  std::optional<uint64_t> p50_ns;
  std::optional<uint64_t> p99_ns;
  bool latency_window = false;
};

/// The frame of `now`, with rates against `prev` (may be null: no rates yet).
TopFrame MakeTopFrame(const TopSample* prev, const TopSample& now);

/// The frame as lines of at most `width` columns (0: no limit) and at most `height` lines (0:
/// no limit; rows that do not fit are counted in a last line). `source` names the socket;
/// `right` is shown at the right end of the first line (the clock, "q quits"); `status`, when
/// not empty, is a last line (a lost connection). Text from the reply is shown with control
/// characters and non-ASCII bytes replaced by '?', so a service cannot drive the terminal.
std::vector<std::string> RenderTopText(const TopFrame& frame, const std::string& source,
                                       const std::string& right, size_t width, size_t height,
                                       const std::string& status);

/// The frame as one JSON object (docs/top.md, "--json").
nlohmann::json RenderTopJson(const TopFrame& frame, const std::string& source);

/// "0B", "512B", "4.0KiB", "64.0MiB", "1.5GiB".
std::string FormatBytes(uint64_t bytes);

}  // namespace duende::cli
