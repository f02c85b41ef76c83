#include "report_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "duende/framework/io.h"

namespace duende::reporters::internal {

using Json = nlohmann::json;

void ForEachCodepoint(std::string_view s,
                      const std::function<void(uint32_t, std::string_view)>& on_cp,
                      const std::function<void(unsigned char)>& on_bad) {
  size_t i = 0;
  while (i < s.size()) {
    auto b0 = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    uint32_t cp = 0;
    uint32_t min = 0;
    if (b0 < 0x80) {
      len = 1;
      cp = b0;
    } else if ((b0 & 0xE0) == 0xC0) {
      len = 2;
      cp = b0 & 0x1Fu;
      min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
      len = 3;
      cp = b0 & 0x0Fu;
      min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
      len = 4;
      cp = b0 & 0x07u;
      min = 0x10000;
    }
    bool ok = len > 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) {
      auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) {
        ok = false;
      } else {
        cp = (cp << 6) | (b & 0x3Fu);
      }
    }
    if (ok && len > 1 && (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))) ok = false;
    if (!ok) {
      on_bad(b0);
      ++i;
      continue;
    }
    on_cp(cp, s.substr(i, len));
    i += len;
  }
}

std::string ValidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  ForEachCodepoint(
      s, [&](uint32_t, std::string_view bytes) { out += bytes; },
      [&](unsigned char) { out += "\xEF\xBF\xBD"; });
  return out;
}

std::string HexByte(unsigned char b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "\\x%02X", b);
  return buf;
}

std::string Fixed(double value, int decimals) {
  if (!std::isfinite(value)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

std::string Compact(double value) {
  if (!std::isfinite(value)) return "-";
  double a = std::fabs(value);
  if (a >= 1e6) return Fixed(value / 1e6, a >= 1e7 ? 1 : 2) + "M";
  if (a >= 1e4) return Fixed(value / 1e3, 1) + "k";
  if (a == std::floor(a)) return Fixed(value, 0);
  return Fixed(value, a >= 100 ? 0 : 1);
}

std::string Micros(double us) {
  if (!std::isfinite(us)) return "-";
  if (us >= 1e6) return Fixed(us / 1e6, 2) + "s";
  if (us >= 1e3) return Fixed(us / 1e3, us >= 1e5 ? 0 : 1) + "ms";
  return Fixed(us, 0) + "us";
}

std::string IsoTime(int64_t wall_ns) {
  if (wall_ns <= 0) return "";
  time_t secs = static_cast<time_t>(wall_ns / 1000000000);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

namespace {

// (to - from) in seconds. Timestamps come from an event log anyone may hand over, so the
// int64 difference can overflow; then it is taken in floating point.
double SecondsBetween(int64_t from, int64_t to) {
  int64_t ns = 0;
  if (!__builtin_sub_overflow(to, from, &ns)) return static_cast<double>(ns) / 1e9;
  return (static_cast<double>(to) - static_cast<double>(from)) / 1e9;
}

}  // namespace

double DurationSeconds(const ScenarioResult& s) {
  if (s.end_ns <= s.start_ns) return 0;
  return SecondsBetween(s.start_ns, s.end_ns);
}

double SecondsSince(const ScenarioResult& s, int64_t ts_ns) {
  return SecondsBetween(s.start_ns, ts_ns);
}

FileReporter::FileReporter(std::string path, framework::UniqueFd fd, RenderFn render)
    : path_(std::move(path)), fd_(std::move(fd)), render_(std::move(render)) {}

framework::Result<std::unique_ptr<Reporter>> FileReporter::Open(const std::string& path,
                                                                RenderFn render) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return framework::ErrnoError("unable to open " + path);
  return std::unique_ptr<Reporter>(
      new FileReporter(path, framework::UniqueFd(fd), std::move(render)));
}

void FileReporter::OnRunEnd(const RunReport& report) {
  auto r = framework::WriteAll(fd_.get(), render_(report));
  if (!r.ok() && !error_) {
    error_ = framework::ErrnoError("unable to write " + path_, r.error().code.value());
  }
}

namespace {

double Num(const Json& data, const char* key) {
  auto it = data.find(key);
  return it != data.end() && it->is_number() ? it->get<double>() : 0.0;
}

std::string Str(const Json& data, const char* key) {
  auto it = data.find(key);
  return it != data.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

RunStats ComputeStats(const ScenarioResult& s) {
  RunStats st;
  std::map<std::string, int> spawns;
  double last_t = 0;
  for (const Event& e : s.events) {
    double t = SecondsSince(s, e.ts_ns);
    last_t = std::max(last_t, t);
    const Json& d = e.data;
    if (e.type == events::kRunStarted) {
      double planned = Num(d, "duration_ns");
      if (planned > 0) st.duration_s = planned / 1e9;
    } else if (e.type == events::kTargetSpawned) {
      int n = ++spawns[e.target];
      if (n > 1) {
        ++st.restarts;
        std::string pid = d.contains("pid") ? d["pid"].dump() : "?";
        st.markers.push_back({t, e.target, "restarted (pid " + pid + ")", false});
      }
    } else if (e.type == events::kTargetExited) {
      ++st.exits;
      bool oom = events::BoolField(d, "oom_kill", false);
      if (oom) ++st.oom_kills;
      std::string status = Str(d, "status");
      if (status.empty()) {
        if (d.contains("signal") && d["signal"].is_number()) {
          status = "killed by signal " + d["signal"].dump();
        } else if (d.contains("code") && d["code"].is_number()) {
          status = "exited with code " + d["code"].dump();
        } else {
          status = "exited";
        }
      }
      if (oom) status += " (OOM kill)";
      st.markers.push_back({t, e.target, status, true});
    } else if (e.type == events::kReadbackResult) {
      if (d.contains("lost") && d["lost"].is_number_integer()) st.lost = d["lost"].get<int64_t>();
    }
  }
  for (const events::LoadSecond& sec : events::LoadSeconds(s.events)) {
    LoadPoint l;
    // The last second of the load is cut short where the load stopped (sec.end_ns); in old
    // logs the end is when the event was written, a little late.
    l.start_s = SecondsSince(s, sec.start_ns);
    l.t_s = std::min(SecondsSince(s, sec.end_ns), l.start_s + 1.0);
    l.sent = static_cast<double>(sec.sent);
    l.ok = static_cast<double>(sec.ok);
    l.errors = static_cast<double>(sec.errors);
    l.timeouts = static_cast<double>(sec.timeouts);
    l.rate = sec.rate;
    l.p50_us = static_cast<double>(sec.p50_us);
    l.p99_us = static_cast<double>(sec.p99_us);
    l.max_us = static_cast<double>(sec.max_us);
    st.total_sent += l.sent;
    st.total_ok += l.ok;
    st.total_errors += l.errors;
    st.total_timeouts += l.timeouts;
    st.peak_p99_us = std::max(st.peak_p99_us, l.p99_us);
    st.load.push_back(l);
  }
  double end = std::max(DurationSeconds(s), last_t);
  if (st.duration_s <= 0) st.duration_s = end;
  for (const events::FaultSpan& span : events::FaultSpans(s.events)) {
    FaultWindow w;
    w.name = span.fault;
    w.kind = span.kind;
    w.on = span.on;
    w.start_s = SecondsSince(s, span.injected_ns);
    w.healed = span.healed_ns.has_value();
    w.end_s = w.healed ? SecondsSince(s, *span.healed_ns) : std::max(end, w.start_s);
    w.fired = span.fired;
    w.took_effect = span.took_effect;
    st.faults.push_back(std::move(w));
  }
  return st;
}

double NiceStep(double range, int ticks) {
  if (range <= 0) return 1;
  double raw = range / ticks;
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double norm = raw / mag;
  double nice = norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10;
  return nice * mag;
}

double TimelineEnd(const ScenarioResult& s, const RunStats& st) {
  double t_end = st.duration_s > 0 ? st.duration_s : DurationSeconds(s);
  for (const auto& l : st.load) t_end = std::max(t_end, l.t_s);
  for (const auto& m : st.markers) t_end = std::max(t_end, m.t_s);
  for (const auto& w : st.faults) t_end = std::max(t_end, w.start_s);
  return std::max(1.0, std::ceil(t_end - 1e-6));
}

// Text safe inside a table cell or a line of prose: Markdown and HTML specials escaped,
// line breaks as <br>, control characters and non-UTF-8 bytes as visible \xNN.
std::string Md(std::string_view s) {
  std::string out;
  ForEachCodepoint(
      s,
      [&](uint32_t cp, std::string_view bytes) {
        switch (cp) {
          case '|':
          case '\\':
          case '`':
          case '*':
          case '_':
          case '[':
          case ']':
          case '#':
          case '~':
            out += '\\';
            out += static_cast<char>(cp);
            return;
          case '<':
            out += "&lt;";
            return;
          case '>':
            out += "&gt;";
            return;
          case '&':
            out += "&amp;";
            return;
          case '\n':
            out += "<br>";
            return;
          case '\r':
            return;
          case '\t':
            out += ' ';
            return;
          default:
            break;
        }
        if (cp < 0x20 || cp == 0x7f) {
          out += "\\\\x" + HexByte(static_cast<unsigned char>(cp)).substr(2);
          return;
        }
        out += bytes;
      },
      [&](unsigned char b) { out += "\\\\x" + HexByte(b).substr(2); });
  return out;
}

}  // namespace duende::reporters::internal
