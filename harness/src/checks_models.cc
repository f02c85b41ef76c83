// Model checks: the request history of a mixed workload ([[load.op]]) judged against the data
// model the target claims to implement, named after Jepsen's checkers: `counter`, `set`,
// `register` / `kv` and `queue`. Each reads the one history the load generator records
// (load.ops rows with f, value and read; docs/events.md "Request history") and cites the
// operations that break the model: client, invoke and completion times, values.
//
// Outcomes: `o` happened; `n` (never sent) did not; `d`, `t`, `a` (indeterminate) may have
// happened at any time after their invocation; `e` (a reply that did not match `expect`) is
// treated as "may have happened" too, so that a too-strict `expect` cannot make a check FAIL.
#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "checks_internal.h"
#include "duende/harness/check_kinds.h"
#include "duende/harness/load_history.h"

namespace duende::harness::check_internal {

namespace {

constexpr size_t kMaxCited = 6;  // violations cited one by one; the rest are counted

bool Acked(const LoadOp& op) { return op.outcome == OpOutcome::kOk; }
// May have taken effect: anything sent that did not definitely fail to arrive.
bool MaybeApplied(const LoadOp& op) { return op.outcome != OpOutcome::kNotSent; }

// "client 2 incr k0 +1.204s..+1.206s (ok)", the way every model check cites an operation.
std::string Cite(const Log& log, const LoadOp& op) {
  std::string s =
      "client " + std::to_string(op.client) + " " + op.f + " k" + std::to_string(op.key);
  if (!op.value.empty()) s += " " + PrintableText(op.value, 40);
  s += " " + log.At(op.invoke_ns) + ".." + log.At(op.complete_ns);
  switch (op.outcome) {
    case OpOutcome::kOk:
      s += " (ok";
      if (op.read) s += ", read '" + PrintableText(*op.read, 60) + "'";
      s += ")";
      break;
    case OpOutcome::kWrongReply:
      s += " (unexpected reply)";
      break;
    case OpOutcome::kNotSent:
      s += " (not sent)";
      break;
    default:
      s += " (indeterminate)";
  }
  return s;
}

// The ops of the history whose kind is one of `fs`, per key, in invoke order.
std::map<uint64_t, std::vector<LoadOp>> OpsByKey(const Log& log, const std::set<std::string>& fs) {
  std::map<uint64_t, std::vector<LoadOp>> out;
  for (auto& op : OpsFromEvents(log.events)) {
    if (fs.count(op.f) != 0) out[op.key].push_back(std::move(op));
  }
  return out;
}

// FAILs a check whose history lacks the operations it judges, naming what to configure.
std::optional<CheckResult> NeedOps(const CheckResult& r,
                                   const std::map<uint64_t, std::vector<LoadOp>>& by_key,
                                   const std::string& kinds) {
  if (!by_key.empty()) return std::nullopt;
  return Fail(r, "the request history has no " + kinds +
                     " operations: give [load] a [[load.op]] for each (f = ...), see "
                     "scenarios/README.md \"Model checks\"");
}

// Violations are collected, then cited in time order: the first few in full, then a count.
struct Violation {
  int64_t ts_ns;
  std::string text;
};

CheckResult Report(CheckResult r, std::vector<Violation> v, const std::string& what) {
  if (v.empty()) return r;
  r.verdict = Verdict::kFail;
  std::stable_sort(v.begin(), v.end(),
                   [](const Violation& a, const Violation& b) { return a.ts_ns < b.ts_ns; });
  for (size_t i = 0; i < v.size() && i < kMaxCited; ++i) Evidence(r, v[i].text);
  if (v.size() > kMaxCited) {
    Evidence(r, std::to_string(v.size() - kMaxCited) + " more " + what + " not listed");
  }
  return r;
}

bool ParseI64(const std::string& s, int64_t* out) {
  if (s.empty()) return false;
  size_t used = 0;
  try {
    *out = std::stoll(s, &used);
  } catch (...) {
    return false;
  }
  return used == s.size();
}

// The elements of a set as read: words separated by spaces, tabs, newlines or commas.
std::set<std::string> Elements(const std::string& text) {
  std::set<std::string> out;
  std::string cur;
  for (char c : text) {
    if (c == ' ' || c == ',' || c == '\n' || c == '\t' || c == '\r') {
      if (!cur.empty()) out.insert(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.insert(cur);
  return out;
}

}  // namespace

CheckResult CounterCheck(const CheckSpec& c, const Log& log) {
  CheckResult r = Base(c);
  r.threshold =
      "each read >= the increments acknowledged before it began and <= those invoked "
      "before it ended";
  const auto by_key = OpsByKey(log, {"incr", "add", "read"});
  if (auto missing = NeedOps(r, by_key, "`incr` (or `add`) and `read`")) return *missing;
  std::vector<Violation> v;
  size_t reads = 0;
  for (const auto& [key, ops] : by_key) {
    struct Inc {
      int64_t at;  // completion (lower bound) or invocation (upper bound)
      int64_t delta;
      const LoadOp* op;
    };
    std::vector<Inc> acked, maybe;  // by completion time / by invocation time
    for (const LoadOp& op : ops) {
      if (op.f == "read") continue;
      int64_t delta = 1;
      if (!op.value.empty() && !ParseI64(op.value, &delta)) delta = 1;
      if (Acked(op)) acked.push_back({op.complete_ns, delta, &op});
      if (MaybeApplied(op)) maybe.push_back({op.invoke_ns, delta, &op});
    }
    auto by_at = [](const Inc& a, const Inc& b) { return a.at < b.at; };
    std::sort(acked.begin(), acked.end(), by_at);
    std::sort(maybe.begin(), maybe.end(), by_at);
    // Prefix sums: the total of the first i increments. Deltas may be negative, so the bounds
    // are the sums of the positive and of the negative deltas separately.
    std::vector<int64_t> acked_sum(acked.size() + 1, 0), maybe_pos(maybe.size() + 1, 0),
        maybe_neg(maybe.size() + 1, 0), acked_neg(acked.size() + 1, 0);
    for (size_t i = 0; i < acked.size(); ++i) {
      acked_sum[i + 1] = acked_sum[i] + std::max<int64_t>(acked[i].delta, 0);
      acked_neg[i + 1] = acked_neg[i] + std::min<int64_t>(acked[i].delta, 0);
    }
    for (size_t i = 0; i < maybe.size(); ++i) {
      maybe_pos[i + 1] = maybe_pos[i] + std::max<int64_t>(maybe[i].delta, 0);
      maybe_neg[i + 1] = maybe_neg[i] + std::min<int64_t>(maybe[i].delta, 0);
    }
    for (const LoadOp& op : ops) {
      if (op.f != "read" || !Acked(op) || !op.read) continue;
      ++reads;
      int64_t value = 0;
      if (!ParseI64(*op.read, &value)) {
        v.push_back({op.invoke_ns, "read '" + PrintableText(*op.read, 40) +
                                       "' is not a number (the capture group of the read's "
                                       "`expect` must hold the counter's value): " +
                                       Cite(log, op)});
        continue;
      }
      // Completed before the read began: certainly counted. Invoked before it ended: may be.
      const size_t done = static_cast<size_t>(
          std::lower_bound(acked.begin(), acked.end(), Inc{op.invoke_ns, 0, nullptr}, by_at) -
          acked.begin());
      const size_t started = static_cast<size_t>(
          std::lower_bound(maybe.begin(), maybe.end(), Inc{op.complete_ns, 0, nullptr}, by_at) -
          maybe.begin());
      const int64_t lower = acked_sum[done] + maybe_neg[started];
      const int64_t upper = maybe_pos[started] + acked_neg[done];
      if (value < lower) {
        std::string last = done > 0 ? "; the last of them: " + Cite(log, *acked[done - 1].op) : "";
        v.push_back({op.invoke_ns, "lost increments: " + Cite(log, op) + ", but " +
                                       std::to_string(acked_sum[done]) +
                                       " was acknowledged before the read began (" +
                                       std::to_string(lower - value) + " missing)" + last});
      } else if (value > upper) {
        v.push_back({op.invoke_ns, "phantom increments: " + Cite(log, op) +
                                       ", but the increments invoked before it ended add up to "
                                       "at most " +
                                       std::to_string(upper)});
      }
    }
  }
  r.measured = std::to_string(v.size()) + " of " + std::to_string(reads) + " reads out of bounds";
  if (reads == 0 && v.empty()) return Fail(r, "no read succeeded: nothing shows the counter");
  return Report(r, std::move(v), "reads out of bounds");
}

CheckResult SetCheck(const CheckSpec& c, const Log& log) {
  CheckResult r = Base(c);
  r.threshold = "every acknowledged add in the final read; no element never added";
  const auto by_key = OpsByKey(log, {"add", "read"});
  if (auto missing = NeedOps(r, by_key, "`add` and `read`")) return *missing;
  std::vector<Violation> v;
  size_t acked_total = 0, lost_total = 0, reads = 0;
  for (const auto& [key, ops] : by_key) {
    // Element -> the earliest invocation of an add of it that may have been applied.
    std::map<std::string, const LoadOp*> added;
    for (const LoadOp& op : ops) {
      if (op.f == "add" && MaybeApplied(op) && added.count(op.value) == 0) added[op.value] = &op;
    }
    const LoadOp* final_read = nullptr;
    for (const LoadOp& op : ops) {
      if (op.f != "read" || !Acked(op) || !op.read) continue;
      ++reads;
      if (ValueCut(*op.read)) continue;  // cut at kMaxOpValue bytes: not the whole set
      if (final_read == nullptr || op.complete_ns > final_read->complete_ns) final_read = &op;
      for (const std::string& e : Elements(*op.read)) {
        auto it = added.find(e);
        if (it == added.end() || it->second->invoke_ns > op.complete_ns) {
          v.push_back({op.invoke_ns, "unexpected element '" + PrintableText(e, 40) +
                                         "', never added before the read ended: " + Cite(log, op)});
        }
      }
    }
    if (final_read == nullptr) continue;
    const std::set<std::string> final_set = Elements(*final_read->read);
    std::vector<const LoadOp*> lost;
    for (const LoadOp& op : ops) {
      if (op.f != "add" || !Acked(op) || op.complete_ns >= final_read->invoke_ns) continue;
      ++acked_total;
      if (final_set.count(op.value) == 0) lost.push_back(&op);
    }
    lost_total += lost.size();
    if (!lost.empty()) {
      v.push_back({lost.front()->complete_ns,
                   std::to_string(lost.size()) +
                       " acknowledged add(s) missing from the final "
                       "read (" +
                       Cite(log, *final_read) + "); the first: " + Cite(log, *lost.front()) +
                       (lost.size() > 1 ? "; the last: " + Cite(log, *lost.back()) : "")});
    }
  }
  r.measured =
      std::to_string(lost_total) + " lost of " + std::to_string(acked_total) + " acknowledged adds";
  if (reads == 0 && v.empty()) return Fail(r, "no read succeeded: there is no final read");
  return Report(r, std::move(v), "violations");
}

CheckResult RegisterCheck(const CheckSpec& c, const Log& log) {
  CheckResult r = Base(c);
  r.threshold =
      "each read returns a write not overwritten before it began (or nothing, before "
      "the first acknowledged write)";
  const auto by_key = OpsByKey(log, {"write", "read"});
  if (auto missing = NeedOps(r, by_key, "`write` and `read`")) return *missing;
  std::vector<Violation> v;
  size_t reads = 0;
  for (const auto& [key, ops] : by_key) {
    std::vector<const LoadOp*> acked;  // by completion
    std::map<std::string, std::vector<const LoadOp*>> writes_of;
    for (const LoadOp& op : ops) {
      if (op.f != "write") continue;
      if (Acked(op)) acked.push_back(&op);
      if (MaybeApplied(op)) writes_of[op.value].push_back(&op);
    }
    std::sort(acked.begin(), acked.end(),
              [](const LoadOp* a, const LoadOp* b) { return a->complete_ns < b->complete_ns; });
    // The latest invocation among the acknowledged writes completed so far: a write that
    // completed before it was overwritten for good.
    std::vector<int64_t> newest(acked.size() + 1, INT64_MIN);
    std::vector<const LoadOp*> newest_op(acked.size() + 1, nullptr);
    for (size_t i = 0; i < acked.size(); ++i) {
      newest[i + 1] = std::max(newest[i], acked[i]->invoke_ns);
      newest_op[i + 1] = newest[i + 1] == acked[i]->invoke_ns ? acked[i] : newest_op[i];
    }
    for (const LoadOp& op : ops) {
      if (op.f != "read" || !Acked(op) || !op.read) continue;
      ++reads;
      const size_t done = static_cast<size_t>(
          std::lower_bound(acked.begin(), acked.end(), op.invoke_ns,
                           [](const LoadOp* a, int64_t t) { return a->complete_ns < t; }) -
          acked.begin());
      const int64_t cutoff = newest[done];
      const LoadOp* current = newest_op[done];
      if (op.read->empty()) {
        if (current != nullptr) {
          v.push_back({op.invoke_ns, "lost write: " + Cite(log, op) + " read nothing, after " +
                                         Cite(log, *current)});
        }
        continue;
      }
      auto it = writes_of.find(*op.read);
      bool possible = false, written = false;
      if (it != writes_of.end()) {
        for (const LoadOp* w : it->second) {
          if (w->invoke_ns >= op.complete_ns) continue;
          written = true;
          // An indeterminate write may land at any time; an acknowledged one is stale once a
          // write invoked after its completion was acknowledged before the read began.
          if (!Acked(*w) || w->complete_ns >= cutoff) possible = true;
        }
      }
      if (!written) {
        v.push_back({op.invoke_ns, "read of a value never written: " + Cite(log, op)});
      } else if (!possible) {
        v.push_back({op.invoke_ns, "lost write: " + Cite(log, op) +
                                       " read a value overwritten "
                                       "before it began, by " +
                                       Cite(log, *current)});
      }
    }
  }
  r.measured = std::to_string(v.size()) + " of " + std::to_string(reads) + " reads invalid";
  if (reads == 0 && v.empty()) return Fail(r, "no read succeeded: nothing shows the register");
  return Report(r, std::move(v), "invalid reads");
}

CheckResult QueueCheck(const CheckSpec& c, const Log& log) {
  CheckResult r = Base(c);
  r.threshold = "no acknowledged enqueue lost, none dequeued twice, nothing never enqueued";
  const auto by_key = OpsByKey(log, {"enqueue", "dequeue"});
  if (auto missing = NeedOps(r, by_key, "`enqueue` and `dequeue`")) return *missing;
  std::vector<Violation> v;
  size_t dequeued = 0;
  for (const auto& [key, ops] : by_key) {
    std::map<std::string, const LoadOp*> enqueued;  // value -> its first enqueue
    std::map<std::string, const LoadOp*> taken;     // value -> the first dequeue of it
    std::vector<const LoadOp*> unknown_dequeues;    // indeterminate: may have taken anything
    for (const LoadOp& op : ops) {
      if (op.f == "enqueue" && MaybeApplied(op) && enqueued.count(op.value) == 0) {
        enqueued[op.value] = &op;
      }
    }
    for (const LoadOp& op : ops) {
      if (op.f != "dequeue") continue;
      if (!Acked(op) || !op.read) {
        if (MaybeApplied(op)) unknown_dequeues.push_back(&op);
        continue;
      }
      if (op.read->empty()) continue;  // the queue was empty
      ++dequeued;
      auto e = enqueued.find(*op.read);
      if (e == enqueued.end() || e->second->invoke_ns > op.complete_ns) {
        v.push_back({op.invoke_ns, "dequeued a value never enqueued: " + Cite(log, op)});
      } else if (auto t = taken.find(*op.read); t != taken.end()) {
        v.push_back(
            {op.invoke_ns, "dequeued twice: " + Cite(log, *t->second) + ", then " + Cite(log, op)});
      } else {
        taken[*op.read] = &op;
      }
    }
    // Loss: a dequeue that found the queue empty while acknowledged enqueues had not been
    // taken by anything (more of them than there were indeterminate dequeues to take them).
    for (const LoadOp& op : ops) {
      if (op.f != "dequeue" || !Acked(op) || !op.read || !op.read->empty()) continue;
      std::vector<const LoadOp*> missing;
      for (const auto& [value, enq] : enqueued) {
        if (!Acked(*enq) || enq->complete_ns >= op.invoke_ns) continue;
        auto t = taken.find(value);
        if (t == taken.end() || t->second->invoke_ns > op.complete_ns) missing.push_back(enq);
      }
      size_t maybe_taken = 0;
      for (const LoadOp* d : unknown_dequeues) maybe_taken += d->invoke_ns < op.complete_ns;
      if (missing.size() > maybe_taken) {
        std::sort(missing.begin(), missing.end(),
                  [](const LoadOp* a, const LoadOp* b) { return a->complete_ns < b->complete_ns; });
        v.push_back({op.invoke_ns, "lost enqueues: " + Cite(log, op) +
                                       " found the queue empty, "
                                       "but " +
                                       std::to_string(missing.size() - maybe_taken) +
                                       " acknowledged enqueue(s) were never dequeued; the "
                                       "first: " +
                                       Cite(log, *missing.front())});
        break;  // one empty read shows the loss; later ones would repeat it
      }
    }
  }
  r.measured =
      std::to_string(v.size()) + " violations in " + std::to_string(dequeued) + " dequeues";
  return Report(r, std::move(v), "violations");
}

}  // namespace duende::harness::check_internal

namespace duende::harness {

namespace {

void LinearizableModelParam(framework::TomlReader& r, const CheckParam& p, CheckSpec& c) {
  c.model = r.Enum(p.key, {"register", "cas-register", "kv"}, p.required).value_or("register");
}

void SearchBudgetParam(framework::TomlReader& r, const CheckParam& p, CheckSpec& c) {
  c.within = r.Duration(p.key, p.required);
}

}  // namespace

std::vector<CheckKind> WithModelChecks(const std::vector<CheckKind>& kinds) {
  using C = CheckSpec;
  using Events = std::vector<model::Event>;
  using check_internal::Log;
  std::vector<CheckKind> out = kinds;
  out.push_back({"counter",
                 "every acknowledged increment is counted: each `read` of the history lies "
                 "between the `incr`s acknowledged before it began and all invoked before it "
                 "ended",
                 {},
                 [](const C& c, const Scenario&, const Events& e) {
                   return check_internal::CounterCheck(c, Log(e));
                 }});
  out.push_back({"set",
                 "every acknowledged `add` is in the final `read`; no read holds an element never "
                 "added",
                 {},
                 [](const C& c, const Scenario&, const Events& e) {
                   return check_internal::SetCheck(c, Log(e));
                 }});
  for (const char* name : {"register", "kv"}) {
    out.push_back({name,
                   "no acknowledged `write` is lost (each `read` returns a write not overwritten "
                   "before it began) and no read returns a value never written; per key",
                   {},
                   [](const C& c, const Scenario&, const Events& e) {
                     return check_internal::RegisterCheck(c, Log(e));
                   }});
  }
  out.push_back({"queue",
                 "no acknowledged `enqueue` is lost, no value is dequeued twice, nothing never "
                 "enqueued is dequeued",
                 {},
                 [](const C& c, const Scenario&, const Events& e) {
                   return check_internal::QueueCheck(c, Log(e));
                 }});
  out.push_back({"linearizable",
                 "some order of the history's `read`s and `write`s, each placed between its "
                 "invocation and its reply, explains every reply (`model` register, "
                 "cas-register or kv: per key); indeterminate writes may or may not have "
                 "happened; `within` bounds the search (default 60s)",
                 {{"model", true, LinearizableModelParam}, {"within", false, SearchBudgetParam}},
                 [](const C& c, const Scenario&, const Events& e) {
                   return check_internal::LinearizableCheck(c, Log(e));
                 }});
  return out;
}

}  // namespace duende::harness
