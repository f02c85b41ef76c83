// Runs a command line for CLI tests and captures its exit code and output.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace duende::testing {

struct CliResult {
  int code = -1;
  std::string out;  ///< stdout and stderr together
};

/// Runs `command` with /bin/sh (tests only), stderr merged into stdout.
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

}  // namespace duende::testing
