// The undo journal: entries survive a dead owner and HealLeftovers undoes them; live owners'
// journals are left alone.
#include "duende/faults/undo_journal.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "duende/framework/process.h"
#include "support/as_nobody.h"

namespace duende::faults {
namespace {

namespace fs = std::filesystem;

// A private directory under $TMPDIR. Named duende-* by default: inside it, everything is
// within duende's own roots; `prefix` without "duende-" makes a directory that is not.
struct TempDir {
  std::string path;
  explicit TempDir(const std::string& prefix = "duende-journal-test-") {
    const char* tmp = std::getenv("TMPDIR");
    std::string t =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/" + prefix + "XXXXXX";
    path = ::mkdtemp(t.data());
  }
  ~TempDir() { fs::remove_all(path); }
};

// Writes `text` to `path` (O_CREAT|O_EXCL, mode 0600). Plain syscalls: runs as nobody.
int WriteNew(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return 1;
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  return ok ? 0 : 2;
}

bool Contains(const std::vector<std::string>& lines, const std::string& needle) {
  return std::any_of(lines.begin(), lines.end(),
                     [&](const std::string& l) { return l.find(needle) != std::string::npos; });
}

std::string Joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

pid_t DeadPid() {
  framework::SpawnOptions o;
  o.argv = {"true"};
  auto c = framework::Spawn(o);
  EXPECT_TRUE(c.ok());
  (void)framework::WaitExit(c->pidfd.get());
  return c->pid;
}

JournalLine Owner(pid_t pid, uint64_t start) {
  JournalLine l;
  l.kind = JournalLine::Kind::kOwner;
  l.owner_pid = pid;
  l.owner_start = start;
  return l;
}
JournalLine Plus(uint64_t id, UndoAction a) {
  JournalLine l;
  l.kind = JournalLine::Kind::kBegin;
  l.id = id;
  l.action = std::move(a);
  return l;
}
JournalLine Minus(uint64_t id) {
  JournalLine l;
  l.kind = JournalLine::Kind::kDone;
  l.id = id;
  return l;
}
// The text of a journal of a dead run with these entries.
std::string JournalText(const std::vector<JournalLine>& entries) {
  std::string out = std::string(kJournalHeader) + "\n" + FormatJournalLine(Owner(DeadPid(), 1));
  for (const auto& e : entries) out += FormatJournalLine(e);
  return out;
}

TEST(UndoJournalTest, DoneEntriesLeaveNoJournal) {
  TempDir d;
  std::string path;
  {
    auto j = UndoJournal::Create(d.path);
    ASSERT_TRUE(j.ok()) << j.error().Message();
    path = (*j)->path();
    auto id = (*j)->Begin({"file", {d.path + "/x"}});
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
  auto j = UndoJournal::Create(d.path);
  ASSERT_TRUE(j.ok());
  std::string victim = d.path + "/keep";
  std::ofstream(victim) << "x";
  ASSERT_TRUE((*j)->Begin({"file", {victim}}).ok());
  auto report = HealLeftovers(d.path);
  EXPECT_EQ(report.journals_seen, 1);
  EXPECT_EQ(report.journals_healed, 0);
  EXPECT_TRUE(fs::exists(victim));
}

TEST(UndoJournalTest, DeadOwnersEntriesAreUndoneNewestFirst) {
  TempDir d;
  std::string file = d.path + "/leftover";
  std::ofstream(file) << "x";
  std::string fifo_prefix = d.path + "/fiu";
  ASSERT_EQ(::mkfifo((fifo_prefix + "-123.in").c_str(), 0600), 0);
  ASSERT_EQ(::mkfifo((fifo_prefix + "-123.out").c_str(), 0600), 0);
  std::string limit_file = d.path + "/limit";
  std::ofstream(limit_file) << "low";  // cgroup files are not truncated: same length
  std::string journal = d.path + "/1-1-0.journal";
  std::ofstream(journal) << JournalText({Plus(1, {"file", {file}}),
                                         Plus(2, {"fifo-prefix", {fifo_prefix}}),
                                         Plus(3, {"write", {limit_file, "max"}}),
                                         Plus(4, {"file", {d.path + "/already-done"}}), Minus(4)});
  auto report = HealLeftovers(d.path);
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
  std::string odd = d.path + "/a\tb\nc%d";
  std::ofstream(odd) << "x";
  std::string path;
  {
    auto j = UndoJournal::Create(d.path);
    ASSERT_TRUE(j.ok());
    path = (*j)->path();
    ASSERT_TRUE((*j)->Begin({"file", {odd}}).ok());
    // Pretend the owner died: rewrite the owner line to a dead pid.
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), {});
    auto p = text.find('\n') + 1;
    auto e = text.find('\n', p) + 1;
    text.replace(p, e - p, FormatJournalLine(Owner(DeadPid(), 1)));
    std::ofstream(path + ".tmp") << text;
    fs::rename(path + ".tmp", d.path + "/copy.journal");
  }
  auto report = HealLeftovers(d.path);
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
  const std::string victim = d.path + "/duende-victim";
  std::ofstream(victim) << "x";
  const std::string journal = d.path + "/1-1-0.journal";
  std::ofstream(journal) << JournalText({Plus(1, {"file", {victim}})});
  int fd = ::open(journal.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  auto r = HealLeftovers(d.path);
  EXPECT_EQ(r.journals_healed, 0);
  EXPECT_TRUE(fs::exists(victim));
  EXPECT_TRUE(fs::exists(journal));
  ::close(fd);  // the run ended without cleaning up: now it is a dead run's journal
  r = HealLeftovers(d.path);
  EXPECT_EQ(r.journals_healed, 1);
  EXPECT_FALSE(fs::exists(victim));
  EXPECT_FALSE(fs::exists(journal));
}

TEST(UndoJournalTest, ALiveJournalHoldsItsLockFromTheStart) {
  TempDir d;
  auto j = UndoJournal::Create(d.path);
  ASSERT_TRUE(j.ok()) << j.error().Message();
  int fd = ::open((*j)->path().c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  EXPECT_NE(::flock(fd, LOCK_EX | LOCK_NB), 0);
  EXPECT_EQ(errno, EWOULDBLOCK);
  ::close(fd);
  // Only complete journals carry the name heals read: no "*.journal.new" is left behind.
  for (const auto& f : fs::directory_iterator(d.path)) {
    EXPECT_EQ(f.path().extension(), ".journal") << f.path();
  }
}

TEST(UndoJournalTest, ADirectoryOthersCanWriteIsRefused) {
  TempDir d;
  const std::string victim = d.path + "/duende-victim";
  std::ofstream(victim) << "x";
  const std::string dir = d.path + "/journals";
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  std::ofstream(dir + "/1-1-0.journal") << JournalText({Plus(1, {"file", {victim}})});
  for (mode_t mode : {0777, 0755, 0710}) {  // anyone could have planted (or read) that recipe
    ASSERT_EQ(::chmod(dir.c_str(), mode), 0);
    auto r = HealLeftovers(dir);
    EXPECT_TRUE(r.dir_refused);
    EXPECT_EQ(r.journals_healed, 0);
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_NE(r.errors[0].find("mode 0700"), std::string::npos) << r.errors[0];
    EXPECT_TRUE(fs::exists(victim));
  }
  EXPECT_TRUE(fs::exists(victim));
  auto j = UndoJournal::Create(dir);
  EXPECT_FALSE(j.ok());
  ASSERT_EQ(::chmod(dir.c_str(), 0700), 0);
  EXPECT_EQ(HealLeftovers(dir).journals_healed, 1);
  EXPECT_FALSE(fs::exists(victim));
}

TEST(JournalLineTest, FormattedLinesParseBack) {
  UndoAction odd{"file", {"/tmp/duende-x/a\tb\nc%d"}};
  for (const JournalLine& l : {Owner(42, 7), Plus(3, odd), Minus(3)}) {
    std::string text = FormatJournalLine(l);
    ASSERT_EQ(text.back(), '\n');
    auto back = ParseJournalLine(std::string_view(text).substr(0, text.size() - 1));
    ASSERT_TRUE(back.ok()) << text << back.error().Message();
    EXPECT_EQ(back->kind, l.kind);
    EXPECT_EQ(back->id, l.id);
    EXPECT_EQ(back->owner_pid, l.owner_pid);
    EXPECT_EQ(back->owner_start, l.owner_start);
    EXPECT_EQ(back->action.type, l.action.type);
    EXPECT_EQ(back->action.args, l.action.args);
  }
}

TEST(JournalLineTest, DamagedLinesAreRejectedWithTheReason) {
  std::string good = FormatJournalLine(Plus(1, {"file", {"/tmp/duende-x/f"}}));
  good.pop_back();
  auto why = [](std::string_view line) {
    auto r = ParseJournalLine(line);
    return r.ok() ? std::string("accepted") : r.error().Message();
  };
  std::string flipped = good;
  flipped[flipped.size() - 1] = 'g';  // one byte of the path changed
  EXPECT_NE(why(flipped).find("checksum mismatch"), std::string::npos);
  EXPECT_NE(why(good.substr(0, good.size() - 3)).find("checksum mismatch"), std::string::npos);
  EXPECT_NE(why(good.substr(0, 5)).find("no checksum"), std::string::npos);
  EXPECT_NE(why("+\t1\tfile\t/etc/passwd").find("checksum"), std::string::npos);
  // Well-checksummed but malformed bodies.
  // A line with a valid CRC-32 (computed here independently) over `body`.
  auto with_crc = [](const std::string& body) {
    char crc[9];
    uint32_t c = 0xFFFFFFFFu;
    for (char ch : body) {
      c ^= static_cast<uint8_t>(ch);
      for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    std::snprintf(crc, sizeof crc, "%08x", ~c);
    return std::string(crc) + "\t" + body;
  };
  EXPECT_TRUE(ParseJournalLine(with_crc("-\t1")).ok());
  EXPECT_NE(why(with_crc("x\t1")).find("unknown line kind"), std::string::npos);
  EXPECT_NE(why(with_crc("-\t0")).find("positive id"), std::string::npos);
  EXPECT_NE(why(with_crc("-\t1x")).find("positive id"), std::string::npos);
  EXPECT_NE(why(with_crc("+\t1")).find("needs a type"), std::string::npos);
  EXPECT_NE(why(with_crc("+\t1\tfile\t/a%00b")).find("NUL"), std::string::npos);
  EXPECT_NE(why(with_crc("+\t1\tfile\t/a%zz")).find("escape"), std::string::npos);
  EXPECT_NE(why(with_crc("+\t1\tfile\t/a%2")).find("escape"), std::string::npos);
  EXPECT_NE(why(with_crc("owner\t-5\t1")).find("not a number in range"), std::string::npos);
  EXPECT_NE(why(with_crc("owner\t99999999999\t1")).find("not a number in range"),
            std::string::npos);
}

// An attacker's journal file, even in root's own journal directory (planted while it was
// open, say), is not root's recipe: ignored with a warning; what it names stays.
TEST(UndoJournalAttackTest, AJournalFileOfAnotherUserIsIgnoredWithAWarning) {
  TempDir d;
  ASSERT_EQ(::chmod(d.path.c_str(), 0711), 0);  // nobody may pass through, not list
  const std::string victim = d.path + "/duende-root-file";
  std::ofstream(victim) << "root's";
  const std::string victim_dir = d.path + "/duende-root-dir";
  ASSERT_EQ(::mkdir(victim_dir.c_str(), 0700), 0);
  const std::string journals = d.path + "/journals";
  ASSERT_EQ(::mkdir(journals.c_str(), 0700), 0);
  const std::string drop = d.path + "/nobody";
  ASSERT_EQ(::mkdir(drop.c_str(), 0700), 0);
  ASSERT_EQ(::chown(drop.c_str(), testing::kNobody, testing::kNobody), 0);
  const std::string text =
      JournalText({Plus(1, {"file", {victim}}), Plus(2, {"dir", {victim_dir}})});
  const std::string planted = drop + "/1-1-0.journal";
  ASSERT_EQ(testing::RunAsNobody([&] { return WriteNew(planted, text); }), 0);
  ASSERT_EQ(::rename(planted.c_str(), (journals + "/1-1-0.journal").c_str()), 0);
  auto r = HealLeftovers(journals);
  EXPECT_FALSE(r.dir_refused);
  EXPECT_EQ(r.journals_healed, 0);
  EXPECT_TRUE(r.actions.empty()) << Joined(r.actions);
  EXPECT_TRUE(Contains(r.warnings, "owner uid 65534")) << Joined(r.warnings);
  EXPECT_TRUE(fs::exists(victim));
  EXPECT_TRUE(fs::exists(victim_dir));
  EXPECT_TRUE(fs::exists(journals + "/1-1-0.journal"));  // not ours to remove either
}

// A journal directory nobody owns (say nobody made /tmp/duende-0/journal first): root reads
// nothing from it and writes no journal into it.
TEST(UndoJournalAttackTest, AJournalDirectoryOfAnotherUserIsRefused) {
  TempDir d;
  ASSERT_EQ(::chmod(d.path.c_str(), 0711), 0);
  const std::string victim = d.path + "/duende-root-file";
  std::ofstream(victim) << "root's";
  const std::string journals = d.path + "/journals";
  ASSERT_EQ(::mkdir(journals.c_str(), 0700), 0);
  ASSERT_EQ(::chown(journals.c_str(), testing::kNobody, testing::kNobody), 0);
  const std::string text = JournalText({Plus(1, {"file", {victim}})});
  const std::string planted = journals + "/1-1-0.journal";
  ASSERT_EQ(testing::RunAsNobody([&] { return WriteNew(planted, text); }), 0);
  auto r = HealLeftovers(journals);
  EXPECT_TRUE(r.dir_refused);
  EXPECT_EQ(r.journals_seen, 0);
  EXPECT_TRUE(r.actions.empty());
  EXPECT_TRUE(Contains(r.errors, "owned by uid 65534")) << Joined(r.errors);
  EXPECT_TRUE(fs::exists(victim));
  auto j = UndoJournal::Create(journals);
  ASSERT_FALSE(j.ok());
  EXPECT_NE(j.error().Message().find("owned by uid 65534"), std::string::npos);
}

// A line whose checksum does not match (altered, or a sector of garbage) and a torn last line
// are skipped and reported; the good entries around them still run.
TEST(UndoJournalTest, TornAndCorruptLinesAreSkippedAndReportedNeverRun) {
  TempDir d;
  const std::string done = d.path + "/duende-leftover";
  const std::string corrupt_victim = d.path + "/duende-keep-1";
  const std::string torn_victim = d.path + "/duende-keep-2";
  for (const auto& f : {done, corrupt_victim, torn_victim}) std::ofstream(f) << "x";
  std::string corrupt = FormatJournalLine(Plus(2, {"file", {corrupt_victim + "X"}}));
  // The checksum was written for ...-1X; the line now names ...-1.
  corrupt.erase(corrupt.size() - 2, 1);
  std::string torn = FormatJournalLine(Plus(3, {"file", {torn_victim}}));
  torn.pop_back();  // the crash came before the newline
  const std::string journal = d.path + "/1-1-0.journal";
  std::ofstream(journal) << JournalText({Plus(1, {"file", {done}})}) << corrupt << torn;
  auto r = HealLeftovers(d.path);
  EXPECT_FALSE(fs::exists(done));
  EXPECT_TRUE(fs::exists(corrupt_victim));
  EXPECT_TRUE(fs::exists(torn_victim));
  ASSERT_EQ(r.warnings.size(), 2u) << Joined(r.warnings);
  EXPECT_NE(r.warnings[0].find(journal + ":4: skipped: checksum mismatch"), std::string::npos)
      << r.warnings[0];
  EXPECT_NE(r.warnings[1].find(journal + ":5: skipped"), std::string::npos) << r.warnings[1];
  EXPECT_EQ(r.actions.size(), 1u) << Joined(r.actions);
  EXPECT_TRUE(r.errors.empty()) << Joined(r.errors);
}

// A journal of ours that names things outside duende's roots (root's files, a directory not
// named duende-*, a path through a symbolic link, a directory that is not a cgroup): doctor
// refuses each, touches none, and keeps the journal for a human to look at.
TEST(UndoJournalTest, EntriesOutsideDuendesRootsAreRefused) {
  TempDir journals;
  TempDir outside("journal-test-outside-");  // not a duende-* directory
  const std::string file = outside.path + "/passwd";
  std::ofstream(file) << "root:x:0:0";
  const std::string plain_dir = outside.path + "/data";
  ASSERT_EQ(::mkdir(plain_dir.c_str(), 0700), 0);
  const std::string own_dir = journals.path + "/duende-run-1";  // ours...
  ASSERT_EQ(::mkdir(own_dir.c_str(), 0700), 0);
  const std::string link = own_dir + "/link";  // ...but this leads out of it
  ASSERT_EQ(::symlink(outside.path.c_str(), link.c_str()), 0);
  const std::string journal = journals.path + "/1-1-0.journal";
  std::ofstream(journal) << JournalText({
      Plus(1, {"file", {file}}),
      Plus(2, {"write", {file, "pwned"}}),
      Plus(3, {"dir", {plain_dir}}),
      Plus(4, {"file", {link + "/passwd"}}),
      Plus(5, {"cgroup", {"v1", plain_dir}}),
      Plus(6, {"fifo-prefix", {outside.path + "/fiu-ctrl"}}),
      Plus(7, {"file", {own_dir + "/../../" + outside.path.substr(1) + "/passwd"}}),
      // Only duende's own containers are deleted: not another's, not a path.
      Plus(8, {"oci-container", {"production-db"}}),
      Plus(9, {"oci-container", {"duende-x/../production-db"}}),
  });
  auto r = HealLeftovers(journals.path);
  EXPECT_EQ(r.journals_healed, 0);
  EXPECT_TRUE(r.actions.empty()) << Joined(r.actions);
  EXPECT_EQ(r.errors.size(), 9u) << Joined(r.errors);
  for (const auto& e : r.errors) EXPECT_NE(e.find("refused"), std::string::npos) << e;
  std::ifstream in(file);
  std::string content;
  std::getline(in, content);
  EXPECT_EQ(content, "root:x:0:0");
  EXPECT_TRUE(fs::exists(plain_dir));
  EXPECT_TRUE(fs::exists(journal));
}

// A process is signalled only when pid and start time both match: the same pid with another
// start time (a recycled pid) is left running, and a pid without a start time is refused.
TEST(UndoJournalTest, ARecycledPidIsNeverSignalled) {
  TempDir d;
  framework::SpawnOptions o;
  o.argv = {"sleep", "60"};
  auto c = framework::Spawn(o);
  ASSERT_TRUE(c.ok());
  const uint64_t start = ProcessStartTime(c->pid);
  ASSERT_GT(start, 0u);
  const std::string pid = std::to_string(c->pid);
  std::ofstream(d.path + "/1-1-0.journal")
      << JournalText({Plus(1, {"process", {pid, std::to_string(start + 1)}}),
                      Plus(2, {"stopped", {pid, std::to_string(start - 1)}}),
                      Plus(3, {"rlimit", {pid, std::to_string(start + 7), "7", "1", "1"}})});
  std::ofstream(d.path + "/1-1-1.journal") << JournalText({Plus(1, {"process", {pid, "0"}})});
  auto r = HealLeftovers(d.path);
  EXPECT_EQ(r.journals_healed, 1);  // the first: nothing of it matched a live process
  ASSERT_EQ(r.errors.size(), 1u) << Joined(r.errors);
  EXPECT_NE(r.errors[0].find("only together with its start time"), std::string::npos);
  EXPECT_TRUE(SameProcessAlive(c->pid, start));
  // With its real start time it is the process the run made: killed.
  std::ofstream(d.path + "/1-1-2.journal")
      << JournalText({Plus(1, {"process", {pid, std::to_string(start)}})});
  r = HealLeftovers(d.path);
  EXPECT_TRUE(Contains(r.actions, "undid process " + pid)) << Joined(r.actions);
  auto st = framework::WaitExit(c->pidfd.get());
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(st->signaled);
}

}  // namespace
}  // namespace duende::faults
