// Parameter validation: every bad parameter is a file:line:col message with the fix.
#include <gtest/gtest.h>

#include <set>

#include "duende/faults/fault.h"
#include "duende/faults/libfiu.h"
#include "support/fault_make.h"

namespace duende::faults {
namespace {

std::string ErrorOf(const std::string& kind, const std::string& toml) {
  FaultEnv env;
  auto f = testing::MakeFault(kind, toml, env);
  return f.ok() ? "" : f.error().Message();
}

TEST(FaultParamsTest, UnknownErrnoNamesTheFix) {
  std::string e = ErrorOf("syscall", "point = \"posix/io/rw/write\"\nerrno = \"ENOSPCE\"");
  EXPECT_NE(e.find("test.toml:2:"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown errno \"ENOSPCE\""), std::string::npos) << e;
}

TEST(FaultParamsTest, UnknownPointGetsDidYouMean) {
  std::string e = ErrorOf("syscall", "point = \"posix/io/rw/wrte\"");
  EXPECT_NE(e.find("test.toml:1:"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean \"posix/io/rw/write\""), std::string::npos) << e;
}

TEST(FaultParamsTest, WildcardPointIsAccepted) {
  EXPECT_EQ(ErrorOf("syscall", "point = \"posix/io/*\"\nerrno = \"EIO\""), "");
  EXPECT_EQ(ErrorOf("syscall", "point = \"libc/mm/malloc\"\nerrno = 12\nprobability = 0.5"), "");
}

TEST(FaultParamsTest, NegativeDurationIsRejected) {
  std::string e = ErrorOf("kill", "wait = \"-1s\"");
  EXPECT_NE(e.find("test.toml:1:"), std::string::npos) << e;
  EXPECT_NE(e.find("wait"), std::string::npos) << e;
}

TEST(FaultParamsTest, UnknownParameterGetsDidYouMean) {
  std::string e = ErrorOf("kill", "signl = \"TERM\"");
  EXPECT_NE(e.find("did you mean 'signal'"), std::string::npos) << e;
}

TEST(FaultParamsTest, ScenarioKeysAreNotUnknownParameters) {
  EXPECT_EQ(ErrorOf("pause", "kind = \"pause\"\ntarget = \"kvd\"\nat = \"1s\"\nduration = \"2s\""),
            "");
}

TEST(FaultParamsTest, BadValuesAreRejected) {
  EXPECT_NE(ErrorOf("kill", "signal = \"SIGFOO\"").find("must be a signal"), std::string::npos);
  EXPECT_NE(ErrorOf("crash", "signal = \"SIGTERM\"").find("SIGSEGV"), std::string::npos);
  EXPECT_NE(ErrorOf("kill", "scope = \"all\"").find("scope"), std::string::npos);
  EXPECT_NE(ErrorOf("memory", "").find("size"), std::string::npos);
  EXPECT_NE(ErrorOf("memory", "size = \"lots\"").find("size"), std::string::npos);
  EXPECT_NE(ErrorOf("memory", "size = \"1G\"\nmax_fraction = 0.95").find("max_fraction"),
            std::string::npos);
  EXPECT_NE(
      ErrorOf("syscall", "point = \"posix/io/rw/write\"\nprobability = 0").find("probability"),
      std::string::npos);
  EXPECT_NE(ErrorOf("disk", "mode = \"full\"").find("path"), std::string::npos);
  EXPECT_NE(ErrorOf("network", "toxic = \"lag\"").find("toxic"), std::string::npos);
}

TEST(FaultParamsTest, UnknownKindGetsDidYouMean) {
  std::string e = ErrorOf("kil", "");
  EXPECT_NE(e.find("did you mean 'kill'"), std::string::npos) << e;
}

TEST(FaultParamsTest, CatalogueListsEveryCreatableKind) {
  std::set<std::string> kinds;
  for (const auto& k : Catalogue()) {
    kinds.insert(k.kind);
    EXPECT_FALSE(k.summary.empty());
    std::string minimal = k.kind == "memory"    ? "size = \"1MiB\""
                          : k.kind == "syscall" ? "point = \"posix/io/rw/read\""
                          : k.kind == "clock"   ? "offset = \"+1h\""
                                                : "";
    EXPECT_EQ(ErrorOf(k.kind, minimal), "") << k.kind;
  }
  EXPECT_EQ(kinds.size(), 13u);
}

TEST(FaultParamsTest, ValidatorReportsThroughTheReadersDiagnostics) {
  auto table = framework::ParseTomlString("kind = \"kill\"\nsignal = \"nope\"", "s.toml");
  ASSERT_TRUE(table.ok());
  auto diags = std::make_shared<framework::Diagnostics>();
  framework::TomlReader r(*table, "s.toml", "[[fault]]", diags);
  CheckFaultParams("kill", r);
  ASSERT_EQ(diags->items().size(), 1u);
  EXPECT_EQ(diags->items()[0].pos.line, 2u);
}

TEST(FaultParamsTest, ErrnoNamesRoundTrip) {
  EXPECT_EQ(ParseErrnoName("ENOSPC"), ENOSPC);
  EXPECT_EQ(ParseErrnoName("enospc"), ENOSPC);
  EXPECT_EQ(ParseErrnoName("28"), 28);
  EXPECT_EQ(ParseErrnoName("EWOULDBLOCK"), EAGAIN);
  EXPECT_EQ(ParseErrnoName("ENOTANERRNO"), 0);
  EXPECT_EQ(ErrnoName(EIO), "EIO");
}

TEST(FiuPointsTest, WildcardsMatchPrefixes) {
  EXPECT_EQ(FiuPointNames().size(), 112u);  // as `strings` lists libfiu 1.1's preload library
  EXPECT_EQ(MatchFiuPoints("posix/io/sync/*").size(), 2u);
  EXPECT_EQ(MatchFiuPoints("posix/io/rw/write").size(), 1u);
  EXPECT_TRUE(MatchFiuPoints("posix/io/rw/wr").empty());
}

}  // namespace
}  // namespace duende::faults
