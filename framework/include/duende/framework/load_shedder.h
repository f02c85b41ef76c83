// LoadShedder: queue-delay load shedding, CoDel-like (as in Facebook's "Fail at Scale"): while
// the queue keeps emptying, a request may wait up to `interval` (bursts are absorbed); once
// the queue has not been empty for `interval` (a standing queue: overload), a request that
// waited longer than `target` is shed, so the requests that are served stay fast and the
// queue cannot grow without bound.
//
//   normal ----(the queue not empty for `interval`)----> overloaded
//   overloaded -(QueueEmpty())---------------------------> normal
//
// A pure state machine over the caller's clock (monotonic nanoseconds); thread-safe and
// lock-free (one atomic word). docs/policy.md has the numbers.
#pragma once

#include <atomic>
#include <cstdint>

#include "duende/framework/policy_config.h"

namespace duende::framework {

class LoadShedder {
 public:
  /// The queue is empty at `now_ns`.
  LoadShedder(const ShedConfig& config, int64_t now_ns);

  /// The server found its queue empty at `now_ns` (nothing waiting): ends an overload.
  void QueueEmpty(int64_t now_ns);

  /// A request queued at `enqueued_ns` is taken for service at `now_ns` (it is the oldest
  /// waiting one). True: serve it. False: shed it (answer "busy" at once, do no work for it):
  /// it waited longer than `target` in overload, or longer than `interval` at any time.
  bool Admit(int64_t enqueued_ns, int64_t now_ns) const;

  /// The queue has not been empty for `interval` as of `now_ns`.
  bool Overloaded(int64_t now_ns) const;

  /// The longest a request taken at `now_ns` may have waited: target or interval.
  int64_t MaxWaitNs(int64_t now_ns) const;

  const ShedConfig& config() const { return config_; }

 private:
  const ShedConfig config_;
  std::atomic<int64_t> last_empty_ns_;
};

}  // namespace duende::framework
