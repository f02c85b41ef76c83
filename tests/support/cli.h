// Running command lines in tests (the duende CLI, tools such as xmllint) and capturing their
// exit code and output.
#pragma once

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "duende/framework/process.h"
#include "duende/framework/unique_fd.h"

namespace duende::testing {

struct CliResult {
  int code = -1;
  std::string out;  ///< stdout and stderr together
};

/// Runs `command` with /bin/sh (tests only), stderr merged into stdout. code: the exit code,
/// -1 when killed by a signal or not started.
inline CliResult RunCli(const std::string& command) {
  CliResult r;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

struct CommandOutput {
  int code = -1;    ///< exit code; 128+N when killed by signal N; -1 when it did not start
  std::string out;  ///< stdout
  std::string err;  ///< stderr
};

/// Runs `argv` (no shell) in `cwd` ("" = ours) with `env` ("NAME=value") added to the
/// environment, stdout and stderr captured apart, and waits for it.
inline CommandOutput RunArgv(const std::vector<std::string>& argv, const std::string& cwd = "",
                             const std::vector<std::string>& env = {}) {
  CommandOutput r;
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return r;
  framework::UniqueFd out_r(out[0]), out_w(out[1]);
  if (::pipe2(err, O_CLOEXEC) != 0) return r;
  framework::UniqueFd err_r(err[0]), err_w(err[1]);
  framework::SpawnOptions o;
  o.argv = argv;
  o.working_dir = cwd;
  o.env_overrides = env;
  o.stdout_fd = out_w.get();
  o.stderr_fd = err_w.get();
  auto child = framework::Spawn(o);
  out_w.Reset();
  err_w.Reset();
  if (!child.ok()) {
    r.err = child.error().Message();
    return r;
  }
  auto drain = [](int fd, std::string* to) {
    char buf[4096];
    ssize_t n = 0;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) to->append(buf, static_cast<size_t>(n));
  };
  std::thread t([&] { drain(err_r.get(), &r.err); });
  drain(out_r.get(), &r.out);
  t.join();
  auto st = framework::WaitExit(child->pidfd.get());
  if (st.ok()) r.code = st->signaled ? 128 + st->signal : st->code;
  return r;
}

}  // namespace duende::testing
