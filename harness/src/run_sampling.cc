#include "run.h"

namespace duende::harness::internal {

namespace {

struct Sample {
  uint64_t rss = 0;
  uint64_t vmlck = 0;
  int64_t fds = -1;
};

bool ReadSample(pid_t pid, Sample* s) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  if (!in) return false;
  std::string line;
  bool has_rss = false;
  while (std::getline(in, line)) {
    // A zombie (killed, not reaped yet) has no memory lines: its sample would read as
    // "nothing locked, nothing resident" and is skipped.
    if (line.compare(0, 6, "VmRSS:") == 0) has_rss = true;
    auto kb = [&](const char* key, uint64_t* out) {
      size_t n = std::strlen(key);
      if (line.compare(0, n, key) == 0) *out = std::strtoull(line.c_str() + n, nullptr, 10) * 1024;
    };
    kb("VmRSS:", &s->rss);
    kb("VmLck:", &s->vmlck);
  }
  if (!has_rss) return false;
  DIR* d = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (d == nullptr) return false;
  int64_t n = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  s->fds = n;
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
