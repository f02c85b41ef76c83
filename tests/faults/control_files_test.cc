// Root-safe control files: an unprivileged process (uid 65534, `nobody`) names files in its
// environment (FAKETIME_TIMESTAMP_FILE, FIU_CTRL_FIFO) or plants names where duende creates
// files, and root's duende then injects a fault into it. Each attacker test asserts that root's
// file was not harmed (content AND mode) and that the refusal says why; the positive tests
// prove that injection still takes effect where it is legitimate (the clock really moves).
#include "duende/faults/control_files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "duende/faults/fault.h"
#include "duende/faults/launch.h"
#include "duende/faults/libfiu.h"
#include "duende/framework/proc.h"
#include "duende/framework/temp_dir.h"
#include "support/cli.h"
#include "support/fault_child.h"
#include "support/fault_make.h"

namespace duende::faults {
namespace {

namespace fs = std::filesystem;
using testing::Joined;
using testing::MakeFault;

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;
const ProcessCred kNobodyCred{kNobody, kNogroup, {}};
const std::string kVictimText = "root's secret\n";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct stat LStat(const std::string& path) {
  struct stat st {};
  ::lstat(path.c_str(), &st);
  return st;
}

// Scratch directories under ${TMPDIR:-/tmp} (mkdtemp), removed at the end of each test: a
// root directory (0755) holding root's victim file (0600), and a directory of nobody's.
class ControlFilesAttackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "plays root against nobody: needs root";
    auto root = framework::MakePrivateTempDir("duende-victim");
    ASSERT_TRUE(root.ok()) << root.error().Message();
    root_dir_ = *root;
    ASSERT_EQ(::chmod(root_dir_.c_str(), 0755), 0);
    victim_ = root_dir_ + "/secret";
    {
      std::ofstream out(victim_);
      out << kVictimText;
    }
    ASSERT_EQ(::chmod(victim_.c_str(), 0600), 0);
    auto mine = framework::MakePrivateTempDir("duende-nobody");
    ASSERT_TRUE(mine.ok()) << mine.error().Message();
    nobody_dir_ = *mine;
    ASSERT_EQ(::chown(nobody_dir_.c_str(), kNobody, kNogroup), 0);
    ASSERT_EQ(::chmod(nobody_dir_.c_str(), 0755), 0);
  }
  void TearDown() override {
    children_.clear();
    for (pid_t pid : faketime_pids_) RemoveFaketimeShm(pid);
    std::error_code ec;
    if (!root_dir_.empty()) fs::remove_all(root_dir_, ec);
    if (!nobody_dir_.empty()) fs::remove_all(nobody_dir_, ec);
  }

  // Root's victim is exactly as it was: same content, mode 0600, owner root, one link.
  void ExpectVictimUnharmed() {
    EXPECT_EQ(ReadAll(victim_), kVictimText) << "root's file was written";
    struct stat st = LStat(victim_);
    EXPECT_EQ(st.st_mode & 07777, 0600u) << "root's file changed mode";
    EXPECT_EQ(st.st_uid, 0u);
    EXPECT_TRUE(S_ISREG(st.st_mode));
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(root_dir_)) names.insert(e.path().string());
    EXPECT_EQ(names, std::set<std::string>{victim_}) << "a file appeared beside root's";
  }

  // A file of nobody's in nobody's directory.
  std::string NobodyFile(const std::string& name, const std::string& text, mode_t mode = 0600) {
    std::string path = nobody_dir_ + "/" + name;
    {
      std::ofstream out(path);
      out << text;
    }
    EXPECT_EQ(::chown(path.c_str(), kNobody, kNogroup), 0);
    EXPECT_EQ(::chmod(path.c_str(), mode), 0);
    return path;
  }

  // A process of nobody's (the attacker): `argv` with `env` added, stdout readable.
  testing::TestChild& StartNobody(std::vector<std::string> argv, std::vector<std::string> env) {
    framework::SpawnOptions o;
    o.argv = std::move(argv);
    o.env_overrides = std::move(env);
    o.uid = kNobody;
    o.gid = kNogroup;
    o.working_dir = nobody_dir_;
    auto c = testing::StartChild(o);
    EXPECT_TRUE(c.ok()) << c.error().Message();
    children_.push_back(std::move(*c));
    return *children_.back();
  }

  testing::TestChild& StartFaketimeNobody(const std::string& clock_file,
                                          std::vector<std::string> argv = {"sleep", "30"}) {
    auto& c = StartNobody(
        std::move(argv),
        {std::string("LD_PRELOAD=") + kFaketimeLibrary, "FAKETIME_TIMESTAMP_FILE=" + clock_file,
         "FAKETIME_CACHE_DURATION=1", "FAKETIME_DONT_FAKE_MONOTONIC=1"});
    faketime_pids_.push_back(c.child.pid);
    return c;
  }

  // The target as `duende fault inject` sees a process it did not start: the clock file its
  // environment names.
  TargetRef Target(pid_t pid, const std::string& clock_file) const {
    TargetRef t;
    t.name = "pid " + std::to_string(pid);
    t.pid = pid;
    t.clock_file = clock_file;
    return t;
  }

  std::string root_dir_, victim_, nobody_dir_;
  std::vector<std::unique_ptr<testing::TestChild>> children_;
  std::vector<pid_t> faketime_pids_;
};

// The defect this guards against: `duende fault inject clock --pid P` as root rewrote the file
// a nobody process named in FAKETIME_TIMESTAMP_FILE (root's 0600 file) with "+0" and left it
// 0644. Now: exit 3, the reason, root's file untouched.
TEST_F(ControlFilesAttackTest, ClockInjectRefusesARootFileNamedByANobodyProcess) {
  if (!FaketimeAvailable()) GTEST_SKIP() << "libfaketime is not installed (ci/deps.sh)";
  auto& p = StartFaketimeNobody(victim_);
  auto r = duende::testing::RunCli(std::string(DUENDE_PATH) + " fault inject clock --pid " +
                                   std::to_string(p.child.pid) + " --param offset=-1h --for 1s");
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_NE(r.out.find("refusing " + victim_ + ": it is owned by uid 0, not by the target's uid " +
                       std::to_string(kNobody)),
            std::string::npos)
      << r.out;
  ExpectVictimUnharmed();
}

TEST_F(ControlFilesAttackTest, SymlinkAtTheClockPathIsNotFollowed) {
  if (!FaketimeAvailable()) GTEST_SKIP() << "libfaketime is not installed (ci/deps.sh)";
  // The final name a symbolic link to root's file, and a directory on the path one.
  std::string link = nobody_dir_ + "/clock";
  ASSERT_EQ(::symlink(victim_.c_str(), link.c_str()), 0);
  ASSERT_EQ(::lchown(link.c_str(), kNobody, kNogroup), 0);
  std::string dir_link = nobody_dir_ + "/dir";
  ASSERT_EQ(::symlink(root_dir_.c_str(), dir_link.c_str()), 0);
  ASSERT_EQ(::lchown(dir_link.c_str(), kNobody, kNogroup), 0);
  struct Case {
    std::string path, why;
  };
  for (const Case& c : {Case{link, "it is a symbolic link"},
                        Case{dir_link + "/secret", "a directory on its path is a symbolic link"}}) {
    auto& p = StartFaketimeNobody(c.path);
    FaultEnv env;
    auto f = MakeFault("clock", "offset = \"-1h\"", env);
    ASSERT_TRUE(f.ok()) << f.error().Message();
    auto r = (*f)->Inject(Target(p.child.pid, c.path));
    ASSERT_FALSE(r.ok()) << c.path;
    EXPECT_NE(r.error().Message().find(c.why), std::string::npos) << r.error().Message();
    EXPECT_EQ(r.error().code.value(), ELOOP);
    ASSERT_TRUE((*f)->Heal().ok());
    ExpectVictimUnharmed();
  }
}

TEST_F(ControlFilesAttackTest, HardLinkedClockFileIsRefused) {
  if (!FaketimeAvailable()) GTEST_SKIP() << "libfaketime is not installed (ci/deps.sh)";
  std::string real = NobodyFile("real", "+0\n");
  std::string clock = nobody_dir_ + "/clock";
  ASSERT_EQ(::link(real.c_str(), clock.c_str()), 0);
  auto& p = StartFaketimeNobody(clock);
  FaultEnv env;
  auto f = MakeFault("clock", "offset = \"-1h\"", env);
  ASSERT_TRUE(f.ok());
  auto r = (*f)->Inject(Target(p.child.pid, clock));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().Message().find("it has 2 links"), std::string::npos) << r.error().Message();
  EXPECT_EQ(ReadAll(real), "+0\n");
  EXPECT_EQ(LStat(real).st_nlink, 2u);
}

// FIU_CTRL_FIFO of a nobody process names FIFOs; the command FIFO is root's (a root daemon's
// control channel, say) and has a reader. Nothing may be written into it.
TEST_F(ControlFilesAttackTest, FifoOwnedByAnotherUidIsRefused) {
  auto& p = StartNobody({"sleep", "30"}, {"FIU_CTRL_FIFO=" + nobody_dir_ + "/fiu"});
  std::string base = nobody_dir_ + "/fiu-" + std::to_string(p.child.pid);
  ASSERT_EQ(::mkfifo((base + ".out").c_str(), 0600), 0);
  ASSERT_EQ(::chown((base + ".out").c_str(), kNobody, kNogroup), 0);
  ASSERT_EQ(::mkfifo((base + ".in").c_str(), 0600), 0);  // root's
  framework::UniqueFd reader(::open((base + ".in").c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  ASSERT_TRUE(reader);

  auto direct = FiuCommand(nobody_dir_ + "/fiu", p.child.pid, "enable name=posix/io/rw/write", 300);
  ASSERT_FALSE(direct.ok());
  EXPECT_EQ(direct.error().code.value(), EPERM) << direct.error().Message();
  EXPECT_NE(direct.error().Message().find("owned by uid 0, not by the target's uid 65534"),
            std::string::npos)
      << direct.error().Message();

  auto r = duende::testing::RunCli(std::string(DUENDE_PATH) + " fault inject syscall --pid " +
                                   std::to_string(p.child.pid) +
                                   " --param point=posix/io/rw/write --for 100ms");
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_NE(r.out.find("refusing " + base + ".in: it is owned by uid 0"), std::string::npos)
      << r.out;
  char buf[64];
  EXPECT_LT(::read(reader.get(), buf, sizeof buf), 1) << "something was written to root's FIFO";
}

// The disk filler is created inside the target's tree: a name planted there first is never
// followed, and a symbolic link to "/..." resolves inside the target's root, not ours.
TEST_F(ControlFilesAttackTest, PlantedNamesWhereTheFillerGoesAreNotFollowed) {
  std::string tree = nobody_dir_;  // stands for /proc/PID/root
  ASSERT_EQ(::mkdir((tree + "/data").c_str(), 0755), 0);
  ASSERT_EQ(::chown((tree + "/data").c_str(), kNobody, kNogroup), 0);
  std::string planted = tree + "/data/.duende-fill";
  ASSERT_EQ(::symlink(victim_.c_str(), planted.c_str()), 0);
  auto r = CreateControlFile(tree, "/data", ".duende-fill", kNobodyCred);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code.value(), EEXIST) << r.error().Message();

  // "data2" -> the absolute path of root's directory: inside the tree it names nothing.
  ASSERT_EQ(::symlink(root_dir_.c_str(), (tree + "/data2").c_str()), 0);
  auto escaped = CreateControlFile(tree, "/data2", "fill", kNobodyCred);
  ASSERT_FALSE(escaped.ok());
  EXPECT_EQ(escaped.error().code.value(), ENOENT) << escaped.error().Message();
  ExpectVictimUnharmed();

  // Legitimately: created as nobody, 0600, exclusive.
  auto ok = CreateControlFile(tree, "/data", "fill", kNobodyCred);
  ASSERT_TRUE(ok.ok()) << ok.error().Message();
  struct stat st = LStat(tree + "/data/fill");
  EXPECT_EQ(st.st_uid, kNobody);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_TRUE(RemoveControlFile(ok->dir.get(), "fill", kNobodyCred).ok());
  EXPECT_FALSE(fs::exists(tree + "/data/fill"));
}

// A control file duende creates itself never reuses a name someone planted.
TEST_F(ControlFilesAttackTest, ClockFileCreationNeverFollowsAPlantedName) {
  std::string planted = nobody_dir_ + "/clock";
  ASSERT_EQ(::symlink(victim_.c_str(), planted.c_str()), 0);
  auto r = CreateClockFile(planted);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code.value(), EEXIST);
  ExpectVictimUnharmed();
}

// Legitimate use: a nobody process duende did not start, with its own clock file. The fault
// writes it as nobody (the file stays nobody's, mode kept) and the clock really moves.
TEST_F(ControlFilesAttackTest, NobodysOwnClockFileIsWrittenAsNobodyAndTheClockMoves) {
  if (!FaketimeAvailable()) GTEST_SKIP() << "libfaketime is not installed (ci/deps.sh)";
  ASSERT_EQ(::chmod(nobody_dir_.c_str(), 0700), 0);
  std::string clock = NobodyFile("clock", "+0\n", 0640);
  auto& p = StartFaketimeNobody(clock, {CLOCK_PRINTER_PATH});
  auto skew = [&] {
    std::string line = p.WaitLine("realtime=");
    long long real = 0, mono = 0;
    if (std::sscanf(line.c_str(), "realtime=%lld monotonic=%lld", &real, &mono) != 2) return -1LL;
    return real - static_cast<long long>(std::time(nullptr));
  };
  auto becomes = [&](long long want) {
    for (int i = 0; i < 80; ++i) {
      if (std::llabs(skew() - want) <= 2) return true;
    }
    return false;
  };
  ASSERT_TRUE(becomes(0));
  FaultEnv env;
  auto f = MakeFault("clock", "offset = \"-1h\"", env);
  ASSERT_TRUE(f.ok());
  auto r = (*f)->Inject(Target(p.child.pid, clock));
  ASSERT_TRUE(r.ok()) << r.error().Message();
  struct stat st = LStat(clock);
  EXPECT_EQ(st.st_uid, kNobody) << "written as root: the file is root's now";
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(ReadAll(clock), "-1h\n");
  EXPECT_TRUE(becomes(-3600)) << "the target's CLOCK_REALTIME did not move back an hour";
  ASSERT_TRUE((*f)->Heal().ok());
  EXPECT_TRUE((*f)->Record().took_effect) << Joined((*f)->Record());
  EXPECT_EQ(ReadAll(clock), "+0\n");
  EXPECT_EQ(LStat(clock).st_uid, kNobody);
  EXPECT_TRUE(becomes(0));
}

// The record `duende fault exec` leaves for `fault inject`: found for the same process only,
// and only when it is ours.
TEST(ControlRecordTest, FoundForTheSameProcessOnlyAndOnlyWhenOurs) {
  auto state = framework::MakePrivateTempDir("duende-state-test");
  ASSERT_TRUE(state.ok());
  ASSERT_EQ(::setenv("DUENDE_STATE_DIR", state->c_str(), 1), 0);
  framework::SpawnOptions o;
  o.argv = {"sleep", "30"};
  auto c = testing::StartChild(o);
  ASSERT_TRUE(c.ok());
  pid_t pid = (*c)->child.pid;
  EXPECT_FALSE(FindControlFiles(pid).has_value());
  auto path = RecordControlFiles(pid, {"/x/fiu", "/x/clock"});
  ASSERT_TRUE(path.ok()) << path.error().Message();
  auto found = FindControlFiles(pid);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->fiu_prefix, "/x/fiu");
  EXPECT_EQ(found->clock_file, "/x/clock");
  EXPECT_FALSE(FindControlFiles(::getpid()).has_value());
  if (::geteuid() == 0) {
    // A record someone else wrote is not ours to trust.
    ASSERT_EQ(::chown(path->c_str(), kNobody, kNogroup), 0);
    EXPECT_FALSE(FindControlFiles(pid).has_value());
  }
  // A recycled pid has another start time: the record's name no longer matches.
  (*c).reset();
  EXPECT_FALSE(FindControlFiles(pid).has_value());
  ForgetControlFiles(*path);
  if (::geteuid() == 0) {
    // A state directory another user owns (they could swap records in and out) is refused.
    ASSERT_EQ(::chown(state->c_str(), kNobody, kNogroup), 0);
    auto refused = RecordControlFiles(::getpid(), {"/x/fiu", ""});
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code.value(), EPERM) << refused.error().Message();
    EXPECT_NE(refused.error().Message().find("owned by uid 65534"), std::string::npos)
        << refused.error().Message();
    ASSERT_EQ(::chown(state->c_str(), ::geteuid(), ::getegid()), 0);
  }
  // A records directory others may write into (0770) is refused, ours or not.
  ASSERT_EQ(::chmod((*state + "/targets").c_str(), 0770), 0);
  auto writable = RecordControlFiles(::getpid(), {"/x/fiu", ""});
  ASSERT_FALSE(writable.ok());
  EXPECT_EQ(writable.error().code.value(), EPERM) << writable.error().Message();
  ::unsetenv("DUENDE_STATE_DIR");
  std::error_code ec;
  fs::remove_all(*state, ec);
}

// The open descriptors of `pid` and where they point.
std::map<int, std::string> OpenFds(pid_t pid) {
  std::map<int, std::string> out;
  std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    out[std::stoi(e.path().filename().string())] = fs::read_symlink(e.path(), ec).string();
  }
  return out;
}

// A descriptor of the harness that is not close-on-exec (a leak, as a library might make): no
// fault helper and no target may see it, nor the harness's stdout and stderr (a supervisor's
// pipes: a helper holding them would keep it from ever seeing EOF).
TEST(HelperFdsTest, HogsAndTargetsSeeOnlyTheirOwnStdio) {
  int leak[2];
  ASSERT_EQ(::pipe(leak), 0);  // deliberately without O_CLOEXEC
  FaultEnv env;
  auto f = MakeFault("memory", "size = \"8MiB\"", env);
  ASSERT_TRUE(f.ok()) << f.error().Message();
  auto r = (*f)->Inject(TargetRef{"none", ::getpid(), -1, "", "", 0});
  ASSERT_TRUE(r.ok()) << r.error().Message();
  long hog = testing::EvidenceNumber((*f)->Record(), "hog pid ");
  ASSERT_GT(hog, 0) << Joined((*f)->Record());
  auto fds = OpenFds(static_cast<pid_t>(hog));
  std::map<int, std::string> want = {{0, "/dev/null"}, {1, "/dev/null"}, {2, "/dev/null"}};
  EXPECT_EQ(fds, want);
  ASSERT_TRUE((*f)->Heal().ok());

  framework::SpawnOptions o;
  o.argv = {"sleep", "30"};
  auto c = testing::StartChild(o);  // stdout a pipe, stdin /dev/null, stderr ours
  ASSERT_TRUE(c.ok());
  pid_t pid = (*c)->child.pid;
  // After exec (its comm is sleep's), nothing but 0-2.
  for (int i = 0; i < 200; ++i) {
    auto info = framework::ReadProcessInfo(pid);
    if (info.ok() && info->comm == "sleep") break;
    ::usleep(5000);
  }
  std::set<int> numbers;
  for (const auto& [n, what] : OpenFds(pid)) numbers.insert(n);
  EXPECT_EQ(numbers, (std::set<int>{0, 1, 2}));
  ::close(leak[0]);
  ::close(leak[1]);
}

}  // namespace
}  // namespace duende::faults
