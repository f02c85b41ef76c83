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
#include "engine_internal.h"

namespace duende::mutate {

namespace fs = std::filesystem;
using framework::MessageError;
using framework::Result;
using internal::Engine;

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

}  // namespace

namespace internal {

Result<MutateRun> Engine::Run() {
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

void Engine::Log(const std::string& s) {
  if (!o_.log) return;
  std::lock_guard<std::mutex> lock(log_mu_);
  o_.log(s);
}

bool Engine::OverBudget() const {
  if (InterruptRequested()) return true;
  return o_.time_budget.count() > 0 &&
         framework::MonotonicNs() - start_ns_ > o_.time_budget.count();
}

Result<void> Engine::Resolve() {
  start_ns_ = framework::MonotonicNs();
  if (o_.compile_db.empty()) {
    return MessageError("no compilation database given (--compile-db build/compile_commands.json)");
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

Result<void> Engine::Find() {
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
        if (fnmatch(g.c_str(), rel.c_str(), 0) == 0 || fnmatch(g.c_str(), e.file.c_str(), 0) == 0) {
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
            ig.line == m->start.line && (ig.column == 0 || ig.column == m->start.column)) {
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

}  // namespace internal

Result<MutateRun> RunMutate(const MutateOptions& options) { return Engine(options).Run(); }

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
