// `duende run` with syscall traces (docs/tracing.md), end to end on kvd: a real ENOSPC from a
// full tmpfs shows inside the fault window with the reply that followed, a restarted kvd is
// followed (calls of its second pid are recorded), and the failures a user can meet (strace
// missing, ptrace refused, a syscall name strace does not know) end with a clear message and
// the README's exit code, leaving no strace behind.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "duende/framework/proc.h"
#include "duende/framework/temp_dir.h"
#include "support/cli.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kDuende = std::string(DUENDE_BINARY_DIR) + "/harness/cli/duende";

struct Scratch {
  duende::framework::PrivateTempDir dir =
      duende::framework::PrivateTempDir::Make("duende-trace-test").value();
  std::string Write(const std::string& name, const std::string& text) const {
    std::ofstream(dir.path() + "/" + name) << text;
    return dir.path() + "/" + name;
  }
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The path printed after `label` on a line of its own, or "".
std::string PrintedPath(const std::string& out, const std::string& label) {
  const size_t at = out.find(label);
  if (at == std::string::npos) return "";
  const size_t start = at + label.size();
  return out.substr(start, out.find('\n', start) - start);
}

// Processes named strace that are children of nobody but init and were started after `since`:
// the run must leave none.
int StraceProcessesOfTest() {
  int n = 0;
  for (const auto& p : duende::framework::ListProcesses()) {
    std::string comm = ReadAll("/proc/" + std::to_string(p.pid) + "/comm");
    if (comm == "strace\n" && p.ppid == getpid()) ++n;
  }
  return n;
}

// kvd in a private mount namespace whose data directory is a 4 MiB tmpfs: the `disk` fault in
// mode full fills it, so kvd's WAL write gets a real ENOSPC from the kernel (what strace sees;
// a libfiu fault fails the call before it reaches the kernel). Values of 400 bytes make the WAL
// need a new tmpfs page every few writes (a write into a page it already has still succeeds).
std::string EnospcScenario(const std::string& data, const std::string& extra = "") {
  return R"(
[scenario]
name = "trace-enospc"
duration = "5s"
seed = 7

[[target]]
name = "kvd"
command = ["unshare", "-m", "--propagation", "private", "sh", "-c",
           "mount -t tmpfs -o size=4m tmpfs )" +
         data + " && exec " + KVD_PATH + " --port {port.kvd} --data-dir " + data + R"("]
address = "127.0.0.1:{port.kvd}"
trace = true
)" + extra +
         R"(

[load]
rate = 100
timeout = "300ms"
request = "SET {key} )" +
         std::string(400, 'x') + R"({seq}"
expect = "OK"

[[fault]]
name = "full"
kind = "disk"
mode = "full"
path = ")" +
         data + R"("
at = "1s"
duration = "1200ms"

[[fault]]
name = "kill"
kind = "kill"
signal = "SIGKILL"
at = "3s"
)";
}

TEST(TraceRunTest, EnospcInsideTheFaultWindowAndTheRestartIsFollowed) {
  if (geteuid() != 0) GTEST_SKIP() << "mounting the tmpfs needs root";
  Scratch s;
  const std::string data = s.dir.path() + "/data";
  ASSERT_EQ(mkdir(data.c_str(), 0700), 0);
  const std::string file = s.Write("enospc.toml", EnospcScenario(data));
  const std::string report = s.dir.path() + "/report.json";
  const std::string md = s.dir.path() + "/report.md";
  auto r = duende::testing::RunCli("NO_COLOR=1 " + kDuende + " run " + file + " --json " + report +
                                   " --markdown " + md);
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string traces = PrintedPath(r.out, "syscall traces: ");
  ASSERT_FALSE(traces.empty()) << r.out;
  json j = json::parse(ReadAll(report));
  const json& sc = j["scenarios"][0];
  ASSERT_TRUE(sc.contains("trace")) << sc.dump();
  const json& tr = sc["trace"];

  // The fault window of "full" holds a write/fsync that failed with ENOSPC, timed inside it,
  // and what kvd's thread called next.
  const json* window = nullptr;
  for (const auto& w : tr["windows"]) {
    if (w["fault"] == "full") window = &w;
  }
  ASSERT_NE(window, nullptr) << tr.dump();
  const int64_t start = (*window)["start_ns"], end = (*window)["end_ns"];
  bool enospc = false;
  for (const auto& c : (*window)["calls"]) {
    if (c["errno"] != "ENOSPC") continue;
    const std::string name = c["name"];
    EXPECT_TRUE(name == "write" || name == "pwrite64" || name == "writev" || name == "fsync" ||
                name == "fdatasync")
        << name;
    EXPECT_GE(c["t_ns"].get<int64_t>(), start);
    EXPECT_LE(c["t_ns"].get<int64_t>(), end);
    EXPECT_FALSE(c["next"].empty()) << c.dump();
    enospc = true;
  }
  EXPECT_TRUE(enospc) << window->dump(2);
  // kvd answered the failed SET: an "ERR" reply was written to a client in the window.
  EXPECT_NE(window->dump().find("ERR"), std::string::npos) << window->dump(2);

  // The restart after the kill was followed: two processes traced, the second one's file has
  // calls of its own pid.
  const json& sum = tr["syscalls"]["kvd"];
  ASSERT_EQ(sum["pids"].size(), 2u) << sum.dump();
  const std::string second = std::to_string(sum["pids"][1].get<int>());
  const std::string text = ReadAll(traces + "/kvd." + second + ".strace");
  EXPECT_NE(text.find(second + " "), std::string::npos);
  EXPECT_GT(sum["calls"].get<int64_t>(), 100);
  bool write_row = false;
  for (const auto& row : sum["syscalls"]) {
    if (row["name"] == "write" || row["name"] == "pwrite64") {
      write_row = row["errors"].get<int64_t>() > 0;
    }
  }
  EXPECT_TRUE(write_row) << sum.dump();

  // The Markdown and console reports show it too.
  const std::string m = ReadAll(md);
  EXPECT_NE(m.find("Syscalls in fault `full`"), std::string::npos) << m;
  EXPECT_NE(m.find("ENOSPC"), std::string::npos);
  EXPECT_NE(r.out.find("syscalls of kvd"), std::string::npos) << r.out;
  EXPECT_EQ(StraceProcessesOfTest(), 0);
  fs::remove_all(fs::path(traces).parent_path());
}

// A one-second scenario with kvd (found next to duende) and `target_keys` in its [[target]].
std::string KvdScenario(const std::string& target_keys) {
  return R"([scenario]
name = "t"
duration = "1s"

[[target]]
name = "kvd"
command = ["duende-fixture-kvd", "--port", "{port.kvd}", "--data-dir", "{run_dir}/kvd"]
address = "127.0.0.1:{port.kvd}"
)" + target_keys;
}

TEST(TraceRunTest, StraceMissingIsAnEnvironmentErrorWithThePosition) {
  Scratch s;
  const std::string file = s.Write("t.toml", KvdScenario("trace = true\n"));
  // A PATH without strace (the fixture is found next to duende).
  auto r = duende::testing::RunCli("PATH=" + s.dir.path() + " " + kDuende + " run " + file);
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_NE(r.out.find(file + ":9:9: trace = true on target kvd needs strace"), std::string::npos)
      << r.out;
}

TEST(TraceRunTest, RefusedPtraceEndsTheRunWithExit3AndNoStraceLeft) {
  Scratch s;
  // A stand-in strace that fails as the real one does when ptrace is denied (a container's
  // seccomp policy, kernel.yama.ptrace_scope = 3).
  const std::string bin = s.dir.path() + "/bin";
  ASSERT_EQ(mkdir(bin.c_str(), 0700), 0);
  s.Write("bin/strace",
          "#!/bin/sh\n"
          "for a; do p=$a; done\n"
          "echo \"strace: attach: ptrace(PTRACE_SEIZE, $p): Operation not permitted\" >&2\n"
          "exit 1\n");
  chmod((bin + "/strace").c_str(), 0700);
  const std::string file = s.Write("t.toml", KvdScenario(""));
  auto r =
      duende::testing::RunCli("PATH=" + bin + ":/usr/bin:/bin " + kDuende + " run --trace " + file);
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_NE(r.out.find("strace could not trace pid"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Operation not permitted"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("CAP_SYS_PTRACE"), std::string::npos) << r.out;
  EXPECT_EQ(StraceProcessesOfTest(), 0);
  // The run did not pass, so its directory (event log, logs) was kept: remove it.
  const std::string kept = PrintedPath(r.out, "run directory (kept: the run did not pass): ");
  if (kept.rfind(duende::framework::TempDir() + "/duende-run-", 0) == 0) fs::remove_all(kept);
}

TEST(TraceRunTest, UnknownSyscallNameIsBadInputAtItsElement) {
  Scratch s;
  const std::string file =
      s.Write("t.toml", KvdScenario("trace = true\ntrace_syscalls = [\"fsync\", \"fsynk\"]\n"));
  auto r = duende::testing::RunCli(kDuende + " run " + file);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find(file + ":10:28: trace_syscalls: \"fsynk\" is not a system call"),
            std::string::npos)
      << r.out;
}

}  // namespace
