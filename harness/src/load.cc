#include "duende/harness/load.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <optional>
#include <random>

#include "duende/framework/address.h"
#include "duende/framework/clock.h"
#include "duende/framework/trace_context.h"
#include "duende/framework/unique_fd.h"
#include "duende/harness/load_history.h"
#include "duende/harness/load_protocol.h"
#include "load_internal.h"

namespace duende::harness {

using framework::MonotonicNs;
using framework::UniqueFd;

namespace {

constexpr int64_t kSecondNs = 1'000'000'000;
// The history is handed out in batches this often (5 per second: a batch is small enough to
// write as one event line, and a run killed mid-way loses at most this much of it).
constexpr int64_t kOpsFlushNs = 200'000'000;
constexpr int64_t kTicksPerSecond = kSecondNs / kOpsFlushNs;
// Reconnect policy after a drop or a refused connect: the first retry is immediate (a target
// that closed one keep-alive connection is usually fine), then 10 ms doubling to 100 ms, so a
// restarting target is found again within ~100 ms while a dead one costs at most ~10 connects
// per connection per second.
constexpr int64_t kReconnectFirstNs = 10'000'000;
constexpr int64_t kReconnectMaxNs = 100'000'000;
// A worker that runs this much later than it asked to (its epoll wait overslept, or one turn
// of its loop took this long) was not scheduled: a stall of the load generator itself, which
// the checks must not blame on the target. Capped at a third of the request timeout, so a
// stall that can time a request out is always seen.
constexpr int64_t kStallMinNs = 20'000'000;
constexpr int64_t kStallMaxNs = 100'000'000;
constexpr size_t kMaxStalls = 64;
constexpr size_t kMaxErrorExamples = 5;
constexpr uint32_t kWakeTag = UINT32_MAX;

int64_t ToUs(int64_t ns) { return (ns + 500) / 1000; }

std::string Printable(std::string_view s) { return PrintableText(s, 80); }

}  // namespace

// ---------------------------------------------------------------------------------------
// Validated configuration shared (read-only) by the workers.

framework::Result<LoadPlan> MakeLoadPlan(const LoadConfig& config) {
  LoadPlan plan;
  plan.config = config;
  auto protocol = ParseLoadProtocol(config.protocol);
  if (!protocol) return framework::MessageError("load.protocol: " + protocol.error().context);
  plan.protocol = *protocol;
  if (config.mode != "open" && config.mode != "closed")
    return framework::MessageError("load.mode: unknown mode '" + config.mode +
                                   "' (use \"open\" or \"closed\")");
  plan.open_loop = config.mode == "open";
  for (const auto& [node, address] : config.nodes) {
    auto a = ParseLoopbackAddress(address, true);
    if (!a) return framework::MessageError("node " + node + ": " + a.error().context);
    plan.node_addrs.push_back(*a);
  }
  // The load's own address is loopback, or one of the nodes' (never elsewhere in the range:
  // 198.18.0.0/15 may be routed off the host where no node of ours lives).
  auto addr = ParseLoopbackAddress(config.address, true);
  if (!addr) return addr.error();
  const bool loopback = (ntohl(addr->sin_addr.s_addr) >> 24) == 127;
  bool a_node =
      std::any_of(plan.node_addrs.begin(), plan.node_addrs.end(),
                  [&](const sockaddr_in& n) { return n.sin_addr.s_addr == addr->sin_addr.s_addr; });
  for (const auto& node_ip : config.node_addresses) {
    in_addr ip{};
    if (inet_pton(AF_INET, node_ip.c_str(), &ip) == 1 && ip.s_addr == addr->sin_addr.s_addr &&
        (ntohl(ip.s_addr) & 0xFFFE0000u) == 0xC6120000u) {
      a_node = true;
    }
  }
  if (!loopback && !a_node) {
    return framework::MessageError("load.address: '" + config.address +
                                   "' is not a loopback address nor one of this scenario's "
                                   "[[node]]s; load only targets 127.0.0.0/8 and the nodes");
  }
  plan.addr = *addr;
  if (config.spread != "round-robin" && config.spread != "random" && config.spread != "pinned")
    return framework::MessageError("load.spread: unknown spread '" + config.spread +
                                   "' (use \"round-robin\", \"random\" or \"pinned\")");
  if (plan.open_loop && !(config.rate > 0 && config.rate <= 10'000'000))
    return framework::MessageError("load.rate: must be > 0 and <= 10000000 requests/s, got " +
                                   std::to_string(config.rate));
  if (config.connections < 1 || config.connections > 10000)
    return framework::MessageError("load.connections: must be 1..10000, got " +
                                   std::to_string(config.connections));
  if (config.duration.count() <= 0) return framework::MessageError("load.duration: must be > 0");
  if (config.timeout.count() <= 0) return framework::MessageError("load.timeout: must be > 0");
  if (config.threads < 1 || config.threads > 64)
    return framework::MessageError("load.threads: must be 1..64, got " +
                                   std::to_string(config.threads));
  plan.kv = !config.write_template.empty();
  plan.unique_keys = config.keys == 0;
  plan.keys = std::max<uint32_t>(config.keys, 1);
  if (plan.kv && !plan.unique_keys && plan.keys < config.connections)
    return framework::MessageError(
        "load.keys: key-value mode writes each key from one connection at a time, so keys (" +
        std::to_string(config.keys) + ") must be >= connections (" +
        std::to_string(config.connections) + ")");
  auto matcher = ReplyMatcher::Create(config.expect);
  if (!matcher) return framework::MessageError("load.expect: " + matcher.error().context);
  plan.matcher = *matcher;
  plan.builder.protocol = plan.protocol;
  plan.builder.body =
      RequestTemplate(plan.kv ? config.write_template : config.request, config.value);
  if (auto t = ValidateTerminator(config.terminator); !t)
    return framework::MessageError("load.terminator: " + t.error().context);
  if (auto f = ValidateFraming(config.reply); !f)
    return framework::MessageError("load.reply: " + f.error().context);
  plan.builder.terminator = config.terminator;
  plan.builder.framing = config.reply;
  if (plan.protocol != LoadProtocol::kHttp && plan.builder.body.empty())
    return framework::MessageError("load.request: empty request template");
  plan.builder.path = RequestTemplate(config.http_path.empty() ? "/" : config.http_path);
  static const char* kMethods[] = {"GET", "POST", "PUT", "HEAD", "DELETE", "PATCH"};
  if (std::find_if(std::begin(kMethods), std::end(kMethods),
                   [&](const char* m) { return config.http_method == m; }) == std::end(kMethods))
    return framework::MessageError("load.http_method: unknown method '" + config.http_method +
                                   "' (use GET, POST, PUT, HEAD, DELETE or PATCH)");
  if (plan.protocol == LoadProtocol::kHttp && config.http_method == "HEAD")
    return framework::MessageError("load.http_method: HEAD replies carry no body length; use GET");
  plan.builder.method = config.http_method;
  plan.builder.host = config.address;
  plan.builder.traceparent = config.traceparent;
  plan.builder.trace_seed = config.seed;
  plan.threads = std::min(config.threads, config.connections);
  if (!config.ops.empty()) {
    if (plan.kv)
      return framework::MessageError(
          "load.ops: a mixed workload records its own history; it cannot be combined with "
          "key-value mode (write_template)");
    double total = 0;
    for (size_t i = 0; i < config.ops.size(); ++i) {
      const LoadOpKind& k = config.ops[i];
      const std::string where = "load.ops[" + std::to_string(i) + "]";
      if (k.f.empty()) return framework::MessageError(where + ".f: name the operation's kind");
      if (!(k.weight > 0 && k.weight <= 1e6))
        return framework::MessageError(where + ".weight: must be > 0 and <= 1000000");
      auto m = ReplyMatcher::Create(k.expect);
      if (!m) return framework::MessageError(where + ".expect: " + m.error().context);
      LoadOpPlan op;
      op.f = k.f;
      op.matcher = *m;
      op.builder = plan.builder;
      op.builder.body = RequestTemplate(k.request, config.value);
      if (!k.path.empty()) op.builder.path = RequestTemplate(k.path);
      if (op.builder.body.empty())
        return framework::MessageError(where + ".request: empty request template");
      total += k.weight;
      op.cumulative = total;
      plan.ops.push_back(std::move(op));
    }
  }
  return plan;
}

framework::Result<sockaddr_in> ParseLoopbackAddress(const std::string& address, bool node_range) {
  auto addr = framework::Ipv4SocketAddress(address);
  if (!addr.ok())
    return framework::MessageError("load.address: '" + address +
                                   "' is not HOST:PORT (e.g. \"127.0.0.1:8080\")");
  const uint32_t ip = ntohl(addr->sin_addr.s_addr);
  // Loopback, or the testing range duende's nodes (network namespaces it creates) live in.
  if ((ip >> 24) != 127 && !(node_range && (ip & 0xFFFE0000u) == 0xC6120000u))
    return framework::MessageError(
        "load.address: '" + address +
        "' is not a loopback address; load only targets 127.0.0.0/8 (and the [[node]]s of a "
        "cluster scenario, in 198.18.0.0/15)");
  return addr;
}

// ---------------------------------------------------------------------------------------
// Worker: one thread, one epoll loop, a share of the connections and of the schedule.

namespace {

struct Counts {
  uint64_t sent = 0, ok = 0, errors = 0, timeouts = 0;
  bool empty() const { return sent + ok + errors + timeouts == 0; }
};

class Worker {
 public:
  Worker(const LoadPlan& plan, uint32_t index, std::atomic<bool>* stop, bool history)
      : plan_(plan),
        index_(index),
        stop_(stop),
        history_(history),
        rng_(plan.config.seed * 7919 + index) {
    const auto& cfg = plan.config;
    for (uint32_t c = index; c < cfg.connections; c += plan.threads) {
      Conn conn;
      conn.id = c;
      // Key partition: connection c writes keys c, c+N, c+2N, ... so that a key never has
      // two writes in flight at once (its last acknowledged value is then well defined).
      if (plan.unique_keys) {
        // Unique keys: each write goes to the key named by its own seq.
      } else if (plan.keys >= cfg.connections) {
        for (uint64_t k = c; k < plan.keys; k += cfg.connections) conn.keys.push_back(k);
      } else {
        conn.keys.push_back(c % plan.keys);
      }
      conn.in.reserve(4096);
      conn.out.reserve(256);
      conns_.push_back(std::move(conn));
    }
    if (plan.kv && !plan.unique_keys) {
      last_acked_.assign(plan.keys, 0);
      last_ack_ns_.assign(plan.keys, 0);
    }
    epoll_ = UniqueFd(epoll_create1(EPOLL_CLOEXEC));
    wake_ = UniqueFd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = kWakeTag;
    epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &ev);
  }

  void Wake() {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(wake_.get(), &one, sizeof(one));
  }

  void Run(int64_t start_ns, int64_t end_ns);

  // Moves this second's counts and latencies into `counts`/`hist` (reporter thread).
  void Collect(Counts* counts, Histogram* hist) {
    std::lock_guard<std::mutex> lock(mu_);
    counts->sent += cur_.sent;
    counts->ok += cur_.ok;
    counts->errors += cur_.errors;
    counts->timeouts += cur_.timeouts;
    cur_ = Counts{};
    hist->Merge(hist_);
    hist_.Reset();
  }

  // Appends the ops finished since the last call to `ops` (reporter thread).
  void CollectOps(std::vector<LoadOp>* ops) {
    std::lock_guard<std::mutex> lock(mu_);
    if (ops->empty()) {
      ops->swap(ops_);
    } else {
      ops->insert(ops->end(), std::make_move_iterator(ops_.begin()),
                  std::make_move_iterator(ops_.end()));
      ops_.clear();
    }
  }

  bool done() const { return done_.load(std::memory_order_acquire); }

  // Valid after the thread ended.
  uint64_t abandoned = 0, connects = 0, drops = 0;
  std::vector<std::string> error_examples;
  std::vector<uint64_t> last_acked_;
  std::vector<int64_t> last_ack_ns_;
  std::vector<std::pair<uint64_t, int64_t>> acked_unique_;  // unique keys: (seq, ack time)
  std::vector<LoadStall> stalls;  // this worker's own stalls (at most kMaxStalls)

 private:
  enum class State { kDown, kConnecting, kIdle, kBusy };
  struct Conn {
    uint32_t id = 0;
    int fd = -1;
    State state = State::kDown;
    uint32_t events = 0;
    std::string out;
    size_t out_off = 0;
    std::string in;
    int64_t base_ns = 0;  // latency origin: intended (open loop) or actual send time
    uint64_t key = 0, seq = 0;
    uint32_t op = UINT32_MAX;    // mixed workload: the kind of the request in flight
    uint32_t node = UINT32_MAX;  // load spread over nodes: the node it is connected to
    std::string value;           // mixed workload: the value it writes (history only)
    int64_t reconnect_at = 0;
    int64_t backoff = 0;
    bool in_idle = false;
    std::vector<uint64_t> keys;
  };

  void Connect(Conn& c, int64_t now);
  void ConnectFailed(Conn& c, int err, int64_t now);
  void Connected(Conn& c, int64_t now);
  void OnIdle(Conn& c, int64_t now);
  void Send(Conn& c, int64_t base_ns, int64_t now);
  void FlushOut(Conn& c, int64_t now);
  void OnReadable(Conn& c, int64_t now);
  void Drop(Conn& c, int64_t now, bool reachable);
  void FailQueued();
  void SetEvents(Conn& c, uint32_t events);
  void Dispatch(int64_t intended, int64_t now);
  void Complete(Conn& c, int64_t now, const Reply& reply);
  void Error(const std::string& message);
  void HandleEvents(const epoll_event* events, int n, int64_t now);
  void NoteStall(int64_t expected, int64_t now, int64_t threshold);

  void CountSent() {
    std::lock_guard<std::mutex> lock(mu_);
    ++cur_.sent;
  }
  // Ends one request: counts it (errors: e, n, d; timeouts: t; abandoned: neither), records
  // its latency when `in_histogram`, and appends it to the history when one is kept.
  // `client` is conns_ index's id, or the number of connections for a request that never got
  // one. `text` is only built for failures.
  void Finished(uint32_t client, int64_t invoke, int64_t now, OpOutcome outcome, uint64_t key,
                uint64_t seq, std::string_view text, bool also_sent, bool in_histogram,
                const Conn* conn = nullptr, const std::optional<std::string>& read = {}) {
    std::lock_guard<std::mutex> lock(mu_);
    if (also_sent) ++cur_.sent;
    switch (outcome) {
      case OpOutcome::kOk:
        ++cur_.ok;
        break;
      case OpOutcome::kTimeout:
        ++cur_.timeouts;
        break;
      case OpOutcome::kAbandoned:
        break;
      default:
        ++cur_.errors;
    }
    if (in_histogram) hist_.Record(now - invoke);
    if (plan_.config.traceparent && seq != 0 && outcome != OpOutcome::kAbandoned) {
      NoteTraced(seq, (now - invoke) / 1000, outcome);
    }
    if (history_) {
      LoadOp op;
      op.client = client;
      op.invoke_ns = invoke;
      op.complete_ns = now;
      op.outcome = outcome;
      op.key = key;
      op.seq = seq;
      op.text = TruncateOpText(text);
      if (conn != nullptr && conn->op < plan_.ops.size()) {
        op.f = plan_.ops[conn->op].f;
        op.value = conn->value;
        if (read) op.read = TruncateOpValue(*read);
      }
      if (conn != nullptr && conn->node < plan_.config.nodes.size()) {
        op.node = plan_.config.nodes[conn->node].first;
      }
      ops_.push_back(std::move(op));
    }
  }
  uint32_t NoClient() const { return plan_.config.connections; }
  // Keeps the trace ids of the first failed requests and of the slowest ones (under mu_).
  void NoteTraced(uint64_t seq, int64_t latency_us, OpOutcome outcome) {
    auto make = [&] {
      return TracedRequest{framework::TraceContextFor(plan_.config.seed, seq).trace_id, latency_us,
                           outcome == OpOutcome::kOk        ? "ok"
                           : outcome == OpOutcome::kTimeout ? "timeout"
                                                            : "error"};
    };
    if (outcome != OpOutcome::kOk && failed_traces.size() < kMaxTracedRequests) {
      failed_traces.push_back(make());
    }
    if (slowest_traces.size() < kMaxTracedRequests) {
      slowest_traces.push_back(make());
      return;
    }
    auto min = std::min_element(
        slowest_traces.begin(), slowest_traces.end(),
        [](const TracedRequest& a, const TracedRequest& b) { return a.latency_us < b.latency_us; });
    if (latency_us > min->latency_us) *min = make();
  }

 public:
  // Valid after the thread ended (written under mu_ while it runs).
  std::vector<TracedRequest> failed_traces, slowest_traces;

 private:
  const LoadPlan& plan_;
  const uint32_t index_;
  std::atomic<bool>* stop_;
  const bool history_;
  std::mt19937_64 rng_;
  std::vector<Conn> conns_;
  UniqueFd epoll_, wake_;
  bool sending_ = true;
  uint32_t up_ = 0;  // connections not kDown
  // Open loop: connections waiting for a request, oldest first. FIFO, so that requests (and
  // with them the keys each connection owns) spread over every connection instead of the
  // one that answered last.
  std::deque<Conn*> idle_;
  std::deque<int64_t> queue_;  // open loop: intended times waiting for a connection
  uint64_t local_seq_ = 0;
  uint64_t next_node_ = 0;  // round-robin spread: the node of the next (re)connect
  std::string last_connect_error_ = "no connection";

  std::mutex mu_;
  Counts cur_;
  Histogram hist_;
  std::vector<LoadOp> ops_;
  std::atomic<bool> done_{false};
};

void Worker::Error(const std::string& message) {
  if (error_examples.size() < kMaxErrorExamples) error_examples.push_back(message);
}

void Worker::SetEvents(Conn& c, uint32_t events) {
  if (c.events == events) return;
  epoll_event ev{};
  ev.events = events;
  ev.data.u32 = static_cast<uint32_t>(&c - conns_.data());
  epoll_ctl(epoll_.get(), c.events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c.fd, &ev);
  c.events = events;
}

void Worker::Connect(Conn& c, int64_t now) {
  c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c.fd < 0) {
    ConnectFailed(c, errno, now);
    return;
  }
  int one = 1;
  setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  c.events = 0;
  c.in.clear();
  c.out.clear();
  c.out_off = 0;
  ++up_;
  const sockaddr_in* to = &plan_.addr;
  if (!plan_.node_addrs.empty()) {
    const size_t n = plan_.node_addrs.size();
    const std::string& spread = plan_.config.spread;
    c.node = static_cast<uint32_t>(spread == "pinned"   ? c.id % n
                                   : spread == "random" ? rng_() % n
                                                        : next_node_++ % n);
    to = &plan_.node_addrs[c.node];
  }
  if (connect(c.fd, reinterpret_cast<const sockaddr*>(to), sizeof(*to)) == 0) {
    c.state = State::kConnecting;
    Connected(c, now);
  } else if (errno == EINPROGRESS) {
    c.state = State::kConnecting;
    SetEvents(c, EPOLLOUT);
  } else {
    const int err = errno;
    --up_;
    close(c.fd);
    c.fd = -1;
    ConnectFailed(c, err, now);
  }
}

void Worker::FailQueued() {
  // Open loop: with no connection up or coming up, waiting requests cannot be sent.
  if (up_ > 0 || queue_.empty()) return;
  const int64_t now = MonotonicNs();
  for (int64_t intended : queue_)
    Finished(NoClient(), intended, now, OpOutcome::kNotSent, 0, 0, last_connect_error_, false,
             false);
  Error(last_connect_error_);
  queue_.clear();
}

void Worker::ConnectFailed(Conn& c, int err, int64_t now) {
  c.state = State::kDown;
  last_connect_error_ = "connect " + plan_.config.address + ": " + std::strerror(err);
  // Closed loop: each failed connect stands for the request this connection would have sent.
  if (!plan_.open_loop && sending_) {
    Finished(c.id, now, now, OpOutcome::kNotSent, 0, 0, last_connect_error_, true, false);
    Error(last_connect_error_);
  }
  c.reconnect_at = now + c.backoff;
  c.backoff = c.backoff == 0 ? kReconnectFirstNs : std::min(2 * c.backoff, kReconnectMaxNs);
  if (c.reconnect_at > now) FailQueued();  // (an immediate reconnect may still take them)
}

void Worker::Connected(Conn& c, int64_t now) {
  ++connects;
  SetEvents(c, EPOLLIN);
  c.state = State::kIdle;
  OnIdle(c, now);
}

void Worker::OnIdle(Conn& c, int64_t now) {
  if (!plan_.open_loop) {
    if (sending_) Send(c, now, now);
    return;
  }
  // Queued requests were due before the end of the window: they still go out.
  if (!queue_.empty()) {
    const int64_t intended = queue_.front();
    queue_.pop_front();
    Send(c, intended, now);
    return;
  }
  if (sending_ && !c.in_idle) {
    c.in_idle = true;
    idle_.push_back(&c);
  }
}

void Worker::Dispatch(int64_t intended, int64_t now) {
  // Open loop: a request counts as sent when its time comes, whether a connection takes it
  // now, it waits for one, or it fails for want of one.
  CountSent();
  while (!idle_.empty()) {
    Conn* c = idle_.front();
    idle_.pop_front();
    c->in_idle = false;
    if (c->state == State::kIdle) {
      Send(*c, intended, now);
      return;
    }
  }
  if (up_ > 0) {
    // Every connection is busy (or connecting): the request waits, and its latency keeps
    // counting from its intended time.
    queue_.push_back(intended);
    return;
  }
  Finished(NoClient(), intended, now, OpOutcome::kNotSent, 0, 0, last_connect_error_, false, false);
  Error(last_connect_error_);
}

void Worker::Send(Conn& c, int64_t base_ns, int64_t now) {
  TemplateValues values;
  // Unique across workers and increasing per key (a key belongs to one connection).
  values.seq = ++local_seq_ * plan_.threads + index_;
  if (plan_.unique_keys) {
    values.key = values.seq;
  } else {
    values.key = c.keys.size() == 1 ? c.keys[0] : c.keys[rng_() % c.keys.size()];
  }
  c.key = values.key;
  c.seq = values.seq;
  if (plan_.ops.empty()) {
    plan_.builder.Build(values, &c.out);
  } else {
    const double pick =
        std::uniform_real_distribution<double>(0, plan_.ops.back().cumulative)(rng_);
    uint32_t op = 0;
    while (op + 1 < plan_.ops.size() && pick >= plan_.ops[op].cumulative) ++op;
    c.op = op;
    plan_.ops[op].builder.Build(values, &c.out);
    c.value = TruncateOpValue(plan_.ops[op].builder.body.WrittenValue(values));
  }
  c.out_off = 0;
  c.base_ns = base_ns;
  c.state = State::kBusy;
  if (!plan_.open_loop) CountSent();
  FlushOut(c, now);
}

void Worker::FlushOut(Conn& c, int64_t now) {
  while (c.out_off < c.out.size()) {
    const ssize_t n = send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
    if (n > 0) {
      c.out_off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      SetEvents(c, EPOLLIN | EPOLLOUT);
      return;
    }
    const std::string why = std::string("send: ") + std::strerror(errno);
    Finished(c.id, c.base_ns, now, OpOutcome::kDropped, c.key, c.seq, why, false, false, &c);
    Error(why);
    Drop(c, now, false);
    return;
  }
  SetEvents(c, EPOLLIN);
}

void Worker::OnReadable(Conn& c, int64_t now) {
  char buf[65536];
  const ssize_t n = recv(c.fd, buf, sizeof(buf), 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (n <= 0) {
    const int err = errno;
    const bool busy = c.state == State::kBusy;
    if (busy) {
      const std::string why = n == 0 ? std::string("connection closed by the target")
                                     : std::string("recv: ") + std::strerror(err);
      Finished(c.id, c.base_ns, now, OpOutcome::kDropped, c.key, c.seq, why, false, false, &c);
      Error(why);
    }
    // An idle keep-alive connection closed by the target is routine: reconnect at once.
    Drop(c, now, !busy);
    return;
  }
  if (c.state != State::kBusy) {
    Error("unsolicited bytes from the target: '" + Printable({buf, static_cast<size_t>(n)}) + "'");
    Drop(c, now, false);
    return;
  }
  c.in.append(buf, static_cast<size_t>(n));
  thread_local Reply reply;
  const int64_t used = ParseReply(plan_.protocol, plan_.builder.framing, c.in, &reply);
  if (used == 0) return;
  if (used < 0) {
    Finished(c.id, c.base_ns, now, OpOutcome::kWrongReply, c.key, c.seq, c.in, false, false, &c);
    Error("malformed reply: '" + Printable(c.in) + "'");
    Drop(c, now, false);
    return;
  }
  const bool extra = static_cast<size_t>(used) < c.in.size();
  c.in.erase(0, static_cast<size_t>(used));
  Complete(c, now, reply);
  c.state = State::kIdle;  // answered: its write's fate is known
  if (extra || reply.close) {
    if (extra) Error("unsolicited bytes after a reply");
    Drop(c, now, !extra);
    return;
  }
  OnIdle(c, now);
}

void Worker::Complete(Conn& c, int64_t now, const Reply& reply) {
  thread_local std::string capture;
  bool captured = false;
  const ReplyMatcher& matcher = c.op < plan_.ops.size() ? plan_.ops[c.op].matcher : plan_.matcher;
  const bool ok = reply.protocol_ok && matcher.Matches(reply.text, &capture, &captured);
  if (ok) {
    Finished(c.id, c.base_ns, now, OpOutcome::kOk, c.key, c.seq, {}, false, true, &c,
             captured ? std::optional<std::string>(capture) : std::nullopt);
    c.backoff = 0;
    if (plan_.kv && plan_.unique_keys) {
      acked_unique_.emplace_back(c.seq, now);
    } else if (plan_.kv && c.seq > last_acked_[c.key]) {
      last_acked_[c.key] = c.seq;
      last_ack_ns_[c.key] = now;
    }
    return;
  }
  const std::string what = plan_.protocol == LoadProtocol::kHttp && !reply.protocol_ok
                               ? "HTTP " + std::to_string(reply.status) + " " + reply.text
                               : reply.text;
  Finished(c.id, c.base_ns, now, OpOutcome::kWrongReply, c.key, c.seq, what, false, true, &c);
  Error(plan_.protocol == LoadProtocol::kHttp && !reply.protocol_ok
            ? "HTTP status " + std::to_string(reply.status)
            : "unexpected reply '" + Printable(reply.text) + "'");
}

void Worker::Drop(Conn& c, int64_t now, bool reachable) {
  if (c.state == State::kBusy && plan_.kv && !plan_.unique_keys && c.keys.size() > 1) {
    // The write in flight may still land later (e.g. after a SIGSTOP ends), after a newer
    // acknowledged write of the same key; retire the key so that cannot look like a loss.
    c.keys.erase(std::find(c.keys.begin(), c.keys.end(), c.key));
  }
  if (c.fd >= 0) {
    close(c.fd);
    c.fd = -1;
    --up_;
  }
  ++drops;
  c.state = State::kDown;
  c.events = 0;
  // After a timeout the target was reachable (just slow or paused): reconnect at once, so a
  // stall shows as timeouts rather than as connect errors.
  if (reachable) c.backoff = 0;
  c.reconnect_at = now + c.backoff;
  c.backoff = c.backoff == 0 ? kReconnectFirstNs : std::min(2 * c.backoff, kReconnectMaxNs);
  if (c.reconnect_at > now) FailQueued();  // (an immediate reconnect may still take them)
}

void Worker::NoteStall(int64_t expected, int64_t now, int64_t threshold) {
  if (now - expected < threshold) return;
  if (!stalls.empty() && expected <= stalls.back().end_ns) {
    stalls.back().end_ns = std::max(stalls.back().end_ns, now);  // the same stall goes on
  } else if (stalls.size() < kMaxStalls) {
    stalls.push_back({expected, now});
  }
}

void Worker::HandleEvents(const epoll_event* events, int n, int64_t now) {
  for (int i = 0; i < n; ++i) {
    const uint32_t tag = events[i].data.u32;
    if (tag == kWakeTag) continue;
    Conn& c = conns_[tag];
    if (c.fd < 0) continue;
    if (c.state == State::kConnecting) {
      int err = 0;
      socklen_t len = sizeof(err);
      getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err == 0 && (events[i].events & EPOLLOUT)) {
        Connected(c, now);
      } else {
        if (err == 0) err = ECONNREFUSED;
        close(c.fd);
        c.fd = -1;
        c.events = 0;
        --up_;
        ConnectFailed(c, err, now);
      }
      continue;
    }
    if ((events[i].events & EPOLLOUT) && c.state == State::kBusy && c.out_off < c.out.size()) {
      FlushOut(c, now);
      if (c.fd < 0) continue;
    }
    if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) OnReadable(c, now);
  }
}

void Worker::Run(int64_t start_ns, int64_t end_ns) {
  // Precise wake-ups for the open-loop schedule: the default 50 us timer slack would add
  // that much to every latency measured from the intended time.
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  const auto& cfg = plan_.config;
  const double period = static_cast<double>(kSecondNs) / cfg.rate;
  const int64_t timeout = cfg.timeout.count();
  uint64_t next_index = index_;  // this worker's share of the global schedule
  auto intended_at = [&](uint64_t i) {
    return start_ns + static_cast<int64_t>(static_cast<double>(i) * period);
  };
  int64_t next_intended = intended_at(next_index);
  int64_t now = MonotonicNs();
  for (Conn& c : conns_) Connect(c, now);
  epoll_event events[128];
  const int64_t stall_threshold = std::clamp(timeout / 3, kStallMinNs, kStallMaxNs);
  // The earliest time a request in flight or queued times out, as the last turn computed it.
  int64_t deadline = INT64_MAX;
  for (;;) {
    const int64_t turn_start = now;
    now = MonotonicNs();
    NoteStall(turn_start, now, stall_threshold);  // one turn of the loop took too long
    if (stop_->load(std::memory_order_relaxed)) break;
    if (plan_.open_loop && sending_) {
      // Everything due by now, up to the end of the window (a late wake-up catches up).
      while (next_intended <= now && next_intended < end_ns) {
        Dispatch(next_intended, now);
        next_index += plan_.threads;
        next_intended = intended_at(next_index);
      }
    }
    // From here on nothing new is sent; queued requests still go out or time out.
    if (sending_ && now >= end_ns) sending_ = false;
    // Replies that arrived while this thread was not running are taken before anything is
    // declared timed out: a late wake-up must not turn an answered request into a timeout.
    if (now >= deadline) {
      const timespec zero{0, 0};
      const int n = epoll_pwait2(epoll_.get(), events, 128, &zero, nullptr);
      if (n > 0) HandleEvents(events, n, now);
    }
    while (!queue_.empty() && now - queue_.front() >= timeout) {
      Finished(NoClient(), queue_.front(), now, OpOutcome::kTimeout, 0, 0,
               "waited for a free connection", false, true);
      queue_.pop_front();
    }
    bool busy = false;
    deadline = INT64_MAX;
    int64_t wake = now + 100'000'000;
    for (Conn& c : conns_) {
      if (c.state == State::kBusy) {
        if (now - c.base_ns >= timeout) {
          const std::string why = "no reply within " + framework::FormatDuration(cfg.timeout);
          Finished(c.id, c.base_ns, now, OpOutcome::kTimeout, c.key, c.seq, why, false, true, &c);
          Error(why);
          Drop(c, now, true);
        } else {
          busy = true;
          deadline = std::min(deadline, c.base_ns + timeout);
          wake = std::min(wake, deadline);
        }
      }
      if (c.state == State::kDown && sending_) {
        if (c.reconnect_at <= now) {
          Connect(c, now);
          if (c.state == State::kBusy) busy = true;
        } else {
          wake = std::min(wake, c.reconnect_at);
        }
      }
    }
    if (!sending_ && !busy && queue_.empty()) break;
    if (sending_) {
      wake = std::min(wake, end_ns);
      if (plan_.open_loop) wake = std::min(wake, next_intended);
    }
    if (!queue_.empty()) deadline = std::min(deadline, queue_.front() + timeout);
    wake = std::min(wake, deadline);
    const int64_t wait_ns = std::max<int64_t>(0, wake - now);
    timespec ts{static_cast<time_t>(wait_ns / kSecondNs), static_cast<long>(wait_ns % kSecondNs)};
    const int n = epoll_pwait2(epoll_.get(), events, 128, &ts, nullptr);
    const int64_t asked = now + wait_ns;
    now = MonotonicNs();
    NoteStall(asked, now, stall_threshold);  // the wait overslept its deadline
    if (n > 0) HandleEvents(events, n, now);
  }
  now = MonotonicNs();
  for (Conn& c : conns_) {
    if (c.state == State::kBusy) {
      ++abandoned;
      Finished(c.id, c.base_ns, now, OpOutcome::kAbandoned, c.key, c.seq, "stopped", false, false,
               &c);
    }
    if (c.fd >= 0) close(c.fd);
    c.fd = -1;
  }
  abandoned += queue_.size();
  for (int64_t intended : queue_)
    Finished(NoClient(), intended, now, OpOutcome::kAbandoned, 0, 0, "stopped", false, false);
  done_.store(true, std::memory_order_release);
}

}  // namespace

// ---------------------------------------------------------------------------------------

struct LoadGenerator::Impl {
  LoadPlan plan;
  std::atomic<bool> stop{false};
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::thread> threads;
  std::thread reporter;
  std::function<void(const LoadSecond&)> on_second;
  std::function<void(std::vector<LoadOp>&&)> on_ops;
  int64_t start_ns = 0, end_ns = 0;

  mutable std::mutex mu;  // guards what follows
  std::condition_variable cv;
  bool workers_done = false;
  int64_t run_end_ns = 0;  // when the last worker ended (the last reply, or Stop())
  Counts totals;
  std::shared_ptr<Histogram> total_hist = std::make_shared<Histogram>();

  mutable std::mutex join_mu;  // serializes Start/Finish; `joined` and below also under mu
  bool started = false, joined = false;
  std::map<std::string, uint64_t> last_acked;
  std::vector<AckedWrite> acked_writes;
  uint64_t abandoned = 0, connects = 0, drops = 0;
  std::vector<std::string> error_examples;
  std::vector<TracedRequest> failed_traces, slowest_traces;
  std::vector<LoadStall> stalls;

  void Report();
};

void LoadGenerator::Impl::Report() {
  Histogram second_hist;
  std::vector<LoadOp> ops;
  // k counts history ticks (kOpsFlushNs); every kTicksPerSecond-th is a second boundary.
  for (int64_t k = 1;; ++k) {
    const int64_t tick = start_ns + k * kOpsFlushNs;
    bool finished;
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait_until(lock, std::chrono::steady_clock::time_point(std::chrono::nanoseconds(tick)),
                    [&] { return workers_done || stop.load() || MonotonicNs() >= tick; });
      finished = workers_done || stop.load();
    }
    if (finished) {
      // Workers may still be running after Stop(): wait for their last counts.
      for (auto& t : threads) t.join();
    }
    if (on_ops) {
      for (auto& w : workers) w->CollectOps(&ops);
      if (!ops.empty()) {
        on_ops(std::move(ops));
        ops.clear();
      }
    }
    if (!finished && k % kTicksPerSecond != 0) continue;
    const int64_t second = (k - 1) / kTicksPerSecond;
    Counts counts;
    second_hist.Reset();
    for (auto& w : workers) w->Collect(&counts, &second_hist);
    const int64_t now = MonotonicNs();
    {
      std::lock_guard<std::mutex> lock(mu);
      totals.sent += counts.sent;
      totals.ok += counts.ok;
      totals.errors += counts.errors;
      totals.timeouts += counts.timeouts;
      total_hist->Merge(second_hist);
    }
    if (finished && counts.empty()) return;
    if (on_second) {
      LoadSecond s;
      s.second = second;
      s.sent = counts.sent;
      s.ok = counts.ok;
      s.errors = counts.errors;
      s.timeouts = counts.timeouts;
      const int64_t span = std::min<int64_t>(kSecondNs, now - (start_ns + second * kSecondNs));
      s.rate = span > 0 ? static_cast<double>(counts.ok) * 1e9 / static_cast<double>(span) : 0;
      s.span_ns = span;
      s.p50_us = ToUs(second_hist.Percentile(50));
      s.p90_us = ToUs(second_hist.Percentile(90));
      s.p99_us = ToUs(second_hist.Percentile(99));
      s.p999_us = ToUs(second_hist.Percentile(99.9));
      s.max_us = ToUs(second_hist.Max());
      on_second(s);
    }
    if (finished) return;
  }
}

LoadGenerator::LoadGenerator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

LoadGenerator::~LoadGenerator() { Stop(); }

framework::Result<std::unique_ptr<LoadGenerator>> LoadGenerator::Create(const LoadConfig& config) {
  auto plan = MakeLoadPlan(config);
  if (!plan) return plan.error();
  auto impl = std::make_unique<Impl>();
  impl->plan = std::move(*plan);
  return std::unique_ptr<LoadGenerator>(new LoadGenerator(std::move(impl)));
}

void LoadGenerator::Start(std::function<void(const LoadSecond&)> on_second,
                          std::function<void(std::vector<LoadOp>&&)> on_ops) {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> join_lock(m.join_mu);
  if (m.started || m.stop.load()) return;
  m.on_second = std::move(on_second);
  m.on_ops = std::move(on_ops);
  {
    std::lock_guard<std::mutex> lock(m.mu);
    m.start_ns = MonotonicNs();
    m.end_ns = m.start_ns + m.plan.config.duration.count();
    m.started = true;
  }
  for (uint32_t i = 0; i < m.plan.threads; ++i)
    m.workers.push_back(std::make_unique<Worker>(m.plan, i, &m.stop, m.on_ops != nullptr));
  for (auto& w : m.workers) {
    m.threads.emplace_back([&m, worker = w.get()] {
      worker->Run(m.start_ns, m.end_ns);
      std::lock_guard<std::mutex> lock(m.mu);
      if (std::all_of(m.workers.begin(), m.workers.end(),
                      [](const auto& x) { return x->done(); })) {
        m.workers_done = true;
        m.run_end_ns = MonotonicNs();
        m.cv.notify_all();
      }
    });
  }
  m.reporter = std::thread([&m] { m.Report(); });
}

void LoadGenerator::Finish() {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.join_mu);
  if (!m.started || m.joined) return;
  m.reporter.join();  // it joins the workers
  std::lock_guard<std::mutex> data_lock(m.mu);
  m.joined = true;
  if (m.run_end_ns == 0) m.run_end_ns = MonotonicNs();
  std::vector<uint64_t> acked(m.plan.unique_keys ? 0 : m.plan.keys, 0);
  std::vector<int64_t> ack_ns(acked.size(), 0);
  for (auto& w : m.workers) {
    m.abandoned += w->abandoned;
    m.connects += w->connects;
    m.drops += w->drops;
    for (auto& e : w->error_examples)
      if (m.error_examples.size() < kMaxErrorExamples) m.error_examples.push_back(e);
    for (auto& t : w->failed_traces) {
      if (m.failed_traces.size() < kMaxTracedRequests) m.failed_traces.push_back(t);
    }
    m.slowest_traces.insert(m.slowest_traces.end(), w->slowest_traces.begin(),
                            w->slowest_traces.end());
    m.stalls.insert(m.stalls.end(), w->stalls.begin(), w->stalls.end());
    for (size_t k = 0; k < w->last_acked_.size(); ++k) {
      if (w->last_acked_[k] > acked[k]) {
        acked[k] = w->last_acked_[k];
        ack_ns[k] = w->last_ack_ns_[k];
      }
    }
    if (m.plan.kv) {
      for (const auto& [seq, ns] : w->acked_unique_)
        m.acked_writes.push_back({"k" + std::to_string(seq), seq, ns});
    }
  }
  for (const AckedWrite& a : m.acked_writes) m.last_acked[a.key] = a.seq;
  if (m.plan.kv) {
    for (size_t k = 0; k < acked.size(); ++k) {
      if (acked[k] == 0) continue;
      std::string key = "k" + std::to_string(k);
      m.last_acked[key] = acked[k];
      m.acked_writes.push_back({key, acked[k], ack_ns[k]});
    }
    std::sort(m.acked_writes.begin(), m.acked_writes.end(),
              [](const AckedWrite& a, const AckedWrite& b) { return a.key < b.key; });
  }
}

void LoadGenerator::Wait() { Finish(); }

void LoadGenerator::Stop() {
  impl_->stop.store(true);
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->cv.notify_all();
  }
  for (auto& w : impl_->workers) w->Wake();
  Finish();
}

LoadSummary LoadGenerator::Summary() const {
  const Impl& m = *impl_;
  LoadSummary s;
  std::lock_guard<std::mutex> lock(m.mu);
  s.sent = m.totals.sent;
  s.ok = m.totals.ok;
  s.errors = m.totals.errors;
  s.timeouts = m.totals.timeouts;
  s.abandoned = m.abandoned;
  s.connects = m.connects;
  s.drops = m.drops;
  const int64_t end = m.run_end_ns != 0 ? m.run_end_ns : MonotonicNs();
  s.elapsed_s = m.started ? static_cast<double>(end - m.start_ns) / 1e9 : 0;
  s.target_rate = m.plan.open_loop ? m.plan.config.rate : 0;
  if (s.elapsed_s > 0) {
    s.achieved_rate = static_cast<double>(s.ok) / s.elapsed_s;
    s.sent_rate = static_cast<double>(s.sent) / s.elapsed_s;
  }
  const Histogram& h = *m.total_hist;
  s.p50_us = ToUs(h.Percentile(50));
  s.p90_us = ToUs(h.Percentile(90));
  s.p99_us = ToUs(h.Percentile(99));
  s.p999_us = ToUs(h.Percentile(99.9));
  s.max_us = ToUs(h.Max());
  s.mean_us = h.Mean() / 1000.0;
  s.histogram = std::make_shared<const Histogram>(h);
  s.error_examples = m.error_examples;
  s.failed_traces = m.failed_traces;
  s.slowest_traces = m.slowest_traces;
  std::sort(
      s.slowest_traces.begin(), s.slowest_traces.end(),
      [](const TracedRequest& a, const TracedRequest& b) { return a.latency_us > b.latency_us; });
  if (s.slowest_traces.size() > kMaxTracedRequests) s.slowest_traces.resize(kMaxTracedRequests);
  s.stalls = m.stalls;
  std::sort(s.stalls.begin(), s.stalls.end(),
            [](const LoadStall& a, const LoadStall& b) { return a.start_ns < b.start_ns; });
  return s;
}

const std::map<std::string, uint64_t>& LoadGenerator::LastAckedPerKey() const {
  return impl_->last_acked;
}

std::vector<AckedWrite> LoadGenerator::LastAckedWrites() const { return impl_->acked_writes; }

}  // namespace duende::harness
