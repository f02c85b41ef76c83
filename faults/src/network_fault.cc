// network: a toxic on the proxy in front of the target (the runner's, or one of our own).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "duende/faults/proxy.h"
#include "fault_base.h"

namespace duende::faults::internal {
namespace {

using framework::ErrnoError;
using framework::Result;
using framework::TomlReader;

struct NetSpec {
  std::string toxic = "latency";
  std::string direction = "both";
  Toxics toxics;
  uint16_t listen_port = 0;
};

// True when a connect to 127.0.0.1:port is refused.
bool Refused(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool refused =
      ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno == ECONNREFUSED;
  ::close(fd);
  return refused;
}

class NetworkFault : public FaultBase {
 public:
  NetworkFault(FaultEnv& env, NetSpec spec)
      : FaultBase("network", env), spec_(std::move(spec)), find_(env.find_proxy) {}
  ~NetworkFault() override { (void)Heal(); }

  Result<void> Inject(const TargetRef& t) override {
    proxy_ = find_ ? find_(t.name) : nullptr;
    if (proxy_ == nullptr) {
      if (t.port == 0) {
        return ErrnoError("network faults need the target's port (TargetRef::port)", EINVAL);
      }
      auto p = Proxy::Start(spec_.listen_port, t.port, seed_);
      if (!p.ok()) return p.error();
      own_ = std::move(*p);
      proxy_ = own_.get();
      auto j = Journal({"proxy", {"127.0.0.1:" + std::to_string(proxy_->port())}});
      if (j.ok()) proxy_journal_ = *j;
      Evidence("started a proxy 127.0.0.1:" + std::to_string(proxy_->port()) + " -> " +
               std::to_string(t.port));
    }
    before_ = proxy_->Stats();
    MarkInjected();
    if (spec_.toxic == "down" || spec_.toxic == "partition") {
      DUENDE_TRY(proxy_->SetDown(true));
      downed_ = true;
      record_.took_effect = Refused(proxy_->port());
      Evidence("proxy 127.0.0.1:" + std::to_string(proxy_->port()) + " down; " +
               std::to_string(proxy_->Stats().closed_by_down - before_.closed_by_down) +
               " connections closed; a new connect was " +
               (record_.took_effect ? "refused" : "NOT refused"));
      return {};
    }
    for (Direction d : Dirs()) {
      saved_.push_back({d, proxy_->GetToxics(d)});
      proxy_->SetToxics(d, spec_.toxics);
    }
    applied_ = true;
    Evidence("toxic " + spec_.toxic + " on " + spec_.direction +
             " of proxy 127.0.0.1:" + std::to_string(proxy_->port()));
    return {};
  }

  Result<void> Heal() override {
    Poll();
    Result<void> r;
    if (downed_) {
      r = proxy_->SetDown(false);
      downed_ = false;
      MarkHealed();
    }
    if (applied_) {
      for (const auto& [d, t] : saved_) proxy_->SetToxics(d, t);
      saved_.clear();
      applied_ = false;
      MarkHealed();
    }
    return r;
  }

  FaultRecord Record() const override {
    const_cast<NetworkFault*>(this)->Poll();
    return record_;
  }

 private:
  std::vector<Direction> Dirs() const {
    if (spec_.direction == "upstream") return {Direction::kUpstream};
    if (spec_.direction == "downstream") return {Direction::kDownstream};
    return {Direction::kUpstream, Direction::kDownstream};
  }

  void Poll() {
    if (!applied_ || record_.took_effect || proxy_ == nullptr) return;
    ProxyStats s = proxy_->Stats();
    uint64_t delayed = s.bytes_delayed - before_.bytes_delayed;
    uint64_t dropped = s.bytes_dropped - before_.bytes_dropped;
    uint64_t resets = s.resets - before_.resets;
    if (delayed + dropped + resets > 0) {
      record_.took_effect = true;
      Evidence(std::to_string(delayed) + " bytes delayed, " + std::to_string(dropped) +
               " dropped, " + std::to_string(resets) + " connections reset by the toxic");
    }
  }

  NetSpec spec_;
  std::function<Proxy*(const std::string&)> find_;
  Proxy* proxy_ = nullptr;
  std::unique_ptr<Proxy> own_;
  ProxyStats before_;
  std::vector<std::pair<Direction, Toxics>> saved_;
  bool downed_ = false, applied_ = false;
  uint64_t proxy_journal_ = 0;
};

}  // namespace

std::unique_ptr<Fault> MakeNetwork(TomlReader& r, FaultEnv* env) {
  NetSpec s;
  s.toxic =
      r.Enum("toxic", {"latency", "bandwidth", "slicer", "blackhole", "reset", "down", "partition"})
          .value_or("latency");
  s.direction = r.Enum("direction", {"upstream", "downstream", "both"}).value_or("both");
  auto latency = r.Duration("latency");
  auto jitter = r.Duration("jitter");
  auto rate = r.ByteSize("rate");
  auto slice = r.Int("slice", 1, 1 << 20);
  auto slice_delay = r.Duration("slice_delay");
  s.listen_port = static_cast<uint16_t>(r.Int("listen_port", 0, 65535).value_or(0));
  if (s.toxic == "latency") {
    s.toxics.latency_ns = latency.value_or(std::chrono::milliseconds(100)).count();
    s.toxics.jitter_ns = jitter.value_or(std::chrono::nanoseconds(0)).count();
  } else if (s.toxic == "bandwidth") {
    s.toxics.bandwidth_bps = rate.value_or(64 * 1024);
    if (s.toxics.bandwidth_bps == 0) r.Fail("rate", "'rate' must be more than 0 bytes per second");
  } else if (s.toxic == "slicer") {
    s.toxics.slice_bytes = static_cast<uint32_t>(slice.value_or(64));
    s.toxics.slice_delay_ns = slice_delay.value_or(std::chrono::milliseconds(1)).count();
  } else if (s.toxic == "blackhole") {
    s.toxics.blackhole = true;
  } else if (s.toxic == "reset") {
    s.toxics.reset = true;
  }
  if (env == nullptr) return nullptr;
  return std::make_unique<NetworkFault>(*env, s);
}

}  // namespace duende::faults::internal
