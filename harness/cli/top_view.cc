#include "top_view.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <map>

#include "duende/framework/clock.h"
#include "status_reply.h"

namespace duende::cli {
namespace {

using nlohmann::json;

// Control characters (ESC above all) and non-ASCII bytes of a name or status text become '?':
// the text comes from a service, and a terminal obeys escape sequences.
std::string Clean(const std::string& s) {
  std::string out = s;
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) c = '?';
  }
  return out;
}

std::string String(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}

uint64_t Unsigned(const json& j, const char* key) {
  return j.contains(key) && j[key].is_number_unsigned() ? j[key].get<uint64_t>() : 0;
}

framework::Result<TopEntry> ReadEntry(const json& s) {
  if (!s.is_object()) return framework::MessageError("a service is not an object");
  TopEntry e;
  if (!s.contains("name") || !s["name"].is_string() || !s.contains("state") ||
      !s["state"].is_string()) {
    return framework::MessageError("a service has no string \"name\" and \"state\"");
  }
  e.name = s["name"].get<std::string>();
  e.state = s["state"].get<std::string>();
  if (s.contains("pid") && s["pid"].is_number_integer()) e.pid = s["pid"].get<int64_t>();
  e.restarts = Unsigned(s, "restarts");
  if (s.contains("last_exit") && s["last_exit"].is_object())
    e.note = String(s["last_exit"], "text");
  for (const char* key : {"reason", "status"}) {
    std::string more = String(s, key);
    if (more.empty()) continue;
    e.note += std::string(e.note.empty() ? "" : "; ") +
              (key == std::string("status") ? "status: " : "") + more;
  }
  if (s.contains("usage")) {
    e.usage = ReadUsageJson(s["usage"]);
    if (!e.usage) return framework::MessageError("service '" + e.name + "' has a malformed usage");
  }
  return e;
}

framework::Error Bad(const std::string& why) {
  return framework::Error{std::make_error_code(std::errc::invalid_argument),
                          "malformed status reply: " + why};
}

std::string Fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string Latency(uint64_t ns) {
  if (ns == UINT64_MAX) return "inf";
  return framework::FormatDuration(std::chrono::nanoseconds(static_cast<int64_t>(ns)));
}

// `s` cut or padded to `w` columns (a cut leaves one space before the next column).
std::string Cell(const std::string& s, size_t w) {
  if (s.size() >= w) return s.substr(0, w - 1) + " ";
  return s + std::string(w - s.size(), ' ');
}

}  // namespace

std::string FormatBytes(uint64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + "B";
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes) / 1024;
  size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(units)) {
    v /= 1024;
    ++u;
  }
  return Fixed(v, 1) + units[u];
}

framework::Result<TopSample> ParseTopReply(const std::string& reply) {
  json j = json::parse(reply, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Bad("not JSON");
  if (!j.is_object() || !j.contains("ok") || !j["ok"].is_boolean()) return Bad("no boolean \"ok\"");
  if (!j["ok"].get<bool>()) {
    return framework::MessageError(j.contains("error") && j["error"].is_string()
                                       ? j["error"].get<std::string>()
                                       : "the request failed");
  }
  TopSample s;
  s.kind = String(j, "kind");
  if (s.kind.empty()) s.kind = "supervise";  // a supervisor from before the field existed
  if (s.kind != "supervise" && s.kind != "run") return Bad("unknown kind '" + Clean(s.kind) + "'");
  if (j.contains(kSampledNsKey) && j[kSampledNsKey].is_number_integer()) {
    s.sampled_ns = j[kSampledNsKey].get<int64_t>();
  }
  const char* list = s.kind == "run" ? "targets" : "services";
  if (!j.contains(list) || !j[list].is_array())
    return Bad(std::string("no \"") + list + "\" array");
  for (const auto& item : j[list]) {
    auto e = ReadEntry(item);
    if (!e.ok()) return Bad(e.error().context);
    s.entries.push_back(std::move(e).value());
  }
  if (s.kind == "run") {
    s.scenario = String(j, "scenario");
    if (j.contains("load") && j["load"].is_object()) {
      const json& load = j["load"];
      s.ok = Unsigned(load, "ok");
      s.errors = Unsigned(load, "errors");
      s.timeouts = Unsigned(load, "timeouts");
      s.abandoned = Unsigned(load, "abandoned");
      if (load.contains("latency")) {
        s.latency = ReadLatencyJson(load["latency"]);
        if (!s.latency) return Bad("a malformed \"latency\"");
      }
    }
    if (j.contains("faults") && j["faults"].is_array()) {
      for (const auto& f : j["faults"]) {
        if (!f.is_object()) return Bad("a fault is not an object");
        s.faults.push_back({String(f, "name"), String(f, "kind"), String(f, "on")});
      }
    }
    s.faults_injected = Unsigned(j, "faults_injected");
  }
  return s;
}

TopFrame MakeTopFrame(const TopSample* prev, const TopSample& now) {
  TopFrame f;
  f.now = now;
  if (prev != nullptr && now.sampled_ns > prev->sampled_ns) {
    f.window_s = static_cast<double>(now.sampled_ns - prev->sampled_ns) / 1e9;
  }
  std::map<std::string, const TopEntry*> before;
  if (prev != nullptr) {
    for (const auto& e : prev->entries) before[e.name] = &e;
  }
  for (const auto& e : now.entries) {
    TopRow row{e, std::nullopt};
    auto it = before.find(e.name);
    // A restart (another pid) or a process that left the sum would make a rate of two
    // different things: no figure until the next sample.
    if (f.window_s > 0 && it != before.end() && it->second->pid == e.pid && e.pid > 0 && e.usage &&
        it->second->usage && e.usage->cpu_seconds >= it->second->usage->cpu_seconds) {
      row.cpu_percent =
          100.0 * (e.usage->cpu_seconds - it->second->usage->cpu_seconds) / f.window_s;
    }
    f.rows.push_back(std::move(row));
  }
  if (now.kind != "run") return f;
  const uint64_t total = now.ok + now.errors + now.timeouts + now.abandoned;
  const uint64_t bad = now.errors + now.timeouts + now.abandoned;
  if (f.window_s > 0 && prev->kind == "run" && prev->scenario == now.scenario) {
    const uint64_t ptotal = prev->ok + prev->errors + prev->timeouts + prev->abandoned;
    const uint64_t pbad = prev->errors + prev->timeouts + prev->abandoned;
    if (total >= ptotal && bad >= pbad) {
      f.requests_per_s = static_cast<double>(total - ptotal) / f.window_s;
      f.errors_per_s = static_cast<double>(bad - pbad) / f.window_s;
    }
  }
  if (now.latency && now.latency->latency_count > 0) {
    framework::MetricsSnapshot use = *now.latency;
    if (f.requests_per_s && prev->latency &&
        prev->latency->buckets.size() == now.latency->buckets.size() &&
        prev->latency->latency_count < now.latency->latency_count) {
      framework::MetricsSnapshot window = *now.latency;
      bool monotone = true;
      for (size_t i = 0; i < window.buckets.size(); ++i) {
        if (window.buckets[i] < prev->latency->buckets[i]) monotone = false;
        window.buckets[i] -= std::min(window.buckets[i], prev->latency->buckets[i]);
      }
      if (monotone) {
        use = window;
        f.latency_window = true;
      }
    }
    f.p50_ns = use.QuantileNs(0.5);
    f.p99_ns = use.QuantileNs(0.99);
  }
  return f;
}

std::vector<std::string> RenderTopText(const TopFrame& f, const std::string& source,
                                       const std::string& right, size_t width, size_t height,
                                       const std::string& status) {
  std::vector<std::string> lines;
  const bool run = f.now.kind == "run";
  std::string title =
      "duende top: " +
      std::string(run ? "scenario " + Clean(f.now.scenario) : std::string("supervise")) + " via " +
      Clean(source) + ", " + std::to_string(f.rows.size()) + (run ? " target(s)" : " service(s)");
  if (width > 0 && !right.empty() && right.size() + 2 < width) {
    // The right part ends at the last column; a long socket path gives way to it.
    if (title.size() + 2 + right.size() > width) title.resize(width - 2 - right.size());
    title += std::string(width - title.size() - right.size(), ' ') + right;
  } else if (!right.empty()) {
    title += "  " + right;
  }
  lines.push_back(title);
  if (run) {
    std::string load = "load:";
    if (f.requests_per_s) {
      load +=
          " " + Fixed(*f.requests_per_s, 1) + " req/s, errors " + Fixed(*f.errors_per_s, 1) + "/s;";
    }
    load += " " + std::to_string(f.now.ok + f.now.errors + f.now.timeouts + f.now.abandoned) +
            " requests, " + std::to_string(f.now.errors) + " errors, " +
            std::to_string(f.now.timeouts) + " timeouts";
    if (f.p99_ns) {
      load += "; p50 " + Latency(*f.p50_ns) + " p99 " + Latency(*f.p99_ns) +
              (f.latency_window ? " (last " + Fixed(f.window_s, 1) + "s)" : " (whole run)");
    }
    lines.push_back(load);
    std::string faults = "faults:";
    if (f.now.faults.empty()) faults += " none active";
    for (size_t i = 0; i < f.now.faults.size(); ++i) {
      const auto& x = f.now.faults[i];
      faults += (i == 0 ? " " : ", ") + Clean(x.name) + " (" + Clean(x.kind) +
                (x.on.empty() ? "" : " on " + Clean(x.on)) + ")";
    }
    faults += "; " + std::to_string(f.now.faults_injected) + " injected so far";
    lines.push_back(faults);
  }
  lines.push_back(Cell("NAME", 16) + Cell("STATE", 10) + Cell("PID", 9) + Cell("RESTARTS", 9) +
                  Cell("CPU%", 7) + Cell("RSS", 11) + Cell("FDS", 6) + Cell("VMLCK", 10) +
                  Cell("PROCS", 6) + "LAST EXIT / STATUS");
  std::vector<std::string> rows;
  for (const auto& r : f.rows) {
    const auto& e = r.entry;
    const auto& u = e.usage;
    rows.push_back(Cell(Clean(e.name), 16) + Cell(Clean(e.state), 10) +
                   Cell(e.pid > 0 ? std::to_string(e.pid) : "-", 9) +
                   Cell(std::to_string(e.restarts), 9) +
                   Cell(r.cpu_percent ? Fixed(*r.cpu_percent, 1) : "-", 7) +
                   Cell(u ? FormatBytes(u->resident_bytes) : "-", 11) +
                   Cell(u ? std::to_string(u->open_fds) : "-", 6) +
                   Cell(u ? FormatBytes(u->locked_bytes) : "-", 10) +
                   Cell(u ? std::to_string(u->processes) : "-", 6) + Clean(e.note));
  }
  const size_t fixed = lines.size() + (status.empty() ? 0 : 1);
  size_t room = rows.size();
  if (height > 0) room = height > fixed ? height - fixed : 0;
  if (room < rows.size()) {
    const size_t shown = room > 0 ? room - 1 : 0;
    const size_t more = rows.size() - shown;
    rows.resize(shown);
    if (room > 0)
      rows.push_back("... " + std::to_string(more) + " more (a taller terminal shows them)");
  }
  lines.insert(lines.end(), rows.begin(), rows.end());
  if (!status.empty()) lines.push_back(Clean(status));
  for (auto& l : lines) {
    if (width > 0 && l.size() > width) l.resize(width);
    while (!l.empty() && l.back() == ' ') l.pop_back();
  }
  return lines;
}

json RenderTopJson(const TopFrame& f, const std::string& source) {
  json j;
  j["kind"] = f.now.kind;
  j["socket"] = source;
  j["sampled_ns"] = f.now.sampled_ns;
  j["window_s"] = f.window_s;
  json rows = json::array();
  for (const auto& r : f.rows) {
    json e;
    e["name"] = r.entry.name;
    e["state"] = r.entry.state;
    e["pid"] = r.entry.pid;
    e["restarts"] = r.entry.restarts;
    e["cpu_percent"] = r.cpu_percent ? json(*r.cpu_percent) : json(nullptr);
    if (r.entry.usage) {
      e["cpu_seconds"] = r.entry.usage->cpu_seconds;
      e["rss_bytes"] = r.entry.usage->resident_bytes;
      e["fds"] = r.entry.usage->open_fds;
      e["vmlck_bytes"] = r.entry.usage->locked_bytes;
      e["processes"] = r.entry.usage->processes;
    } else {
      for (const char* key : {"cpu_seconds", "rss_bytes", "fds", "vmlck_bytes", "processes"}) {
        e[key] = nullptr;
      }
    }
    e["note"] = r.entry.note;
    rows.push_back(std::move(e));
  }
  if (f.now.kind != "run") {
    j["services"] = std::move(rows);
    return j;
  }
  j["scenario"] = f.now.scenario;
  j["targets"] = std::move(rows);
  auto opt = [](const auto& v) { return v ? json(*v) : json(nullptr); };
  j["requests_per_s"] = opt(f.requests_per_s);
  j["errors_per_s"] = opt(f.errors_per_s);
  j["requests"] = {{"ok", f.now.ok},
                   {"errors", f.now.errors},
                   {"timeouts", f.now.timeouts},
                   {"abandoned", f.now.abandoned}};
  j["p50_s"] = f.p50_ns ? json(static_cast<double>(*f.p50_ns) / 1e9) : json(nullptr);
  j["p99_s"] = f.p99_ns ? json(static_cast<double>(*f.p99_ns) / 1e9) : json(nullptr);
  j["latency_window"] = f.latency_window;
  json faults = json::array();
  for (const auto& x : f.now.faults)
    faults.push_back({{"name", x.name}, {"kind", x.kind}, {"on", x.on}});
  j["faults"] = std::move(faults);
  j["faults_injected"] = f.now.faults_injected;
  return j;
}

}  // namespace duende::cli
