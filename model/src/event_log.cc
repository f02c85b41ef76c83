#include "duende/model/event_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <sstream>
#include <string_view>
#include <type_traits>
#include <utility>

#include "duende/framework/io.h"
#include "duende/framework/read_limits.h"
#include "duende/model/events.h"

namespace duende::model {

using framework::ErrnoError;
using framework::Error;
using framework::MessageError;
using framework::Result;
using Json = nlohmann::json;

namespace {

constexpr auto kReplace = Json::error_handler_t::replace;

bool IsEnvelopeKey(const std::string& key) {
  return key == "ts_ns" || key == "type" || key == "target";
}

// A value as text: strings as they are, everything else as compact JSON ("12", "0.5").
std::string ValueText(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "";
  return value.dump(-1, ' ', false, kReplace);
}

Verdict ParseVerdict(const Json& value, Verdict fallback) {
  if (!value.is_string()) return fallback;
  const auto& s = value.get_ref<const std::string&>();
  if (s == "PASS") return Verdict::kPass;
  if (s == "FAIL") return Verdict::kFail;
  if (s == "ERROR") return Verdict::kError;
  if (s == "ABORTED") return Verdict::kAborted;
  return fallback;
}

template <typename T>
T Field(const Json& data, const char* key, T fallback) {
  auto it = data.find(key);
  if (it == data.end() || it->is_null()) return fallback;
  if constexpr (std::is_same_v<T, std::string>) {
    return it->is_string() ? it->template get<std::string>() : fallback;
  } else if constexpr (std::is_integral_v<T>) {
    // Integers only: a float out of T's range (a 20-digit seed parses as one) has no value
    // as T (converting it is undefined behaviour).
    return it->is_number_integer() ? it->template get<T>() : fallback;
  } else {
    return it->is_number() ? it->template get<T>() : fallback;
  }
}

}  // namespace

Json EventToJson(const Event& event) {
  Json out = Json::object();
  if (event.data.is_object()) {
    for (const auto& [key, value] : event.data.items()) {
      if (!IsEnvelopeKey(key)) out[key] = value;
    }
  }
  out["ts_ns"] = event.ts_ns;
  out["type"] = event.type;
  out["target"] = event.target;
  return out;
}

std::string EventToJsonLine(const Event& event) {
  // Written by hand so that the envelope comes first on every line (nlohmann::json sorts keys),
  // which keeps logs readable with plain `grep`/`less`.
  std::string line = "{\"ts_ns\":" + std::to_string(event.ts_ns) +
                     ",\"type\":" + Json(event.type).dump(-1, ' ', false, kReplace) +
                     ",\"target\":" + Json(event.target).dump(-1, ' ', false, kReplace);
  if (event.data.is_object()) {
    for (const auto& [key, value] : event.data.items()) {
      if (IsEnvelopeKey(key)) continue;
      line += ',';
      line += Json(key).dump(-1, ' ', false, kReplace);
      line += ':';
      line += value.dump(-1, ' ', false, kReplace);
    }
  }
  line += '}';
  return line;
}

Result<Event> EventFromJson(const Json& json) {
  if (!json.is_object()) return MessageError("an event must be a JSON object");
  Event event;
  auto ts = json.find("ts_ns");
  if (ts == json.end() || !ts->is_number_integer()) {
    return MessageError("event has no integer 'ts_ns'");
  }
  event.ts_ns = ts->get<int64_t>();
  auto type = json.find("type");
  if (type == json.end() || !type->is_string() || type->get_ref<const std::string&>().empty()) {
    return MessageError("event has no 'type' (a non-empty string such as \"fault.injected\")");
  }
  event.type = type->get<std::string>();
  auto target = json.find("target");
  if (target != json.end() && !target->is_null()) {
    if (!target->is_string()) return MessageError("event 'target' must be a string");
    event.target = target->get<std::string>();
  }
  for (const auto& [key, value] : json.items()) {
    if (!IsEnvelopeKey(key)) event.data[key] = value;
  }
  return event;
}

EventLogWriter::EventLogWriter(std::string path, framework::UniqueFd fd)
    : path_(std::move(path)), fd_(std::move(fd)), mu_(std::make_unique<std::mutex>()) {}

Result<EventLogWriter> EventLogWriter::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("unable to open " + path);
  return EventLogWriter(path, framework::UniqueFd(fd));
}

void EventLogWriter::Append(const Event& event) {
  std::string line = EventToJsonLine(event);
  line += '\n';
  std::lock_guard<std::mutex> lock(*mu_);
  auto written = framework::WriteAll(fd_.get(), line);
  if (!written.ok() && !error_) {
    error_ = ErrnoError("unable to write " + path_, written.error().code.value());
  }
}

std::optional<Error> EventLogWriter::error() const {
  std::lock_guard<std::mutex> lock(*mu_);
  return error_;
}

namespace {

// Reads one event per line from `in`; `name` names the log in messages.
Result<std::vector<Event>> ReadEvents(std::istream& in, const std::string& name) {
  std::vector<Event> events;
  std::string line;
  size_t line_no = 0;
  size_t cut = 0;
  // A line is one event; a line past the cap (a hostile or corrupt log) is refused, not held.
  while (framework::GetLineLimited(in, &line, framework::kMaxEventLineBytes, &cut)) {
    ++line_no;
    if (cut > 0) {
      return MessageError(name + ":" + std::to_string(line_no) + ": a line longer than " +
                          std::to_string(framework::kMaxEventLineBytes) + " bytes is not an event");
    }
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    Json json = Json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (json.is_discarded()) {
      return MessageError(name + ":" + std::to_string(line_no) +
                          ": invalid JSON (each line must be one event object)");
    }
    auto event = EventFromJson(json);
    if (!event) {
      return MessageError(name + ":" + std::to_string(line_no) + ": " + event.error().context);
    }
    events.push_back(std::move(event.value()));
  }
  if (in.bad()) return ErrnoError("unable to read " + name);
  return events;
}

}  // namespace

Result<std::vector<Event>> ReadEventLog(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return ErrnoError("unable to read " + path);
  return ReadEvents(in, path);
}

Result<std::vector<Event>> ParseEventLog(std::string_view text, const std::string& name) {
  std::istringstream in{std::string(text)};
  return ReadEvents(in, name);
}

ScenarioResult ScenarioFromEvents(std::vector<Event> events) {
  ScenarioResult s;
  bool started = false;
  bool finished = false;
  bool verdict_given = false;
  for (const Event& e : events) {
    if (e.type == events::kRunStarted && !started) {
      started = true;
      s.name = Field<std::string>(e.data, "scenario", "");
      s.file = Field<std::string>(e.data, "file", "");
      s.description = Field<std::string>(e.data, "description", "");
      s.seed = Field<uint64_t>(e.data, "seed", 0);
      s.replay_command = Field<std::string>(e.data, "replay_command", "");
      s.wall_start_ns = Field<int64_t>(e.data, "wall_start_ns", 0);
      s.start_ns = e.ts_ns;
    } else if (e.type == events::kCheckResult) {
      CheckResult c;
      c.name = e.target;
      c.kind = Field<std::string>(e.data, "kind", "");
      c.verdict = ParseVerdict(e.data.value("verdict", Json()), Verdict::kError);
      c.measured = ValueText(e.data.value("measured", Json()));
      c.threshold = ValueText(e.data.value("threshold", Json()));
      auto ev = e.data.find("evidence");
      if (ev != e.data.end()) {
        if (ev->is_array()) {
          for (const auto& item : *ev) c.evidence.push_back(ValueText(item));
        } else if (!ev->is_null()) {
          c.evidence.push_back(ValueText(*ev));
        }
      }
      c.duration_s = Field<double>(e.data, "duration_s", 0.0);
      s.checks.push_back(std::move(c));
    } else if (e.type == events::kRunFinished) {
      finished = true;
      s.end_ns = e.ts_ns;
      auto v = e.data.find("verdict");
      if (v != e.data.end() && v->is_string()) {
        s.verdict = ParseVerdict(*v, Verdict::kError);
        verdict_given = true;
      }
      s.error = Field<std::string>(e.data, "error", "");
    }
  }
  if (!events.empty()) {
    if (!started) s.start_ns = events.front().ts_ns;
    if (!finished) s.end_ns = events.back().ts_ns;
  }
  if (!finished) {
    s.verdict = Verdict::kAborted;
    s.error = "the event log ends before run.finished (the run was interrupted)";
  } else if (!verdict_given) {
    std::vector<Verdict> vs;
    for (const auto& c : s.checks) vs.push_back(c.verdict);
    s.verdict = Combine(vs);
  }
  s.events = std::move(events);
  return s;
}

std::vector<ScenarioResult> ScenariosFromEvents(std::vector<Event> events) {
  // Events before the first run.started stay with it.
  std::vector<std::vector<Event>> parts;
  bool part_started = false;
  for (Event& e : events) {
    bool starts = e.type == events::kRunStarted;
    if (parts.empty() || (starts && part_started)) {
      parts.emplace_back();
      part_started = false;
    }
    part_started = part_started || starts;
    parts.back().push_back(std::move(e));
  }
  std::vector<ScenarioResult> out;
  out.reserve(parts.size());
  for (auto& p : parts) out.push_back(ScenarioFromEvents(std::move(p)));
  return out;
}

RunReport RunReportFromEvents(std::vector<Event> events) {
  RunReport r;
  for (const Event& e : events) {
    if (e.type == events::kRunStarted) {
      r.hostname = Field<std::string>(e.data, "hostname", "");
      r.tool_version = Field<std::string>(e.data, "tool_version", "");
      break;
    }
  }
  r.scenarios = ScenariosFromEvents(std::move(events));
  std::vector<Verdict> vs;
  for (const auto& s : r.scenarios) vs.push_back(s.verdict);
  r.verdict = Combine(vs);
  return r;
}

}  // namespace duende::model
