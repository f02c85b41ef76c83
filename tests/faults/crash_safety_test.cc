// A harness-like process is killed with SIGKILL in the middle of each fault kind; the undo
// journal it left must let HealLeftovers() remove everything: processes, cgroups, FIFOs,
// mounts, stopped targets, lowered limits, borrowed cgroups.
#include <glob.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "duende/faults/launch.h"
#include "duende/faults/undo_journal.h"
#include "duende/framework/cgroup.h"
#include "support/fault_child.h"

namespace duende::faults {
namespace {

namespace fs = std::filesystem;

struct Entry {
  std::string type;
  std::vector<std::string> args;
};

std::vector<Entry> ReadEntries(const std::string& dir) {
  std::vector<Entry> out;
  for (const auto& f : fs::directory_iterator(dir)) {
    std::ifstream in(f.path());
    std::string line;
    while (std::getline(in, line)) {
      auto parsed = ParseJournalLine(line);
      if (!parsed.ok() || parsed->kind != JournalLine::Kind::kBegin) continue;
      out.push_back({parsed->action.type, parsed->action.args});
    }
  }
  return out;
}

size_t GlobCount(const std::string& pattern) {
  glob_t g{};
  size_t n = ::glob(pattern.c_str(), 0, nullptr, &g) == 0 ? g.gl_pathc : 0;
  ::globfree(&g);
  return n;
}

class CrashSafetyTest : public ::testing::TestWithParam<std::string> {};

TEST_P(CrashSafetyTest, KilledHarnessLeavesNothingAfterHeal) {
  const std::string which = GetParam();
  char t1[] = "/tmp/duende-crash-journal-XXXXXX";
  char t2[] = "/tmp/duende-crash-scratch-XXXXXX";
  std::string jdir = ::mkdtemp(t1), scratch = ::mkdtemp(t2);
  framework::SpawnOptions o;
  o.argv = {VICTIM_PATH, which, jdir, scratch};
  auto victim = testing::StartChild(o);
  ASSERT_TRUE(victim.ok()) << victim.error().Message();
  std::string target_line = (*victim)->WaitLine("target ", 5000);
  ASSERT_FALSE(target_line.empty());
  pid_t target = std::stoi(target_line.substr(7));
  uint64_t target_start = ProcessStartTime(target);
  std::string injected = (*victim)->WaitLine("e", 10000);
  if (injected.rfind("error:", 0) == 0 &&
      injected.find("Operation not permitted") != std::string::npos) {
    ::kill(target, SIGKILL);
    GTEST_SKIP() << injected;
  }
  ASSERT_EQ(injected, "injected") << which;
  std::vector<Entry> entries = ReadEntries(jdir);
  if (which == "partition") {
    const auto count = std::count_if(entries.begin(), entries.end(), [](const Entry& e) {
      return e.type == "netns" || e.type == "link";
    });
    EXPECT_EQ(count, 5) << "the bridge, and a namespace and a veth per node";
  }

  ::kill((*victim)->child.pid, SIGKILL);
  (*victim)->Wait();

  HealReport report = HealLeftovers(jdir);
  EXPECT_TRUE(report.errors.empty()) << report.errors.front();
  EXPECT_TRUE(fs::is_empty(jdir)) << "journal kept";

  for (const auto& e : entries) {
    if (e.type == "cgroup") {
      for (size_t i = 1; i < e.args.size(); ++i) EXPECT_FALSE(fs::exists(e.args[i])) << e.args[i];
    } else if (e.type == "cgroup-borrow") {
      EXPECT_FALSE(fs::exists(e.args[2])) << e.args[2];
    } else if (e.type == "process") {
      EXPECT_FALSE(SameProcessAlive(std::stoi(e.args[0]), std::stoull(e.args[1])))
          << "process " << e.args[0] << " survived";
    } else if (e.type == "fifo-prefix") {
      EXPECT_EQ(GlobCount(e.args[0] + "-*"), 0u);
    } else if (e.type == "file") {
      EXPECT_FALSE(fs::exists(e.args[0])) << e.args[0];
    } else if (e.type == "netns") {
      EXPECT_FALSE(fs::exists("/run/netns/" + e.args[0])) << "namespace " << e.args[0];
    } else if (e.type == "link") {
      EXPECT_FALSE(fs::exists("/sys/class/net/" + e.args[0])) << "link " << e.args[0];
    }
  }
  // No group of the dead run is left anywhere under ours.
  std::string run = "duende-" + std::to_string((*victim)->child.pid) + "-";
  for (const char* ctrl : {"memory", "cpu", "pids"}) {
    auto dir = framework::CgroupDirOf(::getpid(), ctrl);
    if (dir.ok()) {
      EXPECT_EQ(GlobCount(*dir + "/" + run + "*"), 0u) << ctrl;
    }
  }
  // No mount of ours is visible.
  auto mounts = framework::ReadSmallFile("/proc/self/mountinfo");
  ASSERT_TRUE(mounts.ok());
  EXPECT_EQ(mounts->find("duende-tmpfs"), std::string::npos);

  // The target (not ours to kill) is back to normal: running, in its cgroups, its limits.
  if (SameProcessAlive(target, target_start)) {
    auto stat = framework::ReadSmallFile("/proc/" + std::to_string(target) + "/stat");
    EXPECT_EQ(stat->find(") T "), std::string::npos) << "target still stopped";
    for (const char* ctrl : {"memory", "cpu", "pids"}) {
      auto mine = framework::CgroupDirOf(::getpid(), ctrl);
      auto its = framework::CgroupDirOf(target, ctrl);
      if (mine.ok() && its.ok()) {
        EXPECT_EQ(*its, *mine) << ctrl;
      }
    }
    rlimit mine{}, its{};
    ::getrlimit(RLIMIT_NOFILE, &mine);
    ::prlimit(target, RLIMIT_NOFILE, nullptr, &its);
    EXPECT_EQ(its.rlim_cur, mine.rlim_cur);
    if (which == "clock") {
      // The journal put the wall clock back before removing the file.
      EXPECT_FALSE(fs::exists(scratch + "/clock"));
    }
    ::kill(target, SIGKILL);
    // libfaketime's shared memory of the target (killed: it could not clean up).
    for (int i = 0; i < 200 && ::kill(target, 0) == 0; ++i) ::usleep(10000);
    RemoveFaketimeShm(target);
  }
  fs::remove_all(jdir);
  fs::remove_all(scratch);
}

INSTANTIATE_TEST_SUITE_P(EveryKind, CrashSafetyTest,
                         ::testing::Values("kill", "pause", "crash", "fds", "oom", "memory",
                                           "cpu-burn", "cpu-quota", "pids", "syscall",
                                           "disk-enospc", "disk-full", "network", "clock",
                                           "partition"),
                         [](const auto& param_info) {
                           std::string n = param_info.param;
                           for (auto& c : n) {
                             if (c == '-') c = '_';
                           }
                           return n;
                         });

}  // namespace
}  // namespace duende::faults
