// The `linearizable` check: the request history of a mixed workload ([[load.op]] with f =
// "read", "write" and, for cas-register, "cas") checked for linearizability against a register
// model with the Wing-Gong-Lowe search of linearizability.h. The history is the one the load
// generator records (load.ops); keys are the {key} of each request ("k17"), and model "kv"
// checks each key on its own.
#include <chrono>
#include <string>
#include <vector>

#include "checks_internal.h"
#include "duende/harness/linearizability.h"
#include "duende/harness/load_history.h"

namespace duende::harness::check_internal {

namespace lin = linearizability;

namespace {

// A recorded request as the checker's operation; false for kinds the model has no use for.
bool ToOperation(const LoadOp& op, lin::Operation* out) {
  if (op.f == "read") {
    out->f = lin::Function::kRead;
  } else if (op.f == "write") {
    out->f = lin::Function::kWrite;
  } else {
    return false;
  }
  out->client = op.client;
  out->invoke_ns = op.invoke_ns;
  out->complete_ns = op.complete_ns;
  out->key = "k" + std::to_string(op.key);
  switch (op.outcome) {
    case OpOutcome::kOk:
      out->outcome = lin::Outcome::kOk;
      break;
    case OpOutcome::kNotSent:
      out->outcome = lin::Outcome::kFail;  // never reached the target
      break;
    default:
      // Timeouts, dropped connections, runs stopped mid-request, and replies that did not
      // match `expect` (the target answered something: the write may have been applied).
      out->outcome = lin::Outcome::kInfo;
  }
  if (out->f == lin::Function::kWrite) {
    out->value = op.value;
  } else if (out->outcome == lin::Outcome::kOk) {
    // Nothing captured, or an empty capture ("VALUE (\\d+)|NOTFOUND"): the read saw no
    // value, the register's initial nil.
    if (op.read && !op.read->empty()) out->value = op.read;
  }
  return true;
}

}  // namespace

CheckResult LinearizableCheck(const CheckSpec& c, const Log& log) {
  CheckResult r = Base(c);
  lin::CheckOptions options;
  if (!lin::ParseModel(c.model, &options.model)) options.model = lin::Model::kRegister;
  if (c.within) options.budget = *c.within;
  r.threshold = std::string("some order of the operations explains every reply (model ") +
                lin::ModelName(options.model) + ")";
  std::vector<lin::Operation> ops;
  size_t skipped = 0;
  for (const LoadOp& op : OpsFromEvents(log.events)) {
    lin::Operation o;
    if (ToOperation(op, &o)) {
      ops.push_back(std::move(o));
    } else if (!op.f.empty()) {
      ++skipped;
    }
  }
  if (ops.empty()) {
    return Fail(r,
                "the request history has no `read` or `write` operations: give [load] a "
                "[[load.op]] for each (f = \"read\" with a capture in expect, f = \"write\"), "
                "see scenarios/README.md \"Model checks\"");
  }
  if (options.model != lin::Model::kKv) {
    for (auto& o : ops) o.key.clear();  // one register: every key is the same one
  }
  auto result = lin::CheckHistory(ops, options);
  if (!result.ok()) return Fail(r, "the history cannot be checked: " + result.error().Message());
  const auto& s = result->stats;
  r.measured = std::string(lin::VerdictName(result->verdict)) + " (" + std::to_string(s.ops) +
               " ops, " + std::to_string(s.keys) + " key(s), " + Dur(s.elapsed.count()) + ")";
  if (skipped > 0) {
    Evidence(r, std::to_string(skipped) + " operation(s) of other kinds are not part of the model");
  }
  switch (result->verdict) {
    case lin::Verdict::kLinearizable:
      return r;
    case lin::Verdict::kNotLinearizable: {
      // The checker's text, kept short for the console: the key's line (marking what '*'
      // means), the operations, and the longest order found; not its column header.
      r.verdict = model::Verdict::kFail;
      // Times from the run's start, as every check cites them (and the HTML report draws them).
      std::string text = lin::FormatViolation(*result->violation, false, log.start_ns);
      size_t start = 0;
      bool first = true;
      while (start < text.size()) {
        size_t nl = text.find('\n', start);
        if (nl == std::string::npos) nl = text.size();
        std::string line = text.substr(start, nl - start);
        start = nl + 1;
        if (line.empty() || line.find("client  invoked") != std::string::npos ||
            line.rfind("then none of", 0) == 0) {
          continue;
        }
        if (first) line += "; * = cannot take effect next";
        first = false;
        Evidence(r, line);
      }
      return r;
    }
    case lin::Verdict::kUndecided:
      r.verdict = model::Verdict::kError;
      Evidence(r, "undecided within the budget" +
                      (result->undecided_key.empty() ? std::string()
                                                     : " (key " + result->undecided_key + ")") +
                      ": raise `within` or shorten the load");
      return r;
  }
  return r;
}

}  // namespace duende::harness::check_internal
