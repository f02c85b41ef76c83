#include "edn.h"

#include <cctype>

namespace duende::harness::edn {
namespace {

// Forms nest at most this deep: a hostile file must not exhaust the stack.
constexpr int kMaxDepth = 200;

class Reader {
 public:
  Reader(std::string_view text, const std::string& name, uint32_t line, uint32_t col)
      : text_(text), name_(name), line_(line), col_(col) {}

  // Skips whitespace, commas, comments and #_ discards. False on a malformed discard.
  framework::Result<void> SkipBlank() {
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == ';') {
        while (pos_ < text_.size() && text_[pos_] != '\n') Advance();
      } else if (c == ',' || std::isspace(static_cast<unsigned char>(c))) {
        Advance();
      } else if (c == '#' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '_') {
        Advance();
        Advance();
        DUENDE_TRY(SkipBlank());
        auto dropped = Read(0);
        if (!dropped.ok()) return dropped.error();
      } else {
        break;
      }
    }
    return {};
  }

  bool AtEnd() const { return pos_ >= text_.size(); }
  size_t pos() const { return pos_; }

  framework::Result<Node> Read(int depth) {
    if (depth > kMaxDepth) return Fail("forms nest deeper than " + std::to_string(kMaxDepth));
    DUENDE_TRY(SkipBlank());
    if (AtEnd()) return Fail("a value is missing: the text ends here");
    Node node;
    node.line = line_;
    node.col = col_;
    const char c = text_[pos_];
    switch (c) {
      case '(':
      case '[':
      case '{': {
        Advance();
        node.kind = c == '('   ? Node::Kind::kList
                    : c == '[' ? Node::Kind::kVector
                               : Node::Kind::kMap;
        DUENDE_TRY(ReadItems(node, c == '(' ? ')' : c == '[' ? ']' : '}', depth));
        if (node.kind == Node::Kind::kMap && node.items.size() % 2 != 0) {
          return FailAt(node, "a map needs a value for every key (an odd number of forms)");
        }
        return node;
      }
      case ')':
      case ']':
      case '}':
        return Fail(std::string("unexpected '") + c + "' (no form open here to close)");
      case '"':
        return ReadString(node);
      case '\\':
        Advance();
        node.kind = Node::Kind::kChar;
        node.text = Token();
        if (node.text.empty()) return FailAt(node, "a character literal needs a character");
        return node;
      case '#': {
        Advance();
        if (!AtEnd() && text_[pos_] == '{') {
          Advance();
          node.kind = Node::Kind::kSet;
          DUENDE_TRY(ReadItems(node, '}', depth));
          return node;
        }
        node.kind = Node::Kind::kTagged;
        node.text = Token();
        if (node.text.empty())
          return FailAt(node, "'#' must start a tag such as #inst or a set #{}");
        auto inner = Read(depth + 1);
        if (!inner.ok()) return inner.error();
        node.items.push_back(std::move(*inner));
        return node;
      }
      case ':':
        Advance();
        node.kind = Node::Kind::kKeyword;
        node.text = Token();
        if (node.text.empty()) return FailAt(node, "':' must start a keyword such as :read");
        return node;
      default:
        break;
    }
    node.text = Token();
    if (node.text.empty()) return Fail(std::string("unexpected character '") + c + "'");
    const char f = node.text[0];
    if (std::isdigit(static_cast<unsigned char>(f)) ||
        ((f == '-' || f == '+') && node.text.size() > 1 &&
         std::isdigit(static_cast<unsigned char>(node.text[1])))) {
      node.kind = Node::Kind::kNumber;
      if (node.text[0] == '+') node.text.erase(0, 1);
    } else if (node.text == "nil") {
      node.kind = Node::Kind::kNil;
    } else if (node.text == "true" || node.text == "false") {
      node.kind = Node::Kind::kBool;
    } else {
      node.kind = Node::Kind::kSymbol;
    }
    return node;
  }

  framework::Error Fail(const std::string& message) const {
    return framework::MessageError(name_ + ":" + std::to_string(line_) + ":" +
                                   std::to_string(col_) + ": " + message);
  }

 private:
  framework::Error FailAt(const Node& at, const std::string& message) const {
    return framework::MessageError(name_ + ":" + std::to_string(at.line) + ":" +
                                   std::to_string(at.col) + ": " + message);
  }

  void Advance() {
    if (text_[pos_] == '\n') {
      ++line_;
      col_ = 1;
    } else {
      ++col_;
    }
    ++pos_;
  }

  static bool Delimiter(char c) {
    return std::isspace(static_cast<unsigned char>(c)) || c == ',' || c == '(' || c == ')' ||
           c == '[' || c == ']' || c == '{' || c == '}' || c == '"' || c == ';';
  }

  std::string Token() {
    const size_t begin = pos_;
    while (pos_ < text_.size() && !Delimiter(text_[pos_])) Advance();
    return std::string(text_.substr(begin, pos_ - begin));
  }

  framework::Result<void> ReadItems(Node& node, char close, int depth) {
    for (;;) {
      DUENDE_TRY(SkipBlank());
      if (AtEnd()) {
        return FailAt(node, std::string("this form is never closed: add '") + close + "'");
      }
      if (text_[pos_] == close) {
        Advance();
        return {};
      }
      auto item = Read(depth + 1);
      if (!item.ok()) return item.error();
      node.items.push_back(std::move(*item));
    }
  }

  framework::Result<Node> ReadString(Node& node) {
    node.kind = Node::Kind::kString;
    Advance();
    while (pos_ < text_.size() && text_[pos_] != '"') {
      char c = text_[pos_];
      if (c == '\\') {
        Advance();
        if (AtEnd()) break;
        const char e = text_[pos_];
        c = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
      }
      node.text += c;
      Advance();
    }
    if (AtEnd()) return FailAt(node, "this string is never closed: add '\"'");
    Advance();
    return node;
  }

  std::string_view text_;
  const std::string& name_;
  size_t pos_ = 0;
  uint32_t line_;
  uint32_t col_;
};

}  // namespace

const Node* Node::Get(std::string_view keyword) const {
  for (size_t i = 0; i + 1 < items.size(); i += 2) {
    if (items[i].IsKeyword(keyword)) return &items[i + 1];
  }
  return nullptr;
}

framework::Result<std::vector<Node>> ReadAll(std::string_view text, const std::string& name,
                                             uint32_t first_line, uint32_t first_col) {
  Reader reader(text, name, first_line, first_col);
  std::vector<Node> out;
  for (;;) {
    DUENDE_TRY(reader.SkipBlank());
    if (reader.AtEnd()) return out;
    auto node = reader.Read(0);
    if (!node.ok()) return node.error();
    out.push_back(std::move(*node));
  }
}

framework::Result<Node> ReadFirst(std::string_view text, const std::string& name, uint32_t line,
                                  uint32_t col, size_t* used) {
  Reader reader(text, name, line, col);
  auto node = reader.Read(0);
  if (node.ok()) *used = reader.pos();
  return node;
}

std::string ToText(const Node& node) {
  auto join = [&](const char* open, const char* close) {
    std::string s = open;
    for (size_t i = 0; i < node.items.size(); ++i) {
      if (i > 0) s += ' ';
      s += ToText(node.items[i]);
    }
    return s + close;
  };
  switch (node.kind) {
    case Node::Kind::kNil:
      return "nil";
    case Node::Kind::kString:
      return '"' + node.text + '"';
    case Node::Kind::kChar:
      return "\\" + node.text;
    case Node::Kind::kKeyword:
      return ":" + node.text;
    case Node::Kind::kList:
      return join("(", ")");
    case Node::Kind::kVector:
      return join("[", "]");
    case Node::Kind::kMap:
      return join("{", "}");
    case Node::Kind::kSet:
      return join("#{", "}");
    case Node::Kind::kTagged:
      return "#" + node.text + " " + (node.items.empty() ? "" : ToText(node.items[0]));
    default:
      return node.text;
  }
}

}  // namespace duende::harness::edn
