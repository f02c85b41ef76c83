// Cgroup: the counter and limit file formats of v1 and v2 on directories of hand-written
// files (Open() takes any directory), and real groups of this machine's hierarchy.
#include "duende/framework/cgroup.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "duende/framework/process.h"
#include "support/files.h"
#include "support/temp_dir.h"

namespace duende::framework {
namespace {

// A private directory of hand-written cgroup files.
struct FakeDir : testing::TempDir {
  FakeDir() : testing::TempDir("cgroup-test") {}
  // Creates or truncates `name` with `text`.
  void Put(const std::string& name, const std::string& text) const { Write(name, text); }
  std::string Get(const std::string& name) const { return testing::ReadFile(*this / name); }
  void Drop(const std::string& name) const { ::unlink((*this / name).c_str()); }
};

TEST(CgroupTest, StatsReadTheV2CounterFiles) {
  FakeDir d;
  d.Put("memory.current", "4096\n");
  d.Put("memory.peak", "8192\n");
  d.Put("memory.max", "max\n");
  d.Put("memory.events", "low 0\nhigh 0\nmax 3\noom 2\noom_kill 1\n");
  d.Put("pids.current", "5\n");
  d.Put("pids.events", "max 7\n");
  d.Put("cpu.stat",
        "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 10\nnr_throttled 4\n"
        "throttled_usec 250\n");
  Cgroup g = Cgroup::Open(CgroupVersion::kV2, d.path());
  auto s = g.Stats();
  ASSERT_TRUE(s.ok()) << s.error().Message();
  EXPECT_EQ(s->memory_current, 4096u);
  EXPECT_EQ(s->memory_peak, 8192u);
  EXPECT_EQ(s->memory_limit, 0u);  // "max": unlimited
  EXPECT_EQ(s->memory_failcnt, 3u);
  EXPECT_EQ(s->oom_events, 2u);
  EXPECT_EQ(s->oom_kills, 1u);
  EXPECT_EQ(s->pids_current, 5u);
  EXPECT_EQ(s->pids_denied, 7u);
  EXPECT_EQ(s->cpu_usage_ns, 1'500'000u);
  EXPECT_EQ(s->cpu_nr_throttled, 4u);
  EXPECT_EQ(s->cpu_throttled_ns, 250'000u);
  // A limit reads as its number; a missing file or key reads as 0.
  d.Put("memory.max", "1048576\n");
  d.Drop("memory.peak");
  d.Put("memory.events", "low 0\nhigh 0\nmax 3\noom 2\n");
  s = g.Stats();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->memory_limit, 1048576u);
  EXPECT_EQ(s->memory_peak, 0u);
  EXPECT_EQ(s->oom_kills, 0u);
}

TEST(CgroupTest, StatsReadTheV1CounterFiles) {
  FakeDir mem, pids, cpu;
  mem.Put("memory.usage_in_bytes", "100\n");
  mem.Put("memory.max_usage_in_bytes", "200\n");
  mem.Put("memory.limit_in_bytes", "9223372036854771712\n");  // v1's "unlimited"
  mem.Put("memory.failcnt", "6\n");
  mem.Put("memory.oom_control", "oom_kill_disable 0\nunder_oom 1\noom_kill 2\n");
  pids.Put("pids.current", "3\n");
  pids.Put("pids.events", "max 9\n");
  cpu.Put("cpu.stat", "nr_periods 5\nnr_throttled 2\nthrottled_time 777\n");
  cpu.Put("cpuacct.usage", "123456\n");
  Cgroup g = Cgroup::Open(CgroupVersion::kV1, mem.path(), pids.path(), cpu.path());
  auto s = g.Stats();
  ASSERT_TRUE(s.ok()) << s.error().Message();
  EXPECT_EQ(s->memory_current, 100u);
  EXPECT_EQ(s->memory_peak, 200u);
  EXPECT_EQ(s->memory_limit, 0u);
  EXPECT_EQ(s->memory_failcnt, 6u);
  EXPECT_EQ(s->oom_events, 1u);
  EXPECT_EQ(s->oom_kills, 2u);
  EXPECT_EQ(s->pids_current, 3u);
  EXPECT_EQ(s->pids_denied, 9u);
  EXPECT_EQ(s->cpu_nr_throttled, 2u);
  EXPECT_EQ(s->cpu_throttled_ns, 777u);
  EXPECT_EQ(s->cpu_usage_ns, 123456u);
  // 2^62 and above are v1's ways of writing "unlimited"; just below is a real limit.
  mem.Put("memory.limit_in_bytes", "4611686018427387904\n");
  EXPECT_EQ(g.Stats()->memory_limit, 0u);
  mem.Put("memory.limit_in_bytes", "4611686018427387903\n");
  EXPECT_EQ(g.Stats()->memory_limit, 4611686018427387903u);
}

TEST(CgroupTest, StatsOfAGroupWhoseDirectoriesAreGoneIsAnError) {
  for (CgroupVersion v : {CgroupVersion::kV1, CgroupVersion::kV2}) {
    Cgroup g =
        Cgroup::Open(v, "/nonexistent/memory/x", "/nonexistent/pids/x", "/nonexistent/cpu/x");
    auto s = g.Stats();
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code.value(), ENOENT);
  }
  // Each one present directory is enough.
  FakeDir only;
  only.Put("pids.current", "2\n");
  auto s =
      Cgroup::Open(CgroupVersion::kV1, "/nonexistent/m", only.path(), "/nonexistent/c").Stats();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->pids_current, 2u);
}

TEST(CgroupTest, LimitsAreWrittenInTheV2Format) {
  FakeDir d;
  Cgroup g = Cgroup::Open(CgroupVersion::kV2, d.path());
  const std::vector<std::tuple<std::string, std::function<Result<void>()>, std::string>> cases = {
      {"memory.max", [&] { return g.SetMemoryLimit(0); }, "max"},
      {"memory.max", [&] { return g.SetMemoryLimit(1 << 20); }, "1048576"},
      {"pids.max", [&] { return g.SetPidsLimit(0); }, "max"},
      {"pids.max", [&] { return g.SetPidsLimit(64); }, "64"},
      {"cpu.max", [&] { return g.SetCpuQuota(0); }, "max 100000"},
      {"cpu.max", [&] { return g.SetCpuQuota(50000, 200000); }, "50000 200000"},
  };
  for (const auto& [file, set, want] : cases) {
    d.Put(file, "");
    auto r = set();
    ASSERT_TRUE(r.ok()) << file << ": " << r.error().Message();
    EXPECT_EQ(d.Get(file), want) << file;
  }
  // v2 has no move_charge_at_immigrate: nothing is written.
  d.Put("memory.move_charge_at_immigrate", "");
  EXPECT_TRUE(g.MoveChargeOnJoin().ok());
  EXPECT_EQ(d.Get("memory.move_charge_at_immigrate"), "");
}

TEST(CgroupTest, LimitsAreWrittenInTheV1Format) {
  FakeDir mem, pids, cpu;
  Cgroup g = Cgroup::Open(CgroupVersion::kV1, mem.path(), pids.path(), cpu.path());
  mem.Put("memory.limit_in_bytes", "");
  ASSERT_TRUE(g.SetMemoryLimit(0).ok());
  EXPECT_EQ(mem.Get("memory.limit_in_bytes"), "-1");
  mem.Put("memory.limit_in_bytes", "");
  ASSERT_TRUE(g.SetMemoryLimit(4096).ok());
  EXPECT_EQ(mem.Get("memory.limit_in_bytes"), "4096");
  pids.Put("pids.max", "");
  ASSERT_TRUE(g.SetPidsLimit(0).ok());
  EXPECT_EQ(pids.Get("pids.max"), "max");
  cpu.Put("cpu.cfs_period_us", "");
  cpu.Put("cpu.cfs_quota_us", "");
  ASSERT_TRUE(g.SetCpuQuota(0).ok());
  EXPECT_EQ(cpu.Get("cpu.cfs_period_us"), "100000");
  EXPECT_EQ(cpu.Get("cpu.cfs_quota_us"), "-1");
  cpu.Put("cpu.cfs_period_us", "");
  cpu.Put("cpu.cfs_quota_us", "");
  ASSERT_TRUE(g.SetCpuQuota(25000, 50000).ok());
  EXPECT_EQ(cpu.Get("cpu.cfs_period_us"), "50000");
  EXPECT_EQ(cpu.Get("cpu.cfs_quota_us"), "25000");
  mem.Put("memory.move_charge_at_immigrate", "");
  ASSERT_TRUE(g.MoveChargeOnJoin().ok());
  EXPECT_EQ(mem.Get("memory.move_charge_at_immigrate"), "3");
  // A group without a memory hierarchy has nothing to move and no memory limit to set.
  Cgroup no_memory = Cgroup::Open(CgroupVersion::kV1, "", pids.path(), "");
  EXPECT_TRUE(no_memory.MoveChargeOnJoin().ok());
  EXPECT_EQ(no_memory.SetMemoryLimit(1).error().code.value(), ENOENT);
  EXPECT_EQ(no_memory.SetCpuQuota(1).error().code.value(), ENOENT);
  EXPECT_EQ(Cgroup::Open(CgroupVersion::kV1, mem.path()).SetPidsLimit(1).error().code.value(),
            ENOENT);
}

TEST(CgroupTest, DirsMembersAndDescription) {
  FakeDir a, b;
  a.Put("cgroup.procs", "12\n34\n");
  Cgroup v2 = Cgroup::Open(CgroupVersion::kV2, a.path());
  EXPECT_EQ(v2.Dirs(), std::vector<std::string>{a.path()});
  EXPECT_EQ(v2.ProcsFiles(), std::vector<std::string>{a.path() + "/cgroup.procs"});
  EXPECT_EQ(v2.Describe(), "cgroup v2 " + a.path());
  auto members = v2.Members();
  ASSERT_TRUE(members.ok());
  EXPECT_EQ(*members, (std::vector<pid_t>{12, 34}));
  EXPECT_TRUE(v2.Contains(34));
  EXPECT_FALSE(v2.Contains(56));
  Cgroup v1 = Cgroup::Open(CgroupVersion::kV1, a.path(), b.path(), a.path());
  EXPECT_EQ(v1.Dirs(), (std::vector<std::string>{a.path(), b.path()}));
  EXPECT_EQ(v1.Describe(), "cgroup v1 " + a.path() + " " + b.path());
  EXPECT_FALSE(Cgroup::Open(CgroupVersion::kV1, "").Members().ok());
}

// KillAll on a group that is empty returns at once, having written cgroup.kill on v2 only.
TEST(CgroupTest, KillAllOfAnEmptyGroupUsesCgroupKillOnV2Only) {
  FakeDir v2dir, v1dir;
  for (FakeDir* d : {&v2dir, &v1dir}) {
    d->Put("cgroup.procs", "");
    d->Put("cgroup.kill", "");
  }
  auto v2 = Cgroup::Open(CgroupVersion::kV2, v2dir.path()).KillAll(1000);
  ASSERT_TRUE(v2.ok()) << v2.error().Message();
  EXPECT_EQ(*v2, 0);
  EXPECT_EQ(v2dir.Get("cgroup.kill"), "1");
  auto v1 = Cgroup::Open(CgroupVersion::kV1, v1dir.path()).KillAll(1000);
  ASSERT_TRUE(v1.ok()) << v1.error().Message();
  EXPECT_EQ(*v1, 0);
  EXPECT_EQ(v1dir.Get("cgroup.kill"), "");
}

TEST(CgroupTest, WriteSmallFileReportsOpenAndWriteErrors) {
  auto missing = WriteSmallFile("/nonexistent/pids.max", "1");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().Message(),
            "unable to open /nonexistent/pids.max: No such file or directory");
  auto full = WriteSmallFile("/dev/full", "x");
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().code.value(), ENOSPC);
  EXPECT_EQ(full.error().Message(), "unable to write 'x' to /dev/full: No space left on device");
  // One write, even when the caller left EINTR in errno.
  FakeDir d;
  d.Put("pids.max", "");
  errno = EINTR;
  ASSERT_TRUE(WriteSmallFile(d.path() + "/pids.max", "5").ok());
  EXPECT_EQ(d.Get("pids.max"), "5");
}

TEST(CgroupTest, AGroupNameIsOnePathComponent) {
  for (const std::string name : {"", "a/b", ".", "..", "/x"}) {
    auto g = Cgroup::Create(name);
    ASSERT_FALSE(g.ok()) << name;
    EXPECT_EQ(g.error().Message(), "invalid cgroup name '" + name + "' (one path component)");
  }
}

// The group directory of a process: no trailing '/', and it lists the process.
TEST(CgroupTest, CgroupDirOfIsTheDirectoryListingTheProcess) {
  const CgroupVersion v = DetectCgroupVersion();
  if (v == CgroupVersion::kNone) GTEST_SKIP() << "no cgroup hierarchy is mounted";
  for (const std::string controller : {"memory", "pids", "cpu", "blkio"}) {
    auto dir = CgroupDirOf(::getpid(), controller);
    if (!dir.ok()) continue;  // v1 without this controller
    EXPECT_NE(dir->back(), '/') << *dir;
    auto procs = ReadSmallFile(*dir + "/cgroup.procs");
    ASSERT_TRUE(procs.ok()) << *dir;
    std::istringstream in(*procs);
    bool listed = false;
    for (pid_t p = 0; in >> p;) listed = listed || p == ::getpid();
    EXPECT_TRUE(listed) << controller << ": " << *dir;
  }
}

std::string UniqueName(const char* what) {
  static int n = 0;
  return "duende-cgtest-" + std::to_string(::getpid()) + "-" + what + "-" + std::to_string(++n);
}

// A real group: a child spawned into it is a member; KillAll kills it and returns once the
// group is empty; Remove takes the directories away.
TEST(CgroupTest, KillAllEmptiesARealGroupAndRemoveDeletesIt) {
  if (DetectCgroupVersion() == CgroupVersion::kNone) GTEST_SKIP() << "no cgroup hierarchy";
  if (::geteuid() != 0) GTEST_SKIP() << "creating groups needs root";
  auto g = Cgroup::CreateForTracking(UniqueName("kill"));
  ASSERT_TRUE(g.ok()) << g.error().Message();
  SpawnOptions o;
  o.argv = {"sleep", "30"};
  o.cgroup_procs_files = g->ProcsFiles();
  auto child = Spawn(o);
  ASSERT_TRUE(child.ok()) << child.error().Message();
  EXPECT_TRUE(g->Contains(child->pid));
  auto sent = g->KillAll();
  ASSERT_TRUE(sent.ok()) << sent.error().Message();
  EXPECT_GE(*sent, 1);
  auto status = WaitExit(child->pidfd.get());
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(status->signaled);
  EXPECT_EQ(status->signal, SIGKILL);
  auto members = g->Members();
  ASSERT_TRUE(members.ok());
  EXPECT_TRUE(members->empty());
  const auto dirs = g->Dirs();
  ASSERT_TRUE(g->Remove().ok());
  for (const auto& d : dirs) EXPECT_NE(::access(d.c_str(), F_OK), 0) << d << " is still there";
  EXPECT_TRUE(g->Remove().ok());  // idempotent
}

// On v1 a group gets a directory in exactly the hierarchies asked for.
TEST(CgroupTest, AV1GroupHasOnlyTheControllersAskedFor) {
  if (DetectCgroupVersion() != CgroupVersion::kV1) GTEST_SKIP() << "this machine is not cgroup v1";
  if (::geteuid() != 0) GTEST_SKIP() << "creating groups needs root";
  auto g = Cgroup::Create(UniqueName("mem"), {true, false, false});
  ASSERT_TRUE(g.ok()) << g.error().Message();
  EXPECT_EQ(g->Dirs().size(), 1u);
  EXPECT_EQ(g->Dirs().front(), g->memory_dir());
  auto planned = Cgroup::PlannedDir(UniqueName("mem"), "memory", {true, false, false});
  ASSERT_TRUE(planned.ok());
  auto own = CgroupDirOf(::getpid(), "memory");
  ASSERT_TRUE(own.ok());
  EXPECT_EQ(planned->substr(0, planned->rfind('/')), *own);
  EXPECT_EQ(g->memory_dir().substr(0, g->memory_dir().rfind('/')), *own);
  EXPECT_TRUE(g->Remove().ok());
}

// Runs `check` in a forked child with a private mount namespace (so it can mount over
// /sys/fs/cgroup without anyone else seeing it); returns what `check` returned ("" = passed)
// or why it could not run.
std::string InPrivateMounts(const std::function<std::string()>& check) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return "pipe failed";
  UniqueFd r(fds[0]);
  UniqueFd w(fds[1]);
  const pid_t pid = ::fork();
  if (pid == 0) {
    r.Reset();
    std::string out;
    if (::unshare(CLONE_NEWNS) != 0) {
      out = std::string("unshare(CLONE_NEWNS): ") + std::strerror(errno);
    } else if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      out = std::string("making / private: ") + std::strerror(errno);
    } else {
      out = check();
    }
    if (!out.empty()) (void)!::write(w.get(), out.data(), out.size());
    ::_exit(0);
  }
  w.Reset();
  std::string out;
  char buf[512];
  for (ssize_t n; (n = ::read(r.get(), buf, sizeof buf)) > 0;)
    out.append(buf, static_cast<size_t>(n));
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return out + " (the check did not finish: wait status " + std::to_string(status) + ")";
  }
  return out;
}

// Mounts `fstype` over /sys/fs/cgroup (inside InPrivateMounts) with `dirs` in it (tmpfs).
std::string MountCgroupRoot(const char* fstype, const std::vector<std::string>& dirs = {}) {
  if (::mount(fstype, "/sys/fs/cgroup", fstype, 0, nullptr) != 0) {
    return std::string("mount ") + fstype + ": " + std::strerror(errno);
  }
  for (const auto& d : dirs) ::mkdir(("/sys/fs/cgroup/" + d).c_str(), 0755);
  return "";
}

TEST(CgroupTest, TheVersionIsReadFromWhatIsMounted) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting needs root";
  EXPECT_EQ(InPrivateMounts([] {
              std::string err = MountCgroupRoot("tmpfs");
              if (!err.empty()) return err;
              if (DetectCgroupVersion() != CgroupVersion::kNone) return std::string("not kNone");
              auto planned = Cgroup::PlannedDir("x", "memory", {});
              if (planned.ok() ||
                  planned.error().Message() !=
                      "unable to plan cgroup x: no cgroup hierarchy mounted: No such file or "
                      "directory") {
                return "PlannedDir: " + (planned.ok() ? *planned : planned.error().Message());
              }
              auto created = Cgroup::Create("x");
              if (created.ok() || created.error().code.value() != ENOENT) {
                return std::string("Create did not fail with ENOENT");
              }
              if (CgroupDirOf(::getpid(), "memory").ok()) return std::string("CgroupDirOf ok");
              return std::string();
            }),
            "");
  // One v1 controller hierarchy of those duende uses is enough for v1.
  for (const char* only : {"memory", "pids"}) {
    EXPECT_EQ(InPrivateMounts([only] {
                std::string err = MountCgroupRoot("tmpfs", {only});
                if (!err.empty()) return err;
                return DetectCgroupVersion() == CgroupVersion::kV1 ? "" : std::string("not kV1");
              }),
              "")
        << only;
  }
}

// A cgroup2 file system at /sys/fs/cgroup (this machine's unified hierarchy, mounted there
// in a private namespace): groups go under the caller's own group, and a controller that no
// ancestor can delegate is an error that names it, leaving nothing behind.
TEST(CgroupTest, OnV2GroupsGoUnderTheOwnGroupAndMissingControllersAreNamed) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting needs root";
  const std::string tracking = UniqueName("v2track");
  const std::string limited = UniqueName("v2mem");
  EXPECT_EQ(InPrivateMounts([&] {
              std::string err = MountCgroupRoot("cgroup2");
              if (!err.empty()) return err;
              if (DetectCgroupVersion() != CgroupVersion::kV2) return std::string("not kV2");
              auto own = CgroupDirOf(::getpid(), "memory");  // the controller does not matter
              if (!own.ok()) return "CgroupDirOf: " + own.error().Message();
              auto g = Cgroup::Create(tracking, {false, false, false});
              if (!g.ok()) return "Create: " + g.error().Message();
              const std::string want = *own + "/" + tracking;
              std::string out;
              if (g->Dirs() != std::vector<std::string>{want}) out += "dir " + g->Dirs()[0] + "; ";
              if (g->Describe() != "cgroup v2 " + want) out += g->Describe() + "; ";
              auto planned = Cgroup::PlannedDir(tracking, "", {false, false, false});
              if (!planned.ok() || *planned != want) out += "planned elsewhere; ";
              if (!g->Remove().ok()) out += "not removed; ";
              auto root = ReadSmallFile("/sys/fs/cgroup/cgroup.controllers");
              if (!root.ok()) return out + "cgroup.controllers: " + root.error().Message();
              if (root->find("memory") != std::string::npos) return out;  // a real v2 machine
              auto m = Cgroup::Create(limited, {true, false, false});
              if (m.ok()) {
                (void)m->Remove();
                return out + "memory without a memory controller";
              }
              if (m.error().code.value() != EOPNOTSUPP ||
                  m.error().Message().find("lacks controllers memory: ") == std::string::npos) {
                out += "Create with memory: " + m.error().Message() + "; ";
              }
              for (const std::string& d : {*own + "/" + limited, "/sys/fs/cgroup/" + limited}) {
                if (::access(d.c_str(), F_OK) == 0) out += d + " left behind; ";
              }
              return out;
            }),
            "");
}

}  // namespace
}  // namespace duende::framework
