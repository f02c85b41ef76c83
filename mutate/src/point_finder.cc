// Mutation points from libclang's AST. The C API of libclang 14 has no accessor for a binary
// operator's kind, so operators are identified by their token: the file is tokenized once and
// the operator is the punctuation token between the two operands' extents.
#include "duende/mutate/point_finder.h"

#include <clang-c/Index.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <sstream>
#include <tuple>
#include <utility>

#include "duende/framework/read_limits.h"

namespace duende::mutate {
namespace {

using framework::Result;

struct Token {
  uint32_t begin = 0;
  uint32_t end = 0;
  CXTokenKind kind = CXToken_Punctuation;
  std::string text;
};

struct Range {
  uint32_t begin = 0;
  uint32_t end = 0;
};

std::string ToString(CXString s) {
  const char* c = clang_getCString(s);
  std::string out = c != nullptr ? c : "";
  clang_disposeString(s);
  return out;
}

std::vector<CXCursor> Children(CXCursor cursor) {
  std::vector<CXCursor> out;
  clang_visitChildren(
      cursor,
      [](CXCursor child, CXCursor /*parent*/, CXClientData data) {
        static_cast<std::vector<CXCursor>*>(data)->push_back(child);
        return CXChildVisit_Continue;
      },
      &out);
  return out;
}

bool IsIntegerOrFloat(CXTypeKind k) {
  return (k >= CXType_Char_U && k <= CXType_UInt128) ||
         (k >= CXType_Char_S && k <= CXType_LongDouble) || k == CXType_Float128;
}

// One line, at most 60 bytes, for messages.
std::string Shorten(std::string_view text) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (c == '\n' || c == '\t' || c == ' ') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  if (out.size() > 60) out = out.substr(0, 57) + "...";
  return out;
}

struct State {
  bool has_return_type = false;
  CXType return_type{};
};

class Finder {
 public:
  Finder(CXTranslationUnit tu, CXFile file, std::string text, OperatorSet ops)
      : tu_(tu), file_(file), text_(std::move(text)), lines_(text_), ops_(ops) {}

  std::vector<Mutant> Run() {
    Tokenize();
    CXCursor root = clang_getTranslationUnitCursor(tu_);
    std::vector<CXCursor> top = Children(root);
    for (CXCursor c : top) {
      if (clang_getCursorKind(c) == CXCursor_MacroExpansion) {
        Range r;
        if (Offsets(c, &r)) macros_.push_back(r);
      }
    }
    for (CXCursor c : top) {
      if (!clang_Location_isFromMainFile(clang_getCursorLocation(c))) continue;
      Visit(c, clang_getCursorKind(root), State{});
    }
    std::stable_sort(out_.begin(), out_.end(), [](const Mutant& a, const Mutant& b) {
      return std::tie(a.begin, a.end) < std::tie(b.begin, b.end);
    });
    return std::move(out_);
  }

 private:
  void Tokenize() {
    CXSourceLocation b = clang_getLocationForOffset(tu_, file_, 0);
    CXSourceLocation e =
        clang_getLocationForOffset(tu_, file_, static_cast<unsigned>(text_.size()));
    CXToken* tokens = nullptr;
    unsigned n = 0;
    clang_tokenize(tu_, clang_getRange(b, e), &tokens, &n);
    for (unsigned i = 0; i < n; ++i) {
      CXSourceRange r = clang_getTokenExtent(tu_, tokens[i]);
      unsigned bo = 0;
      unsigned eo = 0;
      clang_getExpansionLocation(clang_getRangeStart(r), nullptr, nullptr, nullptr, &bo);
      clang_getExpansionLocation(clang_getRangeEnd(r), nullptr, nullptr, nullptr, &eo);
      tokens_.push_back(Token{bo, eo, clang_getTokenKind(tokens[i]),
                              ToString(clang_getTokenSpelling(tu_, tokens[i]))});
    }
    clang_disposeTokens(tu_, tokens, n);
  }

  // The cursor's extent as offsets in this file; false when it is elsewhere.
  bool Offsets(CXCursor c, Range* r) const {
    CXSourceRange ext = clang_getCursorExtent(c);
    CXFile fb = nullptr;
    CXFile fe = nullptr;
    unsigned bo = 0;
    unsigned eo = 0;
    clang_getExpansionLocation(clang_getRangeStart(ext), &fb, nullptr, nullptr, &bo);
    clang_getExpansionLocation(clang_getRangeEnd(ext), &fe, nullptr, nullptr, &eo);
    if (fb == nullptr || fe == nullptr || !clang_File_isEqual(fb, file_) ||
        !clang_File_isEqual(fe, file_) || eo < bo || eo > text_.size()) {
      return false;
    }
    r->begin = bo;
    r->end = eo;
    return true;
  }

  bool TouchesMacro(Range r) const {
    for (const Range& m : macros_) {
      if (m.begin < r.end && r.begin < m.end) return true;
    }
    return false;
  }

  // Index of the first token starting at or after `offset`.
  size_t TokenFrom(uint32_t offset) const {
    auto it = std::lower_bound(tokens_.begin(), tokens_.end(), offset,
                               [](const Token& t, uint32_t o) { return t.begin < o; });
    return static_cast<size_t>(it - tokens_.begin());
  }

  // True when one of the tokens in [begin, end) is one of `words`.
  bool HasKeyword(uint32_t begin, uint32_t end,
                  std::initializer_list<std::string_view> words) const {
    for (size_t i = TokenFrom(begin); i < tokens_.size() && tokens_[i].begin < end; ++i) {
      for (auto w : words) {
        if (tokens_[i].text == w) return true;
      }
    }
    return false;
  }

  std::string Text(Range r) const { return text_.substr(r.begin, r.end - r.begin); }

  Mutant Make(Operator op, const char* mutator, Range site, Range splice, std::string code) {
    Mutant m;
    m.op = op;
    m.mutator = mutator;
    m.site_begin = site.begin;
    m.site_end = site.end;
    m.begin = splice.begin;
    m.end = splice.end;
    m.code = std::move(code);
    m.original = Text(splice);
    m.replacement = m.code;
    m.start = lines_.At(splice.begin);
    m.stop = lines_.At(splice.end);
    return m;
  }

  void Add(Mutant m) {
    if (TouchesMacro(Range{m.site_begin, m.site_end})) return;
    out_.push_back(std::move(m));
  }

  void Visit(CXCursor c, CXCursorKind parent_kind, State st) {
    CXCursorKind kind = clang_getCursorKind(c);
    Range r;
    bool here = Offsets(c, &r);
    switch (kind) {
      // Constant expressions, unevaluated operands and declarations whose expressions must
      // stay compile-time constants: a run-time switch cannot live there.
      case CXCursor_StaticAssert:
      case CXCursor_EnumDecl:
      case CXCursor_TemplateTypeParameter:
      case CXCursor_NonTypeTemplateParameter:
      case CXCursor_TemplateTemplateParameter:
      case CXCursor_UnaryExpr:  // sizeof, alignof
      case CXCursor_CXXTypeidExpr:
      case CXCursor_FieldDecl:  // bit-field widths; default member initializers are skipped too
      case CXCursor_MacroExpansion:
      case CXCursor_MacroDefinition:
      case CXCursor_InclusionDirective:
        return;
      case CXCursor_CaseStmt: {
        auto kids = Children(c);
        for (size_t i = 1; i < kids.size(); ++i) Visit(kids[i], kind, st);
        return;
      }
      case CXCursor_FunctionDecl:
      case CXCursor_CXXMethod:
      case CXCursor_FunctionTemplate:
      case CXCursor_ConversionFunction:
      case CXCursor_Constructor:
      case CXCursor_Destructor:
        VisitFunction(c, kind, r, here);
        return;
      case CXCursor_LambdaExpr:
        st.has_return_type = false;
        break;
      case CXCursor_VarDecl:
        if (here && HasKeyword(r.begin, r.end, {"constexpr", "constinit"})) return;
        break;
      case CXCursor_IfStmt:
        if (here && HasKeyword(r.begin, std::min<uint32_t>(r.begin + 16, r.end), {"constexpr"})) {
          return;
        }
        break;
      case CXCursor_BinaryOperator:
        if (here) BinaryOperator(c, r);
        break;
      case CXCursor_UnaryOperator:
        if (here) UnaryOperator(r);
        break;
      case CXCursor_ReturnStmt:
        if (here && st.has_return_type) ReturnValue(c, st);
        break;
      case CXCursor_CallExpr:
        if (here && clang_isStatement(parent_kind) != 0) VoidCall(c, r);
        break;
      case CXCursor_IntegerLiteral:
        if (here && (ops_ & static_cast<OperatorSet>(Operator::kConstant)) != 0) Constant(r);
        return;
      default:
        break;
    }
    for (CXCursor k : Children(c)) Visit(k, kind, st);
  }

  void VisitFunction(CXCursor c, CXCursorKind kind, Range r, bool here) {
    if (!here) return;
    std::vector<CXCursor> kids = Children(c);
    const CXCursor* body = nullptr;
    for (const CXCursor& k : kids) {
      if (clang_getCursorKind(k) == CXCursor_CompoundStmt) body = &k;
    }
    if (body == nullptr) return;  // a declaration
    Range b;
    if (!Offsets(*body, &b)) return;
    if (HasKeyword(r.begin, b.begin, {"constexpr", "consteval"})) return;
    State st;
    CXType result = clang_getCursorResultType(c);
    if (kind != CXCursor_Constructor && kind != CXCursor_Destructor) {
      st.has_return_type = true;
      st.return_type = result;
    }
    if (kind != CXCursor_Constructor && kind != CXCursor_Destructor &&
        kind != CXCursor_ConversionFunction && Enabled(Operator::kVoidBody) &&
        clang_getCanonicalType(result).kind == CXType_Void && !Children(*body).empty() &&
        b.end - b.begin >= 2) {
      Mutant m = Make(Operator::kVoidBody, "BlockStatement", b, b, "{}");
      m.guard_site = true;
      m.original = Shorten(Text(b));
      Add(std::move(m));
    }
    for (const CXCursor& k : kids) {
      CXCursorKind kk = clang_getCursorKind(k);
      if (kk == CXCursor_ParmDecl || kk == CXCursor_TypeRef || kk == CXCursor_TemplateRef ||
          kk == CXCursor_NamespaceRef) {
        continue;
      }
      if (clang_equalCursors(k, *body) != 0) {
        Visit(k, kind, st);
      } else {
        Visit(k, kind, State{});  // member initializers
      }
    }
  }

  bool Enabled(Operator op) const { return (ops_ & static_cast<OperatorSet>(op)) != 0; }

  void BinaryOperator(CXCursor c, Range r) {
    std::vector<CXCursor> kids = Children(c);
    if (kids.size() != 2) return;
    Range lhs;
    Range rhs;
    if (!Offsets(kids[0], &lhs) || !Offsets(kids[1], &rhs)) return;
    size_t i = TokenFrom(lhs.end);
    if (i >= tokens_.size() || tokens_[i].end > rhs.begin ||
        tokens_[i].kind != CXToken_Punctuation) {
      return;
    }
    const Token& tok = tokens_[i];
    Range op{tok.begin, tok.end};
    const std::string& t = tok.text;
    struct Rule {
      const char* from;
      const char* to;
      Operator op;
      const char* mutator;
    };
    static const Rule kRules[] = {
        {"<", "<=", Operator::kRelational, "EqualityOperator"},
        {"<", ">=", Operator::kRelational, "EqualityOperator"},
        {">", ">=", Operator::kRelational, "EqualityOperator"},
        {">", "<=", Operator::kRelational, "EqualityOperator"},
        {"<=", "<", Operator::kRelational, "EqualityOperator"},
        {"<=", ">", Operator::kRelational, "EqualityOperator"},
        {">=", ">", Operator::kRelational, "EqualityOperator"},
        {">=", "<", Operator::kRelational, "EqualityOperator"},
        {"==", "!=", Operator::kRelational, "EqualityOperator"},
        {"!=", "==", Operator::kRelational, "EqualityOperator"},
        {"&&", "||", Operator::kLogical, "LogicalOperator"},
        {"||", "&&", Operator::kLogical, "LogicalOperator"},
        {"+", "-", Operator::kArithmetic, "ArithmeticOperator"},
        {"-", "+", Operator::kArithmetic, "ArithmeticOperator"},
        {"*", "/", Operator::kArithmetic, "ArithmeticOperator"},
        {"/", "*", Operator::kArithmetic, "ArithmeticOperator"},
        {"%", "*", Operator::kArithmetic, "ArithmeticOperator"},
        {"&", "|", Operator::kBitwise, "BitwiseOperator"},
        {"|", "&", Operator::kBitwise, "BitwiseOperator"},
        {"^", "&", Operator::kBitwise, "BitwiseOperator"},
        {"<<", ">>", Operator::kBitwise, "BitwiseOperator"},
        {">>", "<<", Operator::kBitwise, "BitwiseOperator"},
    };
    bool pointer_operands =
        clang_getCanonicalType(clang_getCursorType(kids[0])).kind == CXType_Pointer ||
        clang_getCanonicalType(clang_getCursorType(kids[1])).kind == CXType_Pointer;
    for (const Rule& rule : kRules) {
      if (t != rule.from || !Enabled(rule.op)) continue;
      // Pointer arithmetic: p - q has no p + q, and p + n -> p - n leaves the object.
      if (rule.op == Operator::kArithmetic && pointer_operands) continue;
      Add(Make(rule.op, rule.mutator, r, op, rule.to));
    }
  }

  void UnaryOperator(Range r) {
    size_t first = TokenFrom(r.begin);
    if (first >= tokens_.size()) return;
    const Token& tok = tokens_[first];
    if (tok.text == "!" && Enabled(Operator::kNegation)) {
      Mutant m = Make(Operator::kNegation, "BooleanLiteral", r, Range{tok.begin, tok.end}, "");
      // The alternative must stay a bool for the ?: in the schemata.
      m.alt_prefix = "static_cast<bool>(";
      m.alt_suffix = ")";
      m.original = Shorten(Text(r));
      m.replacement = Shorten(Text(Range{tok.end, r.end}));
      m.start = lines_.At(r.begin);
      m.stop = lines_.At(r.end);
      Add(std::move(m));
      return;
    }
    if (!Enabled(Operator::kIncDec)) return;
    const Token* op = nullptr;
    if (tok.text == "++" || tok.text == "--") {
      op = &tok;
    } else {
      size_t last = TokenFrom(r.end);
      if (last > 0 && (tokens_[last - 1].text == "++" || tokens_[last - 1].text == "--")) {
        op = &tokens_[last - 1];
      }
    }
    if (op == nullptr) return;
    Add(Make(Operator::kIncDec, "UpdateOperator", r, Range{op->begin, op->end},
             op->text == "++" ? "--" : "++"));
  }

  void ReturnValue(CXCursor c, const State& st) {
    if (!Enabled(Operator::kReturnValue)) return;
    std::vector<CXCursor> kids = Children(c);
    if (kids.size() != 1) return;
    Range e;
    if (!Offsets(kids[0], &e) || e.end <= e.begin) return;
    std::string expr = Text(e);
    CXTypeKind k = clang_getCanonicalType(st.return_type).kind;
    std::string code;
    if (k == CXType_Bool) {
      code = expr == "true" ? "false" : expr == "false" ? "true" : "!(" + expr + ")";
    } else if (IsIntegerOrFloat(k)) {
      code = expr == "0" ? "1" : "0";
    } else if (k == CXType_Pointer) {
      if (expr == "nullptr" || expr == "NULL" || expr == "0") return;
      code = "nullptr";
    } else {
      return;
    }
    Mutant m = Make(Operator::kReturnValue, "ReturnValue", e, e, code);
    m.original = Shorten(expr);
    m.replacement = Shorten(code);
    Add(std::move(m));
  }

  void VoidCall(CXCursor c, Range r) {
    if (!Enabled(Operator::kVoidCall)) return;
    if (clang_getCanonicalType(clang_getCursorType(c)).kind != CXType_Void) return;
    std::string name = ToString(clang_getCursorSpelling(clang_getCursorReferenced(c)));
    if (name.empty() || name.rfind("operator", 0) == 0 || name[0] == '~') return;
    // Removing these changes control flow, not behaviour a test can observe sensibly.
    static const char* const kNoReturn[] = {
        "abort", "exit", "_exit", "quick_exit", "terminate", "__assert_fail", "unreachable"};
    for (const char* n : kNoReturn) {
      if (name == n) return;
    }
    Mutant m = Make(Operator::kVoidCall, "VoidCall", r, r, "");
    m.alt_prefix = "(void)0";
    m.original = Shorten(Text(r));
    Add(std::move(m));
  }

  void Constant(Range r) {
    std::string t = Text(r);
    bool zero = !t.empty() && t.find_first_not_of("0xXuUlL") == std::string::npos;
    Add(Make(Operator::kConstant, "ConstantReplacement", r, r, zero ? "1" : "0"));
  }

  CXTranslationUnit tu_;
  CXFile file_;
  std::string text_;
  LineIndex lines_;
  OperatorSet ops_;
  std::vector<Token> tokens_;
  std::vector<Range> macros_;
  std::vector<Mutant> out_;
};

}  // namespace

framework::Result<FileMutants> FindMutants(const std::string& file,
                                           const std::vector<std::string>& args,
                                           const FindOptions& options) {
  // A source file past 64 MiB is not one a mutant run can handle anyway.
  auto text = framework::ReadFileLimited(file, 64u << 20);
  if (!text.ok()) return text.error();
  FileMutants result;
  result.file = file;
  result.text = std::move(*text);

  std::vector<const char*> argv;
  argv.reserve(args.size());
  for (const auto& a : args) argv.push_back(a.c_str());
  CXIndex index = clang_createIndex(/*excludeDeclarationsFromPCH=*/0, /*displayDiagnostics=*/0);
  CXTranslationUnit tu = nullptr;
  CXErrorCode rc = clang_parseTranslationUnit2(
      index, file.c_str(), argv.data(), static_cast<int>(argv.size()), nullptr, 0,
      CXTranslationUnit_DetailedPreprocessingRecord | CXTranslationUnit_KeepGoing, &tu);
  if (rc != CXError_Success || tu == nullptr) {
    clang_disposeIndex(index);
    return framework::MessageError("libclang could not parse " + file + " (error " +
                                   std::to_string(static_cast<int>(rc)) + ")");
  }
  unsigned nd = clang_getNumDiagnostics(tu);
  for (unsigned i = 0; i < nd; ++i) {
    CXDiagnostic d = clang_getDiagnostic(tu, i);
    if (clang_getDiagnosticSeverity(d) >= CXDiagnostic_Error) {
      result.parse_errors.push_back(
          ToString(clang_formatDiagnostic(d, clang_defaultDiagnosticDisplayOptions())));
    }
    clang_disposeDiagnostic(d);
  }
  CXFile cxfile = clang_getFile(tu, file.c_str());
  if (cxfile != nullptr) {
    Finder finder(tu, cxfile, result.text, options.operators);
    result.mutants = finder.Run();
    for (auto& m : result.mutants) m.file = file;
  }
  clang_disposeTranslationUnit(tu);
  clang_disposeIndex(index);
  return result;
}

}  // namespace duende::mutate
