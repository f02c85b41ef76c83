// DaemonConfig: the one configuration schema of a daemon, shared by the in-process driver
// (Run), the supervisor (one [[service]] per daemon), the platform adapters and scenario
// targets. Documented key by key in docs/config.md.
#pragma once

#include <signal.h>
#include <toml++/toml.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "duende/framework/metrics_config.h"
#include "duende/framework/policy_config.h"
#include "duende/framework/result.h"
#include "duende/framework/sandbox_config.h"
#include "duende/framework/toml_reader.h"

namespace duende::framework {

using std::chrono::nanoseconds;

/// Capped exponential backoff between restarts.
struct BackoffConfig {
  nanoseconds initial = std::chrono::milliseconds(100);  ///< first delay
  double multiplier = 2.0;                               ///< growth per consecutive failure
  nanoseconds max = std::chrono::seconds(30);            ///< cap
  enum class Jitter { kNone, kFull, kEqual, kDecorrelated };
  Jitter jitter = Jitter::kFull;
  /// The delay sequence starts again once a child has been up (ready) this long.
  nanoseconds reset_after = std::chrono::seconds(10);
  /// Restart the first failure immediately (delay 0), back off from the second on.
  bool immediate_first_restart = false;

  bool operator==(const BackoffConfig&) const = default;
};

/// When to restart, and when to give up.
struct RestartConfig {
  enum class Policy { kNever, kOnFailure, kAlways };
  Policy policy = Policy::kOnFailure;
  /// Exit codes that never cause a restart (78 = EX_CONFIG: bad config will not fix itself).
  std::vector<int> prevent_exit_codes = {78};
  BackoffConfig backoff;
  /// More than `start_limit_burst` starts within `start_limit_interval` puts the service in
  /// the terminal `failed` state...
  uint32_t start_limit_burst = 5;
  nanoseconds start_limit_interval = std::chrono::seconds(10);
  /// ...from which it is tried again after this long (0: stays failed until started by hand).
  nanoseconds start_limit_retry_after{0};

  bool operator==(const RestartConfig&) const = default;
};

/// A readiness or liveness probe.
struct ProbeConfig {
  /// kDaemon: asks a duende::framework daemon's HealthCheck() over its health channel
  /// (health_channel.h); unhealthy fails the probe, degraded passes.
  enum class Kind { kNone, kNotify, kTcp, kHttp, kCommand, kDaemon };
  Kind kind = Kind::kNone;
  std::string address;               ///< "127.0.0.1:7000" for tcp/http
  std::string http_path = "/";       ///< for http (key 'path'): GET path; 2xx is healthy
  std::vector<std::string> command;  ///< for command: argv; exit 0 is healthy
  nanoseconds interval = std::chrono::seconds(1);
  nanoseconds timeout = std::chrono::seconds(1);
  uint32_t failure_threshold = 3;                       ///< consecutive failures before acting
  nanoseconds grace_period = std::chrono::seconds(30);  ///< readiness: time allowed to start

  bool operator==(const ProbeConfig&) const = default;
};

struct HealthConfig {
  ProbeConfig readiness;    ///< default kind: none (ready when spawned) or notify
  ProbeConfig liveness;     ///< failing liveness restarts the child
  nanoseconds watchdog{0};  ///< WATCHDOG=1 must arrive this often (0: off)

  bool operator==(const HealthConfig&) const = default;
};

struct ResourceConfig {
  std::optional<uint64_t> memory_max;     ///< bytes (cgroup memory limit)
  std::optional<double> cpu_quota;        ///< cores, e.g. 0.5 (cgroup cpu quota)
  std::optional<uint64_t> pids_max;       ///< cgroup pids limit
  std::optional<uint64_t> open_files;     ///< RLIMIT_NOFILE
  std::optional<uint64_t> address_space;  ///< RLIMIT_AS, bytes
  std::optional<uint64_t> processes;      ///< RLIMIT_NPROC
  std::optional<uint64_t> core_size;      ///< RLIMIT_CORE, bytes
  bool lock_memory = false;               ///< mlockall() before init()
  bool lock_memory_required = false;      ///< exit instead of warning when mlockall fails
  bool lock_on_fault = false;             ///< add MCL_ONFAULT (lock pages as they are touched)

  bool operator==(const ResourceConfig&) const = default;
};

struct LogConfig {
  std::string file;                ///< "" logs to stderr
  uint64_t max_bytes = 10u << 20;  ///< rotate when the file would grow past this
  uint32_t keep = 5;               ///< rotated files kept (file.1 ... file.N)
  enum class Level { kDebug, kInfo, kWarn, kError };
  Level level = Level::kInfo;

  bool operator==(const LogConfig&) const = default;
};

struct DaemonConfig {
  std::string name;  ///< identity; [a-zA-Z0-9_.-]+
  std::string description;
  /// argv of the program when a supervisor or adapter starts it (unused by Run()).
  std::vector<std::string> command;
  std::vector<std::pair<std::string, std::string>> env;
  std::string working_dir;
  std::string user;
  std::string group;
  std::string pid_file;
  nanoseconds shutdown_timeout = std::chrono::seconds(10);
  int stop_signal = SIGTERM;
  ResourceConfig resources;
  RestartConfig restart;
  HealthConfig health;
  LogConfig log;
  /// [metrics]: where the daemon serves /metrics (docs/metrics.md); off when listen is "".
  MetricsConfig metrics;
  /// Resilience policies the daemon applies to its own requests ([policy], policy_config.h).
  PolicyConfig policy;
  /// [sandbox]: confinement applied when duende or a platform starts the program.
  SandboxConfig sandbox;
  /// The daemon's own settings ([app] table), validated by the daemon itself.
  toml::table app;
  /// The file it came from, for messages ("" when built in code).
  std::string source_file;

  bool operator==(const DaemonConfig&) const = default;
};

/// How the table readers below treat a table embedded in another kind of file.
struct ConfigReadOptions {
  /// Strings may hold run variables that are expanded before use (a scenario target's
  /// "127.0.0.1:{port.kvd}"): a probe address is checked with each {variable} standing for a
  /// valid value.
  bool variables = false;
  /// A tcp or http probe may leave out 'address': its owner supplies one (a scenario target's
  /// own address) or reports its absence in its own words, so the reader does not.
  bool address_from_owner = false;
};

// The tables that a daemon config, a `duende supervise` [[service]] and a scenario [[target]]
// share have one reader each, so a table is accepted or rejected alike wherever it is written.
// Each reads one table into `out` (absent keys keep out's values, so a caller may preset its
// own defaults), reports problems to the reader's Diagnostics and calls Finish() on the table.

/// [restart], its [restart.backoff] included.
void ReadRestartConfig(TomlReader& reader, RestartConfig* out);
/// [restart.backoff].
void ReadBackoffConfig(TomlReader& reader, BackoffConfig* out);
/// [health.readiness] (`readiness`: kind "notify" allowed) or [health.liveness]. The HTTP path
/// is 'path'; the old spelling 'http_path' is read with a deprecation warning.
void ReadProbeConfig(TomlReader& reader, ProbeConfig* out, bool readiness,
                     const ConfigReadOptions& options = {});
/// [resources].
void ReadResourceConfig(TomlReader& reader, ResourceConfig* out);

/// After a [sandbox] table was read into `config->sandbox`: its user/group become the
/// config's (they are one setting written in either place); a different top-level value is
/// reported at the top-level key of `reader`.
void MergeSandboxAccount(TomlReader& reader, DaemonConfig* config);

/// Reads a DaemonConfig from a TOML table (the whole file, or one [[service]]). Problems go to
/// the reader's Diagnostics with file:line:col; the returned config holds the defaults for
/// anything absent or invalid.
DaemonConfig ReadDaemonConfig(TomlReader& reader);

/// Reports at `command_key` / `env_key` of `reader` a command line or environment that
/// execve() would refuse with E2BIG (ExecLimitProblem in process.h: one string past 128 KiB,
/// or all of them with duende's own environment past ARG_MAX), so that it is a file:line:col
/// error now instead of a spawn failure when the daemon starts.
void CheckExecLimits(TomlReader& reader, std::string_view command_key, std::string_view env_key,
                     const std::vector<std::string>& argv,
                     const std::vector<std::pair<std::string, std::string>>& env);

/// Loads a daemon config file. Errors: the file's errno when it cannot be read; invalid_argument
/// with every problem as "file:line:col: message" lines otherwise.
Result<DaemonConfig> LoadDaemonConfig(const std::string& path);

/// Parses and validates config text; `name` is the file name used in messages.
Result<DaemonConfig> ParseDaemonConfig(std::string_view text, const std::string& name);

/// Applies the environment overrides of the in-process driver: DUENDE_MLOCK (lock_memory) and
/// DUENDE_MLOCK_REQUIRED (lock_memory_required; true implies lock_memory), each "1"/"true"/
/// "yes"/"on" or "0"/"false"/"no"/"off". Errors: invalid_argument naming the variable and the
/// accepted values.
Result<void> ApplyEnvOverrides(DaemonConfig& config);

/// Renders a config as TOML that ReadDaemonConfig reads back to an equal config (every key
/// written, defaults included; probe keys only where the probe kind uses them).
std::string FormatDaemonConfig(const DaemonConfig& config);

/// "none", "notify", "tcp", "http", "command" (names as written in the config file).
const char* ProbeKindName(ProbeConfig::Kind kind);
/// "never", "on-failure", "always".
const char* RestartPolicyName(RestartConfig::Policy policy);
/// "debug", "info", "warn", "error".
const char* LogLevelName(LogConfig::Level level);

}  // namespace duende::framework
