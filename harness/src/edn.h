// A small reader of EDN (extensible data notation, what Jepsen writes its histories in): nil,
// booleans, numbers, strings, characters, keywords, symbols, lists, vectors, maps, sets,
// tagged values (#inst "..."), comments and #_ discards. Enough to read history.edn and the
// values of jepsen.util log lines; numbers are kept as their text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "duende/framework/result.h"

namespace duende::harness::edn {

struct Node {
  enum class Kind {
    kNil,
    kBool,
    kNumber,
    kString,
    kChar,
    kKeyword,
    kSymbol,
    kList,
    kVector,
    kMap,
    kSet,
    kTagged
  };
  Kind kind = Kind::kNil;
  /// kBool "true"/"false"; kNumber its text; kString its content (escapes decoded); kChar the
  /// character; kKeyword the name without ':'; kSymbol the name; kTagged the tag.
  std::string text;
  /// Elements of lists, vectors and sets; a map's keys and values alternating; a tagged
  /// value's one element.
  std::vector<Node> items;
  uint32_t line = 0;  ///< 1-based
  uint32_t col = 0;   ///< 1-based, in bytes

  /// The value of map key `:name` (a keyword key), or nullptr.
  const Node* Get(std::string_view keyword) const;
  bool IsKeyword(std::string_view name) const { return kind == Kind::kKeyword && text == name; }
  bool IsSequence() const { return kind == Kind::kList || kind == Kind::kVector; }
};

/// Reads every top-level form of `text`. Errors (invalid_argument): "NAME:LINE:COL: message"
/// for the first malformed form, with `name` the file's name. `first_line`: the line number of
/// text's first line (a part of a bigger file); `first_col` likewise for its first byte.
framework::Result<std::vector<Node>> ReadAll(std::string_view text, const std::string& name,
                                             uint32_t first_line = 1, uint32_t first_col = 1);

/// Reads the first form of `text` and says in `*used` how many bytes it took.
framework::Result<Node> ReadFirst(std::string_view text, const std::string& name, uint32_t line,
                                  uint32_t col, size_t* used);

/// The form as EDN text again (numbers and keywords as written, strings quoted).
std::string ToText(const Node& node);

}  // namespace duende::harness::edn
