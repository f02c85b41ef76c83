// Mutant schemata: one compiled program must behave, for each DUENDE_MUTANT=id, exactly like
// the program with only that mutant applied; compile errors are blamed on their mutant.
#include "duende/mutate/schemata.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "duende/framework/temp_dir.h"
#include "duende/mutate/point_finder.h"
#include "duende/mutate/test_runner.h"

namespace duende::mutate {
namespace {

namespace fs = std::filesystem;

class SchemataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto made = framework::MakePrivateTempDir("duende-schemata");
    ASSERT_TRUE(made.ok()) << made.error().Message();
    dir_ = *made;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Compiles `code` to an executable; returns "" on success or the compiler output.
  std::string Compile(const std::string& code, const std::string& name) {
    std::ofstream(dir_ / (name + ".cc")) << code;
    std::string out;
    auto st = RunCaptured({"c++", "-std=c++20", "-O0", "-w", (dir_ / (name + ".cc")).string(), "-o",
                           (dir_ / name).string()},
                          dir_.string(), &out);
    EXPECT_TRUE(st.ok());
    return st.ok() && st->success() ? "" : out;
  }

  // Runs a compiled program: its output plus its exit code.
  std::string Run(const std::string& name, std::vector<std::string> env = {}) {
    TestCase t;
    t.name = name;
    t.argv = {(dir_ / name).string()};
    t.working_dir = dir_.string();
    std::string log = (dir_ / (name + ".out")).string();
    auto r = RunTest(t, env, std::chrono::seconds(20), log);
    EXPECT_TRUE(r.ok());
    std::ifstream in(log);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str() + "exit " + std::to_string(r.ok() ? r->status.code : -1);
  }

  FileMutants Find(const std::string& code) {
    fs::path src = dir_ / "orig.cc";
    std::ofstream(src) << code;
    auto r = FindMutants(src.string(), {"-std=c++20"});
    EXPECT_TRUE(r.ok());
    uint32_t id = 1;
    for (auto& m : r->mutants) m.id = id++;
    return *r;
  }

  fs::path dir_;
};

constexpr const char* kProgram = R"(#include <cstdio>
int Clamp(int v, int lo, int hi) {
  if (v < lo) return lo;
  if (v > hi) return hi;
  return v;
}
bool Odd(int v) { return !(v % 2 == 0); }
int g = 0;
void Bump() { g = g + 1; }
int Unused(int v) { return v * 3; }
int main() {
  Bump();
  std::printf("%d %d %d %d %d\n", Clamp(5, 0, 3), Clamp(-1, 0, 3), Odd(3), Odd(4), g);
  return 0;
}
)";

TEST_F(SchemataTest, EachMutantBehavesLikeItsOwnBuild) {
  FileMutants fm = Find(kProgram);
  ASSERT_GE(fm.mutants.size(), 15u);
  std::vector<const Mutant*> ms;
  for (const auto& m : fm.mutants) ms.push_back(&m);
  auto id_limit = static_cast<uint32_t>(fm.mutants.size() + 1);
  SchemataFile sf = RenderSchemata(kProgram, ms, id_limit);
  EXPECT_TRUE(sf.unplaced.empty());
  ASSERT_EQ(Compile(sf.text, "schemata"), "");
  ASSERT_EQ(Compile(kProgram, "original"), "");
  EXPECT_EQ(Run("schemata"), Run("original"));
  EXPECT_EQ(Run("schemata", {"DUENDE_MUTANT=0"}), Run("original"));
  size_t differing = 0;
  for (const auto& m : fm.mutants) {
    std::string name = "m" + std::to_string(m.id);
    ASSERT_EQ(Compile(ApplyMutant(kProgram, m), name), "") << m.WhereString();
    std::string expected = Run(name);
    EXPECT_EQ(Run("schemata", {"DUENDE_MUTANT=" + std::to_string(m.id)}), expected)
        << m.WhereString() << " '" << m.original << "' -> '" << m.replacement << "'";
    if (expected != Run("original")) ++differing;
  }
  EXPECT_GE(differing, 10u) << "the mutants change behaviour";
}

TEST_F(SchemataTest, TraceListsExactlyTheReachedMutants) {
  FileMutants fm = Find(kProgram);
  std::vector<const Mutant*> ms;
  for (const auto& m : fm.mutants) ms.push_back(&m);
  SchemataFile sf = RenderSchemata(kProgram, ms, static_cast<uint32_t>(ms.size() + 1));
  ASSERT_EQ(Compile(sf.text, "schemata"), "");
  std::string trace = (dir_ / "trace").string();
  Run("schemata", {std::string(kTraceEnv) + "=" + trace});
  std::ifstream in(trace);
  std::set<uint32_t> reached;
  std::string line;
  size_t lines = 0;
  while (std::getline(in, line)) {
    reached.insert(static_cast<uint32_t>(std::stoul(line)));
    ++lines;
  }
  EXPECT_EQ(lines, reached.size()) << "each id is written once per process";
  for (const auto& m : fm.mutants) {
    // Unused() is never called; Clamp's last return is never reached by main's inputs.
    bool in_unused = m.start.line == 10 || m.start.line == 5;
    EXPECT_EQ(reached.count(m.id), in_unused ? 0u : 1u) << m.WhereString();
  }
}

TEST_F(SchemataTest, ChildrenTraceWithoutTouchingTheirDescriptors) {
  // The child reaches Child() only after moving a pipe onto the trace descriptor's number:
  // the trace must still get the id, and the pipe must carry nothing but the child's "ok".
  const std::string code = R"(#include <cstdio>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
int Parent(int x) { return x + 1; }
int Child(int x) { return x * 2; }
int main() {
  if (Parent(1) != 2) return 9;
  int trace_fd = 3;
  while (fcntl(trace_fd, F_GETFD) < 0) ++trace_fd;
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return 8;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(p[1], trace_fd);
    int r = Child(3);
    if (write(trace_fd, r == 6 ? "ok" : "no", 2) != 2) _exit(7);
    _exit(0);
  }
  close(p[1]);
  int status = 0;
  waitpid(pid, &status, 0);
  char buf[64] = {0};
  ssize_t n = read(p[0], buf, sizeof buf - 1);
  std::printf("pipe=%.*s\n", static_cast<int>(n), buf);
  return 0;
}
)";
  FileMutants fm = Find(code);
  std::vector<const Mutant*> ms;
  std::set<uint32_t> child_ids;
  for (const auto& m : fm.mutants) {
    ms.push_back(&m);
    if (m.start.line == 6) child_ids.insert(m.id);
  }
  ASSERT_EQ(child_ids.size(), 2u);
  SchemataFile sf = RenderSchemata(code, ms, static_cast<uint32_t>(ms.size() + 1));
  ASSERT_EQ(Compile(sf.text, "forker"), "");
  std::string trace = (dir_ / "trace").string();
  EXPECT_EQ(Run("forker", {std::string(kTraceEnv) + "=" + trace}), "pipe=ok\nexit 0");
  std::ifstream in(trace);
  std::set<uint32_t> reached;
  std::string line;
  while (std::getline(in, line)) reached.insert(static_cast<uint32_t>(std::stoul(line)));
  for (uint32_t id : child_ids) EXPECT_EQ(reached.count(id), 1u) << id;
}

TEST_F(SchemataTest, CompileErrorsAreBlamedOnTheirMutant) {
  // `(c ? (0) : (a))` with a std::atomic<int> is ambiguous: the return-value mutant of
  // Load() cannot be compiled, the others can.
  const std::string code = R"(#include <atomic>
int Load(std::atomic<int>& a) { return a; }
int Add(int a, int b) { return a + b; }
int main() { std::atomic<int> a{2}; return Load(a) == 2 ? Add(0, 0) : 1; }
)";
  FileMutants fm = Find(code);
  std::vector<const Mutant*> ms;
  uint32_t bad = 0;
  for (const auto& m : fm.mutants) {
    ms.push_back(&m);
    if (m.start.line == 2 && m.op == Operator::kReturnValue) bad = m.id;
  }
  ASSERT_NE(bad, 0u);
  SchemataFile sf = RenderSchemata(code, ms, static_cast<uint32_t>(ms.size() + 1));
  std::string errors = Compile(sf.text, "bad");
  ASSERT_NE(errors, "");
  std::regex re(R"(bad\.cc:(\d+):(\d+): error:)");
  std::set<uint32_t> blamed;
  for (std::sregex_iterator it(errors.begin(), errors.end(), re), end; it != end; ++it) {
    for (uint32_t id : BlameError(sf, static_cast<uint32_t>(std::stoul((*it)[1])),
                                  static_cast<uint32_t>(std::stoul((*it)[2])))) {
      blamed.insert(id);
    }
  }
  EXPECT_EQ(blamed, std::set<uint32_t>{bad}) << errors;
  // Without it, the schemata compiles.
  std::erase_if(ms, [&](const Mutant* m) { return m->id == bad; });
  SchemataFile good = RenderSchemata(code, ms, static_cast<uint32_t>(fm.mutants.size() + 1));
  EXPECT_EQ(Compile(good.text, "good"), "");
}

}  // namespace
}  // namespace duende::mutate
