// Helpers shared by the reporter implementations (private to the module): text hygiene,
// number and time formatting, a file-writing reporter, and figures derived from the events.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "duende/framework/result.h"
#include "duende/framework/unique_fd.h"
#include "duende/model/events.h"
#include "duende/model/model.h"
#include "duende/reporters/reporter.h"

namespace duende::reporters {

// The reporters read only the result model (duende/model/).
using model::CheckResult;
using model::Combine;
using model::Event;
using model::RunReport;
using model::ScenarioResult;
using model::Verdict;
using model::VerdictName;
namespace events = model::events;

}  // namespace duende::reporters

namespace duende::reporters::internal {

/// Calls `on_cp(codepoint, bytes)` for each well-formed UTF-8 sequence and `on_bad(byte)` for
/// each byte that is not part of one (overlong forms, surrogates and > U+10FFFF are bad).
void ForEachCodepoint(std::string_view s,
                      const std::function<void(uint32_t, std::string_view)>& on_cp,
                      const std::function<void(unsigned char)>& on_bad);

/// `s` with every invalid UTF-8 byte replaced by U+FFFD.
std::string ValidUtf8(std::string_view s);

/// "\x01"-style text for a byte.
std::string HexByte(unsigned char b);

/// Seconds with a fixed number of decimals: "12.35".
std::string Fixed(double value, int decimals);

/// A compact number for humans: 950, 12.3k, 4.50M.
std::string Compact(double value);

/// Microseconds as "850us", "12.3ms", "1.20s".
std::string Micros(double us);

/// Text safe inside a Markdown table cell or a line of prose: Markdown and HTML specials
/// escaped, line breaks as <br>, control characters and non-UTF-8 bytes as visible \xNN.
std::string Md(std::string_view s);

/// CLOCK_REALTIME ns as "2026-11-27T07:04:12Z" (UTC); "" when 0.
std::string IsoTime(int64_t wall_ns);

/// Seconds from the scenario's start to its end (0 when unknown).
double DurationSeconds(const ScenarioResult& s);

/// Seconds from the scenario's start to `ts_ns`.
double SecondsSince(const ScenarioResult& s, int64_t ts_ns);

/// A reporter that writes the text of `render` to a file at OnRunEnd.
class FileReporter : public Reporter {
 public:
  using RenderFn = std::function<std::string(const RunReport&)>;
  static framework::Result<std::unique_ptr<Reporter>> Open(const std::string& path,
                                                           RenderFn render);
  void OnRunEnd(const RunReport& report) override;
  std::optional<framework::Error> error() const override { return error_; }

 private:
  FileReporter(std::string path, framework::UniqueFd fd, RenderFn render);
  std::string path_;
  framework::UniqueFd fd_;
  RenderFn render_;
  std::optional<framework::Error> error_;
};

/// One fault's window: from fault.injected to fault.healed (or the end of the run).
struct FaultWindow {
  std::string name;  ///< the fault's name (event target)
  std::string kind;  ///< "kill", "latency", ...
  std::string on;    ///< the target it acted on
  double start_s = 0;
  double end_s = 0;
  bool healed = false;
  bool fired = false;  ///< a fault.fired was seen
  std::optional<bool> took_effect;
};

/// A point of interest on the timeline.
struct Marker {
  double t_s = 0;
  std::string target;
  std::string label;  ///< "exited: killed by signal 9 (SIGKILL)", "restarted (pid 43)"
  bool exit = false;  ///< exit (true) or (re)start (false)
};

/// One second of load as the reports plot it (decoded by model::events::DecodeLoadSecond).
struct LoadPoint {
  double start_s = 0;  ///< start of the second, from the scenario's start
  /// End of the second: start_s + 1, or earlier for the load's last, partial second.
  double t_s = 0;
  double sent = 0, ok = 0, errors = 0, timeouts = 0, rate = 0, p50_us = 0, p99_us = 0, max_us = 0;
};

/// Figures derived from a scenario's events, shared by console, Markdown and HTML.
struct RunStats {
  std::vector<FaultWindow> faults;
  std::vector<Marker> markers;
  std::vector<LoadPoint> load;
  int64_t exits = 0;
  int64_t restarts = 0;  ///< spawns of a target after its first
  int64_t oom_kills = 0;
  double total_sent = 0, total_ok = 0, total_errors = 0, total_timeouts = 0;
  double peak_p99_us = 0;
  double duration_s = 0;        ///< from run.started's duration_ns (planned), else measured
  std::optional<int64_t> lost;  ///< from readback.result
};

RunStats ComputeStats(const ScenarioResult& s);

/// A "nice" step (1, 2, 5 x 10^k) giving about `ticks` intervals over `range`.
double NiceStep(double range, int ticks);

/// The HTML timeline's right edge in seconds: the planned length when known (checks after it
/// are not on the timeline), else the measured one; stretched to cover every point drawn,
/// rounded up to a whole second.
double TimelineEnd(const ScenarioResult& s, const RunStats& st);

}  // namespace duende::reporters::internal
