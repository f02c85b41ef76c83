#include "duende/reporters/cited_ops.h"

#include <chrono>
#include <regex>
#include <set>
#include <tuple>

#include "duende/framework/clock.h"

namespace duende::reporters {
namespace {

// The longest evidence line searched for cited operations.
constexpr size_t kMaxCitationLine = 4096;

std::optional<double> Seconds(const std::string& text) {
  std::chrono::nanoseconds d{0};
  if (!framework::ParseDuration(text, &d)) return std::nullopt;
  return static_cast<double>(d.count()) / 1e9;
}

// A model check's citation; see harness/src/checks_models.cc Cite().
const std::regex& ModelCitation() {
  static const std::regex re(
      R"(client (\d+) (\S+ k\d+(?: .{1,48}?)?) \+([0-9.]+[a-z]+|[0-9]+m[0-9]+s)\.\.\+([0-9.]+[a-z]+|[0-9]+m[0-9]+s) )"
      R"(\((ok(?:, read '[^']*')?|unexpected reply|not sent|indeterminate)\))");
  return re;
}

// A row of the linearizable check's violation table (FormatViolation with the run's start as
// origin): marker, client, invoked, completed or "never", operation, outcome, optional line.
const std::regex& LinearizableRow() {
  static const std::regex re(
      R"(^  ([* ]) (\d+) +\+(\S+) +(?:\+(\S+)|never) +(.+?) (ok|fail|info)(?:  \(line \d+\))?$)");
  return re;
}

}  // namespace

std::vector<CitedOp> CitedOps(const model::CheckResult& check) {
  std::vector<CitedOp> out;
  std::set<std::tuple<uint64_t, std::string, double, double>> seen;
  auto add = [&](CitedOp op) {
    auto key = std::make_tuple(op.client, op.op, op.invoke_s, op.complete_s.value_or(-1));
    if (!seen.insert(key).second) {
      for (auto& o : out) {
        if (std::make_tuple(o.client, o.op, o.invoke_s, o.complete_s.value_or(-1)) == key) {
          o.stuck = o.stuck || op.stuck;
        }
      }
      return;
    }
    out.push_back(std::move(op));
  };
  for (size_t i = 0; i < check.evidence.size(); ++i) {
    const std::string& line = check.evidence[i];
    // Ours are a line of a few dozen characters; a report from elsewhere may hold anything,
    // and libstdc++'s std::regex recurses per character matched (a long line could overflow
    // the stack).
    if (line.size() > kMaxCitationLine) continue;
    std::smatch m;
    if (std::regex_match(line, m, LinearizableRow())) {
      auto invoke = Seconds(m[3]);
      std::optional<double> complete;
      if (m[4].matched) complete = Seconds(m[4]);
      if (!invoke || (m[4].matched && !complete) || m[2].length() > 18) continue;
      CitedOp op;
      op.stuck = m[1] == "*";
      op.client = std::stoull(m[2]);
      op.invoke_s = *invoke;
      op.complete_s = complete;
      op.op = m[5];
      op.outcome = m[6];
      op.evidence_line = i;
      op.text = line.substr(line.find_first_not_of(" *"));
      add(std::move(op));
      continue;
    }
    for (auto it = std::sregex_iterator(line.begin(), line.end(), ModelCitation());
         it != std::sregex_iterator(); ++it) {
      const std::smatch& c = *it;
      auto invoke = Seconds(c[3]);
      auto complete = Seconds(c[4]);
      if (!invoke || !complete || c[1].length() > 18) continue;
      CitedOp op;
      op.client = std::stoull(c[1]);
      op.op = c[2];
      op.invoke_s = *invoke;
      // An indeterminate operation is cited with the time it was given up on.
      op.complete_s = *complete;
      op.outcome = c[5];
      op.evidence_line = i;
      op.text = c[0];
      add(std::move(op));
    }
  }
  return out;
}

}  // namespace duende::reporters
