// The wire side of the load generators: request templates and the three protocols
// (TCP line, HTTP/1.1 keep-alive, Redis RESP). Pure functions over buffers, no I/O, so the
// generator, the read-back and the tests share one codec.
#pragma once

#include <cstdint>
#include <memory>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "duende/framework/result.h"

namespace duende::harness {

enum class LoadProtocol { kTcpLine, kHttp, kRedis };

/// "tcp-line" | "http" | "redis". Errors: EINVAL naming the accepted names.
framework::Result<LoadProtocol> ParseLoadProtocol(const std::string& name);

/// The values a template's placeholders expand to.
struct TemplateValues {
  uint64_t seq = 0;  ///< {seq}: unique, increasing per key
  uint64_t key = 0;  ///< {key} expands to "k<key>", {n} to "<key>"
};

/// A template such as "SET {key} {seq}", split once so that expanding it allocates nothing.
/// Placeholders: {seq}, {key}, {n}; any other text (including other braces) is literal.
class RequestTemplate {
 public:
  RequestTemplate() = default;
  explicit RequestTemplate(std::string_view text);

  /// Appends the expansion to `out`.
  void AppendTo(const TemplateValues& values, std::string* out) const;
  std::string Expand(const TemplateValues& values) const;
  /// Matches `text` as a whole against the template, with {key}/{n} standing for `key` and
  /// {seq} for a decimal number, stored in `seq` (read-back: "VALUE {seq}").
  bool Match(std::string_view text, uint64_t key, uint64_t* seq) const;
  bool has_seq() const;
  bool empty() const { return parts_.empty(); }
  /// True when no placeholder appears (the expansion is constant).
  bool constant() const;

 private:
  enum class Kind { kLiteral, kSeq, kKey, kN };
  struct Part {
    Kind kind;
    std::string text;
  };
  std::vector<Part> parts_;
};

/// The regex a reply must match as a whole (std::regex_match, ECMAScript). An empty pattern
/// accepts every reply; a pattern without regex metacharacters is compared as a string.
class ReplyMatcher {
 public:
  ReplyMatcher() = default;
  /// Errors: EINVAL with std::regex's message when the pattern is not a valid regex.
  static framework::Result<ReplyMatcher> Create(const std::string& pattern);
  bool Matches(std::string_view reply) const;
  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  bool literal_ = true;
  std::shared_ptr<const std::regex> regex_;
};

/// Builds one request of `protocol` into `out` (cleared first):
///   tcp-line: the expanded template and "\n";
///   http:     "<method> <path> HTTP/1.1" with Host, and for POST/PUT the expanded template
///             as the body;
///   redis:    the expanded template split on spaces, as a RESP array of bulk strings.
struct RequestBuilder {
  LoadProtocol protocol = LoadProtocol::kTcpLine;
  RequestTemplate body;  ///< line / RESP command / HTTP body
  RequestTemplate path;  ///< HTTP path
  std::string method = "GET";
  std::string host;

  void Build(const TemplateValues& values, std::string* out) const;
};

/// A parsed reply.
struct Reply {
  /// tcp-line: the line without "\r\n"; http: the body; redis: a simple or bulk string's
  /// content, an integer's digits, "(nil)" for a null, errors with their leading "-".
  std::string text;
  bool protocol_ok = true;  ///< false: a Redis error reply or an HTTP status outside 2xx
  int status = 0;           ///< HTTP status code
  bool close = false;       ///< HTTP "Connection: close": the server ends the connection
};

/// Parses one reply at the start of `data`. Returns the bytes it used, 0 when more bytes are
/// needed, or -1 when the bytes are not a valid reply (the connection must be dropped).
int64_t ParseReply(LoadProtocol protocol, std::string_view data, Reply* reply);

}  // namespace duende::harness
