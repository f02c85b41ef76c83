// The load codec's framing for protocols nobody here wrote: request terminators, replies that
// span lines, length-prefixed values ({value}/{len}), and what `expect` matches in each
// protocol (always the whole reply text). Pure functions, no I/O.
#include "duende/harness/load_protocol.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace duende::harness {
namespace {

// memcached's text protocol, as docs/load.md and scenarios/examples/memcached-kill.toml write it.
constexpr const char* kMemcachedSet = "set {key} 0 0 {len}\r\n{value}";
constexpr const char* kMemcachedReadExpect = "VALUE {key} 0 {len}\n{value}\nEND";

TEST(LoadFramingTest, ValueAndLenExpandToTheValueAndItsByteLength) {
  RequestTemplate t(kMemcachedSet);
  EXPECT_EQ(t.Expand({412, 12}), "set k12 0 0 3\r\n412");
  EXPECT_EQ(t.Expand({1234567, 3}), "set k3 0 0 7\r\n1234567");
  RequestTemplate padded("{len}:{value}", "v{seq}-{key}");
  EXPECT_EQ(padded.Expand({5, 7}), "5:v5-k7");
  EXPECT_TRUE(padded.has_seq());
  // Without {value}, {seq} of the value does not make the template carry a seq.
  EXPECT_FALSE(RequestTemplate("{len}", "{seq}").has_seq());
  EXPECT_TRUE(RequestTemplate("x{value}", "{seq}").has_seq());
  EXPECT_FALSE(RequestTemplate("x{value}", "const").has_seq());
  EXPECT_TRUE(RequestTemplate("{value}", "const").constant());
}

TEST(LoadFramingTest, TcpLineRequestsEndWithTheConfiguredTerminator) {
  RequestBuilder b;
  b.body = RequestTemplate(kMemcachedSet);
  std::string out;
  b.Build({412, 12}, &out);
  EXPECT_EQ(out, "set k12 0 0 3\r\n412\n");  // default terminator "\n"
  b.terminator = "\r\n";
  b.Build({412, 12}, &out);
  EXPECT_EQ(out, "set k12 0 0 3\r\n412\r\n");
  EXPECT_TRUE(ValidateTerminator("\n").ok());
  EXPECT_TRUE(ValidateTerminator("\r\n").ok());
  EXPECT_FALSE(ValidateTerminator("\r").ok());
  EXPECT_FALSE(ValidateTerminator("").ok());
}

TEST(LoadFramingTest, RepliesSpanLinesUpToTheEndLine) {
  ReplyFraming end{1, "END"};
  Reply r;
  const std::string hit = "VALUE k12 0 3\r\n412\r\nEND\r\n";
  // Every prefix needs more bytes; the whole reply is used exactly.
  for (size_t n = 0; n < hit.size(); ++n) {
    EXPECT_EQ(ParseReply(LoadProtocol::kTcpLine, end, hit.substr(0, n), &r), 0) << n;
  }
  EXPECT_EQ(ParseReply(LoadProtocol::kTcpLine, end, hit + "END\r\n", &r),
            static_cast<int64_t>(hit.size()));
  EXPECT_EQ(r.text, "VALUE k12 0 3\n412\nEND");
  EXPECT_EQ(ParseReply(LoadProtocol::kTcpLine, end, "END\r\n", &r), 5);
  EXPECT_EQ(r.text, "END");
  // A line that only starts with the end line does not end the reply.
  EXPECT_EQ(ParseReply(LoadProtocol::kTcpLine, end, "ENDING\nEND\n", &r), 11);
  EXPECT_EQ(r.text, "ENDING\nEND");
}

TEST(LoadFramingTest, RepliesSpanACountOfLines) {
  Reply r;
  EXPECT_EQ(ParseReply(LoadProtocol::kTcpLine, ReplyFraming{2, ""}, "a\r\nb", &r), 0);
  EXPECT_EQ(ParseReply(LoadProtocol::kTcpLine, ReplyFraming{2, ""}, "a\r\nb\nc\n", &r), 5);
  EXPECT_EQ(r.text, "a\nb");
  // The default is one line, with or without "\r".
  EXPECT_EQ(ParseReply(LoadProtocol::kTcpLine, "STORED\r\nx", &r), 8);
  EXPECT_EQ(r.text, "STORED");
  EXPECT_FALSE(ValidateFraming(ReplyFraming{0, ""}).ok());
  EXPECT_FALSE(ValidateFraming(ReplyFraming{kMaxReplyLines + 1, ""}).ok());
  EXPECT_FALSE(ValidateFraming(ReplyFraming{1, "A\nB"}).ok());
  EXPECT_TRUE(ValidateFraming(ReplyFraming{3, ""}).ok());
}

TEST(LoadFramingTest, ReadBackMatchesALengthPrefixedValue) {
  RequestTemplate expect(kMemcachedReadExpect);
  uint64_t seq = 0;
  EXPECT_TRUE(expect.Match("VALUE k12 0 3\n412\nEND", 12, &seq));
  EXPECT_EQ(seq, 412u);
  // A length that is not the value's, another key, a miss, trailing text: no match.
  EXPECT_FALSE(expect.Match("VALUE k12 0 4\n412\nEND", 12, &seq));
  EXPECT_FALSE(expect.Match("VALUE k13 0 3\n412\nEND", 12, &seq));
  EXPECT_FALSE(expect.Match("END", 12, &seq));
  EXPECT_FALSE(expect.Match("VALUE k12 0 3\n412\nEND\nEND", 12, &seq));
  // {len} without {value}: the length of the value template expanded with the seq read.
  RequestTemplate len_only("LEN {len} SEQ {seq}");
  EXPECT_TRUE(len_only.Match("LEN 3 SEQ 412", 1, &seq));
  EXPECT_FALSE(len_only.Match("LEN 2 SEQ 412", 1, &seq));
  // Two {seq} must read the same number.
  RequestTemplate twice("{seq}/{value}");
  EXPECT_TRUE(twice.Match("7/7", 1, &seq));
  EXPECT_FALSE(twice.Match("7/8", 1, &seq));
}

TEST(LoadFramingTest, UnknownPlaceholdersAreNamed) {
  EXPECT_EQ(UnknownPlaceholder("set {key} 0 0 {len}\r\n{value}"), "");
  EXPECT_EQ(UnknownPlaceholder("SET {key} {sqe}"), "{sqe}");
  EXPECT_EQ(UnknownPlaceholder("GET {port.kvd}"), "{port.kvd}");
  // Regex quantifiers and other braces are not placeholders.
  EXPECT_EQ(UnknownPlaceholder("VALUE [0-9]{1,3} { x }"), "");
}

// What `expect` is matched against, protocol by protocol: always the whole reply text.
TEST(ExpectSemanticsTest, EveryProtocolMatchesTheWholeReplyText) {
  auto ok = ReplyMatcher::Create("OK");
  auto anchored = ReplyMatcher::Create("^OK");
  auto body = ReplyMatcher::Create("ok\n");
  auto relaxed = ReplyMatcher::Create("ok\\s*");
  ASSERT_TRUE(ok.ok() && anchored.ok() && body.ok() && relaxed.ok());
  Reply r;
  // tcp-line: the line without its terminator; a longer line does not match (no search).
  ASSERT_GT(ParseReply(LoadProtocol::kTcpLine, "OK\r\n", &r), 0);
  EXPECT_TRUE(ok->Matches(r.text));
  ASSERT_GT(ParseReply(LoadProtocol::kTcpLine, "OK but not quite\n", &r), 0);
  EXPECT_FALSE(ok->Matches(r.text));
  EXPECT_FALSE(anchored->Matches(r.text));
  ASSERT_GT(ParseReply(LoadProtocol::kTcpLine, "NOT OK\n", &r), 0);
  EXPECT_FALSE(ok->Matches(r.text));
  // http: the body byte for byte, its newline included.
  const std::string http = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
  ASSERT_GT(ParseReply(LoadProtocol::kHttp, http, &r), 0);
  EXPECT_EQ(r.text, "ok\n");
  EXPECT_TRUE(body->Matches(r.text));
  EXPECT_TRUE(relaxed->Matches(r.text));
  EXPECT_FALSE(ReplyMatcher::Create("ok")->Matches(r.text));
  // redis: a simple string's content without "+", a bulk string's bytes.
  ASSERT_GT(ParseReply(LoadProtocol::kRedis, "+OK\r\n", &r), 0);
  EXPECT_TRUE(ok->Matches(r.text));
  ASSERT_GT(ParseReply(LoadProtocol::kRedis, "$5\r\nOK OK\r\n", &r), 0);
  EXPECT_FALSE(ok->Matches(r.text));
}

// `expect` meets text a target controls: the matcher is linear in the reply. `(a+)+$` against
// "aaa...a!" needs about 2^n steps in a backtracking engine (std::regex: years for n = 40, a
// stack overflow for long inputs); RE2 answers for a 1 MiB reply in milliseconds.
TEST(ExpectSemanticsTest, CatastrophicBacktrackingPatternIsLinearOnAHostileReply) {
  auto m = ReplyMatcher::Create("(a+)+$");
  ASSERT_TRUE(m.ok()) << m.error().Message();
  const std::string reply = std::string(1 << 20, 'a') + "!";
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(m->Matches(reply));
  EXPECT_TRUE(m->Search(reply.substr(0, 100)));  // a partial match exists in an all-'a' text
  EXPECT_FALSE(ReplyMatcher::Create("(x+x+)+y")->Search(std::string(1 << 20, 'x')));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // Linear: tens of milliseconds even on a loaded machine; a backtracking engine never ends.
  EXPECT_LT(seconds, 5.0);
}

TEST(ExpectSemanticsTest, RegexSyntaxOutsideRe2IsRejectedWithTheReason) {
  auto back = ReplyMatcher::Create("(OK) \\1");
  ASSERT_FALSE(back.ok());
  EXPECT_NE(back.error().Message().find("uses a backreference (\\1); patterns run on RE2"),
            std::string::npos)
      << back.error().Message();
  auto look = ReplyMatcher::Create("OK(?=!)");
  ASSERT_FALSE(look.ok());
  EXPECT_NE(look.error().Message().find("uses a lookaround"), std::string::npos);
  auto broken = ReplyMatcher::Create("OK(");
  ASSERT_FALSE(broken.ok());
  EXPECT_NE(broken.error().Message().find("is not a valid regular expression (missing )"),
            std::string::npos)
      << broken.error().Message();
  // An escaped backslash before a digit is a literal backslash and a digit, not a reference.
  auto literal = ReplyMatcher::Create("a\\\\1");
  ASSERT_TRUE(literal.ok()) << literal.error().Message();
  EXPECT_TRUE(literal->Matches("a\\1"));
  // Bytes, not UTF-8: invalid UTF-8 in a reply is matched like any other byte.
  auto any = ReplyMatcher::Create("VALUE .+");
  EXPECT_TRUE(any->Matches(std::string("VALUE \xff\xfe", 8)));
}

}  // namespace
}  // namespace duende::harness
