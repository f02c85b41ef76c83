#include "duende/adapters/command.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include "duende/framework/clock.h"
#include "duende/framework/unique_fd.h"

namespace duende::adapters {

using framework::ErrnoError;
using framework::Error;
using framework::Result;
using framework::UniqueFd;

Result<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                 const CommandOptions& options) {
  if (argv.empty()) return framework::MessageError("RunCommand: empty argv");
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return ErrnoError("unable to create a pipe");
  UniqueFd out_r(out_pipe[0]), out_w(out_pipe[1]);
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return ErrnoError("unable to create a pipe");
  UniqueFd err_r(err_pipe[0]), err_w(err_pipe[1]);

  framework::SpawnOptions so;
  so.argv = argv;
  so.env_overrides = options.env_overrides;
  so.stdout_fd = out_w.get();
  so.stderr_fd = err_w.get();
  so.parent_death_signal = SIGKILL;
  auto child = framework::Spawn(so);
  if (!child.ok()) return child.error();
  out_w.Reset();
  err_w.Reset();

  CommandResult result;
  const int64_t deadline = framework::MonotonicNs() + options.timeout.count();
  bool timed_out = false;
  pollfd fds[2] = {{out_r.get(), POLLIN, 0}, {err_r.get(), POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  while (open_fds > 0) {
    int64_t left_ms = (deadline - framework::MonotonicNs()) / 1'000'000;
    if (left_ms <= 0) {
      timed_out = true;
      break;
    }
    int n = ::poll(fds, 2, static_cast<int>(std::min<int64_t>(left_ms, 1'000'000)));
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      ssize_t r = ::read(fds[i].fd, buf, sizeof(buf));
      if (r > 0) {
        sinks[i]->append(buf, static_cast<size_t>(r));
      } else if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) {
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  if (timed_out) {
    ::kill(-child->pid, SIGKILL);
    (void)framework::SignalPidfd(child->pidfd.get(), SIGKILL);
  }
  auto status = framework::WaitExit(child->pidfd.get());
  if (!status.ok()) return status.error();
  if (timed_out) {
    return Error{std::make_error_code(std::errc::timed_out),
                 argv[0] + " timed out after " + framework::FormatDuration(options.timeout)};
  }
  result.status = *status;
  return result;
}

Result<CommandResult> RunChecked(const std::vector<std::string>& argv,
                                 const CommandOptions& options) {
  auto r = RunCommand(argv, options);
  if (!r.ok()) return r.error();
  if (!r->status.success()) {
    std::string line = r->err.substr(0, r->err.find('\n'));
    std::string cmd;
    for (size_t i = 0; i < argv.size() && i < 4; ++i) cmd += (i ? " " : "") + argv[i];
    return Error{
        std::make_error_code(std::errc::io_error),
        cmd + " failed (" + r->status.ToString() + ")" + (line.empty() ? "" : ": ") + line};
  }
  return r;
}

}  // namespace duende::adapters
