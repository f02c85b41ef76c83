// The [policy] table: its readers (every problem as file:line:col with the fix) and its
// formatter for FormatDaemonConfig.
#include "duende/framework/policy_config.h"

#include <string>

#include "duende/framework/clock.h"

namespace duende::framework {
namespace {

using std::chrono::nanoseconds;

// A duration that must be > 0 and at most `max` (an example of a good value in the message).
void ReadPositive(TomlReader& r, std::string_view key, nanoseconds max, nanoseconds* out) {
  if (auto d = r.Duration(key, false, DurationRange{nanoseconds(1), max})) *out = *d;
}

}  // namespace

void ReadBreakerConfig(TomlReader& r, BreakerConfig* out) {
  if (auto v = r.Int("failure_threshold", 0, 1'000'000)) {
    out->failure_threshold = static_cast<uint32_t>(*v);
  }
  if (auto v = r.Double("failure_rate", 0, 1)) out->failure_rate = *v;
  ReadPositive(r, "window", std::chrono::hours(24), &out->window);
  if (auto v = r.Int("min_calls", 1, 1'000'000)) out->min_calls = static_cast<uint32_t>(*v);
  ReadPositive(r, "open_for", std::chrono::hours(24), &out->open_for);
  if (auto v = r.Double("jitter", 0, 1)) out->jitter = *v;
  if (auto v = r.Int("half_open_trials", 1, 10'000)) {
    out->half_open_trials = static_cast<uint32_t>(*v);
  }
  if (out->failure_threshold == 0 && out->failure_rate == 0) {
    r.Fail(r.Has("failure_threshold") ? "failure_threshold" : "failure_rate",
           "the breaker in " + r.where() +
               " can never open: failure_threshold and failure_rate are both 0; set "
               "failure_threshold = 5 (failures in a row) or failure_rate = 0.5 (share over "
               "'window'), or remove the table");
  }
  r.Finish();
}

void ReadRateLimitConfig(TomlReader& r, RateLimitConfig* out) {
  // At least one token in 1000 s, at most one a nanosecond (the bucket counts in nanoseconds).
  if (auto v = r.Double("rate", 0.001, 1e9)) out->rate = *v;
  if (auto v = r.Int("burst", 1, 1'000'000)) out->burst = static_cast<uint32_t>(*v);
  r.Finish();
}

void ReadShedConfig(TomlReader& r, ShedConfig* out) {
  ReadPositive(r, "target", std::chrono::hours(1), &out->target);
  ReadPositive(r, "interval", std::chrono::hours(1), &out->interval);
  if (out->interval < out->target) {
    r.Fail(r.Has("interval") ? "interval" : "target",
           "'interval' in " + r.where() + " (" + FormatDuration(out->interval) +
               ") is shorter than 'target' (" + FormatDuration(out->target) +
               "); a burst may wait up to interval, a standing queue only target: raise "
               "interval (CoDel uses 100ms with target 5ms) or lower target");
  }
  r.Finish();
}

void ReadPolicyConfig(TomlReader& r, PolicyConfig* out) {
  if (auto t = r.Table("breaker")) {
    out->breaker.emplace();
    ReadBreakerConfig(*t, &*out->breaker);
  }
  if (auto t = r.Table("rate_limit")) {
    out->rate_limit.emplace();
    ReadRateLimitConfig(*t, &*out->rate_limit);
  }
  if (auto t = r.Table("shed")) {
    out->shed.emplace();
    ReadShedConfig(*t, &*out->shed);
  }
  r.Finish();
}

toml::table FormatPolicyConfig(const PolicyConfig& c) {
  toml::table policy;
  if (const auto& b = c.breaker) {
    toml::table t;
    t.insert("failure_threshold", static_cast<int64_t>(b->failure_threshold));
    t.insert("failure_rate", b->failure_rate);
    t.insert("window", ExactDurationText(b->window));
    t.insert("min_calls", static_cast<int64_t>(b->min_calls));
    t.insert("open_for", ExactDurationText(b->open_for));
    t.insert("jitter", b->jitter);
    t.insert("half_open_trials", static_cast<int64_t>(b->half_open_trials));
    policy.insert("breaker", std::move(t));
  }
  if (const auto& l = c.rate_limit) {
    toml::table t;
    t.insert("rate", l->rate);
    t.insert("burst", static_cast<int64_t>(l->burst));
    policy.insert("rate_limit", std::move(t));
  }
  if (const auto& s = c.shed) {
    toml::table t;
    t.insert("target", ExactDurationText(s->target));
    t.insert("interval", ExactDurationText(s->interval));
    policy.insert("shed", std::move(t));
  }
  return policy;
}

}  // namespace duende::framework
