#include "duende/framework/load_shedder.h"

namespace duende::framework {

LoadShedder::LoadShedder(const ShedConfig& config, int64_t now_ns)
    : config_(config), last_empty_ns_(now_ns) {}

void LoadShedder::QueueEmpty(int64_t now_ns) {
  // Never back: threads may report with slightly older clock readings.
  int64_t last = last_empty_ns_.load(std::memory_order_relaxed);
  while (now_ns > last &&
         !last_empty_ns_.compare_exchange_weak(last, now_ns, std::memory_order_relaxed)) {
  }
}

bool LoadShedder::Overloaded(int64_t now_ns) const {
  return now_ns - last_empty_ns_.load(std::memory_order_relaxed) >= config_.interval.count();
}

int64_t LoadShedder::MaxWaitNs(int64_t now_ns) const {
  return Overloaded(now_ns) ? config_.target.count() : config_.interval.count();
}

bool LoadShedder::Admit(int64_t enqueued_ns, int64_t now_ns) const {
  return now_ns - enqueued_ns <= MaxWaitNs(now_ns);
}

}  // namespace duende::framework
