// Process checks over the samples and leftovers of a run: orphans, resident memory, open fds
// and locked memory of each target instance.
#include <algorithm>
#include <map>

#include "checks_internal.h"

namespace duende::harness::check_internal {

CheckResult NoOrphans(const CheckSpec& c, const Log& log) {
  CheckResult r = Base(c);
  r.threshold = "0 processes left";
  const Event* lo = nullptr;
  for (const auto& e : log.events) {
    if (e.type == events::kRunLeftovers) lo = &e;
  }
  if (lo == nullptr) return Fail(r, "the run did not record its leftovers (run.leftovers)");
  // Every process left, each with what it was and whose (target cgroups list them all).
  std::string pids;
  size_t n = 0;
  if (lo->data.contains("leftovers") && lo->data["leftovers"].is_array()) {
    for (const auto& p : lo->data["leftovers"]) {
      const std::string target = p.value("target", std::string());
      if (!c.target.empty() && !target.empty() && target != c.target) continue;
      ++n;
      const std::string pid = p.value("pid", nlohmann::json()).dump();
      pids += (pids.empty() ? "" : ", ") + pid;
      const std::string exe = p.value("exe", std::string());
      Evidence(r, "pid " + pid + " (" + p.value("comm", std::string("?")) +
                      (exe.empty() ? "" : ", " + exe) + ") state " +
                      p.value("state", std::string("?")) + " ppid " +
                      p.value("ppid", nlohmann::json()).dump() + " pgid " +
                      p.value("pgid", nlohmann::json()).dump() +
                      (target.empty() ? "" : " of target " + target) + " survived the run");
    }
  }
  r.measured = std::to_string(n) + " left" + (pids.empty() ? "" : " (pids " + pids + ")");
  if (n > 0) r.verdict = Verdict::kFail;
  return r;
}

namespace {

struct Instance {
  std::string target;
  int64_t pid = 0;
  int64_t spawned_ns = 0;
  int64_t ready_ns = -1;
  std::vector<const Event*> samples;  // after ready (or spawn when never ready)
};

std::vector<Instance> Instances(const CheckSpec& c, const Scenario& s, const Log& log) {
  std::vector<Instance> out;
  auto targets = TargetsOf(c, s);
  std::map<std::pair<std::string, int64_t>, size_t> index;
  for (const auto& e : log.events) {
    if (targets.count(e.target) == 0) continue;
    if (e.type == events::kTargetSpawned) {
      index[{e.target, I64(e.data, "pid")}] = out.size();
      out.push_back(Instance{e.target, I64(e.data, "pid"), e.ts_ns, -1, {}});
    } else if (e.type == events::kTargetReady) {
      auto it = index.find({e.target, I64(e.data, "pid")});
      if (it != index.end()) out[it->second].ready_ns = e.ts_ns;
    } else if (e.type == events::kTargetSample) {
      auto it = index.find({e.target, I64(e.data, "pid")});
      if (it == index.end()) {
        // An external target: one instance per pid seen.
        index[{e.target, I64(e.data, "pid")}] = out.size();
        out.push_back(Instance{e.target, I64(e.data, "pid"), e.ts_ns, e.ts_ns, {}});
        it = index.find({e.target, I64(e.data, "pid")});
      }
      out[it->second].samples.push_back(&e);
    }
  }
  // Drop samples taken before readiness (the daemon was still initialising).
  for (auto& inst : out) {
    if (inst.ready_ns < 0) continue;
    std::vector<const Event*> kept;
    for (const Event* e : inst.samples) {
      if (e->ts_ns >= inst.ready_ns) kept.push_back(e);
    }
    if (!kept.empty()) inst.samples = kept;
  }
  return out;
}

}  // namespace

CheckResult MaxRss(const CheckSpec& c, const Scenario& s, const Log& log) {
  CheckResult r = Base(c);
  const uint64_t max = c.max_bytes.value_or(0);
  r.threshold = "<= " + Bytes(max);
  uint64_t worst = 0;
  size_t n = 0;
  for (const auto& inst : Instances(c, s, log)) {
    for (const Event* e : inst.samples) {
      ++n;
      auto rss = static_cast<uint64_t>(I64(e->data, "rss_bytes"));
      if (rss > worst) worst = rss;
      if (rss > max && r.verdict == Verdict::kPass) {
        r.verdict = Verdict::kFail;
        Evidence(r, log.At(e->ts_ns) + " " + inst.target + " pid " + std::to_string(inst.pid) +
                        " RSS " + Bytes(rss));
      }
    }
  }
  if (n == 0) return Fail(r, "no resource sample of the target was recorded");
  r.measured = "max " + Bytes(worst) + " over " + std::to_string(n) + " samples";
  return r;
}

CheckResult FdGrowth(const CheckSpec& c, const Scenario& s, const Log& log) {
  CheckResult r = Base(c);
  const int64_t max_growth = c.max_growth.value_or(0);
  r.threshold = "growth <= " + std::to_string(max_growth) + " fds across restarts";
  std::map<std::string, std::vector<std::pair<const Instance*, int64_t>>> per_target;
  auto instances = Instances(c, s, log);
  for (const auto& inst : instances) {
    if (inst.samples.empty()) continue;
    // The floor of an instance's fd count: connections come and go, a leak stays.
    int64_t floor = INT64_MAX;
    for (const Event* e : inst.samples) floor = std::min(floor, I64(e->data, "fds"));
    per_target[inst.target].emplace_back(&inst, floor);
  }
  int64_t worst = 0;
  size_t compared = 0;
  for (const auto& [target, list] : per_target) {
    if (list.size() < 2) continue;
    compared += list.size();
    std::string series;
    for (const auto& [inst, floor] : list) {
      series += (series.empty() ? "" : ", ") + std::to_string(floor);
      worst = std::max(worst, floor - list.front().second);
    }
    Evidence(r, target + " fds per instance (pid order of start): " + series);
  }
  if (compared == 0) {
    return Fail(r, "fewer than two sampled instances of the target: no restart to compare across");
  }
  r.measured = "grew by " + std::to_string(worst);
  if (worst > max_growth) r.verdict = Verdict::kFail;
  return r;
}

CheckResult MemoryLocked(const CheckSpec& c, const Scenario& s, const Log& log) {
  CheckResult r = Base(c);
  const uint64_t min = std::max<uint64_t>(1, c.min_bytes.value_or(1));
  r.threshold = "VmLck >= " + Bytes(min) + " in every instance";
  size_t n = 0;
  size_t bad = 0;
  uint64_t lowest = UINT64_MAX;
  for (const auto& inst : Instances(c, s, log)) {
    if (inst.samples.empty()) continue;
    ++n;
    auto vmlck = static_cast<uint64_t>(I64(inst.samples.back()->data, "vmlck_bytes"));
    lowest = std::min(lowest, vmlck);
    std::string line = inst.target + " pid " + std::to_string(inst.pid) + " (started " +
                       log.At(inst.spawned_ns) + "): VmLck " + Bytes(vmlck);
    if (vmlck < min) {
      ++bad;
      r.verdict = Verdict::kFail;
      line += " (not locked)";
    }
    Evidence(r, line);
  }
  if (n == 0) return Fail(r, "no resource sample of the target was recorded");
  r.measured = std::to_string(bad) + " of " + std::to_string(n) + " instance(s) unlocked; lowest " +
               Bytes(lowest);
  return r;
}

}  // namespace duende::harness::check_internal
