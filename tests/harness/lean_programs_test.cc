// Lean programs: only `duende mutate` maps libclang and LLVM, through the duende-mutate program
// that `duende mutate` executes; `duende version` and `duende supervise` map neither, and an
// idle supervisor stays small. Maps are read from /proc/PID/maps of the real processes: a
// short-lived one is stopped at its exit (ptrace PTRACE_EVENT_EXIT), when everything it ever
// loaded is still mapped.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/sanitizer_skip.h"

namespace {

namespace fs = std::filesystem;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool MapsLlvm(const std::string& maps) {
  return maps.find("libLLVM") != std::string::npos || maps.find("libclang") != std::string::npos;
}

class LeanProgramsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "duende-lean-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (supervisor_ > 0) {
      ::kill(supervisor_, SIGKILL);
      ::waitpid(supervisor_, nullptr, 0);
    }
    if (service_ > 0) ::kill(service_, SIGKILL);  // the supervisor's death kills it too
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // What a traced run left: its maps and executable at exit, its stdout and exit code.
  struct Traced {
    int code = -1;
    std::string maps;
    std::string exe;
    std::string out;
    std::string err;
  };

  // Runs argv (stdout and stderr to files) and stops it at its exit to read what it has
  // mapped: exec follows into helper programs, which keep the pid.
  Traced RunTraced(std::vector<std::string> argv) {
    Traced t;
    const std::string out_path = dir_ + "/out";
    const std::string err_path = dir_ + "/err";
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid == 0) {
      int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (out < 0 || err < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) ::_exit(126);
      ::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    EXPECT_GT(pid, 0);
    if (pid <= 0) return t;
    int status = 0;
    bool options_set = false;
    while (::waitpid(pid, &status, 0) == pid) {
      if (WIFEXITED(status) || WIFSIGNALED(status)) {
        t.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        break;
      }
      int forward = 0;
      if (!options_set) {  // the stop after the first execve
        ::ptrace(PTRACE_SETOPTIONS, pid, nullptr,
                 PTRACE_O_TRACEEXIT | PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL);
        options_set = true;
      } else if (status >> 8 == (SIGTRAP | (PTRACE_EVENT_EXIT << 8))) {
        t.maps = ReadFile("/proc/" + std::to_string(pid) + "/maps");
        std::error_code ec;
        t.exe = fs::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec).string();
      } else if (status >> 8 != (SIGTRAP | (PTRACE_EVENT_EXEC << 8))) {
        forward = WSTOPSIG(status);
      }
      ::ptrace(PTRACE_CONT, pid, nullptr, forward);
    }
    t.out = ReadFile(out_path);
    t.err = ReadFile(err_path);
    return t;
  }

  std::string dir_;
  pid_t supervisor_ = -1;
  pid_t service_ = -1;
};

TEST_F(LeanProgramsTest, VersionMapsNeitherLlvmNorLibclang) {
  Traced t = RunTraced({DUENDE_PATH, "version"});
  EXPECT_EQ(t.code, 0);
  EXPECT_EQ(t.out.rfind("duende ", 0), 0u) << t.out;
  ASSERT_NE(t.maps.find("libc.so"), std::string::npos) << "maps not read at exit:\n" << t.maps;
  EXPECT_FALSE(MapsLlvm(t.maps)) << t.maps;
}

TEST_F(LeanProgramsTest, SuperviseRunsItsOwnSmallProgramWithoutLlvm) {
  std::ofstream(dir_ + "/services.toml")
      << "[supervisor]\ncontrol_socket = \"ctl.sock\"\n\n[[service]]\nname = \"a\"\n"
         "command = [\"/bin/sleep\", \"1000\"]\n";
  pid_t pid = ::fork();
  if (pid == 0) {
    int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null < 0 || ::dup2(null, 2) < 0) ::_exit(126);
    ::execl(DUENDE_PATH, DUENDE_PATH, "supervise", "--quiet", (dir_ + "/services.toml").c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ASSERT_GT(pid, 0);
  supervisor_ = pid;
  // Up when the control socket exists and the service runs /bin/sleep.
  const std::string proc = "/proc/" + std::to_string(pid);
  const fs::path sleep = fs::canonical("/bin/sleep");
  for (int i = 0; i < 400 && service_ <= 0; ++i) {
    std::istringstream kids(ReadFile(proc + "/task/" + std::to_string(pid) + "/children"));
    pid_t kid = 0;
    std::error_code ec;
    if (fs::exists(dir_ + "/ctl.sock") && kids >> kid &&
        fs::read_symlink("/proc/" + std::to_string(kid) + "/exe", ec) == sleep) {
      service_ = kid;
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
  }
  ASSERT_GT(service_, 0) << "duende supervise did not start its service within 10 s";

  std::error_code ec;
  EXPECT_EQ(fs::read_symlink(proc + "/exe", ec), fs::path(DUENDE_SUPERVISE_PATH));
  const std::string maps = ReadFile(proc + "/maps");
  ASSERT_NE(maps.find("libc.so"), std::string::npos) << maps;
  EXPECT_FALSE(MapsLlvm(maps)) << maps;

  // Idle PSS: about 1.5 MiB in an optimised build (57 MB when one program linked LLVM for
  // mutate). The bound leaves room for debug and coverage builds; the figures are in DESIGN.md.
  DUENDE_SKIP_UNDER_SANITIZER("shadow memory inflates resident memory");
  std::istringstream rollup(ReadFile(proc + "/smaps_rollup"));
  long pss_kib = -1;
  for (std::string line; std::getline(rollup, line);) {
    if (line.rfind("Pss:", 0) == 0) pss_kib = std::stol(line.substr(4));
  }
  ASSERT_GT(pss_kib, 0);
  EXPECT_LT(pss_kib, 6 * 1024) << "duende supervise with one service holds " << pss_kib
                               << " KiB PSS";
}

TEST_F(LeanProgramsTest, MutateRunsInDuendeMutateWhichAloneLoadsLibclang) {
  // A one-file project (sources apart from the build dir, as mutate requires); --list only
  // parses it with libclang.
  fs::create_directories(dir_ + "/src");
  fs::create_directories(dir_ + "/build");
  std::ofstream(dir_ + "/src/CMakeLists.txt")
      << "cmake_minimum_required(VERSION 3.16)\nproject(calc CXX)\nadd_library(calc calc.cc)\n";
  std::ofstream(dir_ + "/src/calc.cc") << "int Above(int a, int b) { return a > b; }\n";
  std::ofstream(dir_ + "/build/compile_commands.json")
      << "[{\"directory\": \"" << dir_ << "/build\", \"file\": \"" << dir_
      << "/src/calc.cc\", \"command\": \"c++ -std=c++17 -c ../src/calc.cc -o calc.o\"}]\n";
  Traced t = RunTraced({DUENDE_PATH, "mutate", "--list", "-q", "-p", dir_ + "/build",
                        "--source-dir", dir_ + "/src"});
  EXPECT_EQ(t.code, 0) << t.out << t.err;
  EXPECT_NE(t.out.find("calc.cc:1:36: note: mutant 2: '>' -> '>='"), std::string::npos)
      << t.out << t.err;
  EXPECT_EQ(fs::path(t.exe), fs::path(DUENDE_MUTATE_PATH));
  EXPECT_NE(t.maps.find("libclang"), std::string::npos) << t.maps;
}

// An install-like tree beside the build (a hard link needs the same file system): bin/duende
// linked to the built one, and what a test puts in libexec/duende.
class HelperLookupTest : public LeanProgramsTest {
 protected:
  void SetUp() override {
    LeanProgramsTest::SetUp();
    std::string tmpl = std::string(DUENDE_BINARY_DIR) + "/duende-lean-tree-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    tree_ = tmpl;
    fs::create_directories(tree_ + "/bin");
    fs::create_directories(tree_ + "/libexec/duende");
    std::error_code ec;
    fs::create_hard_link(DUENDE_PATH, tree_ + "/bin/duende", ec);
    ASSERT_FALSE(ec) << "hard link of " << DUENDE_PATH << ": " << ec.message();
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(tree_, ec);
    LeanProgramsTest::TearDown();
  }
  // A stand-in helper: records that it ran and its arguments, exits 7.
  void WriteHelper(const std::string& path, fs::perms perms) {
    std::ofstream(path) << "#!/bin/sh\necho \"ran: $*\" > " << dir_ << "/ran\nexit 7\n";
    fs::permissions(path, perms);
  }
  std::string tree_;
};

TEST_F(HelperLookupTest, AnInstalledHelperGetsTheVerbsArgumentsAndGivesItsExitCode) {
  WriteHelper(tree_ + "/libexec/duende/duende-supervise",
              fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec);
  Traced t = RunTraced({tree_ + "/bin/duende", "supervise", "--quiet", "x.toml"});
  EXPECT_EQ(t.code, 7) << t.err;
  EXPECT_EQ(ReadFile(dir_ + "/ran"), "ran: --quiet x.toml\n");
}

TEST_F(HelperLookupTest, AMissingHelperIsAnEnvironmentErrorNamingWhereItLooked) {
  Traced t = RunTraced({tree_ + "/bin/duende", "mutate", "--help"});
  EXPECT_EQ(t.code, 3);
  EXPECT_NE(t.err.find("the duende-mutate program is neither at " + tree_ + "/bin/duende-mutate" +
                       " nor at " + tree_ + "/libexec/duende/duende-mutate"),
            std::string::npos)
      << t.err;
}

TEST_F(HelperLookupTest, AHelperOthersCouldRewriteIsNotRun) {
  // Group-writable beside duende: refused although a good one waits in libexec.
  WriteHelper(tree_ + "/bin/duende-mutate", fs::perms::owner_all | fs::perms::group_all);
  WriteHelper(tree_ + "/libexec/duende/duende-mutate", fs::perms::owner_all);
  Traced t = RunTraced({tree_ + "/bin/duende", "mutate", "--help"});
  EXPECT_EQ(t.code, 3);
  EXPECT_NE(t.err.find("refusing to run " + tree_ + "/bin/duende-mutate"), std::string::npos)
      << t.err;
  EXPECT_FALSE(fs::exists(dir_ + "/ran"));

  // Owned by another user (nobody), even with tight modes.
  if (::geteuid() != 0) GTEST_SKIP() << "chown to nobody needs root";
  WriteHelper(tree_ + "/libexec/duende/duende-supervise", fs::perms::owner_all);
  ASSERT_EQ(::chown((tree_ + "/libexec/duende/duende-supervise").c_str(), 65534, 65534), 0);
  t = RunTraced({tree_ + "/bin/duende", "supervise", "x.toml"});
  EXPECT_EQ(t.code, 3);
  EXPECT_NE(t.err.find("refusing to run " + tree_ + "/libexec/duende/duende-supervise"),
            std::string::npos)
      << t.err;
  EXPECT_FALSE(fs::exists(dir_ + "/ran"));
}

}  // namespace
