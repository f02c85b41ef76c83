#include "helper_program.h"

#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <iostream>

#include "cli_util.h"
#include "duende/framework/exit_code.h"

extern char** environ;

namespace duende::cli {
namespace {

namespace fs = std::filesystem;

// Where an install puts the helper programs, relative to the directory of `duende` (CMake
// computes it from the install dirs; by default "../libexec/duende").
#ifndef DUENDE_HELPER_INSTALL_DIR
#define DUENDE_HELPER_INSTALL_DIR "../libexec/duende"
#endif

// A candidate is usable when it is an executable regular file that nobody but its owner can
// rewrite, owned by root or by us: as root we must not run what another user could replace.
framework::Result<bool> Usable(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return false;
  if (!S_ISREG(st.st_mode) || ::access(p.c_str(), X_OK) != 0) return false;
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 || (st.st_uid != 0 && st.st_uid != ::geteuid())) {
    return framework::MessageError("refusing to run " + p.string() +
                                       ": it is writable by group/others or owned by another "
                                       "user (chmod go-w / chown it, or reinstall duende)",
                                   std::errc::operation_not_permitted);
  }
  return true;
}

std::vector<char*> Argv(const std::string& name, std::vector<std::string>& args) {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(name.c_str()));
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return argv;
}

}  // namespace

framework::Result<std::string> FindHelperProgram(const std::string& name) {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return framework::ErrnoError("unable to read /proc/self/exe", ec.value());
  const fs::path dir = self.parent_path();
  const fs::path candidates[] = {dir / name,
                                 (dir / DUENDE_HELPER_INSTALL_DIR / name).lexically_normal()};
  for (const fs::path& c : candidates) {
    auto usable = Usable(c);
    if (!usable.ok()) return usable.error();
    if (*usable) return c.string();
  }
  return framework::MessageError("the " + name + " program is neither at " +
                                     candidates[0].string() + " nor at " + candidates[1].string() +
                                     " (build the " + name + " target, or reinstall duende)",
                                 std::errc::no_such_file_or_directory);
}

framework::Result<int> RunHelperProgram(const std::string& name,
                                        const std::vector<std::string>& args) {
  auto path = FindHelperProgram(name);
  if (!path.ok()) return path.error();
  std::vector<std::string> copy = args;
  std::vector<char*> argv = Argv(name, copy);
  std::cout.flush();
  std::cerr.flush();
  pid_t pid = 0;
  if (int err = ::posix_spawn(&pid, path->c_str(), nullptr, nullptr, argv.data(), environ);
      err != 0) {
    return framework::ErrnoError("unable to spawn " + *path, err);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return framework::ErrnoError("unable to wait for " + *path);
  }
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

int ExecHelperProgram(const std::string& name, int argc, char** argv) {
  auto path = FindHelperProgram(name);
  if (!path.ok()) {
    PrintError(path.error().Message());
    return framework::kExitEnvironment;
  }
  std::vector<std::string> args(argv + 1, argv + argc);
  std::vector<char*> exec_argv = Argv(name, args);
  std::cout.flush();
  std::cerr.flush();
  ::execv(path->c_str(), exec_argv.data());
  PrintError(framework::ErrnoError("unable to run " + *path).Message());
  return framework::kExitEnvironment;
}

}  // namespace duende::cli
