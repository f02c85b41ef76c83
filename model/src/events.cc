#include "duende/model/events.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

namespace duende::model::events {

const std::vector<const char*>& AllTypes() {
  static const std::vector<const char*> kAll = {
      kRunStarted,
      kRunFinished,
      kRunPhase,
      kRunInterrupted,
      kRunLeftovers,
      kRunHealedLeftovers,
      kSteadyState,
      kTargetSpawned,
      kTargetReady,
      kTargetTracking,
      kTargetMainPid,
      kTargetExited,
      kTargetRestartScheduled,
      kTargetGaveUp,
      kTargetNotRestarting,
      kTargetStopping,
      kTargetStopped,
      kTargetKilled,
      kTargetSpawnFailed,
      kTargetHealthFailed,
      kTargetStatus,
      kTargetSample,
      kTargetFile,
      kTargetOutputTail,
      kTargetLog,
      kTargetLogTruncated,
      kFaultInjected,
      kFaultFired,
      kFaultHealed,
      kFaultError,
      kProxyStarted,
      kProxyStopped,
      kLoadSecond,
      kLoadSummary,
      kLoadOps,
      kReadbackOps,
      kReadbackResult,
      kProbeResult,
      kCheckResult,
      kGateStepStarted,
      kGateStepFinished,
  };
  return kAll;
}

int64_t IntField(const nlohmann::json& data, const char* key, int64_t fallback) {
  auto it = data.find(key);
  if (it == data.end() || !it->is_number()) return fallback;
  if (it->is_number_float()) {
    // A log's 1e300 or NaN must not be undefined behaviour in a cast: clamp, NaN = fallback.
    const double v = it->get<double>();
    if (std::isnan(v)) return fallback;
    if (v >= 9.2e18) return std::numeric_limits<int64_t>::max();
    if (v <= -9.2e18) return std::numeric_limits<int64_t>::min();
    return static_cast<int64_t>(v);
  }
  if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    return std::numeric_limits<int64_t>::max();
  }
  return it->get<int64_t>();
}

double NumberField(const nlohmann::json& data, const char* key, double fallback) {
  auto it = data.find(key);
  if (it == data.end() || !it->is_number()) return fallback;
  return it->get<double>();
}

bool BoolField(const nlohmann::json& data, const char* key, bool fallback) {
  auto it = data.find(key);
  if (it == data.end() || !it->is_boolean()) return fallback;
  return it->get<bool>();
}

std::string StringField(const nlohmann::json& data, const char* key) {
  auto it = data.find(key);
  if (it == data.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

std::optional<LoadSecond> DecodeLoadSecond(const Event& e) {
  if (e.type != kLoadSecond) return std::nullopt;
  const nlohmann::json& d = e.data;
  LoadSecond s;
  s.second = IntField(d, "second");
  s.start_ns = IntField(d, "start_ns", e.ts_ns - 1'000'000'000);
  const int64_t span = IntField(d, "span_ns");
  const bool fits =
      span > 0 && span <= 1'000'000'000 && s.start_ns <= std::numeric_limits<int64_t>::max() - span;
  s.end_ns = fits ? s.start_ns + span : e.ts_ns;
  s.sent = IntField(d, "sent");
  s.ok = IntField(d, "ok");
  s.errors = IntField(d, "errors");
  s.timeouts = IntField(d, "timeouts");
  s.rate = NumberField(d, "rate", static_cast<double>(s.ok));
  s.p50_us = IntField(d, "p50_us");
  s.p90_us = IntField(d, "p90_us");
  s.p99_us = IntField(d, "p99_us");
  s.p999_us = IntField(d, "p999_us");
  s.max_us = IntField(d, "max_us");
  return s;
}

std::vector<LoadSecond> LoadSeconds(const std::vector<Event>& events) {
  std::vector<LoadSecond> out;
  for (const Event& e : events) {
    if (auto s = DecodeLoadSecond(e)) out.push_back(*s);
  }
  return out;
}

std::vector<LoadStall> LoadStalls(const std::vector<Event>& events) {
  std::vector<LoadStall> out;
  for (const Event& e : events) {
    if (e.type != kLoadSummary || !e.data.contains("stalls") || !e.data["stalls"].is_array()) {
      continue;
    }
    for (const auto& st : e.data["stalls"]) {
      if (!st.is_object()) continue;
      LoadStall s{IntField(st, "start_ns"), IntField(st, "end_ns")};
      if (s.start_ns >= 0 && s.end_ns > s.start_ns) out.push_back(s);
    }
  }
  std::sort(out.begin(), out.end(),
            [](const LoadStall& a, const LoadStall& b) { return a.start_ns < b.start_ns; });
  return out;
}

std::vector<FaultSpan> FaultSpans(const std::vector<Event>& events) {
  std::vector<FaultSpan> out;
  std::map<std::string, size_t> open;  // fault name -> its latest injection in `out`
  for (const Event& e : events) {
    if (e.type == kFaultInjected) {
      FaultSpan s;
      s.fault = e.target;
      s.kind = StringField(e.data, "kind");
      s.on = StringField(e.data, "on");
      s.injected_ns = e.ts_ns;
      open[e.target] = out.size();
      out.push_back(std::move(s));
    } else if (e.type == kFaultFired) {
      if (auto it = open.find(e.target); it != open.end()) out[it->second].fired = true;
    } else if (e.type == kFaultHealed) {
      auto it = open.find(e.target);
      if (it == open.end()) continue;
      FaultSpan& s = out[it->second];
      s.healed_ns = e.ts_ns;
      auto te = e.data.find("took_effect");
      if (te != e.data.end() && te->is_boolean()) s.took_effect = te->get<bool>();
      open.erase(it);
    }
  }
  return out;
}

}  // namespace duende::model::events
