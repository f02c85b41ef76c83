#include "duende/framework/toml_reader.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

namespace duende::framework {
namespace {

struct Parsed {
  toml::table table;
  std::shared_ptr<Diagnostics> diags = std::make_shared<Diagnostics>();
};

Parsed Parse(std::string_view text) {
  auto t = ParseTomlString(text, "test.toml");
  EXPECT_TRUE(t.ok()) << t.error().Message();
  return Parsed{std::move(t.value())};
}

TEST(TomlReaderTest, ReadsTypedValues) {
  Parsed p = Parse(R"(
name = "kvd"
port = 7000
ratio = 0.5
durable = true
timeout = "250ms"
size = "64MiB"
args = ["a", "b"]
env = { A = "1", B = "2" }
[resources]
lock_memory = true
)");
  auto r = TomlReader::ForFile(p.table, "test.toml", p.diags);
  EXPECT_EQ(r.String("name"), "kvd");
  EXPECT_EQ(r.Int("port", 0, 65535), 7000);
  EXPECT_EQ(r.Double("ratio", 0, 1), 0.5);
  EXPECT_EQ(r.Bool("durable"), true);
  EXPECT_EQ(r.Duration("timeout"), std::chrono::milliseconds(250));
  EXPECT_EQ(r.ByteSize("size"), 64u << 20);
  EXPECT_EQ(r.StringArray("args"), (std::vector<std::string>{"a", "b"}));
  auto env = r.StringMap("env");
  ASSERT_TRUE(env);
  EXPECT_EQ(env->size(), 2u);
  auto res = r.Table("resources");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->Bool("lock_memory"), true);
  res->Finish();
  r.Finish();
  EXPECT_TRUE(p.diags->empty()) << p.diags->ToString();
}

TEST(TomlReaderTest, UnknownKeyGetsPositionAndDidYouMean) {
  Parsed p = Parse("[resources]\nlock_memroy = true\n");
  auto r = TomlReader::ForFile(p.table, "test.toml", p.diags);
  auto res = r.Table("resources");
  ASSERT_TRUE(res);
  res->Bool("lock_memory");
  res->Finish();
  r.Finish();
  EXPECT_EQ(p.diags->ToString(),
            "test.toml:2:1: unknown key 'lock_memroy' in [resources]; did you mean "
            "'lock_memory'?");
}

TEST(TomlReaderTest, WrongTypeNamesKeyValueAndFix) {
  Parsed p = Parse("timeout = \"fast\"\nport = 70000\nmode = \"alwys\"\n");
  auto r = TomlReader::ForFile(p.table, "test.toml", p.diags);
  EXPECT_FALSE(r.Duration("timeout"));
  EXPECT_FALSE(r.Int("port", 0, 65535));
  EXPECT_FALSE(r.Enum("mode", {"never", "always", "on-failure"}));
  r.Finish();
  EXPECT_EQ(p.diags->ToString(),
            "test.toml:1:11: 'timeout' must be a duration such as \"5s\", \"250ms\" or \"2m\", "
            "not \"fast\"\n"
            "test.toml:2:8: 'port' is 70000; it must be between 0 and 65535\n"
            "test.toml:3:8: 'mode' is \"alwys\"; it must be one of \"never\", \"always\", "
            "\"on-failure\"; did you mean \"always\"?");
}

TEST(TomlReaderTest, MissingRequiredKeyIsReported) {
  Parsed p = Parse("[target]\nname = \"x\"\n");
  auto r = TomlReader::ForFile(p.table, "test.toml", p.diags);
  auto t = r.Table("target");
  ASSERT_TRUE(t);
  t->String("name");
  EXPECT_FALSE(t->StringArray("command", true));
  EXPECT_NE(p.diags->ToString().find("missing required key 'command' in [target]"),
            std::string::npos);
}

TEST(TomlReaderTest, SyntaxErrorHasLineAndColumn) {
  auto t = ParseTomlString("a = 1\nb = = 2\n", "bad.toml");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().Message().rfind("bad.toml:2:", 0), 0u) << t.error().Message();
}

TEST(TomlReaderTest, MissingFileIsAnErrnoError) {
  auto t = ParseTomlFile("/nonexistent/x.toml");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().code.value(), ENOENT);
}

RC_GTEST_PROP(TomlReaderTest, EditDistanceIsAMetric, (std::string a, std::string b)) {
  RC_ASSERT(EditDistance(a, a) == 0u);
  RC_ASSERT(EditDistance(a, b) == EditDistance(b, a));
  RC_ASSERT(EditDistance(a, b) <= std::max(a.size(), b.size()));
  RC_ASSERT(EditDistance(a, b) >=
            (a.size() > b.size() ? a.size() - b.size() : b.size() - a.size()));
}

RC_GTEST_PROP(TomlReaderTest, GarbageNeverCrashesAndErrorsHavePositions, (std::string text)) {
  auto t = ParseTomlString(text, "fuzz.toml");
  if (!t.ok()) RC_ASSERT(t.error().Message().rfind("fuzz.toml:", 0) == 0u);
}

}  // namespace
}  // namespace duende::framework

namespace duende::framework {
namespace {

TEST(ResultTest, ValidationMessagesAreSelfContainedErrnoOnesCarryStrerror) {
  EXPECT_EQ(MessageError("x.toml:1:1: bad").Message(), "x.toml:1:1: bad");
  EXPECT_EQ(ErrnoError("unable to open x", ENOENT).Message(),
            "unable to open x: No such file or directory");
}

TEST(TomlReaderTest, SyntaxErrorMessageStaysOnOneLine) {
  auto t = ParseTomlString("a = \"unterminated\nb = 1\n", "bad.toml");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().Message().find('\n'), std::string::npos) << t.error().Message();
}

TEST(TomlReaderTest, ControlCharactersInSyntaxErrorsBecomeSpaces) {
  for (const char* text : {"a = tru\x01\n", "a = tru\x7f\n", "a = tru\tx\n"}) {
    auto t = ParseTomlString(text, "bad.toml");
    ASSERT_FALSE(t.ok());
    const std::string m = t.error().Message();
    EXPECT_EQ(m.rfind("bad.toml:1:", 0), 0u) << m;
    EXPECT_NE(m.find(": invalid TOML: Error while parsing boolean: expected 'true', saw 'tru '"),
              std::string::npos)
        << m;
  }
}

TEST(TomlReaderTest, DiagnosticsAreSortedByPositionAndStableForEqualOnes) {
  Diagnostics d;
  d.Add({"b.toml", 1, 1}, "other file");
  d.Add({"a.toml", 3, 1}, "third line");
  d.Add({"a.toml", 1, 9}, "column nine");
  d.Add({"a.toml", 1, 2}, "first of two");
  d.Add({"a.toml", 1, 2}, "second of two");
  EXPECT_EQ(d.ToString(),
            "a.toml:1:2: first of two\n"
            "a.toml:1:2: second of two\n"
            "a.toml:1:9: column nine\n"
            "a.toml:3:1: third line\n"
            "b.toml:1:1: other file");
  EXPECT_EQ(d.ToError().context, d.ToString());
}

TEST(TomlReaderTest, WarningsAreKeptApartFromProblems) {
  Diagnostics d;
  d.Warn({"a.toml", 2, 1}, "'old' is deprecated");
  EXPECT_TRUE(d.empty()) << "a warning made the input invalid";
  ASSERT_EQ(d.warnings().size(), 1u);
  EXPECT_EQ(d.warnings()[0].ToString(), "a.toml:2:1: 'old' is deprecated");

  Parsed p = Parse("old = 1\n");
  TomlReader r = TomlReader::ForFile(p.table, "test.toml", p.diags);
  r.Warn("old", "'old' is deprecated");
  r.Accept("old");
  r.Finish();
  EXPECT_TRUE(p.diags->empty()) << p.diags->ToString();
  ASSERT_EQ(p.diags->warnings().size(), 1u);
  EXPECT_EQ(p.diags->warnings()[0].ToString(), "test.toml:1:7: 'old' is deprecated");
}

TEST(TomlReaderTest, DidYouMeanPrefersTheFirstClosestAndStaysWithinItsDistance) {
  EXPECT_EQ(DidYouMean("abd", {"abc", "abe"}), "abc");
  EXPECT_EQ(DidYouMean("ab", {"xyz"}), "");   // 3 edits away from a 2-letter word
  EXPECT_EQ(DidYouMean("ab", {"xy"}), "xy");  // 2 edits: still a plausible typo
  EXPECT_EQ(DidYouMean("timeout", {"timeouts", "time_out"}), "timeouts");
}

TEST(TomlReaderTest, NumericRangesIncludeBothEnds) {
  Parsed p = Parse("lo = 1\nhi = 5\nout = 6\nflo = 0.5\nfhi = 2.5\nfout = 2.6\n");
  TomlReader r = TomlReader::ForFile(p.table, "test.toml", p.diags);
  EXPECT_EQ(r.Int("lo", 1, 5), 1);
  EXPECT_EQ(r.Int("hi", 1, 5), 5);
  EXPECT_EQ(r.Int("out", 1, 5), std::nullopt);
  EXPECT_EQ(r.Double("flo", 0.5, 2.5), 0.5);
  EXPECT_EQ(r.Double("fhi", 0.5, 2.5), 2.5);
  EXPECT_EQ(r.Double("fout", 0.5, 2.5), std::nullopt);
  EXPECT_EQ(p.diags->ToString(),
            "test.toml:3:7: 'out' is 6; it must be between 1 and 5\n"
            "test.toml:6:8: 'fout' is 2.6; it must be between 0.5 and 2.5");
}

TEST(TomlReaderTest, DurationAsANumberIsSecondsWithinTheRange) {
  Parsed p = Parse(
      "whole = 5\nhalf = 1.5\nzero = 0\nat_max = 10\nover = 11\nneg = -1\n"
      "positive = 0\n");
  TomlReader r = TomlReader::ForFile(p.table, "test.toml", p.diags);
  const DurationRange ten{std::chrono::nanoseconds(0), std::chrono::seconds(10)};
  EXPECT_EQ(r.Duration("whole", false, ten), std::chrono::seconds(5));
  EXPECT_EQ(r.Duration("half", false, ten), std::chrono::milliseconds(1500));
  EXPECT_EQ(r.Duration("zero", false, ten), std::chrono::nanoseconds(0));
  EXPECT_EQ(r.Duration("at_max", false, ten), std::chrono::seconds(10));
  EXPECT_EQ(r.Duration("over", false, ten), std::nullopt);
  EXPECT_EQ(r.Duration("neg"), std::nullopt);
  EXPECT_EQ(r.Duration("positive", false, {std::chrono::nanoseconds(1), kMaxDuration}),
            std::nullopt);
  EXPECT_EQ(p.diags->ToString(),
            "test.toml:5:8: 'over' is 11 (seconds); it must be a duration between 0s and 10.00s\n"
            "test.toml:6:7: 'neg' is -1 (seconds); it must be a duration between 0s and 365 days\n"
            "test.toml:7:12: 'positive' is 0 (seconds); it must be a duration between 1ns and "
            "365 days");
}

TEST(TomlReaderTest, ByteSizeAsANumberIsBytesWithinTheRange) {
  Parsed p = Parse("zero = 0\nlo = 10\nmid = 15\nhi = 20\nbelow = 5\nabove = 30\nneg = -1\n");
  TomlReader r = TomlReader::ForFile(p.table, "test.toml", p.diags);
  EXPECT_EQ(r.ByteSize("zero"), 0u);
  const ByteSizeRange range{10, 20};
  EXPECT_EQ(r.ByteSize("lo", false, range), 10u);
  EXPECT_EQ(r.ByteSize("mid", false, range), 15u);
  EXPECT_EQ(r.ByteSize("hi", false, range), 20u);
  EXPECT_EQ(r.ByteSize("below", false, range), std::nullopt);
  EXPECT_EQ(r.ByteSize("above", false, range), std::nullopt);
  EXPECT_EQ(r.ByteSize("neg", false, {0, ~uint64_t{0}}), std::nullopt);
  EXPECT_EQ(p.diags->ToString(),
            "test.toml:5:9: 'below' is 5; it must be a size between 10 bytes and 20 bytes\n"
            "test.toml:6:9: 'above' is 30; it must be a size between 10 bytes and 20 bytes\n"
            "test.toml:7:7: 'neg' is -1; it must be a size between 0 bytes and "
            "18446744073709551615 bytes");
}

TEST(TomlReaderTest, TableArrayGivesOneReaderPerTable) {
  Parsed p = Parse("[[target]]\nname = \"a\"\n[[target]]\nname = \"b\"\n");
  TomlReader r = TomlReader::ForFile(p.table, "test.toml", p.diags);
  EXPECT_TRUE(r.TableArray("absent").empty());
  std::vector<TomlReader> targets = r.TableArray("target");
  ASSERT_EQ(targets.size(), 2u);
  EXPECT_EQ(targets[0].String("name"), "a");
  EXPECT_EQ(targets[1].String("name"), "b");
  EXPECT_TRUE(p.diags->empty()) << p.diags->ToString();
}

}  // namespace
}  // namespace duende::framework
