#include "duende/framework/config.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <tuple>

#include "duende/framework/address.h"
#include "duende/framework/backoff.h"
#include "duende/framework/clock.h"
#include "duende/framework/process.h"

namespace duende::framework {
namespace {

using std::chrono::nanoseconds;

bool IsNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '.' || c == '-';
}

bool ValidName(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), IsNameChar);
}

bool ValidEnvName(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0])) != 0) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
  });
}

bool ValidAccountName(std::string_view s) {
  return !s.empty() && std::none_of(s.begin(), s.end(), [](char c) {
    return c == ':' || c == '/' || std::isspace(static_cast<unsigned char>(c)) != 0 ||
           std::iscntrl(static_cast<unsigned char>(c)) != 0;
  });
}

// "host:port" with a non-empty host and a port in 1..65535; "[::1]:80" allowed.
bool ValidAddress(std::string_view s) { return SplitHostPort(s).has_value(); }

// `s` with each "{variable}" replaced by a value that is valid wherever a variable may stand.
std::string WithStandIns(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    size_t close = s[i] == '{' ? s.find('}', i) : std::string_view::npos;
    if (close == std::string_view::npos) {
      out += s[i];
    } else {
      out += '1';
      i = close;
    }
  }
  return out;
}

template <typename T>
void Set(std::optional<T> v, T* out) {
  if (v) *out = std::move(*v);
}

void ReadPositiveDuration(TomlReader& r, std::string_view key, nanoseconds* out, bool allow_zero) {
  auto d = r.Duration(key);
  if (!d) return;
  if (!allow_zero && d->count() == 0) {
    r.Fail(key, "'" + std::string(key) + "' in " + r.where() +
                    " must be greater than 0 (for example \"1s\")");
    return;
  }
  *out = *d;
}

// A duration key of the top level has no "in [table]".
void ReadTopDuration(TomlReader& r, std::string_view key, nanoseconds* out) {
  auto d = r.Duration(key);
  if (!d) return;
  if (d->count() == 0) {
    r.Fail(key, "'" + std::string(key) + "' must be greater than 0 (for example \"10s\")");
    return;
  }
  *out = *d;
}

}  // namespace

void ReadResourceConfig(TomlReader& r, ResourceConfig* out) {
  if (auto v = r.ByteSize("memory_max")) {
    if (*v < (1u << 20)) {
      r.Fail("memory_max", "'memory_max' in [resources] is " + std::to_string(*v) +
                               " bytes; it must be at least 1MiB (for example \"256MiB\")");
    } else {
      out->memory_max = *v;
    }
  }
  if (auto v = r.Double("cpu_quota", 0.01, 1024)) out->cpu_quota = *v;
  if (auto v = r.Int("pids_max", 1, 4194304)) out->pids_max = static_cast<uint64_t>(*v);
  if (auto v = r.Int("open_files", 1, 1 << 30)) out->open_files = static_cast<uint64_t>(*v);
  if (auto v = r.ByteSize("address_space")) {
    if (*v < (1u << 20)) {
      r.Fail("address_space", "'address_space' in [resources] is " + std::to_string(*v) +
                                  " bytes; it must be at least 1MiB (for example \"4GiB\")");
    } else {
      out->address_space = *v;
    }
  }
  if (auto v = r.Int("processes", 1, 4194304)) out->processes = static_cast<uint64_t>(*v);
  if (auto v = r.ByteSize("core_size")) out->core_size = *v;
  Set(r.Bool("lock_memory"), &out->lock_memory);
  Set(r.Bool("lock_memory_required"), &out->lock_memory_required);
  Set(r.Bool("lock_on_fault"), &out->lock_on_fault);
  if (out->lock_memory_required && !out->lock_memory) {
    r.Fail("lock_memory_required",
           "'lock_memory_required' in [resources] needs lock_memory = true (add it, or remove "
           "lock_memory_required)");
  }
  if (out->lock_on_fault && !out->lock_memory) {
    r.Fail("lock_on_fault",
           "'lock_on_fault' in [resources] needs lock_memory = true (add it, or remove "
           "lock_on_fault)");
  }
  r.Finish();
}

void ReadBackoffConfig(TomlReader& r, BackoffConfig* out) {
  ReadPositiveDuration(r, "initial", &out->initial, /*allow_zero=*/true);
  Set(r.Double("multiplier", 1.0, 100.0), &out->multiplier);
  ReadPositiveDuration(r, "max", &out->max, /*allow_zero=*/true);
  if (auto j = r.Enum("jitter", {"none", "full", "equal", "decorrelated"})) {
    if (*j == "none") out->jitter = BackoffConfig::Jitter::kNone;
    if (*j == "full") out->jitter = BackoffConfig::Jitter::kFull;
    if (*j == "equal") out->jitter = BackoffConfig::Jitter::kEqual;
    if (*j == "decorrelated") out->jitter = BackoffConfig::Jitter::kDecorrelated;
  }
  ReadPositiveDuration(r, "reset_after", &out->reset_after, /*allow_zero=*/true);
  Set(r.Bool("immediate_first_restart"), &out->immediate_first_restart);
  if (out->max < out->initial) {
    r.Fail(r.Has("max") ? "max" : "initial",
           "'max' in " + r.where() + " (" + FormatDuration(out->max) +
               ") is smaller than 'initial' (" + FormatDuration(out->initial) +
               "); raise max or lower initial");
  }
  r.Finish();
}

void ReadRestartConfig(TomlReader& r, RestartConfig* out) {
  if (auto p = r.Enum("policy", {"never", "on-failure", "always"})) {
    if (*p == "never") out->policy = RestartConfig::Policy::kNever;
    if (*p == "on-failure") out->policy = RestartConfig::Policy::kOnFailure;
    if (*p == "always") out->policy = RestartConfig::Policy::kAlways;
  }
  if (const toml::node* n = r.Raw("prevent_exit_codes")) {
    const toml::array* arr = n->as_array();
    bool ok = arr != nullptr;
    std::vector<int> codes;
    if (ok) {
      for (const toml::node& item : *arr) {
        if (!item.is_integer() || item.as_integer()->get() < 0 || item.as_integer()->get() > 255) {
          ok = false;
          break;
        }
        codes.push_back(static_cast<int>(item.as_integer()->get()));
      }
    }
    if (ok) {
      out->prevent_exit_codes = std::move(codes);
    } else {
      r.Fail("prevent_exit_codes",
             "'prevent_exit_codes' in [restart] must be an array of exit codes 0..255 such as "
             "[78, 3]");
    }
  }
  if (auto v = r.Int("start_limit_burst", 1, 10000)) {
    out->start_limit_burst = static_cast<uint32_t>(*v);
  }
  ReadPositiveDuration(r, "start_limit_interval", &out->start_limit_interval, false);
  ReadPositiveDuration(r, "start_limit_retry_after", &out->start_limit_retry_after, true);
  if (auto b = r.Table("backoff")) ReadBackoffConfig(*b, &out->backoff);
  r.Finish();
}

void ReadProbeConfig(TomlReader& r, ProbeConfig* out, bool readiness,
                     const ConfigReadOptions& options) {
  std::vector<std::string> kinds = {"none", "tcp", "http", "command", "daemon"};
  if (readiness) kinds.insert(kinds.begin() + 1, "notify");
  if (auto k = r.Enum("kind", kinds)) {
    if (*k == "none") out->kind = ProbeConfig::Kind::kNone;
    if (*k == "notify") out->kind = ProbeConfig::Kind::kNotify;
    if (*k == "tcp") out->kind = ProbeConfig::Kind::kTcp;
    if (*k == "http") out->kind = ProbeConfig::Kind::kHttp;
    if (*k == "command") out->kind = ProbeConfig::Kind::kCommand;
    if (*k == "daemon") out->kind = ProbeConfig::Kind::kDaemon;
  } else if (!r.Has("kind") && !readiness) {
    // A liveness probe spelled as kind = "notify" is reported by Enum() with the list.
  }
  using Kind = ProbeConfig::Kind;
  bool net = out->kind == Kind::kTcp || out->kind == Kind::kHttp;
  const std::string where = r.where();
  if (auto a = r.String("address", net && !options.address_from_owner)) {
    if (!net) {
      r.Fail("address", "'address' in " + where +
                            " is only used by kind = \"tcp\" or \"http\" probes; remove it");
    } else if (!ValidAddress(options.variables ? WithStandIns(*a) : *a)) {
      r.Fail("address", "'address' in " + where + " is \"" + *a +
                            "\"; it must be host:port such as \"127.0.0.1:7000\"");
    } else {
      out->address = *a;
    }
  }
  // 'path' as in steady-state probes and [load]; daemon configs once spelled it 'http_path'.
  std::string path_key = "path";
  if (r.Has("http_path")) {
    if (r.Has("path")) {
      r.Accept("http_path");
      r.Fail("http_path", "give 'path' in " + where + ", not also its old spelling 'http_path'");
    } else {
      path_key = "http_path";
      r.Warn("http_path", "'http_path' in " + where + " is deprecated; write path = \"...\"");
    }
  }
  if (auto p = r.String(path_key)) {
    if (out->kind != Kind::kHttp) {
      r.Fail(path_key, "'" + path_key + "' in " + where +
                           " is only used by kind = \"http\" probes; remove it");
    } else if (p->empty() || (*p)[0] != '/') {
      r.Fail(path_key, "'" + path_key + "' in " + where + " is \"" + *p +
                           "\"; it must start with '/' such as \"/healthz\"");
    } else {
      out->http_path = *p;
    }
  }
  if (auto c = r.StringArray("command", out->kind == Kind::kCommand)) {
    if (out->kind != Kind::kCommand) {
      r.Fail("command",
             "'command' in " + where + " is only used by kind = \"command\" probes; remove it");
    } else if (c->empty() || (*c)[0].empty()) {
      r.Fail("command", "'command' in " + where +
                            " must name a program, such as [\"/usr/bin/check\", \"--quick\"]");
    } else {
      out->command = *c;
    }
  }
  ReadPositiveDuration(r, "interval", &out->interval, false);
  ReadPositiveDuration(r, "timeout", &out->timeout, false);
  if (auto v = r.Int("failure_threshold", 1, 1000)) {
    out->failure_threshold = static_cast<uint32_t>(*v);
  }
  ReadPositiveDuration(r, "grace_period", &out->grace_period, true);
  r.Finish();
}

namespace {

void ReadHealth(TomlReader& r, HealthConfig* out) {
  if (auto t = r.Table("readiness")) ReadProbeConfig(*t, &out->readiness, true);
  if (auto t = r.Table("liveness")) ReadProbeConfig(*t, &out->liveness, false);
  ReadPositiveDuration(r, "watchdog", &out->watchdog, true);
  r.Finish();
}

void ReadLog(TomlReader& r, LogConfig* out) {
  if (auto f = r.String("file")) {
    if (f->empty()) {
      r.Fail("file",
             "'file' in [log] is empty; give a path such as \"/var/log/kvd.log\" or remove it "
             "to log to stderr");
    } else {
      out->file = *f;
    }
  }
  if (auto v = r.ByteSize("max_bytes")) {
    if (*v != 0 && *v < 1024) {
      r.Fail("max_bytes", "'max_bytes' in [log] is " + std::to_string(*v) +
                              "; it must be 0 (no rotation) or at least 1KiB, such as \"10MiB\"");
    } else {
      out->max_bytes = *v;
    }
  }
  if (auto v = r.Int("keep", 0, 1000)) out->keep = static_cast<uint32_t>(*v);
  if (auto l = r.Enum("level", {"debug", "info", "warn", "error"})) {
    if (*l == "debug") out->level = LogConfig::Level::kDebug;
    if (*l == "info") out->level = LogConfig::Level::kInfo;
    if (*l == "warn") out->level = LogConfig::Level::kWarn;
    if (*l == "error") out->level = LogConfig::Level::kError;
  }
  r.Finish();
}

std::optional<bool> ParseBoolWord(const char* s) {
  std::string v(s);
  for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (v == "1" || v == "true" || v == "yes" || v == "on") return true;
  if (v == "0" || v == "false" || v == "no" || v == "off") return false;
  return std::nullopt;
}

// Exact TOML spelling of a duration: the largest unit that divides it.
std::string DurationText(nanoseconds d) { return ExactDurationText(d); }

std::string SizeText(uint64_t b) {
  if (b != 0 && b % (1ull << 30) == 0) return std::to_string(b >> 30) + "GiB";
  if (b != 0 && b % (1ull << 20) == 0) return std::to_string(b >> 20) + "MiB";
  if (b != 0 && b % (1ull << 10) == 0) return std::to_string(b >> 10) + "KiB";
  return std::to_string(b);
}

// toml++ quotes the offending character raw ("saw 't\n'"): a syntax error must stay one
// "file:line:col: message" line, so control characters are escaped.
Error OneLine(Error e) {
  std::string out;
  for (char ch : e.context) {
    if (std::iscntrl(static_cast<unsigned char>(ch)) != 0) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(ch));
      out += buf;
    } else {
      out += ch;
    }
  }
  e.context = std::move(out);
  return e;
}

toml::table ProbeTable(const ProbeConfig& p) {
  using Kind = ProbeConfig::Kind;
  toml::table t;
  t.insert("kind", ProbeKindName(p.kind));
  if (p.kind == Kind::kTcp || p.kind == Kind::kHttp) t.insert("address", p.address);
  if (p.kind == Kind::kHttp) t.insert("path", p.http_path);
  if (p.kind == Kind::kCommand) {
    toml::array cmd;
    for (const auto& a : p.command) cmd.push_back(a);
    t.insert("command", cmd);
  }
  t.insert("interval", DurationText(p.interval));
  t.insert("timeout", DurationText(p.timeout));
  t.insert("failure_threshold", static_cast<int64_t>(p.failure_threshold));
  t.insert("grace_period", DurationText(p.grace_period));
  return t;
}

}  // namespace

const char* ProbeKindName(ProbeConfig::Kind kind) {
  switch (kind) {
    case ProbeConfig::Kind::kNone:
      return "none";
    case ProbeConfig::Kind::kNotify:
      return "notify";
    case ProbeConfig::Kind::kTcp:
      return "tcp";
    case ProbeConfig::Kind::kHttp:
      return "http";
    case ProbeConfig::Kind::kCommand:
      return "command";
    case ProbeConfig::Kind::kDaemon:
      return "daemon";
  }
  return "none";
}

const char* RestartPolicyName(RestartConfig::Policy policy) {
  switch (policy) {
    case RestartConfig::Policy::kNever:
      return "never";
    case RestartConfig::Policy::kOnFailure:
      return "on-failure";
    case RestartConfig::Policy::kAlways:
      return "always";
  }
  return "on-failure";
}

const char* LogLevelName(LogConfig::Level level) {
  switch (level) {
    case LogConfig::Level::kDebug:
      return "debug";
    case LogConfig::Level::kInfo:
      return "info";
    case LogConfig::Level::kWarn:
      return "warn";
    case LogConfig::Level::kError:
      return "error";
  }
  return "info";
}

void MergeSandboxAccount(TomlReader& r, DaemonConfig* c) {
  for (auto [key, top, in_sandbox] :
       {std::tuple<const char*, std::string*, std::string*>{"user", &c->user, &c->sandbox.user},
        std::tuple<const char*, std::string*, std::string*>{"group", &c->group,
                                                            &c->sandbox.group}}) {
    if (in_sandbox->empty()) continue;
    if (top->empty()) {
      *top = *in_sandbox;
    } else if (*top != *in_sandbox) {
      r.Fail(key, "'" + std::string(key) + "' is \"" + *top + "\" but [sandbox] says \"" +
                      *in_sandbox + "\"; write it once");
    }
  }
}

void CheckExecLimits(TomlReader& r, std::string_view command_key, std::string_view env_key,
                     const std::vector<std::string>& argv,
                     const std::vector<std::pair<std::string, std::string>>& env) {
  const std::string in = r.where().empty() ? "" : " in " + r.where();
  std::string problem = ExecLimitProblem(argv, {});
  if (!problem.empty()) {
    r.Fail(command_key, "'" + std::string(command_key) + "'" + in + ": " + problem);
    return;
  }
  std::vector<std::string> entries;
  entries.reserve(env.size());
  for (const auto& [k, v] : env) entries.push_back(k + "=" + v);
  problem = ExecLimitProblem({}, entries);
  if (problem.empty()) problem = ExecLimitProblem(argv, entries, InheritedEnvironmentBytes());
  if (!problem.empty()) r.Fail(env_key, "'" + std::string(env_key) + "'" + in + ": " + problem);
}

DaemonConfig ReadDaemonConfig(TomlReader& r) {
  DaemonConfig c;
  c.source_file = r.file();
  if (auto n = r.String("name")) {
    if (!ValidName(*n)) {
      r.Fail("name", "'name' is \"" + *n +
                         "\"; it must be letters, digits, '_', '.' or '-' (for example \"kvd\")");
    } else {
      c.name = *n;
    }
  }
  Set(r.String("description"), &c.description);
  if (auto cmd = r.StringArray("command")) {
    if (cmd->empty() || (*cmd)[0].empty()) {
      r.Fail("command",
             "'command' must name a program, such as [\"/usr/bin/kvd\", \"--port\", "
             "\"7000\"]");
    } else {
      c.command = *cmd;
    }
  }
  if (auto env = r.StringMap("env")) {
    bool ok = true;
    for (const auto& [k, v] : *env) {
      if (!ValidEnvName(k)) {
        r.Fail("env", "environment variable name '" + k +
                          "' in 'env' is invalid; use letters, digits and '_', not starting "
                          "with a digit");
        ok = false;
      }
    }
    if (ok) c.env = *env;
  }
  CheckExecLimits(r, "command", "env", c.command, c.env);
  if (auto wd = r.String("working_dir")) {
    if (wd->empty() || (*wd)[0] != '/') {
      r.Fail("working_dir", "'working_dir' is \"" + *wd +
                                "\"; it must be an absolute path such as \"/var/lib/kvd\"");
    } else {
      c.working_dir = *wd;
    }
  }
  for (auto [key, field] : {std::pair<const char*, std::string*>{"user", &c.user},
                            std::pair<const char*, std::string*>{"group", &c.group}}) {
    if (auto v = r.String(key)) {
      if (!ValidAccountName(*v)) {
        r.Fail(key, "'" + std::string(key) + "' is \"" + *v +
                        "\"; give an account name or number such as \"nobody\" or \"65534\"");
      } else {
        *field = *v;
      }
    }
  }
  if (auto p = r.String("pid_file")) {
    if (p->empty()) {
      r.Fail("pid_file", "'pid_file' is empty; give a path such as \"/run/kvd.pid\" or remove it");
    } else {
      c.pid_file = *p;
    }
  }
  ReadTopDuration(r, "shutdown_timeout", &c.shutdown_timeout);
  if (const toml::node* n = r.Raw("stop_signal")) {
    int sig = 0;
    if (n->is_integer()) {
      int64_t v = n->as_integer()->get();
      if (v > 0 && v < NSIG) sig = static_cast<int>(v);
    } else if (auto s = n->value<std::string>(); s && n->is_string()) {
      sig = ParseSignal(*s);
    }
    if (sig == 0 || sig == SIGKILL || sig == SIGSTOP) {
      r.Fail("stop_signal",
             "'stop_signal' must be a catchable signal name or number such as \"SIGTERM\", "
             "\"SIGINT\" or 15");
    } else {
      c.stop_signal = sig;
    }
  }
  if (auto t = r.Table("resources")) ReadResourceConfig(*t, &c.resources);
  if (auto t = r.Table("restart")) ReadRestartConfig(*t, &c.restart);
  if (auto t = r.Table("health")) ReadHealth(*t, &c.health);
  if (auto t = r.Table("log")) ReadLog(*t, &c.log);
  if (auto t = r.Table("metrics")) ReadMetricsConfig(*t, &c.metrics);
  if (auto t = r.Table("policy")) ReadPolicyConfig(*t, &c.policy);
  if (auto t = r.Table("sandbox")) {
    ReadSandboxConfig(*t, &c.sandbox);
    MergeSandboxAccount(r, &c);
  }
  if (const toml::node* n = r.Raw("app")) {
    if (const toml::table* t = n->as_table()) {
      c.app = *t;
    } else {
      r.Fail("app", "'app' must be a table ([app]) holding the daemon's own settings");
    }
  }
  r.Finish();
  return c;
}

Result<DaemonConfig> ParseDaemonConfig(std::string_view text, const std::string& name) {
  auto table = ParseTomlString(text, name);
  if (!table.ok()) return OneLine(table.error());
  auto diags = std::make_shared<Diagnostics>();
  TomlReader reader = TomlReader::ForFile(table.value(), name, diags);
  DaemonConfig config = ReadDaemonConfig(reader);
  if (!diags->empty()) return diags->ToError();
  diags->PrintWarnings();
  return config;
}

Result<DaemonConfig> LoadDaemonConfig(const std::string& path) {
  auto table = ParseTomlFile(path);
  if (!table.ok()) return OneLine(table.error());
  auto diags = std::make_shared<Diagnostics>();
  TomlReader reader = TomlReader::ForFile(table.value(), path, diags);
  DaemonConfig config = ReadDaemonConfig(reader);
  if (!diags->empty()) return diags->ToError();
  diags->PrintWarnings();
  return config;
}

Result<void> ApplyEnvOverrides(DaemonConfig& config) {
  for (auto [var, field] :
       {std::pair<const char*, bool*>{"DUENDE_MLOCK", &config.resources.lock_memory},
        std::pair<const char*, bool*>{"DUENDE_MLOCK_REQUIRED",
                                      &config.resources.lock_memory_required}}) {
    const char* v = std::getenv(var);
    if (v == nullptr || *v == '\0') continue;
    auto b = ParseBoolWord(v);
    if (!b) {
      return MessageError(std::string("environment variable ") + var + "=\"" + v +
                          "\" is invalid; use 1/true/yes/on or 0/false/no/off");
    }
    *field = *b;
  }
  if (config.resources.lock_memory_required) config.resources.lock_memory = true;
  if (!config.resources.lock_memory) config.resources.lock_memory_required = false;
  return {};
}

std::string FormatDaemonConfig(const DaemonConfig& c) {
  toml::table root;
  if (!c.name.empty()) root.insert("name", c.name);
  if (!c.description.empty()) root.insert("description", c.description);
  if (!c.command.empty()) {
    toml::array cmd;
    for (const auto& a : c.command) cmd.push_back(a);
    root.insert("command", cmd);
  }
  if (!c.env.empty()) {
    toml::table env;
    for (const auto& [k, v] : c.env) env.insert(k, v);
    root.insert("env", env);
  }
  if (!c.working_dir.empty()) root.insert("working_dir", c.working_dir);
  if (!c.user.empty()) root.insert("user", c.user);
  if (!c.group.empty()) root.insert("group", c.group);
  if (!c.pid_file.empty()) root.insert("pid_file", c.pid_file);
  root.insert("shutdown_timeout", DurationText(c.shutdown_timeout));
  std::string sig = SignalName(c.stop_signal);
  if (ParseSignal(sig) == c.stop_signal) {
    root.insert("stop_signal", sig);
  } else {
    root.insert("stop_signal", static_cast<int64_t>(c.stop_signal));
  }

  const ResourceConfig& r = c.resources;
  toml::table res;
  if (r.memory_max) res.insert("memory_max", SizeText(*r.memory_max));
  if (r.cpu_quota) res.insert("cpu_quota", *r.cpu_quota);
  if (r.pids_max) res.insert("pids_max", static_cast<int64_t>(*r.pids_max));
  if (r.open_files) res.insert("open_files", static_cast<int64_t>(*r.open_files));
  if (r.address_space) res.insert("address_space", SizeText(*r.address_space));
  if (r.processes) res.insert("processes", static_cast<int64_t>(*r.processes));
  if (r.core_size) res.insert("core_size", SizeText(*r.core_size));
  res.insert("lock_memory", r.lock_memory);
  res.insert("lock_memory_required", r.lock_memory_required);
  res.insert("lock_on_fault", r.lock_on_fault);
  root.insert("resources", res);
  if (c.sandbox != SandboxConfig{}) root.insert("sandbox", FormatSandboxConfig(c.sandbox));

  const RestartConfig& rs = c.restart;
  toml::table restart;
  restart.insert("policy", RestartPolicyName(rs.policy));
  toml::array codes;
  for (int code : rs.prevent_exit_codes) codes.push_back(static_cast<int64_t>(code));
  restart.insert("prevent_exit_codes", codes);
  restart.insert("start_limit_burst", static_cast<int64_t>(rs.start_limit_burst));
  restart.insert("start_limit_interval", DurationText(rs.start_limit_interval));
  restart.insert("start_limit_retry_after", DurationText(rs.start_limit_retry_after));
  toml::table backoff;
  backoff.insert("initial", DurationText(rs.backoff.initial));
  backoff.insert("multiplier", rs.backoff.multiplier);
  backoff.insert("max", DurationText(rs.backoff.max));
  backoff.insert("jitter", JitterName(rs.backoff.jitter));
  backoff.insert("reset_after", DurationText(rs.backoff.reset_after));
  backoff.insert("immediate_first_restart", rs.backoff.immediate_first_restart);
  restart.insert("backoff", backoff);
  root.insert("restart", restart);

  toml::table health;
  health.insert("watchdog", DurationText(c.health.watchdog));
  health.insert("readiness", ProbeTable(c.health.readiness));
  health.insert("liveness", ProbeTable(c.health.liveness));
  root.insert("health", health);

  toml::table log;
  if (!c.log.file.empty()) log.insert("file", c.log.file);
  log.insert("max_bytes", SizeText(c.log.max_bytes));
  log.insert("keep", static_cast<int64_t>(c.log.keep));
  log.insert("level", LogLevelName(c.log.level));
  root.insert("log", log);

  if (!c.metrics.listen.empty()) {
    toml::table metrics;
    metrics.insert("listen", c.metrics.listen);
    root.insert("metrics", metrics);
  }

  if (toml::table policy = FormatPolicyConfig(c.policy); !policy.empty()) {
    root.insert("policy", std::move(policy));
  }
  if (!c.app.empty()) root.insert("app", c.app);

  std::ostringstream out;
  // Basic strings only: toml++ 3.3 writes a value holding a newline and ''' as a
  // multi-line literal string that ends early (found by the config fuzz target).
  out << toml::toml_formatter(root, toml::toml_formatter::default_flags &
                                        ~toml::format_flags::allow_literal_strings &
                                        ~toml::format_flags::allow_multi_line_strings);
  out << '\n';
  return out.str();
}

}  // namespace duende::framework
