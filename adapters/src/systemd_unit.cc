#include "duende/adapters/systemd_unit.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <sstream>

#include "duende/framework/command.h"
#include "duende/framework/process.h"
#include "sandbox_render.h"
#include "text_util.h"

namespace duende::adapters {

using framework::CommandOptions;
using framework::DaemonConfig;
using framework::MessageError;
using framework::nanoseconds;
using framework::Result;
using framework::RunCommand;
using Policy = framework::RestartConfig::Policy;
using Kind = framework::ProbeConfig::Kind;

namespace {

int EffectiveVersion(const SystemdRenderOptions& options) {
  if (options.version > 0) return options.version;
  int local = LocalSystemdVersion();
  return local > 0 ? local : kSystemdDefaultVersion;
}

nanoseconds Micros(int64_t us) { return nanoseconds(us * 1000); }

// Durations as systemd keeps them: whole microseconds, rounded up.
nanoseconds RoundUs(nanoseconds d) { return Micros(internal::CeilMicros(d)); }

// RestartSteps=: the number of steps from RestartSec= to RestartMaxDelaySec= that our
// multiplier needs (systemd interpolates exponentially between the two). 0 = no steps.
uint32_t RestartSteps(const framework::BackoffConfig& b, int version) {
  if (version < kSystemdRestartStepsVersion) return 0;
  int64_t initial = internal::CeilMicros(b.initial);
  int64_t max = internal::CeilMicros(b.max);
  if (initial <= 0 || max <= initial || b.multiplier <= 1.0) return 0;
  double steps = std::ceil(std::log(static_cast<double>(max) / static_cast<double>(initial)) /
                           std::log(b.multiplier));
  // systemd accepts 1..3600 steps.
  return static_cast<uint32_t>(std::clamp(steps, 1.0, 3600.0));
}

double MultiplierFromSteps(int64_t initial_us, int64_t max_us, uint32_t steps) {
  return std::pow(static_cast<double>(max_us) / static_cast<double>(initial_us),
                  1.0 / static_cast<double>(steps));
}

std::string KillSignalText(int sig) {
  std::string name = framework::SignalName(sig);
  if (framework::ParseSignal(name) == sig && name.rfind("SIG", 0) == 0 &&
      name.find_first_of("0123456789") == std::string::npos) {
    return name;
  }
  return std::to_string(sig);
}

// Unit-file values other than ExecStart/Environment: % is a specifier, newlines end lines.
std::string PlainValue(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '%') {
      out += "%%";
    } else if (c == '\n' || c == '\r') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string UnescapePercent(std::string_view v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    out += v[i];
    if (v[i] == '%' && i + 1 < v.size() && v[i + 1] == '%') ++i;
  }
  return out;
}

// Splits a value into words the way systemd does for ExecStart=/Environment=: double or
// single quotes, C escapes; then %% -> % and (exec) $$ -> $.
Result<std::vector<std::string>> SplitWords(std::string_view v, bool exec) {
  std::vector<std::string> words;
  size_t i = 0;
  auto unescape = [&](std::string& cur) -> bool {
    if (i + 1 >= v.size()) return false;
    char n = v[++i];
    switch (n) {
      case 'n':
        cur += '\n';
        break;
      case 't':
        cur += '\t';
        break;
      case 'r':
        cur += '\r';
        break;
      case 'a':
        cur += '\a';
        break;
      case 'b':
        cur += '\b';
        break;
      case 'f':
        cur += '\f';
        break;
      case 'v':
        cur += '\v';
        break;
      case 'x': {
        if (i + 2 >= v.size()) return false;
        cur += static_cast<char>(std::stoi(std::string(v.substr(i + 1, 2)), nullptr, 16));
        i += 2;
        break;
      }
      default:
        cur += n;
    }
    return true;
  };
  while (i < v.size()) {
    while (i < v.size() && (v[i] == ' ' || v[i] == '\t')) ++i;
    if (i >= v.size()) break;
    std::string cur;
    while (i < v.size() && v[i] != ' ' && v[i] != '\t') {
      char c = v[i];
      if (c == '"' || c == '\'') {
        char q = c;
        for (++i;; ++i) {
          if (i >= v.size()) return MessageError("unterminated quote in: " + std::string(v));
          if (v[i] == q) break;
          if (v[i] == '\\') {
            if (!unescape(cur)) return MessageError("bad escape in: " + std::string(v));
          } else {
            cur += v[i];
          }
        }
        ++i;
      } else if (c == '\\') {
        if (!unescape(cur)) return MessageError("bad escape in: " + std::string(v));
        ++i;
      } else {
        cur += c;
        ++i;
      }
    }
    std::string w;
    for (size_t k = 0; k < cur.size(); ++k) {
      w += cur[k];
      if ((cur[k] == '%' || (exec && cur[k] == '$')) && k + 1 < cur.size() &&
          cur[k + 1] == cur[k]) {
        ++k;
      }
    }
    words.push_back(std::move(w));
  }
  return words;
}

// A kind = "daemon" liveness probe as WatchdogSec=: the supervisor acts after
// failure_threshold failed probes `interval` apart; systemd's watchdog fires after as long
// without WATCHDOG=1, which the framework sends (every half of WATCHDOG_USEC) only while the
// daemon's HealthCheck() is not unhealthy. The shorter of that and the config's own watchdog.
nanoseconds DaemonLivenessWatchdog(const DaemonConfig& c) {
  const auto& l = c.health.liveness;
  if (l.kind != Kind::kDaemon || l.interval.count() <= 0) return c.health.watchdog;
  const nanoseconds window =
      l.interval * static_cast<int64_t>(std::max<uint32_t>(l.failure_threshold, 1));
  return c.health.watchdog.count() > 0 ? std::min(c.health.watchdog, window) : window;
}

}  // namespace

int LocalSystemdVersion() {
  static std::once_flag once;
  static int version = 0;
  std::call_once(once, [] {
    CommandOptions o;
    o.timeout = std::chrono::seconds(5);
    auto r = RunCommand({"systemctl", "--version"}, o);
    if (!r.ok() || !r->status.success()) return;
    int v = 0;
    if (std::sscanf(r->out.c_str(), "systemd %d", &v) == 1) version = v;
  });
  return version;
}

std::string SystemdUnitName(const DaemonConfig& config) { return config.name + ".service"; }

std::string SystemdQuote(std::string_view word, bool exec) {
  std::string out = "\"";
  for (char c : word) {
    auto uc = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      case '%':
        out += "%%";
        break;
      case '$':
        out += exec ? "$$" : "$";
        break;
      default:
        if (uc < 0x20 || uc == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\x%02x", uc);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

std::string SystemdTimespan(nanoseconds d) {
  return internal::ExactDuration(Micros(internal::CeilMicros(d)));
}

Translation TranslateForSystemd(const DaemonConfig& c, const SystemdRenderOptions& options) {
  const int version = EffectiveVersion(options);
  DaemonConfig t = internal::Skeleton(c);
  t.description = c.description;
  for (char& ch : t.description) {
    if (ch == '\n' || ch == '\r') ch = ' ';
  }
  t.env = c.env;
  t.working_dir = c.working_dir;
  t.user = c.user;
  t.group = c.group;
  t.sandbox = c.sandbox;  // every [sandbox] key has a directive (sandbox_render.cc)
  t.shutdown_timeout = RoundUs(c.shutdown_timeout);
  t.stop_signal = c.stop_signal;
  const auto& r = c.resources;
  t.resources.memory_max = r.memory_max;
  if (r.cpu_quota) {
    // CPUQuota= is a percentage with two decimals (1/10000 of a core).
    t.resources.cpu_quota = static_cast<double>(std::llround(*r.cpu_quota * 10000)) / 10000.0;
  }
  t.resources.pids_max = r.pids_max;
  t.resources.open_files = r.open_files;
  t.resources.address_space = r.address_space;
  t.resources.processes = r.processes;
  t.resources.core_size = r.core_size;
  t.resources.lock_memory = r.lock_memory;
  t.resources.lock_memory_required = r.lock_memory_required;
  t.restart.policy = c.restart.policy;
  t.restart.prevent_exit_codes = c.restart.prevent_exit_codes;
  t.restart.start_limit_burst = c.restart.start_limit_burst;
  t.restart.start_limit_interval = RoundUs(c.restart.start_limit_interval);
  t.restart.backoff.initial = RoundUs(c.restart.backoff.initial);
  if (uint32_t steps = RestartSteps(c.restart.backoff, version); steps > 0) {
    int64_t initial = internal::CeilMicros(c.restart.backoff.initial);
    int64_t max = internal::CeilMicros(c.restart.backoff.max);
    t.restart.backoff.max = Micros(max);
    t.restart.backoff.multiplier = MultiplierFromSteps(initial, max, steps);
  } else if (t.restart.backoff.max < t.restart.backoff.initial) {
    // systemd <254 restarts at a constant RestartSec=; keep the config valid (max >= initial).
    t.restart.backoff.max = t.restart.backoff.initial;
  }
  // A framework daemon (what kind = "daemon" probes need) notifies readiness itself.
  if (c.health.readiness.kind == Kind::kNotify || c.health.readiness.kind == Kind::kDaemon) {
    t.health.readiness.kind = Kind::kNotify;
    t.health.readiness.grace_period = RoundUs(c.health.readiness.grace_period);
  }
  t.health.watchdog = RoundUs(DaemonLivenessWatchdog(c));
  Translation out;
  out.config = std::move(t);
  return out;
}

Result<std::string> RenderSystemdUnit(const DaemonConfig& config,
                                      const SystemdRenderOptions& options) {
  DUENDE_TRY(CheckRenderable(config));
  const int version = EffectiveVersion(options);
  const DaemonConfig c = TranslateForSystemd(config, options).config;
  std::ostringstream u;
  u << "# " << SystemdUnitName(c) << ": generated by duende"
    << (config.source_file.empty() ? "" : " from " + PlainValue(config.source_file))
    << " for systemd " << version << ".\n";
  u << "[Unit]\n";
  if (!c.description.empty()) u << "Description=" << PlainValue(c.description) << '\n';
  u << "StartLimitIntervalSec=" << SystemdTimespan(c.restart.start_limit_interval) << '\n';
  u << "StartLimitBurst=" << c.restart.start_limit_burst << '\n';
  u << "\n[Service]\n";
  u << "Type=" << (c.health.readiness.kind == Kind::kNotify ? "notify" : "exec") << '\n';
  u << "ExecStart=";
  for (size_t i = 0; i < c.command.size(); ++i) {
    u << (i ? " " : "") << SystemdQuote(c.command[i], /*exec=*/true);
  }
  u << '\n';
  u << "SyslogIdentifier=" << c.name << '\n';
  for (const auto& [k, v] : internal::PlatformEnv(c)) {
    u << "Environment=" << SystemdQuote(k + "=" + v, /*exec=*/false) << '\n';
  }
  if (!c.working_dir.empty()) u << "WorkingDirectory=" << PlainValue(c.working_dir) << '\n';
  if (!c.user.empty()) u << "User=" << PlainValue(c.user) << '\n';
  if (!c.group.empty()) u << "Group=" << PlainValue(c.group) << '\n';
  u << internal::SystemdSandboxLines(c.sandbox);
  const char* restart = c.restart.policy == Policy::kAlways      ? "always"
                        : c.restart.policy == Policy::kOnFailure ? "on-failure"
                                                                 : "no";
  u << "Restart=" << restart << '\n';
  // Written even when empty: our default (78) is not systemd's (none).
  u << "RestartPreventExitStatus=";
  for (size_t i = 0; i < c.restart.prevent_exit_codes.size(); ++i) {
    u << (i ? " " : "") << c.restart.prevent_exit_codes[i];
  }
  u << '\n';
  u << "RestartSec=" << SystemdTimespan(c.restart.backoff.initial) << '\n';
  if (uint32_t steps = RestartSteps(config.restart.backoff, version); steps > 0) {
    u << "RestartSteps=" << steps << '\n';
    u << "RestartMaxDelaySec=" << SystemdTimespan(c.restart.backoff.max) << '\n';
  }
  if (c.health.readiness.kind == Kind::kNotify) {
    u << "TimeoutStartSec="
      << (c.health.readiness.grace_period.count() == 0
              ? std::string("infinity")
              : SystemdTimespan(c.health.readiness.grace_period))
      << '\n';
  }
  u << "TimeoutStopSec=" << SystemdTimespan(c.shutdown_timeout) << '\n';
  u << "KillSignal=" << KillSignalText(c.stop_signal) << '\n';
  if (c.health.watchdog.count() > 0) {
    u << "WatchdogSec=" << SystemdTimespan(c.health.watchdog) << '\n';
  }
  const auto& r = c.resources;
  if (r.memory_max) u << "MemoryMax=" << *r.memory_max << '\n';
  if (r.cpu_quota) {
    long long permyriad = std::llround(*r.cpu_quota * 10000);
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%lld.%02lld%%", permyriad / 100, permyriad % 100);
    u << "CPUQuota=" << buf << '\n';
  }
  if (r.pids_max) u << "TasksMax=" << *r.pids_max << '\n';
  if (r.open_files) u << "LimitNOFILE=" << *r.open_files << '\n';
  if (r.address_space) u << "LimitAS=" << *r.address_space << '\n';
  if (r.processes) u << "LimitNPROC=" << *r.processes << '\n';
  if (r.core_size) u << "LimitCORE=" << *r.core_size << '\n';
  if (r.lock_memory) u << "LimitMEMLOCK=infinity\n";
  u << "\n[Install]\nWantedBy=default.target\n";
  return u.str();
}

Result<DaemonConfig> ParseSystemdUnit(std::string_view text) {
  DaemonConfig c;
  std::string section;
  int64_t restart_sec_us = -1;
  int64_t max_delay_us = -1;
  uint32_t steps = 0;
  size_t line_no = 0;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    ++line_no;
    auto fail = [&](const std::string& why) {
      return MessageError("line " + std::to_string(line_no) + ": " + why + ": " + line);
    };
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line[0] == '[') {
      section = line;
      continue;
    }
    size_t eq = line.find('=');
    if (eq == std::string::npos) return fail("not KEY=VALUE");
    std::string key = line.substr(0, eq);
    std::string value = line.substr(eq + 1);
    auto span = [&]() -> Result<nanoseconds> {
      auto d = internal::ParseExactDuration(value);
      if (!d) return fail("bad time span");
      return *d;
    };
    auto number = [&]() -> Result<uint64_t> {
      auto n = internal::ParseUint(value);
      if (!n) return fail("bad number");
      return *n;
    };
#define DUENDE_GET(var, expr) \
  auto var = (expr);          \
  if (!var.ok()) return var.error();
    if (section == "[Service]") {
      DUENDE_GET(sandbox_key, internal::ReadSystemdSandboxKey(key, value, &c.sandbox));
      if (*sandbox_key) continue;
    }
    if (section == "[Unit]") {
      if (key == "Description") {
        c.description = UnescapePercent(value);
      } else if (key == "StartLimitIntervalSec") {
        DUENDE_GET(d, span());
        c.restart.start_limit_interval = *d;
      } else if (key == "StartLimitBurst") {
        DUENDE_GET(n, number());
        c.restart.start_limit_burst = static_cast<uint32_t>(*n);
      } else {
        return fail("unexpected key");
      }
    } else if (section == "[Service]") {
      if (key == "Type") {
        if (value == "notify") c.health.readiness.kind = Kind::kNotify;
      } else if (key == "ExecStart") {
        DUENDE_GET(w, SplitWords(value, true));
        c.command = *w;
      } else if (key == "SyslogIdentifier") {
        c.name = value;
      } else if (key == "Environment") {
        DUENDE_GET(w, SplitWords(value, false));
        for (const std::string& kv : *w) {
          size_t e = kv.find('=');
          if (e == std::string::npos) return fail("environment entry without '='");
          c.env.emplace_back(kv.substr(0, e), kv.substr(e + 1));
        }
      } else if (key == "WorkingDirectory") {
        c.working_dir = UnescapePercent(value);
      } else if (key == "User") {
        c.user = UnescapePercent(value);
      } else if (key == "Group") {
        c.group = UnescapePercent(value);
      } else if (key == "Restart") {
        if (value == "always") {
          c.restart.policy = Policy::kAlways;
        } else if (value == "on-failure") {
          c.restart.policy = Policy::kOnFailure;
        } else if (value == "no") {
          c.restart.policy = Policy::kNever;
        } else {
          return fail("unknown Restart=");
        }
      } else if (key == "RestartPreventExitStatus") {
        c.restart.prevent_exit_codes.clear();
        std::istringstream codes(value);
        std::string code;
        while (codes >> code) {
          auto n = internal::ParseUint(code);
          if (!n) return fail("bad exit status");
          c.restart.prevent_exit_codes.push_back(static_cast<int>(*n));
        }
      } else if (key == "RestartSec") {
        DUENDE_GET(d, span());
        restart_sec_us = d->count() / 1000;
        c.restart.backoff.initial = *d;
      } else if (key == "RestartSteps") {
        DUENDE_GET(n, number());
        steps = static_cast<uint32_t>(*n);
      } else if (key == "RestartMaxDelaySec") {
        DUENDE_GET(d, span());
        max_delay_us = d->count() / 1000;
      } else if (key == "TimeoutStartSec") {
        if (value == "infinity") {
          c.health.readiness.grace_period = nanoseconds(0);
        } else {
          DUENDE_GET(d, span());
          c.health.readiness.grace_period = *d;
        }
      } else if (key == "TimeoutStopSec") {
        DUENDE_GET(d, span());
        c.shutdown_timeout = *d;
      } else if (key == "KillSignal") {
        int sig = framework::ParseSignal(value);
        if (sig == 0) return fail("unknown signal");
        c.stop_signal = sig;
      } else if (key == "WatchdogSec") {
        DUENDE_GET(d, span());
        c.health.watchdog = *d;
      } else if (key == "MemoryMax") {
        DUENDE_GET(n, number());
        c.resources.memory_max = *n;
      } else if (key == "CPUQuota") {
        long long whole = 0, frac = 0;
        if (std::sscanf(value.c_str(), "%lld.%lld%%", &whole, &frac) != 2) {
          return fail("bad CPUQuota");
        }
        c.resources.cpu_quota = static_cast<double>(whole * 100 + frac) / 10000.0;
      } else if (key == "TasksMax") {
        DUENDE_GET(n, number());
        c.resources.pids_max = *n;
      } else if (key == "LimitNOFILE") {
        DUENDE_GET(n, number());
        c.resources.open_files = *n;
      } else if (key == "LimitAS") {
        DUENDE_GET(n, number());
        c.resources.address_space = *n;
      } else if (key == "LimitNPROC") {
        DUENDE_GET(n, number());
        c.resources.processes = *n;
      } else if (key == "LimitCORE") {
        DUENDE_GET(n, number());
        c.resources.core_size = *n;
      } else if (key == "LimitMEMLOCK") {
        if (value != "infinity") return fail("LimitMEMLOCK other than infinity");
      } else {
        return fail("unexpected key");
      }
    } else if (section == "[Install]") {
      continue;
    } else {
      return fail("line outside a known section");
    }
#undef DUENDE_GET
  }
  internal::TakeMlockEnv(&c);
  if (steps > 0 && restart_sec_us > 0 && max_delay_us > 0) {
    c.restart.backoff.max = Micros(max_delay_us);
    c.restart.backoff.multiplier = MultiplierFromSteps(restart_sec_us, max_delay_us, steps);
  } else if (c.restart.backoff.max < c.restart.backoff.initial) {
    c.restart.backoff.max = c.restart.backoff.initial;
  }
  return c;
}

}  // namespace duende::adapters
