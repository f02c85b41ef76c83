// The /metrics server (prometheus-cpp's exposer over civetweb) and the families every duende
// endpoint shares: process metrics and a framework daemon's own.
#include "duende/framework/metrics_endpoint.h"

#include <CivetServer.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/text_serializer.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "duende/framework/daemon.h"
#include "duende/framework/proc.h"
#include "duende/framework/unique_fd.h"

namespace duende::framework {

class MetricsEndpoint::Collectable : public prometheus::Collectable {
 public:
  explicit Collectable(Collector collect) : collect_(std::move(collect)) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    try {
      return collect_();
    } catch (const std::exception&) {
      return {};
    }
  }

 private:
  Collector collect_;
};

namespace {

// civetweb reports why it did not start through its log callback only; the exposer's
// exception says "possible problem binding to port". Starts are rare, so one lock will do.
std::mutex civetweb_log_mu;
std::string* civetweb_log = nullptr;

int CaptureCivetwebLog(const mg_connection* /*conn*/, const char* message) {
  if (civetweb_log != nullptr && message != nullptr) {
    if (!civetweb_log->empty()) *civetweb_log += "; ";
    *civetweb_log += message;
  }
  return 1;  // handled: nothing on stderr
}

struct Listen {
  std::string host;  // as civetweb takes it: "127.0.0.1", "[::1]"
  uint16_t port = 0;
  bool v6 = false;
};

Listen ParseListen(const std::string& address) {
  Listen l;
  size_t colon = address.rfind(':');
  l.host = address.substr(0, colon);
  l.port = static_cast<uint16_t>(std::stoul(address.substr(colon + 1)));
  if (l.host == "localhost") l.host = "127.0.0.1";
  l.v6 = !l.host.empty() && l.host.front() == '[';
  return l;
}

// Binds the address once ourselves, for a precise errno (civetweb gives none): a port in use,
// an address this machine does not have, a port below 1024 without the capability.
Result<void> TryBind(const Listen& l) {
  UniqueFd fd(::socket(l.v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return ErrnoError("unable to create a socket");
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (l.v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(l.port);
    ::inet_pton(AF_INET6, l.host.substr(1, l.host.size() - 2).c_str(), &a->sin6_addr);
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(l.port);
    ::inet_pton(AF_INET, l.host.c_str(), &a->sin_addr);
    len = sizeof *a;
  }
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    return ErrnoError("unable to listen on " + l.host + ":" + std::to_string(l.port));
  }
  return {};
}

double Seconds(uint64_t ns) { return static_cast<double>(ns) / 1e9; }

}  // namespace

Result<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Start(const MetricsConfig& config,
                                                                Collector collect) {
  const std::string at = config.origin.empty() ? "" : config.origin + ": ";
  if (std::string why = MetricsListenProblem(config.listen); !why.empty()) {
    return MessageError(at + "metrics: " + why);
  }
  const Listen l = ParseListen(config.listen);
  if (l.port != 0) {
    if (auto bound = TryBind(l); !bound.ok()) {
      std::string hint;
      if (bound.error().code == std::errc::address_in_use) {
        hint = " (the port is in use";
        if (std::string who = PortListeners(l.port); !who.empty()) hint += " by " + who;
        hint += "; pick another port, or 0 for any free one)";
      } else if (bound.error().code == std::errc::address_not_available) {
        hint = " (not an address of this machine; use 127.0.0.1 or one `ip addr` lists)";
      }
      Error e{bound.error().code, at + "metrics: " + bound.error().Message() + hint};
      e.self_contained = true;
      return e;
    }
  }
  std::unique_ptr<MetricsEndpoint> ep(new MetricsEndpoint());
  ep->host_ = l.host;
  std::vector<std::string> options = {"listening_ports", l.host + ":" + std::to_string(l.port),
                                      // Two workers: a slow client does not hold up the next
                                      // scrape; it is cut off after the request timeout.
                                      "num_threads", "2", "request_timeout_ms", "5000"};
  CivetCallbacks callbacks;
  callbacks.log_message = CaptureCivetwebLog;
  std::string log;
  {
    std::lock_guard lock(civetweb_log_mu);
    civetweb_log = &log;
    try {
      ep->exposer_ = std::make_unique<prometheus::Exposer>(options, &callbacks);
    } catch (const std::exception& e) {
      civetweb_log = nullptr;
      return Error{std::make_error_code(std::errc::io_error),
                   at + "metrics: unable to serve on " + config.listen + ": " +
                       (log.empty() ? std::string(e.what()) : log)};
    }
    civetweb_log = nullptr;
  }
  ep->collectable_ = std::make_shared<Collectable>(std::move(collect));
  ep->exposer_->RegisterCollectable(ep->collectable_);
  auto ports = ep->exposer_->GetListeningPorts();
  ep->port_ = ports.empty() ? l.port : static_cast<uint16_t>(ports.front());
  return ep;
}

// Connects to the endpoint and hangs up: wakes civetweb's master thread, which otherwise
// notices a stop only when its poll() of the listener times out (2 s in civetweb 1.15).
void Poke(const std::string& host, uint16_t port) {
  const bool v6 = !host.empty() && host.front() == '[';
  UniqueFd fd(::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return;
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    std::string h = host.substr(1, host.size() - 2);
    if (h == "::") h = "::1";
    ::inet_pton(AF_INET6, h.c_str(), &a->sin6_addr);
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    ::inet_pton(AF_INET, host == "0.0.0.0" ? "127.0.0.1" : host.c_str(), &a->sin_addr);
    len = sizeof *a;
  }
  (void)::connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len);
}

MetricsEndpoint::~MetricsEndpoint() {
  if (!exposer_) return;
  exposer_->RemoveCollectable(collectable_);
  // Without the pokes a daemon or supervisor would take up to 2 s longer to exit.
  std::atomic<bool> stopped{false};
  std::thread poker([&] {
    while (!stopped.load()) {
      Poke(host_, port_);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  exposer_.reset();
  stopped.store(true);
  poker.join();
}

std::string MetricsEndpoint::url() const {
  return "http://" + host_ + ":" + std::to_string(port_) + "/metrics";
}

prometheus::MetricFamily MetricFamily(std::string name, std::string help,
                                      prometheus::MetricType type) {
  prometheus::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

void AddSample(prometheus::MetricFamily& family, double value, MetricLabels labels) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  switch (family.type) {
    case prometheus::MetricType::Counter:
      m.counter.value = value;
      break;
    case prometheus::MetricType::Gauge:
      m.gauge.value = value;
      break;
    default:
      m.untyped.value = value;
      break;
  }
  family.metric.push_back(std::move(m));
}

void AddHistogram(prometheus::MetricFamily& family, const MetricsSnapshot& snapshot,
                  MetricLabels labels) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < snapshot.buckets.size(); ++i) {
    cumulative += snapshot.buckets[i];
    // The open-ended last bucket is the +Inf one the serializer writes from sample_count.
    if (snapshot.bucket_upper_ns[i] == UINT64_MAX) continue;
    m.histogram.bucket.push_back({cumulative, Seconds(snapshot.bucket_upper_ns[i])});
  }
  // Counted from the buckets, not latency_count: the recorder's relaxed counters may be a
  // few apart mid-scrape, and +Inf must not be below a finite bucket.
  m.histogram.sample_count = cumulative;
  m.histogram.sample_sum = Seconds(snapshot.latency_sum_ns);
  family.metric.push_back(std::move(m));
}

void AppendProcessMetrics(const ProcessUsage& u, MetricFamilies* out) {
  using prometheus::MetricType;
  auto add = [&](const char* name, const char* help, MetricType type, double v) {
    auto f = MetricFamily(name, help, type);
    AddSample(f, v);
    out->push_back(std::move(f));
  };
  add("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
      MetricType::Counter, u.cpu_seconds);
  add("process_resident_memory_bytes", "Resident memory size in bytes.", MetricType::Gauge,
      static_cast<double>(u.resident_bytes));
  add("process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::Gauge,
      static_cast<double>(u.virtual_bytes));
  add("process_open_fds", "Number of open file descriptors.", MetricType::Gauge,
      static_cast<double>(u.open_fds));
  add("process_max_fds", "Maximum number of open file descriptors.", MetricType::Gauge,
      static_cast<double>(u.max_fds));
  add("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
      MetricType::Gauge, u.start_time_seconds);
}

void AppendDaemonMetrics(const MetricsSnapshot& metrics, const HealthReport& health,
                         uint64_t locked_bytes, MetricFamilies* out) {
  using prometheus::MetricType;
  auto requests = MetricFamily("duende_daemon_requests_total", "Requests the daemon handled.",
                               MetricType::Counter);
  AddSample(requests, static_cast<double>(metrics.requests));
  out->push_back(std::move(requests));
  auto errors = MetricFamily("duende_daemon_errors_total",
                             "Requests the daemon answered with an error.", MetricType::Counter);
  AddSample(errors, static_cast<double>(metrics.errors));
  out->push_back(std::move(errors));
  auto latency = MetricFamily("duende_daemon_request_duration_seconds",
                              "Latency of the daemon's requests.", MetricType::Histogram);
  AddHistogram(latency, metrics);
  out->push_back(std::move(latency));
  if (!metrics.custom.empty()) {
    auto custom =
        MetricFamily("duende_daemon_value", "Named values the daemon sets (MetricsRecorder::Set).",
                     MetricType::Gauge);
    for (const auto& [name, value] : metrics.custom) AddSample(custom, value, {{"name", name}});
    out->push_back(std::move(custom));
  }
  const HealthState states[] = {HealthState::kHealthy, HealthState::kDegraded,
                                HealthState::kUnhealthy};
  auto status =
      MetricFamily("duende_daemon_health", "1 for the daemon's health state now, 0 for the others.",
                   MetricType::Gauge);
  for (HealthState s : states) {
    AddSample(status, health.state == s ? 1 : 0, {{"state", HealthStateName(s)}});
  }
  out->push_back(std::move(status));
  if (!health.checks.empty()) {
    auto checks =
        MetricFamily("duende_daemon_health_check",
                     "1 for each health check's state now, 0 for the others.", MetricType::Gauge);
    std::set<std::string> seen;  // two checks of one name would make duplicate series
    for (const auto& c : health.checks) {
      if (!seen.insert(c.name).second) continue;
      for (HealthState s : states) {
        AddSample(checks, c.state == s ? 1 : 0, {{"check", c.name}, {"state", HealthStateName(s)}});
      }
    }
    out->push_back(std::move(checks));
  }
  auto locked = MetricFamily("duende_daemon_locked_memory_bytes",
                             "Memory locked in RAM (VmLck): 0 means it can be swapped out.",
                             MetricType::Gauge);
  AddSample(locked, static_cast<double>(locked_bytes));
  out->push_back(std::move(locked));
}

Result<std::unique_ptr<MetricsEndpoint>> StartDaemonMetrics(Daemon& daemon,
                                                            const MetricsConfig& config) {
  return MetricsEndpoint::Start(config, [&daemon] {
    MetricFamilies out;
    auto read = ReadProcessUsage(0);
    ProcessUsage self = read.ok() ? *read : ProcessUsage{};
    AppendProcessMetrics(self, &out);
    AppendDaemonMetrics(daemon.Metrics(), daemon.HealthCheck(), self.locked_bytes, &out);
    return out;
  });
}

std::string SerializeMetrics(const MetricFamilies& families) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace duende::framework
