// duende check-history FILE --model M [--budget 60s] [--json]: checks a history file for
// linearizability on its own (docs/linearizability.md): duende's history JSONL, Jepsen's
// history.edn or jepsen.util log lines. Exit 0 linearizable, 1 not (the smallest failing
// sub-history found is printed), 3 undecided within the budget, 2 bad input (file:line:col).
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "cli_util.h"
#include "duende/framework/clock.h"
#include "duende/framework/exit_code.h"
#include "duende/harness/linearizability.h"
#include "duende/harness/linearizability_history.h"
#include "verbs.h"

namespace duende::cli {

namespace lin = harness::linearizability;

namespace {

nlohmann::json ValueJson(const lin::Value& v) { return v ? nlohmann::json(*v) : nullptr; }

nlohmann::json ResultJson(const lin::CheckResult& r, const lin::History& h, const std::string& path,
                          lin::Model model) {
  nlohmann::json j = {{"file", path},
                      {"format", lin::HistoryFormatName(h.format)},
                      {"model", lin::ModelName(model)},
                      {"verdict", lin::VerdictName(r.verdict)},
                      {"operations", h.ops.size()},
                      {"checked_operations", r.stats.ops},
                      {"keys", r.stats.keys},
                      {"states", r.stats.states},
                      {"steps", r.stats.steps},
                      {"zone_keys", r.stats.zone_keys},
                      {"elapsed_ns", r.stats.elapsed.count()},
                      {"times_are_positions", h.times_are_positions}};
  if (r.verdict == lin::Verdict::kUndecided) j["undecided_key"] = r.undecided_key;
  if (r.violation) {
    const lin::Violation& v = *r.violation;
    nlohmann::json ops = nlohmann::json::array();
    std::set<size_t> stuck(v.stuck.begin(), v.stuck.end());
    for (size_t i = 0; i < v.ops.size(); ++i) {
      const lin::Operation& op = v.ops[i];
      nlohmann::json o = {
          {"client", op.client},
          {"f", lin::FunctionName(op.f)},
          {"value", ValueJson(op.value)},
          {"outcome", lin::OutcomeName(op.outcome)},
          {"invoke", op.invoke_ns},
          {"complete", op.outcome == lin::Outcome::kInfo ? nlohmann::json(nullptr)
                                                         : nlohmann::json(op.complete_ns)},
          {"stuck", stuck.count(i) > 0}};
      if (op.f == lin::Function::kCas) o["new_value"] = ValueJson(op.new_value);
      if (model == lin::Model::kKv) o["key"] = op.key;
      if (op.line != 0) o["line"] = op.line;
      ops.push_back(std::move(o));
    }
    j["violation"] = {{"key", v.key},
                      {"key_operations", v.key_ops},
                      {"minimal", v.minimal},
                      {"operations", std::move(ops)},
                      {"longest_order", v.longest_order}};
  }
  return j;
}

}  // namespace

int CheckHistoryMain(int argc, char** argv) {
  CLI::App app(
      "Check a history of register operations for linearizability: duende's history JSONL, "
      "Jepsen's history.edn or jepsen.util log lines (docs/linearizability.md).",
      "check-history");
  std::string path;
  std::string model_name;
  std::string format_name = "auto";
  std::string budget_text = "60s";
  std::string initial;
  bool json = false;
  app.add_option("file", path, "the history file")->required();
  app.add_option("--model", model_name, "register, cas-register or kv (a map of cas-registers)")
      ->required();
  app.add_option("--format", format_name,
                 "auto (by extension, then content), jsonl, edn or jepsen-log")
      ->capture_default_str();
  app.add_option("--budget", budget_text,
                 "search time before giving up as undecided (exit 3): seconds, or a duration "
                 "such as 90s or 5m")
      ->capture_default_str();
  app.add_option("--initial", initial, "the registers' value before the history (default nil)");
  app.add_flag("--json", json, "print the result as one JSON document");
  if (int rc = ParseArgs(app, argc, argv); rc >= 0) return rc;

  lin::CheckOptions options;
  if (!lin::ParseModel(model_name, &options.model)) {
    PrintError("--model is \"" + model_name + "\"; it must be register, cas-register or kv");
    return framework::kExitUsage;
  }
  lin::HistoryFormat format;
  if (!lin::ParseHistoryFormat(format_name, &format)) {
    PrintError("--format is \"" + format_name + "\"; it must be auto, jsonl, edn or jepsen-log");
    return framework::kExitUsage;
  }
  if (!budget_text.empty() && budget_text.find_first_not_of("0123456789.") == std::string::npos) {
    budget_text += "s";
  }
  if (!ParseDurationFlag("--budget", budget_text, &options.budget)) {
    return framework::kExitUsage;
  }
  if (app.count("--initial") > 0) options.initial = initial;

  auto history = lin::ReadHistoryFile(path, options.model, format);
  if (!history.ok()) {
    PrintError(history.error().Message());
    return framework::kExitUsage;
  }
  auto result = lin::CheckHistory(history->ops, options);
  if (!result.ok()) {
    PrintError(path + ": " + result.error().Message());
    return framework::kExitUsage;
  }
  const lin::CheckResult& r = *result;
  if (json) {
    std::cout << ResultJson(r, *history, path, options.model).dump(2) << '\n';
  } else {
    std::set<uint32_t> clients;
    for (const auto& op : history->ops) clients.insert(op.client);
    if (r.violation) {
      std::cout << lin::FormatViolation(*r.violation, history->times_are_positions) << '\n';
    }
    std::cout << lin::VerdictName(r.verdict) << ": " << history->ops.size() << " operations of "
              << clients.size() << " clients";
    if (options.model == lin::Model::kKv) std::cout << " on " << r.stats.keys << " keys";
    std::cout << ", model " << lin::ModelName(options.model) << ", ";
    if (r.stats.keys > 0 && r.stats.zone_keys == r.stats.keys) {
      std::cout << "decided by the zone test";
    } else {
      std::cout << r.stats.states << " states searched";
    }
    std::cout << " in " << framework::FormatDuration(r.stats.elapsed) << " (" << path << ", "
              << lin::HistoryFormatName(history->format) << ")\n";
    if (r.verdict == lin::Verdict::kUndecided) {
      std::cout << "the search" << (r.undecided_key.empty() ? "" : " of key " + r.undecided_key)
                << " ran out of its budget of " << framework::FormatDuration(options.budget)
                << " or of states: raise --budget to search longer\n";
    }
  }
  switch (r.verdict) {
    case lin::Verdict::kLinearizable:
      return framework::kExitOk;
    case lin::Verdict::kNotLinearizable:
      return framework::kExitFailed;
    case lin::Verdict::kUndecided:
      return framework::kExitEnvironment;
  }
  return framework::kExitFailed;
}

}  // namespace duende::cli
