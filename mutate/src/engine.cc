#include "duende/mutate/engine.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "duende/framework/clock.h"
#include "duende/framework/read_limits.h"
#include "duende/framework/unique_fd.h"
#include "duende/mutate/compile_db.h"
#include "duende/mutate/point_finder.h"
#include "duende/mutate/schemata.h"
#include "duende/mutate/test_runner.h"

namespace duende::mutate {

namespace fs = std::filesystem;
using framework::MessageError;
using framework::Result;

uint32_t MutateRun::Count(Status s) const {
  return static_cast<uint32_t>(std::count_if(mutants.begin(), mutants.end(),
                                             [s](const Mutant& m) { return m.status == s; }));
}

uint32_t MutateRun::Tested() const {
  return Count(Status::kKilled) + Count(Status::kTimeout) + Count(Status::kSurvived) +
         Count(Status::kNoCoverage);
}

double MutateRun::Score() const {
  uint32_t detected = Count(Status::kKilled) + Count(Status::kTimeout);
  uint32_t all = Tested();
  return all == 0 ? 100.0 : 100.0 * detected / all;
}

namespace {

// A test's log, for the tail of a failure message: only the last MiB is read (a test can
// print without end).
std::string ReadFile(const std::string& path) {
  constexpr std::streamoff kMaxTail = 1 << 20;
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  const std::streamoff size = in ? static_cast<std::streamoff>(in.tellg()) : 0;
  in.seekg(size > kMaxTail ? size - kMaxTail : 0);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<void> WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return framework::ErrnoError("unable to write " + path);
  return {};
}

bool IsCxxSource(const fs::path& p) {
  static const std::set<std::string> kExt = {".cc", ".cpp", ".cxx", ".c++", ".C"};
  return kExt.count(p.extension().string()) > 0;
}

bool LooksLikeTest(const std::string& rel) {
  static const char* const kParts[] = {"test/", "tests/", "_test.", "_unittest.", "bench", "fuzz"};
  for (const char* p : kParts) {
    if (rel.find(p) != std::string::npos) return true;
  }
  return false;
}

// CMakeCache.txt values (KEY:TYPE=value).
std::map<std::string, std::string> ReadCmakeCache(const fs::path& dir) {
  std::map<std::string, std::string> out;
  std::ifstream in(dir / "CMakeCache.txt");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line[0] == '/') continue;
    auto colon = line.find(':');
    auto eq = line.find('=');
    if (colon == std::string::npos || eq == std::string::npos || colon > eq) continue;
    out[line.substr(0, colon)] = line.substr(eq + 1);
  }
  return out;
}

std::string Rel(const fs::path& p, const fs::path& base) {
  std::string r = fs::path(p).lexically_relative(base).string();
  return r.empty() || r.rfind("..", 0) == 0 ? p.string() : r;
}

Result<void> CopyTree(const fs::path& from, const fs::path& to, const std::set<fs::path>& skip) {
  std::error_code ec;
  fs::create_directories(to, ec);
  if (ec) return framework::ErrnoError("unable to create " + to.string(), ec.value());
  for (const auto& entry : fs::directory_iterator(from, ec)) {
    const fs::path& p = entry.path();
    std::string name = p.filename().string();
    if (name == ".git" || skip.count(p) > 0) continue;
    if (entry.is_symlink(ec)) {
      fs::copy_symlink(p, to / name, ec);
    } else if (entry.is_directory(ec)) {
      if (fs::exists(p / "CMakeCache.txt")) continue;  // somebody's build tree
      DUENDE_TRY(CopyTree(p, to / name, skip));
    } else if (entry.is_regular_file(ec)) {
      fs::copy_file(p, to / name, fs::copy_options::overwrite_existing, ec);
    }
    if (ec) return framework::ErrnoError("unable to copy " + p.string(), ec.value());
  }
  return {};
}

struct BuildError {
  std::string file;  // as printed (absolute in CMake builds)
  uint32_t line = 0;
  uint32_t column = 0;
  std::string message;
};

// "path:line:col: error: message" and "path:line:col:   required from here" lines, plus the
// sources of failed compile commands ("FAILED: x.o" followed by a command with "-c src").
void ParseBuildOutput(const std::string& out, std::vector<BuildError>* errors,
                      std::vector<BuildError>* context, std::vector<std::string>* failed_sources) {
  static const std::regex kError(R"(^([^:\s][^:]*):(\d+):(\d+): (?:fatal )?error: (.*)$)");
  static const std::regex kContext(R"(^([^:\s][^:]*):(\d+):(\d+):\s+(required from|note:)(.*)$)");
  std::istringstream in(out);
  std::string line;
  bool after_failed = false;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, kError)) {
      errors->push_back({m[1], static_cast<uint32_t>(std::stoul(m[2])),
                         static_cast<uint32_t>(std::stoul(m[3])), m[4]});
    } else if (std::regex_match(line, m, kContext)) {
      context->push_back({m[1], static_cast<uint32_t>(std::stoul(m[2])),
                          static_cast<uint32_t>(std::stoul(m[3])), m[4]});
    }
    if (after_failed) {
      auto args = SplitCommand(line);
      for (size_t i = 0; i + 1 < args.size(); ++i) {
        if (args[i] == "-c") failed_sources->push_back(args[i + 1]);
      }
      after_failed = false;
    }
    if (line.rfind("FAILED: ", 0) == 0) after_failed = true;
  }
}

std::string Canonical(const std::string& p, const std::string& base) {
  std::error_code ec;
  fs::path path = fs::path(p).is_absolute() ? fs::path(p) : fs::path(base) / p;
  return fs::weakly_canonical(path, ec).string();
}

class Engine {
 public:
  explicit Engine(const MutateOptions& o) : o_(o) {}

  Result<MutateRun> Run() {
    int64_t t0 = framework::MonotonicNs();
    DUENDE_TRY(Resolve());
    DUENDE_TRY(Find());
    if (o_.list_only) return std::move(run_);
    DUENDE_TRY(PrepareCopy());
    struct Cleanup {
      Engine* e;
      ~Cleanup() {
        if (e->temp_work_dir_ && !e->o_.keep_work_dir) {
          std::error_code ec;
          fs::remove_all(e->work_, ec);
        }
      }
    } cleanup{this};
    DUENDE_TRY(Configure());
    if (o_.mode == MutateOptions::Mode::kSchemata) {
      DUENDE_TRY(BuildSchemata());
    } else {
      DUENDE_TRY(BuildPlain());
      for (auto& m : run_.mutants) {
        if (m.status == Status::kPending) fallback_.push_back(m.id);
      }
    }
    DUENDE_TRY(DiscoverTests());
    DUENDE_TRY(Baseline());
    if (o_.mode == MutateOptions::Mode::kSchemata) RunSchemataMutants();
    DUENDE_TRY(RunRebuildMutants());
    run_.total_ns = framework::MonotonicNs() - t0;
    Log(std::to_string(run_.builds) + " builds took " +
        framework::FormatDuration(std::chrono::nanoseconds(run_.build_ns)) + ", the baseline " +
        framework::FormatDuration(std::chrono::nanoseconds(run_.baseline_ns)) + ", all " +
        framework::FormatDuration(std::chrono::nanoseconds(run_.total_ns)));
    return std::move(run_);
  }

 private:
  void Log(const std::string& s) {
    if (!o_.log) return;
    std::lock_guard<std::mutex> lock(log_mu_);
    o_.log(s);
  }

  bool OverBudget() const {
    return o_.time_budget.count() > 0 &&
           framework::MonotonicNs() - start_ns_ > o_.time_budget.count();
  }

  Result<void> Resolve() {
    start_ns_ = framework::MonotonicNs();
    if (o_.compile_db.empty()) {
      return MessageError(
          "no compilation database given (--compile-db build/compile_commands.json)");
    }
    fs::path db = o_.compile_db;
    if (fs::is_directory(db)) db /= "compile_commands.json";
    if (!fs::exists(db)) {
      return MessageError(db.string() +
                          ": no such file (configure the project with "
                          "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON)");
    }
    auto entries = LoadCompileDb(db.string());
    if (!entries.ok()) return MessageError(entries.error().Message());
    entries_ = std::move(*entries);
    build_dir_ = fs::weakly_canonical(db.parent_path()).string();
    cache_ = ReadCmakeCache(build_dir_);
    std::string src = o_.source_dir;
    if (src.empty()) {
      auto it = cache_.find("CMAKE_HOME_DIRECTORY");
      if (it == cache_.end()) {
        return MessageError("cannot tell the source dir: no CMakeCache.txt beside " + db.string() +
                            " (pass --source-dir)");
      }
      src = it->second;
    }
    if (!fs::is_directory(src) || !fs::exists(fs::path(src) / "CMakeLists.txt")) {
      return MessageError("source dir " + src + " has no CMakeLists.txt");
    }
    run_.source_dir = fs::weakly_canonical(src).string();
    if (o_.jobs < 1) return MessageError("--jobs must be at least 1");
    if (o_.shard_count == 0 || o_.shard_index >= o_.shard_count) {
      return MessageError("--shard must be K/N with 0 <= K < N");
    }
    return {};
  }

  Result<void> Find() {
    fs::path src = run_.source_dir;
    std::vector<const CompileEntry*> chosen;
    std::set<std::string> seen;
    for (const auto& e : entries_) {
      if (!IsCxxSource(e.file) || seen.count(e.file) > 0) continue;
      std::string rel = Rel(e.file, src);
      if (rel == e.file || e.file.rfind(build_dir_, 0) == 0) continue;  // outside / generated
      bool take = false;
      if (o_.files.empty()) {
        take = !LooksLikeTest(rel);
      } else {
        for (const auto& g : o_.files) {
          if (fnmatch(g.c_str(), rel.c_str(), 0) == 0 ||
              fnmatch(g.c_str(), e.file.c_str(), 0) == 0) {
            take = true;
          }
        }
      }
      if (take) {
        chosen.push_back(&e);
        seen.insert(e.file);
      }
    }
    if (chosen.empty()) {
      std::string what = o_.files.empty() ? "no non-test C++ sources" : "no compiled C++ source";
      for (const auto& g : o_.files) what += (&g == &o_.files.front() ? " matches '" : "', '") + g;
      if (!o_.files.empty()) what += "'";
      return MessageError(what + " in " + o_.compile_db + " (under " + run_.source_dir + ")");
    }
    std::sort(chosen.begin(), chosen.end(),
              [](const CompileEntry* a, const CompileEntry* b) { return a->file < b->file; });
    // libclang parses are independent: spread them over the jobs.
    std::vector<Result<FileMutants>> found(chosen.size(), MessageError("not parsed"));
    std::atomic<size_t> next{0};
    auto work = [&] {
      for (size_t i = next++; i < chosen.size(); i = next++) {
        FindOptions fo;
        fo.operators = o_.operators;
        found[i] = FindMutants(chosen[i]->file, chosen[i]->ParseArgs(), fo);
      }
    };
    std::vector<std::thread> pool;
    for (int j = 1; j < o_.jobs; ++j) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();
    uint32_t id = 1;
    for (size_t i = 0; i < chosen.size(); ++i) {
      if (!found[i].ok()) return MessageError(found[i].error().Message());
      FileMutants& fm = *found[i];
      for (const auto& err : fm.parse_errors) Log("warning: libclang: " + err);
      std::vector<std::pair<uint32_t, uint32_t>> changed;
      if (!o_.since.empty()) {
        auto c = ChangedLines(run_.source_dir, o_.since, fm.file);
        if (!c.ok()) return c.error();
        changed = std::move(*c);
      }
      run_.sources[fm.file] = fm.text;
      size_t first = run_.mutants.size();
      for (auto& m : fm.mutants) {
        m.id = id++;
        if (!o_.since.empty()) {
          bool hit = false;
          for (auto [a, b] : changed) hit = hit || (m.start.line <= b && m.stop.line >= a);
          if (!hit) continue;
        }
        if (o_.shard_count > 1 && (m.id - 1) % o_.shard_count != o_.shard_index) continue;
        run_.mutants.push_back(std::move(m));
      }
      std::vector<Mutant*> mine;
      for (size_t k = first; k < run_.mutants.size(); ++k) mine.push_back(&run_.mutants[k]);
      ApplyIgnoreMarkers(fm.text, mine);
      std::string rel = Rel(fm.file, run_.source_dir);
      for (Mutant* m : mine) {
        for (const auto& ig : o_.ignore) {
          if ((ig.file == rel || Canonical(ig.file, run_.source_dir) == fm.file) &&
              ig.line == m->start.line) {
            m->status = Status::kIgnored;
            m->detail = ig.reason;
          }
        }
      }
    }
    id_limit_ = id;
    for (auto& m : run_.mutants) by_id_[m.id] = &m;
    Log("found " + std::to_string(run_.mutants.size()) + " mutants in " +
        std::to_string(chosen.size()) + " files");
    return {};
  }

  Result<void> PrepareCopy() {
    if (o_.work_dir.empty()) {
      RemoveStaleWorkDirs();
      char tmpl[] = "/tmp/duende-mutate-XXXXXX";
      if (::mkdtemp(tmpl) == nullptr) return framework::ErrnoError("unable to create a work dir");
      work_ = tmpl;
      temp_work_dir_ = true;
      // Held until this process ends, however it ends: a later run (or duende doctor) that can
      // take the lock knows the directory's owner is gone and removes it.
      owner_lock_.Reset(::open((work_ + "/.owner").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
      if (!owner_lock_ || ::flock(owner_lock_.get(), LOCK_EX | LOCK_NB) != 0) {
        return framework::ErrnoError("unable to lock " + work_ + "/.owner");
      }
    } else {
      work_ = fs::absolute(o_.work_dir).string();
    }
    copy_ = work_ + "/src";
    std::error_code ec;
    fs::remove_all(copy_, ec);
    std::set<fs::path> skip = {fs::path(build_dir_), fs::path(work_)};
    DUENDE_TRY(CopyTree(run_.source_dir, copy_, skip));
    Log("copied " + run_.source_dir + " to " + copy_);
    return {};
  }

  std::string CopyOf(const std::string& file) const {
    return (fs::path(copy_) / Rel(file, run_.source_dir)).string();
  }

  Result<void> Configure() {
    std::vector<std::string> argv = {
        "cmake", "-S", copy_, "-B", work_ + "/build", "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON"};
    for (const char* key :
         {"CMAKE_GENERATOR", "CMAKE_BUILD_TYPE", "CMAKE_CXX_COMPILER", "CMAKE_C_COMPILER"}) {
      auto it = cache_.find(key);
      if (it == cache_.end() || it->second.empty()) continue;
      if (std::string(key) == "CMAKE_GENERATOR") {
        argv.push_back("-G");
        argv.push_back(it->second);
        generator_ = it->second;
      } else {
        argv.push_back(std::string("-D") + key + "=" + it->second);
      }
    }
    argv.insert(argv.end(), o_.cmake_args.begin(), o_.cmake_args.end());
    std::string out;
    auto st = RunCaptured(argv, work_, &out);
    if (!st.ok()) return st.error();
    if (!st->success()) {
      return MessageError("configuring the copy failed (" + st->ToString() + "):\n" + Tail(out),
                          std::errc::io_error);
    }
    return {};
  }

  static std::string Tail(const std::string& s) {
    return s.size() > 3000 ? "..." + s.substr(s.size() - 3000) : s;
  }

  // One build of the copy. Returns whether it succeeded and its output.
  Result<bool> Build(std::string* out) {
    std::vector<std::string> argv = {"cmake", "--build", work_ + "/build", "-j",
                                     std::to_string(o_.jobs)};
    for (const auto& t : o_.build_targets) {
      argv.push_back("--target");
      argv.push_back(t);
    }
    argv.push_back("--");
    if (generator_.find("Ninja") != std::string::npos) {
      argv.push_back("-k");
      argv.push_back("0");
    } else {
      argv.push_back("-k");
    }
    int64_t t0 = framework::MonotonicNs();
    auto st = RunCaptured(argv, work_, out);
    run_.build_ns += framework::MonotonicNs() - t0;
    ++run_.builds;
    if (!st.ok()) return st.error();
    return st->success();
  }

  Result<void> BuildPlain() {
    std::string out;
    auto ok = Build(&out);
    if (!ok.ok()) return ok.error();
    if (!*ok) {
      return MessageError("the unmutated project does not build:\n" + Tail(out),
                          std::errc::io_error);
    }
    return {};
  }

  Result<void> BuildSchemata() {
    // The mutants of each file still in the schemata build.
    std::map<std::string, std::vector<uint32_t>> active;
    for (auto& m : run_.mutants) {
      if (m.status == Status::kPending) active[m.file].push_back(m.id);
    }
    std::map<std::string, std::string> copy_to_file;
    for (const auto& [file, ids] : active) copy_to_file[Canonical(CopyOf(file), "/")] = file;
    for (int round = 0;; ++round) {
      for (auto& [file, ids] : active) {
        std::vector<const Mutant*> ms;
        for (uint32_t id : ids) ms.push_back(by_id_[id]);
        SchemataFile sf = RenderSchemata(run_.sources[file], ms, id_limit_);
        for (uint32_t id : sf.unplaced) {
          fallback_.push_back(id);
          std::erase(ids, id);
        }
        DUENDE_TRY(WriteFile(CopyOf(file), sf.text));
        schemata_[file] = std::move(sf);
      }
      std::string out;
      auto ok = Build(&out);
      if (!ok.ok()) return ok.error();
      Log("schemata build " + std::to_string(round + 1) + ": " + (*ok ? "ok" : "errors") + " (" +
          std::to_string(run_.Count(Status::kCompileError)) + " mutants dropped so far)");
      if (*ok) return {};
      if (round >= 8) break;
      std::vector<BuildError> errors;
      std::vector<BuildError> context;
      std::vector<std::string> failed;
      ParseBuildOutput(out, &errors, &context, &failed);
      std::set<std::string> blamed_files;
      bool progress = false;
      auto blame = [&](const BuildError& e) {
        auto it = copy_to_file.find(Canonical(e.file, work_ + "/build"));
        if (it == copy_to_file.end() || active.count(it->second) == 0) return false;
        const std::string& file = it->second;
        blamed_files.insert(file);
        std::vector<uint32_t> ids = BlameError(schemata_[file], e.line, e.column);
        for (uint32_t id : ids) {
          auto& list = active[file];
          if (std::find(list.begin(), list.end(), id) == list.end()) continue;
          std::erase(list, id);
          by_id_[id]->status = Status::kCompileError;
          by_id_[id]->detail = e.message;
          progress = true;
        }
        return !ids.empty();
      };
      for (const auto& e : errors) {
        if (!blame(e)) {
          // An error in a header instantiated from mutated code: blame the mutated place
          // that required it.
          for (const auto& c : context) blame(c);
        }
      }
      // A failed source without a blamed position: take it out of the schemata.
      for (const auto& f : failed) {
        auto it = copy_to_file.find(Canonical(f, work_ + "/build"));
        if (it == copy_to_file.end() || blamed_files.count(it->second) > 0) continue;
        if (active.count(it->second) == 0) continue;
        Log("cannot map the compile errors of " + it->second + " to mutants; rebuild mode for it");
        for (uint32_t id : active[it->second]) fallback_.push_back(id);
        DUENDE_TRY(WriteFile(CopyOf(it->second), run_.sources[it->second]));
        active.erase(it->second);
        progress = true;
      }
      if (!progress) {
        return MessageError(
            "the project does not build (errors outside the mutated code):\n" + Tail(out),
            std::errc::io_error);
      }
    }
    // Still failing: give up on the schemata, mutate one at a time.
    for (auto& [file, ids] : active) {
      for (uint32_t id : ids) fallback_.push_back(id);
      DUENDE_TRY(WriteFile(CopyOf(file), run_.sources[file]));
    }
    return BuildPlain();
  }

  Result<void> DiscoverTests() {
    std::string bdir = work_ + "/build";
    if (!o_.test_command.empty()) {
      TestCase t;
      t.name = o_.test_command.front();
      t.argv = o_.test_command;
      t.working_dir = bdir;
      tests_.push_back(t);
    } else {
      auto t = DiscoverCtestTests(bdir, o_.ctest_args);
      if (!t.ok()) return MessageError(t.error().Message(), std::errc::io_error);
      tests_ = std::move(*t);
    }
    if (tests_.empty()) return MessageError("no tests to run (ctest lists none)");
    for (const auto& t : tests_) run_.test_names.push_back(t.name);
    return {};
  }

  std::chrono::nanoseconds TimeoutOf(size_t test) const {
    return std::chrono::nanoseconds(
               static_cast<int64_t>(o_.timeout_factor * static_cast<double>(durations_[test]))) +
           o_.timeout_margin;
  }

  Result<void> Baseline() {
    int64_t t0 = framework::MonotonicNs();
    std::string trace_dir = work_ + "/trace";
    fs::create_directories(trace_dir);
    durations_.assign(tests_.size(), 0);
    coverage_.assign(tests_.size(), {});
    std::vector<std::string> failures(tests_.size());
    std::atomic<size_t> next{0};
    auto work = [&] {
      for (size_t i = next++; i < tests_.size(); i = next++) {
        std::string trace = trace_dir + "/" + std::to_string(i);
        std::string log = trace_dir + "/" + std::to_string(i) + ".log";
        ::unlink(trace.c_str());
        auto r = RunTest(tests_[i],
                         {std::string(kMutantEnv) + "=-1", std::string(kTraceEnv) + "=" + trace},
                         std::chrono::hours(1), log);
        if (!r.ok()) {
          failures[i] = r.error().Message();
          continue;
        }
        durations_[i] = r->duration_ns;
        if (r->kind != TestOutcome::Kind::kPassed) {
          failures[i] = r->status.ToString() + "; output:\n" + Tail(ReadFile(log));
        }
        ReadTrace(trace, &coverage_[i]);
      }
    };
    std::vector<std::thread> pool;
    for (int j = 1; j < o_.jobs; ++j) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();
    run_.baseline_ns = framework::MonotonicNs() - t0;
    for (size_t i = 0; i < tests_.size(); ++i) {
      if (!failures[i].empty()) {
        return MessageError("the baseline fails: test '" + tests_[i].name + "' " + failures[i],
                            std::errc::state_not_recoverable);
      }
    }
    Log("baseline: " + std::to_string(tests_.size()) + " tests pass in " +
        framework::FormatDuration(std::chrono::nanoseconds(run_.baseline_ns)));
    return {};
  }

  // Runs `tests` against mutant `id` until one fails. Returns the outcome kind and the test.
  std::pair<TestOutcome::Kind, std::string> Try(uint32_t id, const std::vector<uint32_t>& tests,
                                                uint32_t* count) {
    for (uint32_t t : tests) {
      ++*count;
      auto r =
          RunTest(tests_[t], {std::string(kMutantEnv) + "=" + std::to_string(id)}, TimeoutOf(t));
      if (!r.ok())
        return {TestOutcome::Kind::kFailed, tests_[t].name + " (" + r.error().Message() + ")"};
      if (r->kind != TestOutcome::Kind::kPassed) return {r->kind, tests_[t].name};
    }
    return {TestOutcome::Kind::kPassed, ""};
  }

  void Judge(Mutant& m, const std::vector<uint32_t>& tests, bool final_timeout) {
    auto [kind, test] = Try(m.id, tests, &m.tests_run);
    switch (kind) {
      case TestOutcome::Kind::kFailed:
        m.status = Status::kKilled;
        m.detail = test;
        break;
      case TestOutcome::Kind::kTimedOut:
        m.status = Status::kTimeout;
        m.detail = test;
        if (!final_timeout) {
          std::lock_guard<std::mutex> lock(suspects_mu_);
          suspects_.push_back(m.id);
        }
        break;
      case TestOutcome::Kind::kPassed:
        m.status = Status::kSurvived;
        break;
    }
  }

  void RunSchemataMutants() {
    auto selection = SelectTests(coverage_, durations_);
    std::vector<Mutant*> work;
    std::set<uint32_t> fallback(fallback_.begin(), fallback_.end());
    for (auto& m : run_.mutants) {
      if (m.status != Status::kPending || fallback.count(m.id) > 0) continue;
      auto it = selection.find(m.id);
      if (it == selection.end()) {
        m.status = Status::kNoCoverage;
        continue;
      }
      m.covering_tests = it->second;
      work.push_back(&m);
    }
    Log("running " + std::to_string(work.size()) + " covered mutants with " +
        std::to_string(o_.jobs) + " jobs");
    std::atomic<size_t> next{0};
    auto worker = [&] {
      for (size_t i = next++; i < work.size(); i = next++) {
        if (OverBudget()) return;
        Judge(*work[i], work[i]->covering_tests, false);
      }
    };
    std::vector<std::thread> pool;
    for (int j = 1; j < o_.jobs; ++j) pool.emplace_back(worker);
    worker();
    for (auto& t : pool) t.join();
    // A timeout under parallel load may be the load's fault: re-run each alone.
    for (uint32_t id : suspects_) {
      Mutant& m = *by_id_[id];
      Log("re-running timed-out mutant " + std::to_string(id) + " alone");
      Judge(m, m.covering_tests, true);
    }
  }

  Result<void> RunRebuildMutants() {
    if (fallback_.empty()) return {};
    std::sort(fallback_.begin(), fallback_.end());
    std::vector<uint32_t> all(tests_.size());
    for (uint32_t i = 0; i < all.size(); ++i) all[i] = i;
    std::sort(all.begin(), all.end(),
              [&](uint32_t a, uint32_t b) { return durations_[a] < durations_[b]; });
    Log("rebuild mode for " + std::to_string(fallback_.size()) + " mutants");
    std::string last_file;
    for (uint32_t id : fallback_) {
      if (OverBudget()) break;
      Mutant& m = *by_id_[id];
      if (m.status != Status::kPending) continue;
      if (!last_file.empty() && last_file != m.file) {
        DUENDE_TRY(WriteFile(CopyOf(last_file), run_.sources[last_file]));
      }
      last_file = m.file;
      DUENDE_TRY(WriteFile(CopyOf(m.file), ApplyMutant(run_.sources[m.file], m)));
      std::string out;
      auto ok = Build(&out);
      if (!ok.ok()) return ok.error();
      Log("mutant " + std::to_string(m.id) + ": rebuilt (" + (*ok ? "ok" : "compile error") + ")");
      if (!*ok) {
        m.status = Status::kCompileError;
        std::vector<BuildError> errors, context;
        std::vector<std::string> failed;
        ParseBuildOutput(out, &errors, &context, &failed);
        if (!errors.empty()) m.detail = errors.front().message;
        continue;
      }
      m.covering_tests = all;
      Judge(m, all, true);
    }
    if (!last_file.empty()) DUENDE_TRY(WriteFile(CopyOf(last_file), run_.sources[last_file]));
    return {};
  }

  const MutateOptions& o_;
  MutateRun run_;
  std::vector<CompileEntry> entries_;
  std::map<std::string, std::string> cache_;
  std::string build_dir_;
  std::string generator_;
  std::string work_;
  std::string copy_;
  bool temp_work_dir_ = false;
  framework::UniqueFd owner_lock_;
  uint32_t id_limit_ = 1;
  std::map<uint32_t, Mutant*> by_id_;
  std::map<std::string, SchemataFile> schemata_;
  std::vector<uint32_t> fallback_;
  std::vector<TestCase> tests_;
  std::vector<int64_t> durations_;
  std::vector<std::vector<uint32_t>> coverage_;
  std::mutex suspects_mu_;
  std::vector<uint32_t> suspects_;
  std::mutex log_mu_;
  int64_t start_ns_ = 0;
};

}  // namespace

Result<MutateRun> RunMutate(const MutateOptions& options) { return Engine(options).Run(); }

int RemoveStaleWorkDirs() {
  int removed = 0;
  glob_t g{};
  if (::glob("/tmp/duende-mutate-*", GLOB_NOSORT | GLOB_ONLYDIR, nullptr, &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc; ++i) {
      std::string dir = g.gl_pathv[i];
      framework::UniqueFd lock(::open((dir + "/.owner").c_str(), O_RDONLY | O_CLOEXEC));
      bool stale = false;
      if (lock) {
        stale = ::flock(lock.get(), LOCK_EX | LOCK_NB) == 0;  // nobody holds it
      } else {
        // No lock file: a run from before the lock, or one in its first instant. Only an
        // old one is stale.
        struct stat st {};
        stale = ::stat(dir.c_str(), &st) == 0 && ::time(nullptr) - st.st_mtime > 600;
      }
      if (!stale) continue;
      std::error_code ec;
      fs::remove_all(dir, ec);
      if (!ec) ++removed;
    }
  }
  ::globfree(&g);
  return removed;
}

Result<std::vector<std::pair<uint32_t, uint32_t>>> ChangedLines(const std::string& repo_dir,
                                                                const std::string& rev,
                                                                const std::string& file) {
  std::string out;
  auto st = RunCaptured({"git", "-C", repo_dir, "diff", "-U0", "--no-color", rev, "--", file},
                        repo_dir, &out);
  if (!st.ok()) return MessageError("--since " + rev + ": " + st.error().Message());
  if (!st->success()) {
    return MessageError("--since " + rev + ": git diff failed: " + out.substr(0, 300));
  }
  std::vector<std::pair<uint32_t, uint32_t>> ranges;
  static const std::regex kHunk(R"(^@@ -\S+ \+(\d+)(?:,(\d+))? @@)");
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (!std::regex_search(line, m, kHunk)) continue;
    uint32_t start = static_cast<uint32_t>(std::stoul(m[1]));
    uint32_t count = m[2].matched ? static_cast<uint32_t>(std::stoul(m[2])) : 1;
    if (count > 0) ranges.emplace_back(start, start + count - 1);
  }
  return ranges;
}

uint32_t ApplyIgnoreMarkers(const std::string& text, std::vector<Mutant*>& mutants) {
  static constexpr std::string_view kMarker = "duende-mutate: ignore";
  std::map<uint32_t, std::string> reasons;  // line -> reason
  std::istringstream in(text);
  std::string line;
  uint32_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    auto pos = line.find(kMarker);
    if (pos == std::string::npos) continue;
    std::string reason = "marked equivalent";
    auto open = line.find('(', pos);
    auto close = line.find(')', open == std::string::npos ? pos : open);
    if (open != std::string::npos && close != std::string::npos && open == pos + kMarker.size()) {
      reason = line.substr(open + 1, close - open - 1);
    }
    auto code_end = line.find("//");
    bool alone = line.find_first_not_of(" \t") == code_end;
    reasons[alone ? n + 1 : n] = reason;
  }
  uint32_t count = 0;
  for (Mutant* m : mutants) {
    auto it = reasons.find(m->start.line);
    if (it == reasons.end() || m->status == Status::kIgnored) continue;
    m->status = Status::kIgnored;
    m->detail = it->second;
    ++count;
  }
  return count;
}

void ReadTrace(const std::string& path, std::vector<uint32_t>* ids) {
  std::ifstream in(path);
  std::string line;
  std::set<uint32_t> seen(ids->begin(), ids->end());
  while (framework::GetLineLimited(in, &line, 64)) {
    if (line.empty() || line.find_first_not_of("0123456789") != std::string::npos) continue;
    auto id = static_cast<uint32_t>(std::stoul(line));
    if (seen.insert(id).second) ids->push_back(id);
  }
}

std::map<uint32_t, std::vector<uint32_t>> SelectTests(
    const std::vector<std::vector<uint32_t>>& coverage, const std::vector<int64_t>& durations_ns) {
  std::vector<uint32_t> order(coverage.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](uint32_t a, uint32_t b) { return durations_ns[a] < durations_ns[b]; });
  std::map<uint32_t, std::vector<uint32_t>> out;
  for (uint32_t t : order) {
    for (uint32_t id : coverage[t]) out[id].push_back(t);
  }
  return out;
}

}  // namespace duende::mutate
