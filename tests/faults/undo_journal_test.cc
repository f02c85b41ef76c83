// The undo journal: entries survive a dead owner and HealLeftovers undoes them; live owners'
// journals are left alone.
#include "duende/faults/undo_journal.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "duende/framework/process.h"
#include "support/temp_dir.h"

namespace duende::faults {
namespace {

namespace fs = std::filesystem;
using duende::testing::TempDir;

pid_t DeadPid() {
  framework::SpawnOptions o;
  o.argv = {"true"};
  auto c = framework::Spawn(o);
  EXPECT_TRUE(c.ok());
  (void)framework::WaitExit(c->pidfd.get());
  return c->pid;
}

TEST(UndoJournalTest, DoneEntriesLeaveNoJournal) {
  TempDir d;
  std::string path;
  {
    auto j = UndoJournal::Create(d.path());
    ASSERT_TRUE(j.ok()) << j.error().Message();
    path = (*j)->path();
    auto id = (*j)->Begin({"file", {d.path() + "/x"}});
    ASSERT_TRUE(id.ok());
    EXPECT_EQ((*j)->Pending().size(), 1u);
    (*j)->Done(*id);
    EXPECT_TRUE((*j)->Pending().empty());
    EXPECT_TRUE(fs::exists(path));
  }
  EXPECT_FALSE(fs::exists(path));
}

TEST(UndoJournalTest, LiveOwnersJournalIsLeftAlone) {
  TempDir d;
  auto j = UndoJournal::Create(d.path());
  ASSERT_TRUE(j.ok());
  std::string victim = d.path() + "/keep";
  std::ofstream(victim) << "x";
  ASSERT_TRUE((*j)->Begin({"file", {victim}}).ok());
  auto report = HealLeftovers(d.path());
  EXPECT_EQ(report.journals_seen, 1);
  EXPECT_EQ(report.journals_healed, 0);
  EXPECT_TRUE(fs::exists(victim));
}

TEST(UndoJournalTest, DeadOwnersEntriesAreUndoneNewestFirst) {
  TempDir d;
  std::string file = d.path() + "/leftover";
  std::ofstream(file) << "x";
  std::string fifo_prefix = d.path() + "/fiu";
  ASSERT_EQ(::mkfifo((fifo_prefix + "-123.in").c_str(), 0600), 0);
  ASSERT_EQ(::mkfifo((fifo_prefix + "-123.out").c_str(), 0600), 0);
  std::string limit_file = d.path() + "/limit";
  std::ofstream(limit_file) << "low";  // cgroup files are not truncated: same length
  std::string journal = d.path() + "/1-1-0.journal";
  {
    std::ofstream out(journal);
    out << "duende-journal 1\nowner\t" << DeadPid() << "\t1\n"
        << "+\t1\tfile\t" << file << "\n"
        << "+\t2\tfifo-prefix\t" << fifo_prefix << "\n"
        << "+\t3\twrite\t" << limit_file << "\tmax\n"
        << "+\t4\tfile\t" << d.path() << "/already-done\n"
        << "-\t4\n";
  }
  auto report = HealLeftovers(d.path());
  EXPECT_EQ(report.journals_healed, 1);
  EXPECT_TRUE(report.errors.empty());
  ASSERT_EQ(report.actions.size(), 3u);
  EXPECT_EQ(report.actions[0].rfind("undid write", 0), 0u) << report.actions[0];
  EXPECT_FALSE(fs::exists(file));
  EXPECT_FALSE(fs::exists(fifo_prefix + "-123.in"));
  EXPECT_FALSE(fs::exists(fifo_prefix + "-123.out"));
  std::ifstream in(limit_file);
  std::string v;
  in >> v;
  EXPECT_EQ(v, "max");
  EXPECT_FALSE(fs::exists(journal));
}

TEST(UndoJournalTest, FieldsWithTabsAndNewlinesRoundTrip) {
  TempDir d;
  std::string odd = d.path() + "/a\tb\nc%d";
  std::ofstream(odd) << "x";
  std::string path;
  {
    auto j = UndoJournal::Create(d.path());
    ASSERT_TRUE(j.ok());
    path = (*j)->path();
    ASSERT_TRUE((*j)->Begin({"file", {odd}}).ok());
    // Pretend the owner died: rewrite the owner line to a dead pid.
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), {});
    auto p = text.find("owner\t");
    auto e = text.find('\n', p);
    text.replace(p, e - p, "owner\t" + std::to_string(DeadPid()) + "\t1");
    std::ofstream(path + ".tmp") << text;
    fs::rename(path + ".tmp", d.path() + "/copy.journal");
  }
  auto report = HealLeftovers(d.path());
  EXPECT_FALSE(fs::exists(odd));
  EXPECT_GE(report.journals_healed, 1);
}

TEST(UndoJournalTest, SameProcessAliveRejectsRecycledStartTimes) {
  uint64_t start = ProcessStartTime(::getpid());
  EXPECT_GT(start, 0u);
  EXPECT_TRUE(SameProcessAlive(::getpid(), start));
  EXPECT_FALSE(SameProcessAlive(::getpid(), start + 1));
  EXPECT_FALSE(SameProcessAlive(DeadPid(), 0));
}

// A journal whose owner line names a process that looks dead (as a run in another pid
// namespace does from here) is still left alone while its run holds the journal's lock.
TEST(UndoJournalTest, ALockedJournalIsLiveWhateverItsOwnerLineSays) {
  TempDir d;
  const std::string victim = d.path() + "/duende-victim";
  std::ofstream(victim) << "x";
  const std::string journal = d.path() + "/1-1-0.journal";
  std::ofstream(journal) << "duende-journal 1\nowner\t" << DeadPid() << "\t1\n+\t1\tfile\t"
                         << victim << "\n";
  int fd = ::open(journal.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  auto r = HealLeftovers(d.path());
  EXPECT_EQ(r.journals_healed, 0);
  EXPECT_TRUE(fs::exists(victim));
  EXPECT_TRUE(fs::exists(journal));
  ::close(fd);  // the run ended without cleaning up: now it is a dead run's journal
  r = HealLeftovers(d.path());
  EXPECT_EQ(r.journals_healed, 1);
  EXPECT_FALSE(fs::exists(victim));
  EXPECT_FALSE(fs::exists(journal));
}

TEST(UndoJournalTest, ALiveJournalHoldsItsLockFromTheStart) {
  TempDir d;
  auto j = UndoJournal::Create(d.path());
  ASSERT_TRUE(j.ok()) << j.error().Message();
  int fd = ::open((*j)->path().c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  EXPECT_NE(::flock(fd, LOCK_EX | LOCK_NB), 0);
  EXPECT_EQ(errno, EWOULDBLOCK);
  ::close(fd);
  // Only complete journals carry the name heals read: no "*.journal.new" is left behind.
  for (const auto& f : fs::directory_iterator(d.path())) {
    EXPECT_EQ(f.path().extension(), ".journal") << f.path();
  }
}

TEST(UndoJournalTest, ADirectoryOthersCanWriteIsRefused) {
  TempDir d;
  const std::string victim = d.path() + "/duende-victim";
  std::ofstream(victim) << "x";
  const std::string dir = d.path() + "/journals";
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  std::ofstream(dir + "/1-1-0.journal")
      << "duende-journal 1\nowner\t" << DeadPid() << "\t1\n+\t1\tfile\t" << victim << "\n";
  ASSERT_EQ(::chmod(dir.c_str(), 0777), 0);  // anyone could have planted that recipe
  auto r = HealLeftovers(dir);
  EXPECT_EQ(r.journals_healed, 0);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("writable by others"), std::string::npos) << r.errors[0];
  EXPECT_TRUE(fs::exists(victim));
  auto j = UndoJournal::Create(dir);
  EXPECT_FALSE(j.ok());
  ASSERT_EQ(::chmod(dir.c_str(), 0700), 0);
  EXPECT_EQ(HealLeftovers(dir).journals_healed, 1);
  EXPECT_FALSE(fs::exists(victim));
}

}  // namespace
}  // namespace duende::faults
