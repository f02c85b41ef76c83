// Mutant: one small deliberate change to a source file, where it is, and what became of it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "duende/framework/result.h"

namespace duende::mutate {

/// The mutation operators. The first eight are on by default; the rest are opt-in.
enum class Operator : uint32_t {
  kRelational = 1u << 0,   ///< < <= > >= == != (boundary and negation)
  kLogical = 1u << 1,      ///< && <-> ||
  kNegation = 1u << 2,     ///< removed !
  kArithmetic = 1u << 3,   ///< + <-> -, * <-> /
  kReturnValue = 1u << 4,  ///< return x -> return 0 / nullptr / !(x)
  kVoidCall = 1u << 5,     ///< removed call of a void function
  kVoidBody = 1u << 6,     ///< emptied body of a void function
  kConstant = 1u << 7,     ///< integer literal n -> 0 (or 0 -> 1); opt-in
  kBitwise = 1u << 8,      ///< & <-> |, ^ -> &, << <-> >>; opt-in
  kIncDec = 1u << 9,       ///< ++ <-> --; opt-in
};

/// A set of Operator bits.
using OperatorSet = uint32_t;

inline constexpr OperatorSet kDefaultOperators = 0x7f;
inline constexpr OperatorSet kAllOperators = 0x3ff;

/// The short name of an operator ("relational", "void-call", ...), as used on the command line.
std::string_view OperatorName(Operator op);
/// Parses operator names (with "default" and "all" as shorthands). Errors: invalid_argument
/// naming the unknown operator and listing the valid ones.
framework::Result<OperatorSet> ParseOperators(const std::vector<std::string>& names);

/// What became of a mutant; the names are the Stryker report schema's.
enum class Status {
  kPending,       ///< not run (time budget exhausted)
  kKilled,        ///< a test failed
  kSurvived,      ///< every covering test passed
  kTimeout,       ///< a covering test hung (counted as detected)
  kNoCoverage,    ///< no test reaches the code
  kCompileError,  ///< the mutant does not compile
  kIgnored,       ///< ignored by a marker or the ignore list
};

/// "Killed", "Survived", "Timeout", "NoCoverage", "CompileError", "Ignored", "Pending".
std::string_view StatusName(Status status);

/// A 1-based line and column (columns count bytes).
struct Position {
  uint32_t line = 0;
  uint32_t column = 0;
};

/// One mutant. Offsets are byte offsets into the original file.
///
/// The change itself is a splice: bytes [begin, end) become `code`. For the schemata build the
/// mutant also names its *site*: the enclosing expression [site_begin, site_end) that is
/// rewritten as `(duende_mutant_check(id) ? (alternative) : (original))`, where the
/// alternative is the site's text with the splice applied, wrapped in alt_prefix/alt_suffix.
/// A body site (kVoidBody) instead gets a guard `if (duende_mutant_check(id)) return;`.
struct Mutant {
  uint32_t id = 0;
  std::string file;  ///< absolute path in the user's tree
  Operator op = Operator::kRelational;
  std::string mutator;      ///< Stryker mutator name, e.g. "EqualityOperator"
  std::string original;     ///< the replaced text as shown, e.g. "<"
  std::string replacement;  ///< what it becomes, e.g. "<="
  uint32_t begin = 0;
  uint32_t end = 0;
  std::string code;  ///< the text spliced into [begin, end)
  uint32_t site_begin = 0;
  uint32_t site_end = 0;
  bool guard_site = false;  ///< kVoidBody: insert a guard after the '{' at site_begin
  std::string alt_prefix;
  std::string alt_suffix;
  Position start;  ///< of [begin, end)
  Position stop;   ///< exclusive end, as in the Stryker schema

  Status status = Status::kPending;
  std::string detail;  ///< killing test, ignore reason, compiler message, ...
  std::vector<uint32_t> covering_tests;
  uint32_t tests_run = 0;

  /// "file:line:col"
  std::string WhereString() const;
};

/// Maps byte offsets of a text to 1-based line/column positions.
class LineIndex {
 public:
  explicit LineIndex(std::string_view text);
  Position At(uint32_t offset) const;
  /// The offset of a 1-based line/column (clamped to the text); nullopt for line 0.
  std::optional<uint32_t> OffsetOf(uint32_t line, uint32_t column) const;
  uint32_t line_count() const { return static_cast<uint32_t>(starts_.size()); }

 private:
  std::vector<uint32_t> starts_;
  uint32_t size_ = 0;
};

/// Applies one mutant's splice to the original text (the one-at-a-time "rebuild" mode).
std::string ApplyMutant(std::string_view original, const Mutant& mutant);

}  // namespace duende::mutate
