#include "duende/adapters/container_cli.h"

#include <nlohmann/json.hpp>
#include <sstream>

#include "duende/framework/process.h"
#include "text_util.h"

namespace duende::adapters {

using framework::DaemonConfig;
using framework::MessageError;
using framework::nanoseconds;
using framework::Result;
using Policy = framework::RestartConfig::Policy;
using Kind = framework::ProbeConfig::Kind;

namespace {

// Go's time.ParseDuration reads these exactly.
std::string GoDuration(nanoseconds d) { return internal::ExactDuration(d); }

std::string ShellJoin(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) out += (out.empty() ? "" : " ") + internal::ShellQuote(a);
  return out;
}

std::string UserSpec(const DaemonConfig& c) {
  return c.group.empty() ? c.user : c.user + ":" + c.group;
}

std::string RestartSpec(const DaemonConfig& c) {
  switch (c.restart.policy) {
    case Policy::kAlways:
      return "always";
    case Policy::kOnFailure:
      return "on-failure:" + std::to_string(c.restart.start_limit_burst);
    case Policy::kNever:
      break;
  }
  return "no";
}

}  // namespace

Translation TranslateForContainer(Engine engine, const DaemonConfig& c) {
  DaemonConfig t = internal::Skeleton(c);
  t.env = c.env;
  t.working_dir = c.working_dir;
  if (!c.user.empty()) {
    t.user = c.user;
    t.group = c.group;
  }
  t.shutdown_timeout = std::chrono::seconds(internal::CeilSeconds(c.shutdown_timeout));
  t.stop_signal = c.stop_signal;
  t.restart.policy = c.restart.policy;
  // docker's on-failure:N gives up after N restarts; the closest to our start limit.
  if (c.restart.policy == Policy::kOnFailure) {
    t.restart.start_limit_burst = c.restart.start_limit_burst;
  }
  t.resources = c.resources;
  t.resources.lock_on_fault = false;
  if (engine == Engine::kPodman && c.health.readiness.kind == Kind::kNotify) {
    t.health.readiness.kind = Kind::kNotify;
  }
  if (c.health.liveness.kind == Kind::kCommand) {
    const auto& l = c.health.liveness;
    auto& tl = t.health.liveness;
    tl.kind = Kind::kCommand;
    tl.command = l.command;
    tl.interval = l.interval;
    tl.timeout = l.timeout;
    tl.failure_threshold = l.failure_threshold;
    tl.grace_period = l.grace_period;
  }
  Translation out;
  out.config = std::move(t);
  return out;
}

Result<std::vector<std::string>> ContainerRunArgv(Engine engine, const DaemonConfig& config,
                                                  const ContainerRenderOptions& options) {
  DUENDE_TRY(CheckRenderable(config));
  const DaemonConfig c = TranslateForContainer(engine, config).config;
  std::vector<std::string> a = {engine == Engine::kDocker ? "docker" : "podman", "run", "--detach",
                                "--name", c.name};
  if (options.init) a.push_back("--init");
  if (options.host_network) a.insert(a.end(), {"--network", "host"});
  a.insert(a.end(), {"--restart", RestartSpec(c)});
  a.insert(a.end(), {"--stop-signal", framework::SignalName(c.stop_signal)});
  a.insert(a.end(), {"--stop-timeout", std::to_string(internal::CeilSeconds(c.shutdown_timeout))});
  if (!c.user.empty()) a.insert(a.end(), {"--user", UserSpec(c)});
  if (!c.working_dir.empty()) a.insert(a.end(), {"--workdir", c.working_dir});
  for (const auto& [k, v] : internal::PlatformEnv(c)) a.insert(a.end(), {"--env", k + "=" + v});
  const auto& r = c.resources;
  if (r.memory_max) a.insert(a.end(), {"--memory", std::to_string(*r.memory_max)});
  if (r.cpu_quota) a.insert(a.end(), {"--cpus", internal::DoubleText(*r.cpu_quota)});
  if (r.pids_max) a.insert(a.end(), {"--pids-limit", std::to_string(*r.pids_max)});
  auto ulimit = [&](const char* name, const std::string& v) {
    a.insert(a.end(), {"--ulimit", std::string(name) + "=" + v + ":" + v});
  };
  if (r.open_files) ulimit("nofile", std::to_string(*r.open_files));
  if (r.address_space) ulimit("as", std::to_string(*r.address_space));
  if (r.processes) ulimit("nproc", std::to_string(*r.processes));
  if (r.core_size) ulimit("core", std::to_string(*r.core_size));
  if (r.lock_memory) {
    ulimit("memlock", "-1");
    a.insert(a.end(), {"--cap-add", "IPC_LOCK"});
  }
  if (c.health.readiness.kind == Kind::kNotify) a.push_back("--sdnotify=container");
  if (c.health.liveness.kind == Kind::kCommand) {
    const auto& l = c.health.liveness;
    a.insert(a.end(), {"--health-cmd", ShellJoin(l.command)});
    a.insert(a.end(), {"--health-interval", GoDuration(l.interval)});
    a.insert(a.end(), {"--health-timeout", GoDuration(l.timeout)});
    a.insert(a.end(), {"--health-retries", std::to_string(l.failure_threshold)});
    a.insert(a.end(), {"--health-start-period", GoDuration(l.grace_period)});
  }
  a.push_back(options.image);
  a.insert(a.end(), c.command.begin(), c.command.end());
  return a;
}

Result<std::string> RenderContainerRun(Engine engine, const DaemonConfig& config,
                                       const ContainerRenderOptions& options) {
  auto argv = ContainerRunArgv(engine, config, options);
  if (!argv.ok()) return argv.error();
  const auto& a = *argv;
  std::string out = a[0] + " " + a[1];
  const size_t image_at = a.size() - config.command.size() - 1;
  size_t i = 2;
  for (; i < image_at; ++i) {
    if (a[i].rfind("--", 0) == 0)
      out += " \\\n  ";
    else
      out += ' ';
    out += internal::ShellQuote(a[i]);
  }
  out += " \\\n  " + internal::ShellQuote(options.image);
  for (++i; i < a.size(); ++i) out += " " + internal::ShellQuote(a[i]);
  out += '\n';
  return out;
}

Result<DaemonConfig> ParseContainerRun(std::string_view text,
                                       const ContainerRenderOptions& options) {
  auto words = internal::ShellSplit(text);
  if (!words.ok()) return words.error();
  const auto& w = *words;
  if (w.size() < 3 || (w[0] != "docker" && w[0] != "podman") || w[1] != "run") {
    return MessageError("not a docker/podman run command line");
  }
  DaemonConfig c;
  size_t i = 2;
  auto value = [&](const std::string& opt) -> Result<std::string> {
    if (i + 1 >= w.size()) return MessageError(opt + " needs a value");
    return w[++i];
  };
  auto dur = [&](const std::string& v) -> Result<nanoseconds> {
    auto d = internal::ParseExactDuration(v);
    if (!d) return MessageError("bad duration " + v);
    return *d;
  };
  auto num = [&](const std::string& v) -> Result<uint64_t> {
    auto n = internal::ParseUint(v);
    if (!n) return MessageError("bad number " + v);
    return *n;
  };
#define DUENDE_GET(var, expr) \
  auto var = (expr);          \
  if (!var.ok()) return var.error();
  for (; i < w.size(); ++i) {
    const std::string& o = w[i];
    if (o.rfind("--", 0) != 0) break;
    if (o == "--detach" || o == "--init") continue;
    if (o == "--sdnotify=container") {
      c.health.readiness.kind = Kind::kNotify;
      continue;
    }
    DUENDE_GET(v, value(o));
    if (o == "--name") {
      c.name = *v;
    } else if (o == "--network") {
      continue;
    } else if (o == "--restart") {
      if (*v == "always") {
        c.restart.policy = Policy::kAlways;
      } else if (*v == "no") {
        c.restart.policy = Policy::kNever;
      } else if (v->rfind("on-failure:", 0) == 0) {
        c.restart.policy = Policy::kOnFailure;
        DUENDE_GET(n, num(v->substr(11)));
        c.restart.start_limit_burst = static_cast<uint32_t>(*n);
      } else {
        return MessageError("bad --restart " + *v);
      }
    } else if (o == "--stop-signal") {
      c.stop_signal = framework::ParseSignal(*v);
    } else if (o == "--stop-timeout") {
      DUENDE_GET(n, num(*v));
      c.shutdown_timeout = std::chrono::seconds(*n);
    } else if (o == "--user") {
      size_t colon = v->find(':');
      c.user = v->substr(0, colon);
      if (colon != std::string::npos) c.group = v->substr(colon + 1);
    } else if (o == "--workdir") {
      c.working_dir = *v;
    } else if (o == "--env") {
      size_t eq = v->find('=');
      if (eq == std::string::npos) return MessageError("--env without '=': " + *v);
      c.env.emplace_back(v->substr(0, eq), v->substr(eq + 1));
    } else if (o == "--memory") {
      DUENDE_GET(n, num(*v));
      c.resources.memory_max = *n;
    } else if (o == "--cpus") {
      c.resources.cpu_quota = std::stod(*v);
    } else if (o == "--pids-limit") {
      DUENDE_GET(n, num(*v));
      c.resources.pids_max = *n;
    } else if (o == "--ulimit") {
      size_t eq = v->find('=');
      size_t colon = v->find(':');
      if (eq == std::string::npos || colon == std::string::npos) {
        return MessageError("bad --ulimit " + *v);
      }
      std::string name = v->substr(0, eq);
      std::string soft = v->substr(eq + 1, colon - eq - 1);
      if (name == "memlock") continue;
      DUENDE_GET(n, num(soft));
      if (name == "nofile") c.resources.open_files = *n;
      if (name == "as") c.resources.address_space = *n;
      if (name == "nproc") c.resources.processes = *n;
      if (name == "core") c.resources.core_size = *n;
    } else if (o == "--cap-add") {
      if (*v == "IPC_LOCK") c.resources.lock_memory = true;
    } else if (o == "--health-cmd") {
      DUENDE_GET(cmd, internal::ShellSplit(*v));
      c.health.liveness.kind = Kind::kCommand;
      c.health.liveness.command = *cmd;
    } else if (o == "--health-interval") {
      DUENDE_GET(d, dur(*v));
      c.health.liveness.interval = *d;
    } else if (o == "--health-timeout") {
      DUENDE_GET(d, dur(*v));
      c.health.liveness.timeout = *d;
    } else if (o == "--health-retries") {
      DUENDE_GET(n, num(*v));
      c.health.liveness.failure_threshold = static_cast<uint32_t>(*n);
    } else if (o == "--health-start-period") {
      DUENDE_GET(d, dur(*v));
      c.health.liveness.grace_period = *d;
    } else {
      return MessageError("unknown option " + o);
    }
  }
#undef DUENDE_GET
  if (i >= w.size() || w[i] != options.image) return MessageError("image missing");
  c.command.assign(w.begin() + static_cast<std::ptrdiff_t>(i + 1), w.end());
  internal::TakeMlockEnv(&c);
  return c;
}

Result<std::string> RenderComposeService(const DaemonConfig& config,
                                         const ContainerRenderOptions& options) {
  DUENDE_TRY(CheckRenderable(config));
  const DaemonConfig c = TranslateForContainer(Engine::kDocker, config).config;
  // Strings as JSON strings (valid YAML double-quoted scalars); $ doubled for compose.
  auto q = [](const std::string& s) {
    std::string d;
    for (char ch : s) {
      d += ch;
      if (ch == '$') d += '$';
    }
    return nlohmann::json(d).dump();
  };
  auto list = [&](const std::vector<std::string>& v) {
    std::string out = "[";
    for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + q(v[i]);
    return out + "]";
  };
  std::ostringstream y;
  y << "# " << c.name << ": generated by duende for docker compose / podman-compose\n";
  y << "services:\n  " << q(c.name) << ":\n";
  y << "    image: " << q(options.image) << '\n';
  if (options.init) y << "    init: true\n";
  if (options.host_network) y << "    network_mode: host\n";
  y << "    command: " << list(c.command) << '\n';
  auto env = internal::PlatformEnv(c);
  if (!env.empty()) {
    y << "    environment:\n";
    for (const auto& [k, v] : env) y << "      " << k << ": " << q(v) << '\n';
  }
  if (!c.working_dir.empty()) y << "    working_dir: " << q(c.working_dir) << '\n';
  if (!c.user.empty()) y << "    user: " << q(UserSpec(c)) << '\n';
  y << "    restart: " << q(RestartSpec(c)) << '\n';
  y << "    stop_signal: " << framework::SignalName(c.stop_signal) << '\n';
  y << "    stop_grace_period: " << internal::CeilSeconds(c.shutdown_timeout) << "s\n";
  const auto& r = c.resources;
  if (r.memory_max) y << "    mem_limit: " << *r.memory_max << '\n';
  if (r.cpu_quota) y << "    cpus: " << internal::DoubleText(*r.cpu_quota) << '\n';
  if (r.pids_max) y << "    pids_limit: " << *r.pids_max << '\n';
  std::vector<std::pair<const char*, std::string>> ul;
  if (r.open_files) ul.emplace_back("nofile", std::to_string(*r.open_files));
  if (r.address_space) ul.emplace_back("as", std::to_string(*r.address_space));
  if (r.processes) ul.emplace_back("nproc", std::to_string(*r.processes));
  if (r.core_size) ul.emplace_back("core", std::to_string(*r.core_size));
  if (r.lock_memory) ul.emplace_back("memlock", "-1");
  if (!ul.empty()) {
    y << "    ulimits:\n";
    for (const auto& [n, v] : ul)
      y << "      " << n << ": {soft: " << v << ", hard: " << v << "}\n";
  }
  if (r.lock_memory) y << "    cap_add: [\"IPC_LOCK\"]\n";
  if (c.health.liveness.kind == Kind::kCommand) {
    const auto& l = c.health.liveness;
    std::vector<std::string> test = {"CMD"};
    test.insert(test.end(), l.command.begin(), l.command.end());
    y << "    healthcheck:\n";
    y << "      test: " << list(test) << '\n';
    y << "      interval: " << GoDuration(l.interval) << '\n';
    y << "      timeout: " << GoDuration(l.timeout) << '\n';
    y << "      retries: " << l.failure_threshold << '\n';
    y << "      start_period: " << GoDuration(l.grace_period) << '\n';
  }
  return y.str();
}

}  // namespace duende::adapters
