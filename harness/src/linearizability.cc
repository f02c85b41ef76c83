// The checker's entry point: validation, partition by key (P-compositionality: a history of
// a map of registers is linearizable exactly when each key's history is, Herlihy and Wing
// 1990), the search per key, and a violation shrunk and explained.
#include "duende/harness/linearizability.h"

#include <algorithm>
#include <map>
#include <sstream>

#include "duende/framework/clock.h"
#include "linearizability_internal.h"

namespace duende::harness::linearizability {

using internal::Clock;
using internal::SearchOp;
using internal::ValueTable;

const char* ModelName(Model model) {
  switch (model) {
    case Model::kRegister:
      return "register";
    case Model::kCasRegister:
      return "cas-register";
    case Model::kKv:
      return "kv";
  }
  return "?";
}

bool ParseModel(std::string_view name, Model* model) {
  for (Model m : {Model::kRegister, Model::kCasRegister, Model::kKv}) {
    if (name == ModelName(m)) {
      *model = m;
      return true;
    }
  }
  return false;
}

const char* FunctionName(Function f) {
  switch (f) {
    case Function::kRead:
      return "read";
    case Function::kWrite:
      return "write";
    case Function::kCas:
      return "cas";
  }
  return "?";
}

const char* OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kOk:
      return "ok";
    case Outcome::kFail:
      return "fail";
    case Outcome::kInfo:
      return "info";
  }
  return "?";
}

const char* VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kLinearizable:
      return "linearizable";
    case Verdict::kNotLinearizable:
      return "not linearizable";
    case Verdict::kUndecided:
      return "undecided";
  }
  return "?";
}

namespace internal {

int32_t ValueTable::Id(const Value& v) {
  if (!v) return 0;
  auto [it, inserted] = ids_.try_emplace(*v, static_cast<int32_t>(ids_.size() + 1));
  return it->second;
}

std::vector<SearchOp> Prepare(const std::vector<Operation>& ops, ValueTable& values,
                              int32_t initial, std::vector<size_t>* kept) {
  std::vector<SearchOp> out;
  std::vector<size_t> from;
  for (size_t i = 0; i < ops.size(); ++i) {
    const Operation& op = ops[i];
    if (op.outcome == Outcome::kFail) continue;
    if (op.outcome == Outcome::kInfo && op.f == Function::kRead) continue;
    SearchOp s;
    s.call = op.invoke_ns;
    s.indeterminate = op.outcome == Outcome::kInfo;
    s.ret = s.indeterminate ? INT64_MAX : op.complete_ns;
    s.f = op.f;
    s.a = values.Id(op.value);
    if (op.f == Function::kCas) s.b = values.Id(op.new_value);
    out.push_back(s);
    from.push_back(i);
  }
  // Indeterminate writes and cas whose value nothing reads or compares, and indeterminate cas
  // that can never find their expected value, change nothing anyone sees: drop them (each
  // pending one would otherwise multiply the configurations the search visits).
  std::vector<char> alive(out.size(), 1);
  for (bool changed = true; changed;) {
    changed = false;
    int32_t max_id = initial;
    for (const SearchOp& s : out) max_id = std::max({max_id, s.a, s.b});
    std::vector<char> used(static_cast<size_t>(max_id) + 1, 0);
    std::vector<char> produced(used.size(), 0);
    produced[static_cast<size_t>(initial)] = 1;
    for (size_t i = 0; i < out.size(); ++i) {
      if (!alive[i]) continue;
      const SearchOp& s = out[i];
      if (s.f != Function::kWrite) used[static_cast<size_t>(s.a)] = 1;
      produced[static_cast<size_t>(s.f == Function::kCas ? s.b : s.a)] |= s.f != Function::kRead;
    }
    for (size_t i = 0; i < out.size(); ++i) {
      const SearchOp& s = out[i];
      if (!alive[i] || !s.indeterminate) continue;
      const bool unseen = !used[static_cast<size_t>(s.f == Function::kCas ? s.b : s.a)];
      const bool never_applies = s.f == Function::kCas && !produced[static_cast<size_t>(s.a)];
      if (unseen || never_applies) {
        alive[i] = 0;
        changed = true;
      }
    }
  }
  std::vector<SearchOp> result;
  if (kept != nullptr) kept->clear();
  for (size_t i = 0; i < out.size(); ++i) {
    if (!alive[i]) continue;
    result.push_back(out[i]);
    if (kept != nullptr) kept->push_back(from[i]);
  }
  return result;
}

}  // namespace internal

namespace {

framework::Result<void> Validate(const std::vector<Operation>& ops, Model model) {
  for (const Operation& op : ops) {
    auto where = [&] {
      return op.line != 0 ? "line " + std::to_string(op.line) + ": " : std::string();
    };
    if (op.f == Function::kCas && model == Model::kRegister) {
      return framework::MessageError(where() + "a cas operation (" + FormatOperation(op) +
                                     ") under model register: use --model cas-register");
    }
    if (op.outcome != Outcome::kInfo && op.complete_ns < op.invoke_ns) {
      return framework::MessageError(where() + FormatOperation(op) + " completed at " +
                                     std::to_string(op.complete_ns) +
                                     ", before its invocation at " + std::to_string(op.invoke_ns));
    }
  }
  return {};
}

// Builds the violation of one key from its failing prepared history.
Violation Explain(const std::vector<Operation>& key_ops, const std::vector<SearchOp>& prepared,
                  const std::vector<size_t>& kept, int32_t initial, Clock::time_point deadline,
                  bool fast) {
  Violation v;
  v.key_ops = key_ops.size();
  std::vector<size_t> small = internal::Shrink(prepared, initial, deadline, fast, &v.minimal);
  std::sort(small.begin(), small.end(), [&](size_t x, size_t y) {
    const Operation& a = key_ops[kept[x]];
    const Operation& b = key_ops[kept[y]];
    return std::tie(a.invoke_ns, a.client) < std::tie(b.invoke_ns, b.client);
  });
  std::vector<SearchOp> small_ops;
  for (size_t i : small) {
    small_ops.push_back(prepared[i]);
    v.ops.push_back(key_ops[kept[i]]);
  }
  internal::SearchReport r = internal::Search(small_ops, initial, {}, /*record_longest=*/true);
  std::vector<char> placed(small_ops.size(), 0);
  for (uint32_t i : r.longest) {
    v.longest_order.push_back(i);
    placed[i] = 1;
  }
  for (size_t i = 0; i < small_ops.size(); ++i) {
    if (!placed[i]) v.stuck.push_back(i);
  }
  return v;
}

}  // namespace

framework::Result<CheckResult> CheckHistory(const std::vector<Operation>& ops,
                                            const CheckOptions& options) {
  const auto start = Clock::now();
  DUENDE_TRY(Validate(ops, options.model));
  std::map<std::string, std::vector<Operation>> keys;
  for (const Operation& op : ops) {
    keys[options.model == Model::kKv ? op.key : std::string()].push_back(op);
  }
  CheckResult result;
  result.stats.keys = keys.size();
  internal::SearchLimits limits;
  limits.deadline = start + options.budget;
  limits.max_states = options.max_states;
  limits.max_bytes = options.max_memory_bytes;
  bool undecided = false;
  for (const auto& [key, key_ops] : keys) {
    ValueTable values;
    const int32_t initial = values.Id(options.initial);
    std::vector<size_t> kept;
    std::vector<SearchOp> prepared = internal::Prepare(key_ops, values, initial, &kept);
    result.stats.ops += prepared.size();
    internal::SearchReport r;
    const internal::SearchOutcome outcome =
        internal::Decide(prepared, initial, limits, options.zone_fast_path, &r);
    result.stats.states += r.states;
    result.stats.steps += r.steps;
    result.stats.zone_keys += r.by_zones ? 1 : 0;
    if (outcome == internal::SearchOutcome::kOutOfBudget) {
      if (!undecided) result.undecided_key = key;
      undecided = true;
    } else if (outcome == internal::SearchOutcome::kNotLinearizable) {
      result.verdict = Verdict::kNotLinearizable;
      result.violation = Explain(key_ops, prepared, kept, initial,
                                 Clock::now() + options.minimize_budget, options.zone_fast_path);
      result.violation->key = key;
      result.undecided_key.clear();
      break;
    }
  }
  if (undecided && result.verdict != Verdict::kNotLinearizable) {
    result.verdict = Verdict::kUndecided;
  }
  result.stats.elapsed = Clock::now() - start;
  return result;
}

bool IsLinearizable(const std::vector<Operation>& ops, Model model, const Value& initial) {
  (void)model;  // the register step is the same for every model; kv callers split by key
  ValueTable values;
  const int32_t init = values.Id(initial);
  std::vector<SearchOp> prepared = internal::Prepare(ops, values, init, nullptr);
  return internal::Search(prepared, init, {}).outcome == internal::SearchOutcome::kLinearizable;
}

namespace {

std::string ValueText(const Value& v) { return v ? *v : "nil"; }

}  // namespace

std::string FormatOperation(const Operation& op) {
  std::string s = "client " + std::to_string(op.client) + " " + FunctionName(op.f) + " ";
  if (op.f == Function::kCas) {
    s += ValueText(op.value) + "->" + ValueText(op.new_value);
  } else if (op.f == Function::kRead && op.outcome != Outcome::kOk) {
    s += "?";
  } else {
    s += ValueText(op.value);
  }
  if (!op.key.empty()) s += " (key " + op.key + ")";
  return s + " " + OutcomeName(op.outcome);
}

std::string FormatViolation(const Violation& v, bool times_are_positions,
                            std::optional<int64_t> origin_ns) {
  std::ostringstream out;
  if (!v.key.empty()) out << "key " << v.key << ": ";
  out << "no order explains these " << v.ops.size() << " of "
      << (v.key.empty() ? "the history's " : "its ") << v.key_ops
      << (v.key_ops == 1 ? " operation" : " operations")
      << (v.minimal ? " (shrunk to 1-minimal)"
                    : " (shrinking ran out of budget: a smaller failing set may exist)")
      << '\n';
  const int64_t t0 = origin_ns ? *origin_ns : v.ops.empty() ? 0 : v.ops.front().invoke_ns;
  auto when = [&](int64_t t) {
    if (times_are_positions) return "#" + std::to_string(t);
    return "+" + framework::FormatDuration(std::chrono::nanoseconds(t - t0));
  };
  std::vector<char> stuck(v.ops.size(), 0);
  for (size_t i : v.stuck) stuck[i] = 1;
  out << "    client  invoked     completed   operation\n";
  for (size_t i = 0; i < v.ops.size(); ++i) {
    const Operation& op = v.ops[i];
    std::string line = std::string(stuck[i] ? "  * " : "    ");
    std::string c = std::to_string(op.client);
    line += c + std::string(c.size() < 8 ? 8 - c.size() : 1, ' ');
    std::string a = when(op.invoke_ns);
    std::string b = op.outcome == Outcome::kInfo ? "never" : when(op.complete_ns);
    line += a + std::string(a.size() < 12 ? 12 - a.size() : 1, ' ');
    line += b + std::string(b.size() < 12 ? 12 - b.size() : 1, ' ');
    std::string what = FormatOperation(op);
    line += what.substr(what.find(' ', 7) + 1);  // without "client N "
    if (op.line != 0) line += "  (line " + std::to_string(op.line) + ")";
    out << line << '\n';
  }
  out << "longest order that explains its results:";
  if (v.longest_order.empty()) out << " none (no operation can go first)";
  for (size_t i = 0; i < v.longest_order.size(); ++i) {
    const Operation& op = v.ops[v.longest_order[i]];
    out << (i == 0 ? " " : ", ") << "c" << op.client << " " << FunctionName(op.f);
    if (op.f == Function::kCas) {
      out << ' ' << ValueText(op.value) << "->" << ValueText(op.new_value);
    } else {
      out << ' ' << ValueText(op.value);
    }
  }
  out << "\nthen none of the operations marked * can take effect next\n";
  return out.str();
}

}  // namespace duende::harness::linearizability
