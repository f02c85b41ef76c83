// ReadBack: after recovery, read every acknowledged key once and compare with its last
// acknowledged seq.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <thread>

#include "duende/framework/clock.h"
#include "duende/framework/unique_fd.h"
#include "duende/harness/load.h"
#include "duende/harness/load_protocol.h"
#include "load_internal.h"

namespace duende::harness {

using framework::MonotonicNs;
using framework::UniqueFd;

namespace {

constexpr size_t kMaxLostExamples = 10;
// Read-back parallelism and budget (docs/load.md): with unique keys there is one key per
// acknowledged write, so a long run at a high rate has many; 8 connections read ~100k keys a
// second from kvd on loopback, and 30 s bounds the whole read-back.
constexpr size_t kKeysPerShard = 2000;
constexpr size_t kMaxShards = 8;
constexpr int64_t kReadbackBudgetNs = 30'000'000'000;

// One blocking request/reply connection with a per-request deadline.
class Client {
 public:
  explicit Client(const LoadPlan& plan) : plan_(plan) {}

  framework::Result<void> Connect(int64_t deadline) {
    fd_ = UniqueFd(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd_) return framework::ErrnoError("socket");
    int one = 1;
    setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    in_.clear();
    if (connect(fd_.get(), reinterpret_cast<const sockaddr*>(&plan_.addr), sizeof(plan_.addr)) == 0)
      return {};
    if (errno != EINPROGRESS) return Fail("connect " + plan_.config.address);
    DUENDE_TRY(WaitFor(POLLOUT, deadline, "connect " + plan_.config.address));
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      fd_.Reset();
      return framework::ErrnoError("connect " + plan_.config.address, err);
    }
    return {};
  }

  bool connected() const { return fd_.valid(); }

  framework::Result<void> Call(const std::string& request, Reply* reply, int64_t deadline) {
    size_t off = 0;
    while (off < request.size()) {
      const ssize_t n = send(fd_.get(), request.data() + off, request.size() - off, MSG_NOSIGNAL);
      if (n > 0) {
        off += static_cast<size_t>(n);
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        DUENDE_TRY(WaitFor(POLLOUT, deadline, "send"));
      } else {
        return Fail("send");
      }
    }
    for (;;) {
      const int64_t used = ParseReply(plan_.protocol, plan_.builder.framing, in_, reply);
      if (used > 0) {
        in_.erase(0, static_cast<size_t>(used));
        if (reply->close) fd_.Reset();
        return {};
      }
      if (used < 0) {
        fd_.Reset();
        return framework::MessageError("malformed reply from " + plan_.config.address,
                                       std::errc::bad_message);
      }
      char buf[16384];
      const ssize_t n = recv(fd_.get(), buf, sizeof(buf), 0);
      if (n > 0) {
        in_.append(buf, static_cast<size_t>(n));
      } else if (n == 0) {
        fd_.Reset();
        return framework::MessageError("connection closed by " + plan_.config.address,
                                       std::errc::connection_reset);
      } else if (errno == EAGAIN || errno == EINTR) {
        DUENDE_TRY(WaitFor(POLLIN, deadline, "no reply from " + plan_.config.address));
      } else {
        return Fail("recv");
      }
    }
  }

 private:
  framework::Error Fail(const std::string& what) {
    const int err = errno;
    fd_.Reset();
    return framework::ErrnoError(what, err);
  }

  framework::Result<void> WaitFor(short events, int64_t deadline, const std::string& what) {
    for (;;) {
      const int64_t left = deadline - MonotonicNs();
      if (left <= 0) {
        fd_.Reset();
        return framework::ErrnoError(what, ETIMEDOUT);
      }
      pollfd p{fd_.get(), events, 0};
      const int r = poll(&p, 1, static_cast<int>(std::max<int64_t>(1, left / 1'000'000)));
      if (r > 0) return {};
      if (r < 0 && errno != EINTR) return Fail(what);
    }
  }

  const LoadPlan& plan_;
  UniqueFd fd_;
  std::string in_;
};

bool KeyIndex(const std::string& key, uint64_t* index) {
  if (key.size() < 2 || key[0] != 'k') return false;
  auto [ptr, ec] = std::from_chars(key.data() + 1, key.data() + key.size(), *index);
  return ec == std::errc() && ptr == key.data() + key.size();
}

}  // namespace

namespace {

// One shard of the read-back: its own connection, a slice of the keys.
struct Shard {
  std::vector<std::pair<std::string, uint64_t>> keys;  // key, last acknowledged seq
  ReadbackResult result;
  std::optional<framework::Error> error;
};

void ReadShard(const LoadPlan& plan, const RequestTemplate& extractor, uint32_t client,
               int64_t overall_deadline, Shard* shard) {
  const int64_t timeout = plan.config.timeout.count();
  // A target that just restarted may refuse or drop the first attempts: each key is retried
  // until no key made progress for max(1 s, 10 timeouts).
  const int64_t patience = std::max<int64_t>(1'000'000'000, 10 * timeout);
  int64_t give_up = std::min(overall_deadline, MonotonicNs() + patience);
  Client conn(plan);
  std::string request;
  Reply reply;
  ReadbackResult& result = shard->result;
  for (const auto& [key, acked] : shard->keys) {
    uint64_t index = 0;
    if (!KeyIndex(key, &index)) {
      shard->error =
          framework::MessageError("read-back: key '" + key + "' is not one of the load's");
      return;
    }
    plan.builder.Build(TemplateValues{0, index}, &request);
    framework::Error last_error;
    int64_t invoke = 0;
    for (bool done = false; !done;) {
      const int64_t now = MonotonicNs();
      if (now >= give_up) {
        const bool budget = now >= overall_deadline;
        shard->error =
            framework::Error{budget ? std::make_error_code(std::errc::timed_out) : last_error.code,
                             "read-back of " + key + " failed: " +
                                 (budget ? std::string("the read-back's 30 s budget ran out")
                                         : last_error.Message())};
        return;
      }
      if (!conn.connected()) {
        auto c = conn.Connect(std::min(give_up, now + timeout));
        if (!c) {
          last_error = c.error();
          usleep(20'000);
          continue;
        }
      }
      invoke = MonotonicNs();
      auto r = conn.Call(request, &reply, std::min(give_up, invoke + timeout));
      if (!r) {
        last_error = r.error();
        continue;
      }
      done = true;
    }
    const int64_t complete = MonotonicNs();
    give_up = std::min(overall_deadline, complete + patience);
    ++result.keys;
    uint64_t seq = 0;
    const bool found = reply.protocol_ok && extractor.Match(reply.text, index, &seq);
    LoadOp op{client, invoke, complete, OpOutcome::kOk, index, 0, {}, found ? seq : 0, {},
              {},     {},     {}};
    if (acked == 0) {
      result.reads.push_back(std::move(op));
      continue;
    }
    ++result.acked_writes;
    if (!found || seq < acked) {
      op.text = TruncateOpText(reply.text);
      ++result.lost;
      if (result.lost_examples.size() < kMaxLostExamples)
        result.lost_examples.emplace_back(key, acked, reply.text);
    }
    result.reads.push_back(std::move(op));
  }
}

}  // namespace

framework::Result<ReadbackResult> ReadBack(const LoadConfig& config,
                                           const std::map<std::string, uint64_t>& last_acked) {
  if (config.read_template.empty())
    return framework::MessageError("load.read_template: empty (e.g. \"GET {key}\")");
  const RequestTemplate extractor(config.read_expect, config.value);
  if (!extractor.has_seq())
    return framework::MessageError("load.read_expect: '" + config.read_expect +
                                   "' has no {seq} (e.g. \"VALUE {seq}\")");
  // The generator's validation, minus what only concerns sending load.
  LoadConfig plan_config = config;
  plan_config.write_template.clear();
  plan_config.expect.clear();
  plan_config.mode = "closed";
  plan_config.request = config.read_template;
  auto plan = MakeLoadPlan(plan_config);
  if (!plan) return plan.error();
  plan->builder.body = RequestTemplate(config.read_template, config.value);
  if (auto f = ValidateFraming(config.read_reply); !f)
    return framework::MessageError("load.read_reply: " + f.error().context);
  plan->builder.framing = config.read_reply;
  if (plan->protocol == LoadProtocol::kHttp) {
    // HTTP reads are GETs of the read template as the path ("/kv/{key}").
    plan->builder.path = RequestTemplate(config.read_template);
    plan->builder.method = "GET";
  }

  // Bounded in time: a few connections in parallel (one per kKeysPerShard keys, at most
  // kMaxShards), and kReadbackBudgetNs for all of it.
  const size_t shards = std::clamp<size_t>(last_acked.size() / kKeysPerShard, 1, kMaxShards);
  std::vector<Shard> parts(shards);
  size_t i = 0;
  for (const auto& entry : last_acked) parts[i++ % shards].keys.push_back(entry);
  const int64_t deadline = MonotonicNs() + kReadbackBudgetNs;
  std::vector<std::thread> threads;
  for (size_t s = 1; s < shards; ++s)
    threads.emplace_back(ReadShard, std::cref(*plan), std::cref(extractor),
                         static_cast<uint32_t>(s), deadline, &parts[s]);
  ReadShard(*plan, extractor, 0, deadline, &parts[0]);
  for (auto& t : threads) t.join();

  ReadbackResult result;
  for (Shard& part : parts) {
    if (part.error) return *part.error;
    result.keys += part.result.keys;
    result.acked_writes += part.result.acked_writes;
    result.lost += part.result.lost;
    for (auto& ex : part.result.lost_examples)
      if (result.lost_examples.size() < kMaxLostExamples) result.lost_examples.push_back(ex);
    result.reads.insert(result.reads.end(), std::make_move_iterator(part.result.reads.begin()),
                        std::make_move_iterator(part.result.reads.end()));
  }
  return result;
}

}  // namespace duende::harness
