// Point finding on small snippets, against golden lists "line:col Mutator 'from' -> 'to'".
#include "duende/mutate/point_finder.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "duende/framework/temp_dir.h"

namespace duende::mutate {
namespace {

std::vector<std::string> Points(const std::string& code, OperatorSet ops = kDefaultOperators) {
  auto dir = framework::PrivateTempDir::Make("duende-points");
  EXPECT_TRUE(dir.ok());
  if (!dir.ok()) return {};
  std::string path = dir->path() + "/points.cc";
  std::ofstream(path) << code;
  FindOptions o;
  o.operators = ops;
  auto r = FindMutants(path, {"-std=c++20"}, o);
  std::filesystem::remove(path);
  EXPECT_TRUE(r.ok()) << r.error().Message();
  if (!r.ok()) return {};
  for (const auto& e : r->parse_errors) ADD_FAILURE() << e;
  std::vector<std::string> out;
  for (const auto& m : r->mutants) {
    out.push_back(std::to_string(m.start.line) + ":" + std::to_string(m.start.column) + " " +
                  m.mutator + " '" + m.original + "' -> '" + m.replacement + "'");
  }
  return out;
}

using Golden = std::vector<std::string>;

TEST(PointFinderTest, RelationalLogicalNegationArithmetic) {
  EXPECT_EQ(Points("bool F(int a, int b) {\n"
                   "  return a < b && !(a == b * 2);\n"
                   "}\n"),
            (Golden{
                "2:10 ReturnValue 'a < b && !(a == b * 2)' -> '!(a < b && !(a == b * 2))'",
                "2:12 EqualityOperator '<' -> '<='",
                "2:12 EqualityOperator '<' -> '>='",
                "2:16 LogicalOperator '&&' -> '||'",
                "2:19 BooleanLiteral '!(a == b * 2)' -> '(a == b * 2)'",
                "2:23 EqualityOperator '==' -> '!='",
                "2:28 ArithmeticOperator '*' -> '/'",
            }));
}

TEST(PointFinderTest, NothingInCommentsStringsOrMacros) {
  EXPECT_EQ(Points("#define LESS(x, y) ((x) < (y))\n"
                   "const char* s = \"a < b && c\";  // a < b\n"
                   "/* return a + b; */\n"
                   "bool G(int a, int b) { return LESS(a, b); }\n"
                   "bool H(int a, int b) { return LESS(a + 1, b); }\n"),
            Golden{});
}

TEST(PointFinderTest, ConstantExpressionsAreLeftAlone) {
  EXPECT_EQ(Points("constexpr int K(int x) { return x + 1; }\n"
                   "static_assert(K(1) == 2);\n"
                   "template <int N = 2 + 1> int T() { return N; }\n"
                   "enum E { kA = 1 << 2 };\n"
                   "int H(int x) {\n"
                   "  constexpr int k = 3 * 4;\n"
                   "  switch (x) {\n"
                   "    case 1 + 1: return k;\n"
                   "    default: return x - int(sizeof(char[2 * 3]));\n"
                   "  }\n"
                   "}\n"),
            (Golden{
                "3:43 ReturnValue 'N' -> '0'",
                "8:24 ReturnValue 'k' -> '0'",
                "9:21 ReturnValue 'x - int(sizeof(char[2 * 3]))' -> '0'",
                "9:23 ArithmeticOperator '-' -> '+'",
            }));
}

TEST(PointFinderTest, VoidCallsAndVoidBodies) {
  EXPECT_EQ(Points("void Log(int);\n"
                   "struct S { void Set(int v) { v_ = v; } int v_ = 0; };\n"
                   "void Work(S& s, int x) {\n"
                   "  Log(x);\n"
                   "  s.Set(x);\n"
                   "}\n"
                   "int* P(int* p) { return p; }\n"),
            (Golden{
                "2:28 BlockStatement '{ v_ = v; }' -> '{}'",
                "3:24 BlockStatement '{ Log(x); s.Set(x); }' -> '{}'",
                "4:3 VoidCall 'Log(x)' -> ''",
                "5:3 VoidCall 's.Set(x)' -> ''",
                "7:25 ReturnValue 'p' -> 'nullptr'",
            }));
}

TEST(PointFinderTest, OptInOperatorsOnlyWhenAsked) {
  const std::string code =
      "unsigned F(unsigned a, unsigned b) {\n"
      "  ++a;\n"
      "  return (a & b) << 3;\n"
      "}\n";
  EXPECT_EQ(Points(code), (Golden{"3:10 ReturnValue '(a & b) << 3' -> '0'"}));
  OperatorSet extra = static_cast<OperatorSet>(Operator::kConstant) |
                      static_cast<OperatorSet>(Operator::kBitwise) |
                      static_cast<OperatorSet>(Operator::kIncDec);
  EXPECT_EQ(Points(code, extra), (Golden{
                                     "2:3 UpdateOperator '++' -> '--'",
                                     "3:13 BitwiseOperator '&' -> '|'",
                                     "3:18 BitwiseOperator '<<' -> '>>'",
                                     "3:21 ConstantReplacement '3' -> '0'",
                                 }));
}

TEST(PointFinderTest, PointerArithmeticIsNotMutated) {
  EXPECT_EQ(Points("long D(const char* a, const char* b) { return b - a; }\n"
                   "const char* N(const char* a) { return a + 1; }\n"),
            (Golden{"1:47 ReturnValue 'b - a' -> '0'", "2:39 ReturnValue 'a + 1' -> 'nullptr'"}));
}

TEST(PointFinderTest, UnreadableFileIsAnError) {
  auto r = FindMutants("/nonexistent/x.cc", {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code.value(), ENOENT);
}

TEST(OperatorsTest, ParsesNamesAndRejectsUnknownOnes) {
  auto all = ParseOperators({"default", "bitwise"});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, kDefaultOperators | static_cast<OperatorSet>(Operator::kBitwise));
  auto bad = ParseOperators({"relationl"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().context.find("unknown mutation operator 'relationl'"), std::string::npos);
  EXPECT_NE(bad.error().context.find("relational"), std::string::npos);
}

}  // namespace
}  // namespace duende::mutate
