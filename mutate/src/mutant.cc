#include "duende/mutate/mutant.h"

#include <algorithm>
#include <array>
#include <utility>

namespace duende::mutate {
namespace {

constexpr std::array<std::pair<Operator, std::string_view>, 10> kOperatorNames = {{
    {Operator::kRelational, "relational"},
    {Operator::kLogical, "logical"},
    {Operator::kNegation, "negation"},
    {Operator::kArithmetic, "arithmetic"},
    {Operator::kReturnValue, "return-value"},
    {Operator::kVoidCall, "void-call"},
    {Operator::kVoidBody, "void-body"},
    {Operator::kConstant, "constant"},
    {Operator::kBitwise, "bitwise"},
    {Operator::kIncDec, "increment"},
}};

}  // namespace

std::string_view OperatorName(Operator op) {
  for (const auto& [o, name] : kOperatorNames) {
    if (o == op) return name;
  }
  return "unknown";
}

framework::Result<OperatorSet> ParseOperators(const std::vector<std::string>& names) {
  OperatorSet set = 0;
  for (const auto& name : names) {
    if (name == "default") {
      set |= kDefaultOperators;
      continue;
    }
    if (name == "all") {
      set |= kAllOperators;
      continue;
    }
    bool found = false;
    for (const auto& [op, op_name] : kOperatorNames) {
      if (op_name == name) {
        set |= static_cast<OperatorSet>(op);
        found = true;
      }
    }
    if (!found) {
      std::string valid = "default, all";
      for (const auto& entry : kOperatorNames) valid += ", " + std::string(entry.second);
      return framework::MessageError("unknown mutation operator '" + name + "' (valid: " + valid +
                                     ")");
    }
  }
  return set;
}

std::string_view StatusName(Status status) {
  switch (status) {
    case Status::kPending:
      return "Pending";
    case Status::kKilled:
      return "Killed";
    case Status::kSurvived:
      return "Survived";
    case Status::kTimeout:
      return "Timeout";
    case Status::kNoCoverage:
      return "NoCoverage";
    case Status::kCompileError:
      return "CompileError";
    case Status::kIgnored:
      return "Ignored";
  }
  return "Pending";
}

std::string Mutant::WhereString() const {
  return file + ":" + std::to_string(start.line) + ":" + std::to_string(start.column);
}

LineIndex::LineIndex(std::string_view text) : size_(static_cast<uint32_t>(text.size())) {
  starts_.push_back(0);
  for (uint32_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') starts_.push_back(i + 1);
  }
}

Position LineIndex::At(uint32_t offset) const {
  auto it = std::upper_bound(starts_.begin(), starts_.end(), offset);
  auto line = static_cast<uint32_t>(it - starts_.begin());
  return Position{line, offset - starts_[line - 1] + 1};
}

std::optional<uint32_t> LineIndex::OffsetOf(uint32_t line, uint32_t column) const {
  if (line == 0) return std::nullopt;
  if (line > starts_.size()) return size_;
  uint32_t offset = starts_[line - 1] + (column > 0 ? column - 1 : 0);
  return std::min(offset, size_);
}

std::string ApplyMutant(std::string_view original, const Mutant& mutant) {
  std::string out(original.substr(0, mutant.begin));
  out += mutant.code;
  out += original.substr(mutant.end);
  return out;
}

}  // namespace duende::mutate
