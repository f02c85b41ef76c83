// The wire side of the load generators: request templates and the three protocols
// (TCP line, HTTP/1.1 keep-alive, Redis RESP). Pure functions over buffers, no I/O, so the
// generator, the read-back and the tests share one codec.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "duende/framework/result.h"

namespace re2 {
class RE2;
}  // namespace re2

namespace duende::harness {

enum class LoadProtocol { kTcpLine, kHttp, kRedis };

/// "tcp-line" | "http" | "redis". Errors: EINVAL naming the accepted names.
framework::Result<LoadProtocol> ParseLoadProtocol(const std::string& name);

/// The values a template's placeholders expand to.
struct TemplateValues {
  uint64_t seq = 0;  ///< {seq}: unique, increasing per key
  uint64_t key = 0;  ///< {key} expands to "k<key>", {n} to "<key>"
};

/// The value template used when a template names none: the sequence number itself.
inline constexpr std::string_view kDefaultValueTemplate = "{seq}";

/// A template such as "SET {key} {seq}", split once so that expanding it allocates nothing.
/// Placeholders: {seq}, {key}, {n}, {value} (the expansion of the value template, itself made
/// of {seq}, {key}, {n} and text) and {len} (the byte length of that expansion), so that a
/// length-prefixed protocol can be written: "set {key} 0 0 {len}\r\n{value}" (memcached).
/// Any other text (including other braces) is literal.
class RequestTemplate {
 public:
  RequestTemplate() = default;
  /// `value` is the template {value} and {len} stand for (without {value} or {len} itself).
  explicit RequestTemplate(std::string_view text, std::string_view value = kDefaultValueTemplate);

  /// Appends the expansion to `out`.
  void AppendTo(const TemplateValues& values, std::string* out) const;
  std::string Expand(const TemplateValues& values) const;
  /// Matches `text` as a whole against the template, with {key}/{n} standing for `key` and
  /// {seq} for a decimal number, stored in `seq` (read-back: "VALUE {seq}"); {value} matches
  /// the value template the same way and {len} a decimal number that must equal the byte
  /// length of the value so read ("VALUE {key} 0 {len}\n{value}\nEND").
  bool Match(std::string_view text, uint64_t key, uint64_t* seq) const;
  /// True when {seq} appears, directly or through {value}.
  bool has_seq() const;
  /// The value a request of this template writes, for the history: the expansion of
  /// {value} when it appears, else the digits of {seq} when that appears, else "".
  std::string WrittenValue(const TemplateValues& values) const;
  bool empty() const { return parts_.empty(); }
  /// True when no placeholder appears (the expansion is constant).
  bool constant() const;

 private:
  enum class Kind { kLiteral, kSeq, kKey, kN, kValue, kLen };
  struct Part {
    Kind kind;
    std::string text;
  };
  static std::vector<Part> Split(std::string_view text, bool value_placeholders);
  static void AppendPart(const Part& part, const TemplateValues& values, std::string* out);
  static void AppendParts(const std::vector<Part>& parts, const TemplateValues& values,
                          std::string* out);
  static bool MatchPart(const Part& part, std::string_view* text, uint64_t key, uint64_t* seq,
                        bool* seq_seen);
  static bool MatchParts(const std::vector<Part>& parts, std::string_view* text, uint64_t key,
                         uint64_t* seq, bool* seq_seen);
  std::vector<Part> parts_;
  std::vector<Part> value_;  ///< the value template's parts (no kValue/kLen)
};

/// Placeholders a load template may use, for validation messages: {seq} {key} {n} {value}
/// {len}. Returns the first "{name}" in `text` that looks like a placeholder (a letter, then
/// letters, digits, '_', '-' and '.') but is none of them, or "" when there is none.
std::string UnknownPlaceholder(std::string_view text);

/// How a tcp-line reply is framed: `lines` lines, or every line up to and including one equal
/// to `end_line` (memcached's "END"). The reply's text is its lines without their "\r\n" or
/// "\n", joined by "\n".
struct ReplyFraming {
  uint32_t lines = 1;    ///< 1..kMaxReplyLines; ignored when end_line is set
  std::string end_line;  ///< "" = count lines
};

/// The most lines a framed tcp-line reply may have.
inline constexpr uint32_t kMaxReplyLines = 10000;

/// "\n" or "\r\n" (the only request terminators a line protocol uses). Errors: EINVAL
/// naming the accepted values.
framework::Result<void> ValidateTerminator(const std::string& terminator);

/// Errors: EINVAL when `framing` asks for 0 lines or more than kMaxReplyLines, or its end line
/// holds a line break.
framework::Result<void> ValidateFraming(const ReplyFraming& framing);

/// The regex a reply must match as a whole. Patterns meet text a target controls, so they run
/// on RE2 (linear time in the text: `(a+)+$` against a 1 MiB reply takes milliseconds, where a
/// backtracking engine takes years), in RE2's syntax (POSIX/Perl classes, no backreferences,
/// no lookaround), byte for byte (Latin-1: `.` matches any byte, invalid UTF-8 included). An
/// empty pattern accepts every reply; a pattern without regex metacharacters is compared as a
/// string.
class ReplyMatcher {
 public:
  ReplyMatcher() = default;
  /// Errors: EINVAL with RE2's reason when the pattern is not a valid RE2 regex; a
  /// backreference (\1) or a lookaround ((?=, (?!, (?<=) is named as such.
  static framework::Result<ReplyMatcher> Create(const std::string& pattern);
  /// The whole of `reply` matches.
  bool Matches(std::string_view reply) const;
  /// The same, and when the pattern has a capture group and the reply matches, `*capture`
  /// becomes the first group's text ("" when that group did not take part in the match) and
  /// `*captured` true; otherwise `*captured` is false.
  bool Matches(std::string_view reply, std::string* capture, bool* captured) const;
  /// True when the pattern is a regex with at least one capture group.
  bool captures() const;
  /// Some part of `text` matches (for lines of output: log_matches).
  bool Search(std::string_view text) const;
  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  bool literal_ = true;
  std::shared_ptr<const re2::RE2> regex_;
};

/// Builds one request of `protocol` into `out` (cleared first):
///   tcp-line: the expanded template and `terminator` ("\n" or "\r\n");
///   http:     "<method> <path> HTTP/1.1" with Host, and for POST/PUT the expanded template
///             as the body;
///   redis:    the expanded template split on spaces, as a RESP array of bulk strings.
struct RequestBuilder {
  LoadProtocol protocol = LoadProtocol::kTcpLine;
  RequestTemplate body;  ///< line / RESP command / HTTP body
  RequestTemplate path;  ///< HTTP path
  std::string method = "GET";
  std::string host;
  std::string terminator = "\n";  ///< tcp-line: ends every request
  ReplyFraming framing;           ///< tcp-line: how the replies to these requests are framed
  /// http: add "traceparent: " + TraceContextFor(trace_seed, seq) to every request.
  bool traceparent = false;
  uint64_t trace_seed = 0;

  void Build(const TemplateValues& values, std::string* out) const;
};

/// A parsed reply. Its `text` is what `expect` is matched against, as a whole, in every
/// protocol (docs/load.md, "What expect matches").
struct Reply {
  /// tcp-line: the line(s) without "\r\n" (joined by "\n"); http: the body, byte for byte;
  /// redis: a simple or bulk string's
  /// content, an integer's digits, "(nil)" for a null, errors with their leading "-".
  std::string text;
  bool protocol_ok = true;  ///< false: a Redis error reply or an HTTP status outside 2xx
  int status = 0;           ///< HTTP status code
  bool close = false;       ///< HTTP "Connection: close": the server ends the connection
};

/// Parses one reply at the start of `data`. Returns the bytes it used, 0 when more bytes are
/// needed, or -1 when the bytes are not a valid reply (the connection must be dropped).
/// `framing` applies to tcp-line only (default: one line).
int64_t ParseReply(LoadProtocol protocol, const ReplyFraming& framing, std::string_view data,
                   Reply* reply);
int64_t ParseReply(LoadProtocol protocol, std::string_view data, Reply* reply);

}  // namespace duende::harness
