// Every test program runs with $TMPDIR set to a fresh directory of its own, made before any other
// static initializer runs and removed when the program exits after its tests passed. What a
// test, or a command it started, leaves in $TMPDIR goes with it: a run directory that `duende
// run` keeps on purpose for a run that did not pass (the planted-bug scenarios do not pass),
// the scratch of a test that failed before its cleanup. When a test failed, the directory is
// kept as evidence and its path printed. It has /tmp's mode (sticky, writable by all), so tests
// that play another user in it see the same permissions as in /tmp.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace {

class ProgramTmpDir {
 public:
  ProgramTmpDir() : owner_(::getpid()) {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl =
        std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/duende-tests-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr) return;  // tests then use $TMPDIR as it was
    path_ = buf.data();
    if (::chmod(path_.c_str(), 01777) != 0 || ::setenv("TMPDIR", path_.c_str(), 1) != 0) {
      ::rmdir(path_.c_str());
      path_.clear();
    }
  }
  ~ProgramTmpDir() {
    // A forked child that returns through exit() must not take the parent's directory away.
    if (path_.empty() || ::getpid() != owner_) return;
    if (failed_) {
      std::fprintf(stderr, "a test failed: its files are kept in %s\n", path_.c_str());
      return;
    }
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  void NoteFailure() { failed_ = true; }
  ProgramTmpDir(const ProgramTmpDir&) = delete;
  ProgramTmpDir& operator=(const ProgramTmpDir&) = delete;

 private:
  pid_t owner_;
  std::string path_;
  bool failed_ = false;
};

// Priority 101 (the first a program may use): before any test file's statics read $TMPDIR.
ProgramTmpDir g_program_tmpdir __attribute__((init_priority(101)));

// After the last test: whether the directory is evidence to keep.
class KeepOnFailure : public ::testing::Environment {
 public:
  void TearDown() override {
    if (!::testing::UnitTest::GetInstance()->Passed()) g_program_tmpdir.NoteFailure();
  }
};
::testing::Environment* const g_keep_on_failure =
    ::testing::AddGlobalTestEnvironment(new KeepOnFailure);

}  // namespace
