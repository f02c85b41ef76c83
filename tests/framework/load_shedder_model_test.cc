// Model test of LoadShedder, and a queue simulation that shows what it is for: offered several
// times the capacity, a FIFO server without it queues without bound while with it the served
// requests wait at most `target` once the overload is established.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>
#include <rapidcheck/state.h>

#include <deque>

#include "duende/framework/load_shedder.h"

namespace duende::framework {
namespace {

using std::chrono::milliseconds;
constexpr int64_t kMs = 1'000'000;
constexpr int64_t kStart = 3'000 * kMs;

struct Model {
  ShedConfig cfg;
  int64_t now = kStart;
  int64_t last_empty = kStart;
  bool Overloaded() const { return now - last_empty >= cfg.interval.count(); }
  bool Admit(int64_t waited) const {
    return waited <= (Overloaded() ? cfg.target.count() : cfg.interval.count());
  }
};

struct Sut {
  explicit Sut(const ShedConfig& c) : shedder(c, kStart) {}
  LoadShedder shedder;
  int64_t now = kStart;
};

using Cmd = rc::state::Command<Model, Sut>;

struct EmptyCmd : Cmd {
  void apply(Model& m) const override { m.last_empty = m.now; }
  void run(const Model& m, Sut& s) const override {
    s.shedder.QueueEmpty(s.now);
    Model expected = m;
    apply(expected);
    RC_ASSERT(s.shedder.Overloaded(s.now) == expected.Overloaded());
  }
  void show(std::ostream& os) const override { os << "QueueEmpty"; }
};

struct AdmitCmd : Cmd {
  int64_t waited;
  explicit AdmitCmd(const Model& m)
      : waited(*rc::gen::inRange<int64_t>(0, 2 * m.cfg.interval.count() + 2)) {}
  void apply(Model&) const override {}
  void run(const Model& m, Sut& s) const override {
    RC_ASSERT(s.shedder.Admit(s.now - waited, s.now) == m.Admit(waited));
    RC_ASSERT(s.shedder.Overloaded(s.now) == m.Overloaded());
  }
  void show(std::ostream& os) const override { os << "Admit(waited " << waited << "ns)"; }
};

struct AdvanceCmd : Cmd {
  int64_t dt;
  explicit AdvanceCmd(const Model& m)
      : dt(*rc::gen::inRange<int64_t>(0, 2 * m.cfg.interval.count())) {}
  void apply(Model& m) const override { m.now += dt; }
  void run(const Model& m, Sut& s) const override {
    s.now += dt;
    Model expected = m;
    apply(expected);
    RC_ASSERT(s.shedder.Overloaded(s.now) == expected.Overloaded());
  }
  void show(std::ostream& os) const override { os << "Advance(" << dt << "ns)"; }
};

RC_GTEST_PROP(LoadShedderModelTest, AgreesWithTheModel, ()) {
  Model model;
  model.cfg.target = milliseconds(*rc::gen::element(1, 5, 10));
  model.cfg.interval = model.cfg.target + milliseconds(*rc::gen::element(0, 20, 95));
  Sut sut(model.cfg);
  rc::state::check(model, sut, rc::state::gen::execOneOfWithArgs<EmptyCmd, AdmitCmd, AdvanceCmd>());
}

// One FIFO server, service time `service`, arrivals every `gap` (gap < service: overload).
struct SimResult {
  int64_t max_served_wait_after_overload = 0;
  size_t max_queue = 0;
  int64_t served = 0;
  int64_t shed = 0;
};

SimResult Simulate(const ShedConfig& cfg, bool shed, int64_t service, int64_t gap, int64_t span) {
  LoadShedder shedder(cfg, 0);
  std::deque<int64_t> queue;
  SimResult r;
  int64_t next_arrival = 0;
  int64_t now = 0;
  while (now < span) {
    // Everything that arrived by now joins the queue.
    while (next_arrival <= now) {
      queue.push_back(next_arrival);
      next_arrival += gap;
    }
    r.max_queue = std::max(r.max_queue, queue.size());
    if (queue.empty()) {
      shedder.QueueEmpty(now);
      now = next_arrival;
      continue;
    }
    const int64_t enq = queue.front();
    queue.pop_front();
    if (shed && !shedder.Admit(enq, now)) {
      ++r.shed;  // answered at once: no service time
      continue;
    }
    ++r.served;
    if (now >= cfg.interval.count()) {
      r.max_served_wait_after_overload = std::max(r.max_served_wait_after_overload, now - enq);
    }
    now += service;
  }
  return r;
}

RC_GTEST_PROP(LoadShedderTest, KeepsServedWaitsUnderTargetInOverload, ()) {
  ShedConfig cfg;
  cfg.target = milliseconds(*rc::gen::element(5, 10, 20));
  cfg.interval = milliseconds(100);
  const int64_t service = *rc::gen::inRange<int64_t>(100, 2000) * 1000;  // 0.1 .. 2 ms
  const int64_t factor = *rc::gen::inRange<int64_t>(2, 6);               // 2..5x capacity
  const int64_t gap = service / factor;
  const int64_t span = 2'000 * kMs;
  const SimResult with = Simulate(cfg, true, service, gap, span);
  const SimResult without = Simulate(cfg, false, service, gap, span);
  RC_ASSERT(with.max_served_wait_after_overload <= cfg.target.count());
  // Goodput stays at capacity: the server is never idle while requests wait.
  RC_ASSERT(with.served >= span / service - 1);
  RC_ASSERT(with.shed > 0);
  // Without shedding the queue (and the wait) grows with the run.
  RC_ASSERT(without.max_served_wait_after_overload > span / 4);
  RC_ASSERT(with.max_queue < without.max_queue);
}

}  // namespace
}  // namespace duende::framework
