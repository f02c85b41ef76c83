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

}  // namespace
}  // namespace duende::framework
