#include "syscall_tracer.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "duende/framework/clock.h"
#include "duende/framework/process.h"
#include "duende/framework/read_limits.h"

namespace duende::harness::internal {

namespace {

int64_t ClockNs(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// The offset between strace's -ttt clock (CLOCK_REALTIME) and the event log's
// (CLOCK_MONOTONIC): the realtime read sandwiched between two monotonic reads, the tightest of
// a few tries (a preemption between the reads would widen the error).
int64_t WallMinusMono() {
  int64_t best_gap = INT64_MAX, best = 0;
  for (int i = 0; i < 5; ++i) {
    int64_t a = ClockNs(CLOCK_MONOTONIC);
    int64_t w = ClockNs(CLOCK_REALTIME);
    int64_t b = ClockNs(CLOCK_MONOTONIC);
    if (b - a < best_gap) {
      best_gap = b - a;
      best = w - (a + (b - a) / 2);
    }
  }
  return best;
}

// strace's own messages (its stderr), to read whether it attached and why it did not.
std::string ReadMessages(const std::string& path) {
  auto text = framework::ReadFileLimited(path, 1 << 16);
  return text.ok() ? *text : std::string();
}

std::string FirstStraceError(const std::string& messages) {
  size_t pos = 0;
  while (pos < messages.size()) {
    size_t nl = messages.find('\n', pos);
    std::string line = messages.substr(pos, nl == std::string::npos ? nl : nl - pos);
    pos = nl == std::string::npos ? messages.size() : nl + 1;
    if (line.find(" attached") != std::string::npos || line.find(" detached") != std::string::npos)
      continue;
    if (!line.empty()) return line;
  }
  return "";
}

}  // namespace

struct SyscallTracer::Live {
  Trace t;
  framework::UniqueFd out;    // read end of strace's -o pipe
  framework::UniqueFd file;   // the raw trace file
  framework::UniqueFd pidfd;  // strace's
  std::string messages_path;  // strace's stderr
  bool exited = false;
};

framework::Result<std::unique_ptr<SyscallTracer>> SyscallTracer::Create(Options options,
                                                                        Notify on_attach,
                                                                        Notify on_error) {
  if (::mkdir(options.dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return framework::ErrnoError("unable to create " + options.dir);
  }
  std::unique_ptr<SyscallTracer> t(new SyscallTracer(std::move(options)));
  t->on_attach_ = std::move(on_attach);
  t->on_error_ = std::move(on_error);
  t->wake_ = framework::UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!t->wake_) return framework::ErrnoError("eventfd");
  t->offset_ns_ = WallMinusMono();
  t->thread_ = std::thread([p = t.get()] { p->Loop(); });
  return t;
}

SyscallTracer::SyscallTracer(Options options) : o_(std::move(options)) {}

SyscallTracer::~SyscallTracer() { Stop(); }

void SyscallTracer::Attach(const std::string& target, pid_t pid,
                           const std::vector<std::string>& syscalls) {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    queue_.push_back({target, pid, syscalls});
  }
  uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
}

void SyscallTracer::Stop() {
  if (stopped_) return;
  stopped_ = true;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
  if (thread_.joinable()) thread_.join();
}

std::vector<SyscallTracer::Trace> SyscallTracer::Traces() {
  std::lock_guard lock(mu_);
  return done_;
}

void SyscallTracer::SpawnOne(const std::string& target, pid_t pid,
                             const std::vector<std::string>& syscalls) {
  auto l = std::make_unique<Live>();
  l->t.target = target;
  l->t.pid = pid;
  const std::string base = o_.dir + "/" + target + "." + std::to_string(pid);
  l->t.file = base + ".strace";
  l->messages_path = base + ".stderr";
  auto fail = [&](std::string why) {
    l->t.error = std::move(why);
    if (on_error_) on_error_(l->t);
    std::lock_guard lock(mu_);
    done_.push_back(l->t);
  };
  constexpr int kFlags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  l->file = framework::UniqueFd(::open(l->t.file.c_str(), kFlags, 0600));
  framework::UniqueFd err(::open(l->messages_path.c_str(), kFlags, 0600));
  if (!l->file || !err) {
    fail("unable to create " + l->t.file + ": " + std::strerror(errno));
    return;
  }
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) {
    fail(std::string("pipe2: ") + std::strerror(errno));
    return;
  }
  l->out = framework::UniqueFd(p[0]);
  framework::UniqueFd w(p[1]);
  framework::SpawnOptions so;
  // -ttt: CLOCK_REALTIME seconds.micros (converted with the recorded offset); -T: time in
  // the call; -f: every thread and child; -qq: no "exited with" lines in the trace itself.
  so.argv = {o_.strace, "-f", "-ttt", "-T", "-s", "48", "-o", "/proc/self/fd/3"};
  if (!syscalls.empty()) {
    std::string set = "trace=";
    for (size_t i = 0; i < syscalls.size(); ++i) set += (i ? "," : "") + syscalls[i];
    so.argv.insert(so.argv.end(), {"-e", set});
  }
  so.argv.insert(so.argv.end(), {"-p", std::to_string(pid)});
  so.pass_fds = {{w.get(), 3}};
  so.stderr_fd = err.get();
  so.stdout_fd = -1;
  // Ends with duende (this thread lives until Stop): a killed run leaves no strace behind, and
  // the kernel detaches the target, which runs on untraced.
  so.parent_death_signal = SIGKILL;
  auto child = framework::Spawn(so);
  if (!child.ok()) {
    fail("unable to start strace: " + child.error().Message());
    return;
  }
  l->t.strace_pid = child->pid;
  l->pidfd = std::move(child->pidfd);
  ::fcntl(l->out.get(), F_SETFL, O_NONBLOCK);
  live_.push_back(std::move(l));
}

void SyscallTracer::Drain(Live& l, bool until_eof) {
  char buf[1 << 16];
  while (true) {
    ssize_t n = ::read(l.out.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0 || !until_eof) return;
      // EAGAIN while strace's last write is on its way: wait for it briefly.
      pollfd pf{l.out.get(), POLLIN, 0};
      if (::poll(&pf, 1, 200) <= 0) return;
      continue;
    }
    uint64_t& total = bytes_[l.t.target];
    const uint64_t room = total < o_.max_bytes ? o_.max_bytes - total : 0;
    // Whole lines only, so a cut file still parses: keep up to the last newline that fits.
    size_t keep = static_cast<size_t>(std::min<uint64_t>(room, static_cast<uint64_t>(n)));
    if (keep < static_cast<size_t>(n)) {
      while (keep > 0 && buf[keep - 1] != '\n') --keep;
    }
    if (keep > 0) {
      (void)!::write(l.file.get(), buf, keep);
      l.t.bytes += keep;
      total += keep;
    }
    l.t.dropped += static_cast<uint64_t>(n) - keep;
    if (keep < static_cast<size_t>(n)) total = o_.max_bytes;  // the cap holds from here on
  }
}

void SyscallTracer::Finish(Live& l) {
  Drain(l, true);
  (void)framework::WaitExit(l.pidfd.get());
  const std::string msgs = ReadMessages(l.messages_path);
  const std::string mark = "Process " + std::to_string(l.t.pid) + " attached";
  if (!l.t.attached && msgs.find(mark) != std::string::npos) {
    l.t.attached = true;
    if (on_attach_) on_attach_(l.t);
  }
  if (!l.t.attached) {
    std::string why = FirstStraceError(msgs);
    l.t.error = why.empty() ? "strace exited without attaching" : why;
    if (on_error_) on_error_(l.t);
  }
  l.exited = true;
  std::lock_guard lock(mu_);
  done_.push_back(l.t);
}

void SyscallTracer::Loop() {
  int64_t kill_at = 0;  // after Stop: when the stragglers get SIGKILL
  bool termed = false;
  while (true) {
    std::vector<Request> reqs;
    bool stop = false;
    {
      std::lock_guard lock(mu_);
      reqs.swap(queue_);
      stop = stop_;
    }
    if (!stop) {
      for (auto& r : reqs) SpawnOne(r.target, r.pid, r.syscalls);
    }
    if (stop && !termed) {
      termed = true;
      kill_at = framework::MonotonicNs() + 2'000'000'000;
      for (auto& l : live_) (void)framework::SignalPidfd(l->pidfd.get(), SIGTERM);
    }
    if (stop && framework::MonotonicNs() >= kill_at) {
      for (auto& l : live_) (void)framework::SignalPidfd(l->pidfd.get(), SIGKILL);
    }
    // Attach confirmations (strace's stderr), for the trace.started event.
    bool waiting_attach = false;
    for (auto& l : live_) {
      if (l->t.attached) continue;
      const std::string mark = "Process " + std::to_string(l->t.pid) + " attached";
      if (ReadMessages(l->messages_path).find(mark) != std::string::npos) {
        l->t.attached = true;
        if (on_attach_) on_attach_(l->t);
      } else {
        waiting_attach = true;
      }
    }
    std::vector<pollfd> fds;
    fds.push_back({wake_.get(), POLLIN, 0});
    for (auto& l : live_) {
      fds.push_back({l->out.get(), POLLIN, 0});
      fds.push_back({l->pidfd.get(), POLLIN, 0});
    }
    if (stop && live_.empty()) break;
    const int timeout = waiting_attach || stop ? 20 : 500;
    int n = ::poll(fds.data(), fds.size(), timeout);
    if (n < 0 && errno != EINTR) break;
    if (fds[0].revents & POLLIN) {
      uint64_t v;
      (void)!::read(wake_.get(), &v, sizeof v);
    }
    for (size_t i = 0; i < live_.size(); ++i) {
      if (fds[1 + 2 * i].revents & (POLLIN | POLLHUP)) Drain(*live_[i], false);
      if (fds[2 + 2 * i].revents & POLLIN) Finish(*live_[i]);
    }
    live_.erase(std::remove_if(live_.begin(), live_.end(), [](const auto& l) { return l->exited; }),
                live_.end());
  }
}

}  // namespace duende::harness::internal
