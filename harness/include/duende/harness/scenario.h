// Scenario: what a chaos run does, read from a TOML file (format: scenarios/README.md).
//
//   [scenario]   name, description, duration, seed
//   [[target]]   the daemons under test (run under duende's supervisor, or `external`)
//   [load]       the load driven against a target while faults happen
//   [[fault]]    what goes wrong, when, for how long (kinds from faults/)
//   [[check]]    the invariants checked over the event log afterwards
//   [steady_state] probes that must hold before the first fault and again after the last heal
//
// Every value is read through framework::TomlReader, so each problem is reported as
// "file:line:col: message" with the fix, unknown keys with a did-you-mean, all at once.
#pragma once

#include <toml++/toml.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "duende/framework/config.h"
#include "duende/framework/result.h"
#include "duende/framework/toml_reader.h"

namespace duende::harness {

using std::chrono::nanoseconds;

/// A probe: used for readiness of a target and for the steady state of a scenario.
struct ProbeSpec {
  enum class Kind {
    kTcp,      ///< connect to `address` succeeds
    kHttp,     ///< GET `path` on `address` answers 2xx
    kCommand,  ///< `command` exits 0
    kRequest,  ///< send `send` + `terminator` to `address`; the whole reply matches `expect`
  };
  std::string name;
  Kind kind = Kind::kTcp;
  std::string address;  ///< "127.0.0.1:7000" (variables such as {port.kvd} allowed)
  std::string path = "/";
  std::vector<std::string> command;
  std::string send;
  /// The regex (or plain string) the whole reply must match, as the load's `expect`: for
  /// `request` the reply's text, for `http` the body of a 2xx reply; "" accepts any reply.
  std::string expect;
  /// `request` probes: "tcp-line" or "redis" (the load's codec), the request terminator and
  /// how many lines (or up to which end line) a tcp-line reply has.
  std::string protocol = "tcp-line";
  std::string terminator = "\n";
  uint32_t reply_lines = 1;
  std::string reply_end;
  nanoseconds timeout = std::chrono::seconds(1);
  framework::SourcePos pos;
};

/// A config file rendered from a template before its target starts ([[target.file]]).
struct FileSpec {
  std::string name;  ///< {file.NAME} expands to its path; unique in the scenario
  /// Where it is written, relative to the run directory (default "files/NAME"); no "..".
  std::string path;
  /// The template text (inline `template`, or the contents of `template_file`), expanded
  /// with the run variables ({port.NAME}, {run_dir}, {file.NAME}, ...).
  std::string text;
  std::string template_file;  ///< as resolved (relative to the scenario file), or ""
  uint32_t mode = 0600;       ///< permission bits, set whatever the umask
  framework::SourcePos pos;
};

/// "tcp", "http", "command", "request".
const char* ProbeKindName(ProbeSpec::Kind kind);

/// A daemon under test.
struct TargetSpec {
  std::string name;
  /// argv (variables expanded by the runner); with `shell` it is one string run by /bin/sh -c.
  std::vector<std::string> command;
  bool shell = false;
  std::vector<std::pair<std::string, std::string>> env;
  std::string working_dir;
  /// Start it with the libfiu preload libraries so `syscall`/`disk` faults can act on it.
  bool fiu = false;
  /// Start it under libfaketime so `clock` faults can move its wall clock.
  bool clock = false;
  /// `[target.data_tmpfs]`: start it in a mount namespace of its own with a tmpfs of
  /// `data_tmpfs_bytes` over `data_tmpfs_path`, so a `disk` fault of mode "full" can fill its
  /// filesystem without touching anyone else's. The tmpfs lives as long as the process: a
  /// restarted target starts with an empty one. "" = none.
  std::string data_tmpfs_path;
  uint64_t data_tmpfs_bytes = 0;
  /// Record its system calls with strace for the report (syscall_trace.h, docs/tracing.md),
  /// following restarts; `trace_syscalls` narrows strace's `-e trace=` set (empty: all).
  bool trace = false;
  std::vector<std::string> trace_syscalls;
  /// A call that took at least this long is "slow" in the report's fault windows.
  nanoseconds trace_slow = std::chrono::milliseconds(10);
  framework::SourcePos trace_pos;
  /// A daemon managed elsewhere: duende neither starts nor restarts it; it is found through
  /// `pid_file` or listens on `address`.
  bool external = false;
  std::string pid_file;
  /// The address the target serves on (used by load, probes and proxies), e.g.
  /// "127.0.0.1:{port.kvd}".
  std::string address;
  /// Put a TCP proxy (faults::Proxy) in front of `address`: the load goes through it (port
  /// {proxy.NAME}) and network faults act on it.
  bool proxy = false;
  /// Wait for readiness before the timeline starts (false for a target that is expected to
  /// crash-loop from its first start).
  bool await_ready = true;
  /// Where it runs: "native" (duende's supervisor), or a platform whose adapter runs it
  /// (adapters::MakeAdapter: "systemd", "oci", ...), which then restarts it by its own policy.
  std::string platform = "native";
  /// How the target is supervised: restart policy with backoff, readiness, resources, stop.
  /// Only the fields a scenario can set are filled; the rest keep DaemonConfig's defaults.
  framework::DaemonConfig daemon;
  /// Config files rendered before the target starts.
  std::vector<FileSpec> files;
  /// The [[node]] it runs on (its network namespace), or "" for the host.
  std::string node;
  /// Where the table starts, and its `command` (for messages).
  framework::SourcePos pos;
  framework::SourcePos command_pos;
  framework::SourcePos platform_pos;
};

/// One kind of operation of a mixed workload ([[load.op]]): the histories the model checks
/// (counter, set, register, kv, queue) read.
struct LoadOpSpec {
  std::string f;        ///< "incr", "read", "add", "write", "enqueue", "dequeue", ...
  std::string request;  ///< request template
  std::string expect;   ///< regex for the whole reply; its first capture group is the value read
  double weight = 1;
  std::string path;  ///< http: this kind's path ("" = the load's `path`)
  framework::SourcePos pos;
};

/// The load driven while faults happen.
struct LoadSpec {
  std::string target;                 ///< name of the target it talks to (default: the first)
  std::string address;                ///< default: the target's address (or a proxy in front of it)
  std::string protocol = "tcp-line";  ///< "tcp-line", "http", "redis"
  std::string mode = "open";          ///< "open" (at `rate`) or "closed" (`connections`)
  double rate = 200;                  ///< requests per second (open loop)
  uint32_t connections = 4;
  nanoseconds start = nanoseconds{0};   ///< offset from the run's start
  std::optional<nanoseconds> duration;  ///< default: until the fault timeline ends
  nanoseconds timeout = std::chrono::milliseconds(500);
  /// Request template ({seq}, {key}, {n}) and the regex an OK reply matches.
  std::string request = "SET {key} {seq}";
  std::string expect = "^OK";
  std::string http_path = "/";
  /// http: send a W3C traceparent header per request (docs/tracing.md).
  bool traceparent = false;
  std::string http_method = "GET";  ///< http: `method`
  /// Spread over the nodes of a cluster ("round-robin", "random", "pinned"; "" = not
  /// spread): each node is reached at the address of the target that runs on it.
  std::string spread;
  std::vector<std::string> nodes;  ///< the nodes spread over (empty: every node)
  uint32_t keys = 0;               ///< 0: not given (unique keys with a read-back, else 64)
  /// Read-back after recovery (for the lost-write check): request and expected reply.
  std::string readback_request;
  std::string readback_expect;
  /// {value} in templates ({len}: its byte length); tcp-line's request terminator; how a
  /// reply is framed (a count of lines, or an end line such as memcached's "END"), for the
  /// load's replies and the read-back's.
  std::string value = "{seq}";
  std::string terminator = "\n";
  uint32_t reply_lines = 1;
  std::string reply_end;
  uint32_t readback_reply_lines = 1;
  std::string readback_reply_end;
  /// A mixed workload (instead of `request`/`expect`): each request is one of these.
  std::vector<LoadOpSpec> ops;
  framework::SourcePos pos;
};

/// `[fault.select]`: the target a fault acts on is chosen when it fires, by a probe run against
/// each candidate (a cluster's current leader, docs/cluster.md): the fault acts on one target
/// that passes (`pick = "one"`) or on each (`"all"`).
struct FaultSelectSpec {
  /// Run once per candidate. {select.target}, {select.address}, {select.host},
  /// {select.port}, {select.node} and {select.pid} name the candidate in its address, path,
  /// send and command; a network probe's address defaults to "{select.address}".
  ProbeSpec probe;
  std::string role;  ///< what a passing target is ("leader"), for messages; "" = not said
  bool all = false;  ///< pick = "all"
  /// Probe rounds go on (100 ms apart) until a candidate passes or this much time passed.
  nanoseconds within = std::chrono::seconds(5);
  std::vector<std::string> candidates;  ///< target names (from `targets` and `nodes`)
  framework::SourcePos pos;
};

/// One fault on the timeline (possibly repeated).
struct FaultSpec {
  std::string name;    ///< unique in the scenario (default "<kind>" or "<kind>-<n>")
  std::string kind;    ///< a kind of faults::Catalogue(): "kill", "pause", "oom", ...
  std::string target;  ///< the target it acts on
  /// `node = "n1"`: a partition's isolated node; other kinds act on the node's targets (the
  /// reader makes one fault per target, named "<name>@<target>" past the first).
  std::string node;
  nanoseconds at{0};                    ///< offset from the start of the timeline
  std::optional<nanoseconds> duration;  ///< how long until healed (instant faults: none)
  uint32_t repeat = 1;                  ///< injections, `every` apart
  nanoseconds every{0};
  /// The fault's table; the injector reads its own parameters from it. Keeps the file's
  /// positions (shared with the scenario's parsed document).
  std::shared_ptr<const toml::table> table;
  std::string file;
  framework::SourcePos pos;
  /// With `[fault.select]`: chosen at fire time among the candidates (`target` is then the
  /// first candidate, for what needs a target before the run).
  std::optional<FaultSelectSpec> select;
};

/// One invariant over the event log.
struct CheckSpec {
  std::string name;    ///< unique in the scenario (default: the kind, numbered when repeated)
  std::string kind;    ///< a CheckKinds() name (check_kinds.h)
  std::string target;  ///< the target it concerns ("" = every target / the load)
  // Thresholds; which ones a kind uses is its CheckKind's params (check_kinds.h).
  std::optional<nanoseconds> within;     ///< restart_within, recovers_within; linearizable's budget
  std::optional<nanoseconds> tolerance;  ///< backoff_policy: allowed timer error
  std::optional<nanoseconds> window;     ///< availability window
  std::optional<nanoseconds> grace;      ///< error_rate / p99_latency: ignored time after heal
  std::optional<nanoseconds> max_latency;  ///< p99_latency
  std::optional<double> min;               ///< availability (0..1)
  std::optional<double> max;               ///< error_rate (0..1)
  std::optional<uint64_t> max_bytes;       ///< max_rss
  std::optional<int64_t> max_growth;       ///< fd_growth
  std::optional<uint64_t> min_bytes;       ///< memory_locked
  std::optional<double> min_rate;          ///< goodput: successful replies per second
  std::string model;                       ///< linearizable: register, cas-register, kv
  std::vector<std::string> allowed;        ///< exit_codes: "0", "1", "SIGKILL", ...
  std::string pattern;                     ///< log_matches / log_never_matches (ECMAScript regex)
  std::vector<std::string> command;        ///< command_probe
  framework::SourcePos pos;
};

struct ScenarioMeta {
  std::string name;
  std::string description;
  nanoseconds duration = std::chrono::seconds(5);
  std::optional<uint64_t> seed;
};

struct SteadyStateSpec {
  std::vector<ProbeSpec> probes;
  /// How long after the last heal the steady state may take to come back.
  nanoseconds recover_timeout = std::chrono::seconds(5);
};

/// A node of a cluster scenario ([[node]]): a network namespace duende creates, with one
/// address in 198.18.0.0/15 (docs/cluster.md).
struct NodeSpec {
  std::string name;
  std::string addr;  ///< "" = chosen at run time
  framework::SourcePos pos;
};

struct Scenario {
  std::string file;
  ScenarioMeta meta;
  std::vector<NodeSpec> nodes;
  std::vector<TargetSpec> targets;
  std::optional<LoadSpec> load;
  std::vector<FaultSpec> faults;
  std::vector<CheckSpec> checks;
  SteadyStateSpec steady_state;
  /// The --set overrides applied, as given ("load.rate=100"), for the replay command.
  std::vector<std::string> overrides;
  /// The parsed document (FaultSpec::table points into it).
  std::shared_ptr<const toml::table> document;

  const TargetSpec* FindTarget(const std::string& name) const;
};

/// The [[target.file]] named `name` of any target, or null.
const FileSpec* FindFile(const Scenario& scenario, const std::string& name);

/// Validates a fault's kind-specific parameters; installed by the runner layer so the scenario
/// model does not depend on faults/. Reports problems to the reader's diagnostics.
using FaultParamValidator = void (*)(const std::string& kind, framework::TomlReader& reader);

/// Fault kinds accepted by the parser; when empty, any kind is accepted (the runner checks).
struct FaultKindTable {
  std::vector<std::string> kinds;
  FaultParamValidator validate = nullptr;
};

/// Applies one "--set key.path=value" override to a parsed document. The path is dotted;
/// array-of-table elements are chosen by 0-based index or by their `name`
/// ("fault.kill.at=2s", "target.0.fiu=true"). The value is parsed as a TOML value
/// (`2`, `true`, `"x"`, `["a", "b"]`); anything that does not parse is taken as a string.
/// Errors (invalid_argument): malformed override, missing table or element on the path.
framework::Result<void> ApplyOverride(toml::table& root, const std::string& override_text);

/// Parses and validates a scenario file after applying `overrides`. Errors: the file's errno
/// when unreadable; invalid_argument with every problem as "file:line:col: message" lines.
framework::Result<Scenario> LoadScenario(const std::string& path,
                                         const std::vector<std::string>& overrides = {},
                                         const FaultKindTable& fault_kinds = {});

/// The same from text (`name` stands for the file name in messages).
framework::Result<Scenario> ParseScenario(std::string_view text, const std::string& name,
                                          const std::vector<std::string>& overrides = {},
                                          const FaultKindTable& fault_kinds = {});

/// `duende run --trace`: trace = true on every target duende starts as a host process (not on
/// external targets, nor on platforms whose daemon is no host process). Returns how many.
size_t EnableTracing(Scenario& scenario);

/// The instants (offsets from the timeline start) at which `fault` is injected.
std::vector<nanoseconds> InjectionTimes(const FaultSpec& fault);

/// The end of the fault timeline: the last heal (or injection) of any fault.
nanoseconds TimelineEnd(const Scenario& scenario);

}  // namespace duende::harness
