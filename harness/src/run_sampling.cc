#include "run.h"

namespace duende::harness::internal {

namespace {

struct Sample {
  uint64_t rss = 0;
  uint64_t vmlck = 0;
  int64_t fds = -1;
};

bool ReadSample(pid_t pid, Sample* s) {
  auto kb = framework::ReadStatusKb(pid);
  if (!kb.ok()) return false;
  // A zombie (killed, not reaped yet) has no memory lines: its sample would read as
  // "nothing locked, nothing resident" and is skipped.
  auto rss = kb->find("VmRSS");
  if (rss == kb->end()) return false;
  s->rss = rss->second * 1024;
  auto lck = kb->find("VmLck");
  s->vmlck = lck != kb->end() ? lck->second * 1024 : 0;
  auto fds = framework::CountOpenFds(pid);
  if (!fds.ok()) return false;
  s->fds = *fds;
  return true;
}

}  // namespace

void Run::SamplerLoop() {
  while (!stop_threads_) {
    std::vector<std::pair<std::string, pid_t>> pids;
    {
      std::lock_guard lock(mu_);
      for (const auto& [name, t] : targets_) {
        if (t.pid > 0) pids.emplace_back(name, t.pid);
      }
    }
    for (const auto& [name, pid] : pids) {
      Sample smp;
      if (ReadSample(pid, &smp)) {
        rec_.Record(
            events::kTargetSample, name,
            {{"pid", pid}, {"rss_bytes", smp.rss}, {"fds", smp.fds}, {"vmlck_bytes", smp.vmlck}});
      }
    }
    std::this_thread::sleep_for(std::chrono::nanoseconds(kSampleEveryNs));
  }
}

}  // namespace duende::harness::internal
