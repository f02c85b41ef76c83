#include "duende/model/merge.h"

#include <algorithm>
#include <map>
#include <utility>

namespace duende::model {
namespace {

using framework::MessageError;

std::string Quoted(const std::string& s) { return "\"" + s + "\""; }

std::string JoinOverrides(const std::vector<std::string>& sets) {
  if (sets.empty()) return "none";
  std::string out;
  for (const auto& s : sets) out += (out.empty() ? "--set " : " --set ") + s;
  return out;
}

// Why the suites of `a` and `b` differ, naming the first difference; "" when they are equal.
std::string SuiteDifference(const ShardReport& a, const ShardReport& b) {
  const Suite& x = a.report.suite;
  const Suite& y = b.report.suite;
  const size_t n = std::min(x.scenarios.size(), y.scenarios.size());
  for (size_t i = 0; i < n; ++i) {
    const SuiteScenario& p = x.scenarios[i];
    const SuiteScenario& q = y.scenarios[i];
    if (p.file != q.file || p.name != q.name) {
      return "scenario " + std::to_string(i + 1) + " of the suite is " + p.file + " (" + p.name +
             ") in " + a.path + " but " + q.file + " (" + q.name + ") in " + b.path;
    }
    if (p.digest != q.digest) {
      return p.file + " is not the same file: " + p.digest + " in " + a.path + ", " + q.digest +
             " in " + b.path + " (the shards ran different versions of it)";
    }
  }
  if (x.scenarios.size() != y.scenarios.size()) {
    return a.path + " ran a suite of " + std::to_string(x.scenarios.size()) + " scenario files, " +
           b.path + " one of " + std::to_string(y.scenarios.size());
  }
  if (x.overrides != y.overrides) {
    return "the overrides differ: " + JoinOverrides(x.overrides) + " in " + a.path + ", " +
           JoinOverrides(y.overrides) + " in " + b.path;
  }
  return "";
}

Shard ShardOf(const ShardReport& r) { return r.report.shard.value_or(Shard{}); }

using ScenarioKey = std::pair<std::string, std::string>;  // normalised file, name

ScenarioKey KeyOf(const ScenarioResult& s) { return {NormalizedScenarioPath(s.file), s.name}; }

}  // namespace

framework::Result<MergedReport> MergeShardReports(const std::vector<ShardReport>& reports) {
  const std::string fix = "; merge the reports of one `duende run --shard K/N` of one suite";
  if (reports.empty()) return MessageError("no reports to merge");
  const ShardReport& first = reports.front();
  for (const ShardReport& r : reports) {
    if (r.report.tool_version != first.report.tool_version) {
      return MessageError(first.path + " was written by duende " +
                          Quoted(first.report.tool_version) + " and " + r.path + " by duende " +
                          Quoted(r.report.tool_version) +
                          ": run every shard with the same duende build" + fix);
    }
  }
  for (const ShardReport& r : reports) {
    if (r.report.suite.empty()) {
      return MessageError(r.path +
                          " names no suite (no \"suite\" member): it was not written by "
                          "`duende run --json` of duende " +
                          first.report.tool_version + fix);
    }
  }
  for (const ShardReport& r : reports) {
    if (std::string why = SuiteDifference(first, r); !why.empty()) {
      return MessageError("the reports are of different suites: " + why + fix);
    }
  }
  const uint32_t count = ShardOf(first).count;
  std::map<uint32_t, const ShardReport*> by_shard;
  for (const ShardReport& r : reports) {
    const Shard s = ShardOf(r);
    if (s.count != count) {
      return MessageError(first.path + " is shard " + ShardName(ShardOf(first)) + " and " + r.path +
                          " is shard " + ShardName(s) +
                          ": the shards of one suite have the same N" + fix);
    }
    auto [it, inserted] = by_shard.emplace(s.index, &r);
    if (!inserted) {
      return MessageError(it->second->path + " and " + r.path + " are both shard " + ShardName(s) +
                          ": give each shard's report once" + fix);
    }
  }
  // Where each scenario result is; a scenario in two reports is refused.
  std::map<ScenarioKey, std::vector<std::pair<const ShardReport*, const ScenarioResult*>>> found;
  for (const ShardReport& r : reports) {
    for (const ScenarioResult& s : r.report.scenarios) {
      auto& where = found[KeyOf(s)];
      if (!where.empty() && where.front().first != &r) {
        return MessageError("scenario " + s.name + " (" + s.file + ") is in both " +
                            where.front().first->path + " and " + r.path +
                            ": each scenario runs in one shard only" + fix);
      }
      where.emplace_back(&r, &s);
    }
  }
  const Suite& suite = first.report.suite;
  std::map<ScenarioKey, size_t> in_suite;
  for (const SuiteScenario& e : suite.scenarios) ++in_suite[{e.file, e.name}];
  for (const auto& [key, where] : found) {
    const ShardReport& r = *where.front().first;
    auto it = in_suite.find(key);
    if (it == in_suite.end()) {
      return MessageError(r.path + " holds scenario " + key.second + " (" + key.first +
                          "), which its suite does not name" + fix);
    }
    const uint32_t owner = ShardOfScenario(key.second, count);
    if (owner != ShardOf(r).index) {
      return MessageError(r.path + " (shard " + ShardName(ShardOf(r)) + ") holds scenario " +
                          key.second + ", which belongs to shard " +
                          ShardName(Shard{owner, count}) + fix);
    }
    if (where.size() > it->second) {
      return MessageError(r.path + " holds scenario " + key.second + " " +
                          std::to_string(where.size()) + " times; its suite names it " +
                          std::to_string(it->second) + " times" + fix);
    }
  }

  MergedReport out;
  RunReport& merged = out.report;
  merged.tool_version = first.report.tool_version;
  merged.suite = suite;
  std::vector<Verdict> verdicts;
  std::vector<std::string> hosts;
  for (const auto& [index, r] : by_shard) {
    verdicts.push_back(r->report.verdict);
    if (!r->report.hostname.empty() &&
        std::find(hosts.begin(), hosts.end(), r->report.hostname) == hosts.end()) {
      hosts.push_back(r->report.hostname);
    }
  }
  for (const auto& h : hosts) merged.hostname += (merged.hostname.empty() ? "" : ", ") + h;
  for (uint32_t k = 1; k <= count; ++k) {
    if (by_shard.count(k) == 0) out.missing.push_back(Shard{k, count});
  }
  // The suite's order is the order a single run would have run them in.
  std::map<ScenarioKey, size_t> taken;
  for (const SuiteScenario& e : suite.scenarios) {
    const ScenarioKey key{e.file, e.name};
    const Shard owner{ShardOfScenario(e.name, count), count};
    auto report_it = by_shard.find(owner.index);
    auto& where = found[key];
    size_t& next = taken[key];
    if (next < where.size()) {
      merged.scenarios.push_back(*where[next++].second);
      continue;
    }
    // An interrupted shard stops before its later scenarios, as a single run would.
    if (report_it != by_shard.end() && report_it->second->report.verdict == Verdict::kAborted) {
      continue;
    }
    ScenarioResult missing;
    missing.name = e.name;
    missing.file = e.file;
    missing.verdict = Verdict::kError;
    missing.error =
        report_it == by_shard.end()
            ? "not run: no report of shard " + ShardName(owner) +
                  " was given to the merge (did that shard's job end before writing it?)"
            : "not in the report of shard " + ShardName(owner) + " (" + report_it->second->path +
                  ")";
    verdicts.push_back(Verdict::kError);
    merged.scenarios.push_back(std::move(missing));
  }
  for (const ScenarioResult& s : merged.scenarios) verdicts.push_back(s.verdict);
  merged.verdict = Combine(verdicts);
  return out;
}

}  // namespace duende::model
