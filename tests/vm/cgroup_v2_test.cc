// cgroup v2 for real: framework::Cgroup, the supervisor's service groups and the cgroup faults
// (the memory hog; oom, memory and cpu groups healed through the undo journal) against a kernel
// whose /sys/fs/cgroup is a cgroup2 mount. This machine is cgroup v1, so these tests run inside
// a microvm (tests/vm/run-in-vm.sh, ctest CgroupV2InVm, which also runs the v1-era cgroup tests
// of faults, the supervisor and the shipped scenarios there); without v2 they skip.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "duende/faults/fault.h"
#include "duende/faults/undo_journal.h"
#include "duende/framework/cgroup.h"
#include "duende/framework/supervisor.h"
#include "support/fault_child.h"
#include "support/fault_make.h"
#include "support/sanitizer_skip.h"

namespace duende::faults {
namespace {

namespace fs = std::filesystem;
using framework::Cgroup;
using framework::CgroupControllers;
using framework::CgroupVersion;
using testing::MakeFault;

constexpr const char* kRoot = "/sys/fs/cgroup";

#define SKIP_UNLESS_V2()                                                                        \
  if (framework::DetectCgroupVersion() != CgroupVersion::kV2)                                   \
  GTEST_SKIP() << "/sys/fs/cgroup is not cgroup v2 here (this machine is v1): these tests run " \
                  "in a VM through tests/vm/run-in-vm.sh"

std::string Name(const std::string& what) {
  return "duende-v2test-" + std::to_string(::getpid()) + "-" + what;
}

std::string Read(const std::string& path) {
  auto t = framework::ReadSmallFile(path);
  return t.ok() ? *t : "";
}

// "key value" from a keyed file (memory.events, pids.events, cpu.stat); -1 when absent.
long long Keyed(const std::string& path, const std::string& key) {
  std::istringstream in(Read(path));
  std::string k;
  long long v = 0;
  while (in >> k >> v) {
    if (k == key) return v;
  }
  return -1;
}

framework::SpawnOptions InGroup(const Cgroup& g, std::vector<std::string> argv) {
  framework::SpawnOptions o;
  o.argv = std::move(argv);
  o.cgroup_procs_files = g.ProcsFiles();
  return o;
}

TEST(CgroupV2Test, OneDirectoryUnderAnAncestorThatDelegatesTheControllers) {
  SKIP_UNLESS_V2();
  // Our own group has processes (us), so v2 forbids it to delegate controllers: the group
  // goes under the nearest ancestor that can (here the root), with all three controllers.
  auto own = framework::CgroupDirOf(::getpid(), "memory");
  ASSERT_TRUE(own.ok());
  auto planned = Cgroup::PlannedDir(Name("dir"), "memory");
  ASSERT_TRUE(planned.ok()) << planned.error().Message();
  auto g = Cgroup::Create(Name("dir"));
  ASSERT_TRUE(g.ok()) << g.error().Message();
  EXPECT_EQ(g->version(), CgroupVersion::kV2);
  ASSERT_EQ(g->Dirs().size(), 1u);
  const std::string dir = g->memory_dir();
  EXPECT_EQ(dir, *planned);
  EXPECT_EQ(g->pids_dir(), dir);
  EXPECT_EQ(g->cpu_dir(), dir);
  EXPECT_NE(fs::path(dir).parent_path().string(), *own) << "a group with processes delegates";
  std::string controllers = Read(dir + "/cgroup.controllers");
  for (const char* c : {"memory", "pids", "cpu"}) {
    EXPECT_NE(controllers.find(c), std::string::npos) << c << " missing in " << controllers;
  }
  ASSERT_TRUE(g->Remove().ok());
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_TRUE(g->Remove().ok()) << "Remove is idempotent";
}

TEST(CgroupV2Test, MemoryMaxOomKillsTheChildAndMemoryEventsCountsIt) {
  SKIP_UNLESS_V2();
  auto g = Cgroup::Create(Name("oom"));
  ASSERT_TRUE(g.ok()) << g.error().Message();
  ASSERT_TRUE(g->SetMemoryLimit(32 << 20).ok());
  EXPECT_EQ(Read(g->memory_dir() + "/memory.max"), std::to_string(32 << 20) + "\n");
  // No swap in the VM, but a host with swap would page out instead of killing.
  (void)framework::WriteSmallFile(g->memory_dir() + "/memory.swap.max", "0");
  auto c = testing::StartChild(InGroup(*g, {ALLOC_LOOP_PATH}));
  ASSERT_TRUE(c.ok()) << c.error().Message();
  ASSERT_FALSE((*c)->WaitLine("ready").empty());
  auto st = (*c)->Wait();  // allocates 1 MiB every 10 ms: meets the 32 MiB limit in ~0.3 s
  EXPECT_TRUE(st.signaled);
  EXPECT_EQ(st.signal, SIGKILL);
  auto s = g->Stats();
  ASSERT_TRUE(s.ok()) << s.error().Message();
  EXPECT_GE(s->oom_kills, 1u);
  EXPECT_GE(s->oom_events, 1u);
  EXPECT_GE(s->memory_failcnt, 1u) << "memory.events max";
  EXPECT_EQ(s->memory_limit, 32u << 20);
  EXPECT_GE(s->memory_peak, 30u << 20) << "memory.peak";
  EXPECT_EQ(static_cast<long long>(s->oom_kills),
            Keyed(g->memory_dir() + "/memory.events", "oom_kill"));
  ASSERT_TRUE(g->SetMemoryLimit(0).ok());
  EXPECT_EQ(Read(g->memory_dir() + "/memory.max"), "max\n");
  EXPECT_EQ(g->Stats()->memory_limit, 0u);
  ASSERT_TRUE(g->Remove().ok());
  EXPECT_FALSE(fs::exists(g->memory_dir()));
}

TEST(CgroupV2Test, PidsMaxRefusesForksAndPidsEventsCountsThem) {
  SKIP_UNLESS_V2();
#if defined(__SANITIZE_THREAD__)
  DUENDE_SKIP_UNDER_SANITIZER("TSan's background thread counts against pids.max");
#endif
  auto g = Cgroup::Create(Name("pids"));
  ASSERT_TRUE(g.ok()) << g.error().Message();
  ASSERT_TRUE(g->SetPidsLimit(4).ok());
  EXPECT_EQ(Read(g->pids_dir() + "/pids.max"), "4\n");
  // A forker joins the group, tries 8 forks (children just pause) and reports how many the
  // kernel allowed: itself + 3 children = pids.max.
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  pid_t forker = ::fork();
  ASSERT_GE(forker, 0);
  if (forker == 0) {
    ::close(fds[0]);
    if (!framework::WriteSmallFile(g->ProcsFiles().front(), "0").ok()) ::_exit(2);
    char counts[2] = {0, 0};  // forks allowed, forks refused with EAGAIN
    for (int i = 0; i < 8; ++i) {
      pid_t p = ::fork();
      if (p == 0) {
        ::pause();
        ::_exit(0);
      }
      ++counts[p > 0 ? 0 : (errno == EAGAIN ? 1 : 0)];
    }
    if (::write(fds[1], counts, 2) != 2) ::_exit(3);
    ::pause();
    ::_exit(0);
  }
  ::close(fds[1]);
  char counts[2] = {0, 0};
  ASSERT_EQ(::read(fds[0], counts, 2), 2);
  ::close(fds[0]);
  EXPECT_EQ(counts[0], 3) << "forks allowed";
  EXPECT_EQ(counts[1], 5) << "forks refused with EAGAIN";
  auto s = g->Stats();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->pids_current, 4u);
  EXPECT_EQ(s->pids_denied, 5u) << Read(g->pids_dir() + "/pids.events");
  auto members = g->Members();
  ASSERT_TRUE(members.ok());
  EXPECT_EQ(members->size(), 4u);
  ASSERT_TRUE(g->Remove().ok());
  int status = 0;
  ASSERT_EQ(::waitpid(forker, &status, 0), forker);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_FALSE(fs::exists(g->pids_dir()));
}

TEST(CgroupV2Test, CpuMaxThrottlesASpinner) {
  SKIP_UNLESS_V2();
  auto g = Cgroup::Create(Name("cpu"));
  ASSERT_TRUE(g.ok()) << g.error().Message();
  ASSERT_TRUE(g->SetCpuQuota(10000, 100000).ok());  // 10% of one CPU
  EXPECT_EQ(Read(g->cpu_dir() + "/cpu.max"), "10000 100000\n");
  framework::SpawnOptions o = InGroup(*g, {"sh", "-c", "while :; do :; done"});
  auto c = framework::Spawn(o);
  ASSERT_TRUE(c.ok()) << c.error().Message();
  auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  auto s = g->Stats();
  auto wall_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  ASSERT_TRUE(s.ok());
  EXPECT_GT(s->cpu_nr_throttled, 0u) << Read(g->cpu_dir() + "/cpu.stat");
  EXPECT_GT(s->cpu_throttled_ns, 0u);
  EXPECT_GT(s->cpu_usage_ns, 0u);
  // 10% of the time, with room for the period in progress and the shell's start.
  EXPECT_LT(static_cast<double>(s->cpu_usage_ns), 0.4 * static_cast<double>(wall_ns))
      << Read(g->cpu_dir() + "/cpu.stat");
  ASSERT_TRUE(g->SetCpuQuota(0).ok());
  EXPECT_EQ(Read(g->cpu_dir() + "/cpu.max"), "max 100000\n");
  ASSERT_TRUE(g->Remove().ok());
  auto st = framework::WaitExit(c->pidfd.get());
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->signal, SIGKILL);
}

TEST(CgroupV2Test, AddProcessMovesARunningProcessAndMembersListsIt) {
  SKIP_UNLESS_V2();
  framework::SpawnOptions o;
  o.argv = {"sleep", "30"};
  auto c = framework::Spawn(o);
  ASSERT_TRUE(c.ok());
  auto g = Cgroup::Create(Name("add"));
  ASSERT_TRUE(g.ok()) << g.error().Message();
  ASSERT_TRUE(g->AddProcess(c->pid).ok());
  auto members = g->Members();
  ASSERT_TRUE(members.ok());
  ASSERT_EQ(*members, std::vector<pid_t>{c->pid});
  EXPECT_EQ(*framework::CgroupDirOf(c->pid, "memory"), g->memory_dir());
  EXPECT_EQ(Read("/proc/" + std::to_string(c->pid) + "/cgroup"),
            "0::" + g->memory_dir().substr(std::string(kRoot).size()) + "\n");
  ASSERT_TRUE(g->Remove().ok());
  EXPECT_EQ(framework::WaitExit(c->pidfd.get())->signal, SIGKILL);
}

// cgroup.kill kills members the caller could not signal with kill(2): a process of another
// user than the killer. Without cgroup.kill, KillAll would time out with ETIMEDOUT here.
TEST(CgroupV2Test, KillAllUsesCgroupKill) {
  SKIP_UNLESS_V2();
  auto g = Cgroup::Create(Name("kill"));
  ASSERT_TRUE(g.ok()) << g.error().Message();
  ASSERT_TRUE(fs::exists(g->memory_dir() + "/cgroup.kill"));
  std::vector<framework::Child> members;
  for (int i = 0; i < 3; ++i) {
    auto c = framework::Spawn(InGroup(*g, {"sleep", "30"}));
    ASSERT_TRUE(c.ok());
    members.push_back(std::move(*c));
  }
  constexpr uid_t kNobody = 65534;
  // Delegate the group's files to the unprivileged killer (as systemd delegates a unit).
  ASSERT_EQ(::chown(g->memory_dir().c_str(), kNobody, kNobody), 0);
  for (const char* f : {"cgroup.kill", "cgroup.procs"}) {
    ASSERT_EQ(::chown((g->memory_dir() + "/" + f).c_str(), kNobody, kNobody), 0) << f;
  }
  pid_t killer = ::fork();
  ASSERT_GE(killer, 0);
  if (killer == 0) {
    if (::setgid(kNobody) != 0 || ::setuid(kNobody) != 0) ::_exit(3);
    if (::kill(members[0].pid, 0) == 0 || errno != EPERM) ::_exit(4);  // kill(2) cannot
    Cgroup mine = Cgroup::Open(CgroupVersion::kV2, g->memory_dir());
    ::_exit(mine.KillAll(3000).ok() ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(killer, &status, 0), killer);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: KillAll failed, 3: setuid, 4: kill(2) was allowed";
  for (auto& m : members) {
    auto st = framework::WaitExit(m.pidfd.get());
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(st->signal, SIGKILL);
  }
  EXPECT_TRUE(g->Members()->empty());
  ASSERT_TRUE(g->Remove().ok());
  EXPECT_FALSE(fs::exists(g->memory_dir()));
}

// A container's view: our group is the root of a cgroup namespace and has processes. Create
// must neither make it a thread root (by enabling cpu there) nor return a group without the
// controllers asked for.
TEST(CgroupV2Test, PopulatedNamespaceRootIsLeftAloneAndCreateSaysWhy) {
  SKIP_UNLESS_V2();
  auto x = Cgroup::Create(Name("ns"));
  ASSERT_TRUE(x.ok()) << x.error().Message();
  auto sleeper = framework::Spawn(InGroup(*x, {"sleep", "30"}));
  ASSERT_TRUE(sleeper.ok());
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (!framework::WriteSmallFile(x->ProcsFiles().front(), "0").ok()) ::_exit(10);
    if (::unshare(CLONE_NEWNS | CLONE_NEWCGROUP) != 0) ::_exit(11);
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) ::_exit(12);
    ::umount2(kRoot, MNT_DETACH);
    if (::mount("cgroup2", kRoot, "cgroup2", 0, nullptr) != 0) ::_exit(13);
    if (Read("/proc/self/cgroup") != "0::/\n") ::_exit(14);
    for (CgroupControllers which :
         {CgroupControllers{false, false, true}, CgroupControllers{true, false, false}}) {
      auto g = Cgroup::Create("inner", which);
      if (g.ok()) ::_exit(15);
      if (g.error().code.value() != EOPNOTSUPP ||
          g.error().Message().find("lacks controllers") == std::string::npos) {
        ::_exit(16);
      }
    }
    ::_exit(fs::exists(std::string(kRoot) + "/inner") ? 17 : 0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "exit " << WEXITSTATUS(status) << " (15: created, 16: wrong error, 17: dir left)";
  EXPECT_EQ(Read(x->memory_dir() + "/cgroup.type"), "domain\n") << "not a thread root";
  EXPECT_EQ(Read(x->memory_dir() + "/cgroup.subtree_control"), "") << "nothing delegated";
  ASSERT_TRUE(x->Remove().ok());
  EXPECT_EQ(framework::WaitExit(sleeper->pidfd.get())->signal, SIGKILL);
}

// The supervisor's per-service group with only the threaded controllers (pids, cpu): before the
// fix the group went under our own (which has processes) and the child could not join it.
TEST(CgroupV2Test, SupervisorServiceWithPidsAndCpuLimitsRunsInItsOwnGroup) {
  SKIP_UNLESS_V2();
  auto sup = framework::Supervisor::Create();
  ASSERT_TRUE(sup.ok()) << sup.error().Message();
  std::thread loop([&] { (void)(*sup)->Run(); });
  framework::DaemonConfig c;
  c.name = "limited";
  c.command = {"sleep", "30"};
  c.resources.pids_max = 8;
  c.resources.cpu_quota = 0.25;
  auto added = (*sup)->Add(c, true);
  pid_t pid = -1;
  for (int i = 0; i < 500 && added.ok() && pid <= 0; ++i) {
    auto st = (*sup)->Status("limited");
    if (st.ok() && st->pid > 0 && st->state == framework::ServiceState::kRunning) pid = st->pid;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto dir = framework::CgroupDirOf(pid, "pids");
  (*sup)->Shutdown();
  loop.join();
  ASSERT_TRUE(added.ok()) << added.error().Message();
  ASSERT_GT(pid, 0) << "the service never ran: " << (*sup)->Status("limited")->reason;
  ASSERT_TRUE(dir.ok());
  EXPECT_EQ(fs::path(*dir).filename(), "duende-" + std::to_string(::getpid()) + "-limited");
  EXPECT_EQ(Read(*dir + "/pids.max"), "8\n");
  EXPECT_EQ(Read(*dir + "/cpu.max"), "25000 100000\n");
  sup->reset();
  EXPECT_FALSE(fs::exists(*dir)) << "removed with the supervisor";
}

// --- faults on v2 --------------------------------------------------------------------------

TEST(CgroupV2FaultTest, MemoryHogIsConfinedToItsOwnGroup) {
  SKIP_UNLESS_V2();
#if defined(__SANITIZE_THREAD__)
  DUENDE_SKIP_UNDER_SANITIZER("TSan's shadow memory is charged to the hog's group");
#endif
  FaultEnv env;
  auto f = MakeFault("memory", "size = \"64MiB\"", env);
  ASSERT_TRUE(f.ok()) << f.error().Message();
  ASSERT_TRUE((*f)->Inject({"none", ::getpid(), -1, "", "", 0}).ok());
  auto rec = (*f)->Record();
  EXPECT_TRUE(rec.took_effect) << testing::Joined(rec);
  long hog = testing::EvidenceNumber(rec, "hog pid ");
  ASSERT_GT(hog, 0);
  auto dir = framework::CgroupDirOf(static_cast<pid_t>(hog), "memory");
  ASSERT_TRUE(dir.ok());
  EXPECT_NE(testing::Joined(rec).find("hog cgroup " + *dir), std::string::npos)
      << testing::Joined(rec);
  EXPECT_GE(std::stoull(Read(*dir + "/memory.current")), 64ull << 20);
  EXPECT_EQ(Read(*dir + "/memory.max"), std::to_string((64 + 64) << 20) + "\n");
  ASSERT_TRUE((*f)->Heal().ok());
  EXPECT_FALSE(fs::exists("/proc/" + std::to_string(hog)));
  EXPECT_FALSE(fs::exists(*dir));
}

// --- the undo journal on v2 ----------------------------------------------------------------

// Every group named "duende-<run>-*" anywhere in the hierarchy.
std::vector<std::string> GroupsOfRun(const std::string& run) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(kRoot, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_directory() && it->path().filename().string().rfind(run, 0) == 0) {
      out.push_back(it->path().string());
    }
  }
  return out;
}

// The cgroup directories a journal names (entries "cgroup V DIR..." and "cgroup-borrow V N
// DIR... BACK...").
std::vector<std::string> JournaledGroups(const std::string& jdir) {
  std::vector<std::string> out;
  for (const auto& f : fs::directory_iterator(jdir)) {
    std::ifstream in(f.path());
    std::string line;
    while (std::getline(in, line)) {
      auto parsed = ParseJournalLine(line);
      if (!parsed.ok() || parsed->kind != JournalLine::Kind::kBegin) continue;
      const UndoAction& a = parsed->action;
      if (a.type == "cgroup" && a.args.size() >= 2) {
        out.insert(out.end(), a.args.begin() + 1, a.args.end());
      } else if (a.type == "cgroup-borrow" && a.args.size() >= 3) {
        size_t n = std::stoul(a.args[1]);
        for (size_t i = 0; i < n && 2 + i < a.args.size(); ++i) out.push_back(a.args[2 + i]);
      }
    }
  }
  return out;
}

class CgroupV2CrashTest : public ::testing::TestWithParam<std::string> {};

// A harness killed by SIGKILL while its fault holds a v2 group: the journal names the group
// that really exists, and HealLeftovers removes it and puts the target back.
TEST_P(CgroupV2CrashTest, UndoJournalHealsTheGroupsOfAKilledHarness) {
  SKIP_UNLESS_V2();
  char t1[] = "/tmp/duende-v2-journal-XXXXXX";
  char t2[] = "/tmp/duende-v2-scratch-XXXXXX";
  std::string jdir = ::mkdtemp(t1), scratch = ::mkdtemp(t2);
  framework::SpawnOptions o;
  o.argv = {VICTIM_PATH, GetParam(), jdir, scratch};
  auto victim = testing::StartChild(o);
  ASSERT_TRUE(victim.ok()) << victim.error().Message();
  std::string target_line = (*victim)->WaitLine("target ", 5000);
  ASSERT_FALSE(target_line.empty());
  pid_t target = std::stoi(target_line.substr(7));
  uint64_t target_start = ProcessStartTime(target);
  auto target_home = framework::CgroupDirOf(target, "memory");
  ASSERT_EQ((*victim)->WaitLine("e", 10000), "injected");
  ::kill((*victim)->child.pid, SIGKILL);
  (*victim)->Wait();

  const std::string run = "duende-" + std::to_string((*victim)->child.pid) + "-";
  std::vector<std::string> left = GroupsOfRun(run);
  ASSERT_FALSE(left.empty()) << "the killed harness left no group: nothing was tested";
  std::vector<std::string> journaled = JournaledGroups(jdir);
  for (const auto& d : left) {
    EXPECT_NE(std::find(journaled.begin(), journaled.end(), d), journaled.end())
        << d << " exists but the journal does not name it";
  }

  HealReport report = HealLeftovers(jdir);
  EXPECT_TRUE(report.errors.empty()) << report.errors.front();
  EXPECT_TRUE(fs::is_empty(jdir)) << "journal kept";
  for (const auto& d : GroupsOfRun(run)) ADD_FAILURE() << "left after heal: " << d;
  if (SameProcessAlive(target, target_start)) {
    ASSERT_TRUE(target_home.ok());
    EXPECT_EQ(*framework::CgroupDirOf(target, "memory"), *target_home) << "target moved back";
    ::kill(target, SIGKILL);
  }
  fs::remove_all(jdir);
  fs::remove_all(scratch);
}

INSTANTIATE_TEST_SUITE_P(CgroupKinds, CgroupV2CrashTest,
                         ::testing::Values("oom", "memory", "cpu-burn", "cpu-quota"),
                         [](const auto& param_info) {
                           std::string n = param_info.param;
                           for (auto& ch : n) {
                             if (ch == '-') ch = '_';
                           }
                           return n;
                         });

}  // namespace
}  // namespace duende::faults
