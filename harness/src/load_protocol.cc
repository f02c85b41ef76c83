#include "duende/harness/load_protocol.h"

#include <re2/re2.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <optional>

#include "duende/framework/trace_context.h"

namespace duende::harness {
namespace {

constexpr int64_t kNeedMore = 0;
constexpr int64_t kInvalid = -1;
// A reply larger than this is treated as garbage rather than buffered without end.
constexpr size_t kMaxReplyBytes = 16 << 20;

void AppendNumber(uint64_t value, std::string* out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  out->append(buf, end);
}

bool ParseInt(std::string_view text, int64_t* out) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// One reply of `framing.lines` lines, or of every line up to and including `end_line`.
int64_t ParseLines(const ReplyFraming& framing, std::string_view data, Reply* reply) {
  reply->text.clear();
  size_t pos = 0;
  for (uint32_t count = 1;; ++count) {
    const size_t nl = data.find('\n', pos);
    if (nl == std::string_view::npos) return data.size() > kMaxReplyBytes ? kInvalid : kNeedMore;
    std::string_view line = data.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (count > 1) reply->text.push_back('\n');
    reply->text.append(line);
    pos = nl + 1;
    const bool last = framing.end_line.empty() ? count >= framing.lines : line == framing.end_line;
    if (last) break;
    if (pos > kMaxReplyBytes || count >= kMaxReplyLines) return kInvalid;
  }
  reply->protocol_ok = true;
  return static_cast<int64_t>(pos);
}

// Chunked transfer coding: returns the bytes used from `data` (the start of the body).
int64_t ParseChunked(std::string_view data, std::string* body) {
  size_t pos = 0;
  body->clear();
  for (;;) {
    const size_t eol = data.find("\r\n", pos);
    if (eol == std::string_view::npos) return kNeedMore;
    std::string_view size_line = data.substr(pos, eol - pos);
    size_line = size_line.substr(0, size_line.find(';'));
    uint64_t size = 0;
    auto [ptr, ec] =
        std::from_chars(size_line.data(), size_line.data() + size_line.size(), size, 16);
    if (ec != std::errc() || size > kMaxReplyBytes) return kInvalid;
    pos = eol + 2;
    if (size == 0) {
      // Trailers end with an empty line.
      for (;;) {
        const size_t end = data.find("\r\n", pos);
        if (end == std::string_view::npos) return kNeedMore;
        const bool empty = end == pos;
        pos = end + 2;
        if (empty) return static_cast<int64_t>(pos);
      }
    }
    if (data.size() < pos + size + 2) return kNeedMore;
    body->append(data.substr(pos, size));
    pos += size + 2;
  }
}

int64_t ParseHttp(std::string_view data, Reply* reply) {
  const size_t head_end = data.find("\r\n\r\n");
  if (head_end == std::string_view::npos)
    return data.size() > kMaxReplyBytes ? kInvalid : kNeedMore;
  std::string_view head = data.substr(0, head_end);
  // Status line: HTTP/1.x NNN reason
  const size_t eol = head.find("\r\n");
  std::string_view status_line = head.substr(0, eol);
  if (status_line.substr(0, 5) != "HTTP/" || status_line.size() < 12) return kInvalid;
  int64_t status = 0;
  if (!ParseInt(status_line.substr(9, 3), &status)) return kInvalid;
  reply->status = static_cast<int>(status);
  reply->protocol_ok = status >= 200 && status < 300;
  reply->close = status_line.substr(5, 3) == "1.0";
  int64_t content_length = -1;
  bool chunked = false;
  size_t pos = eol == std::string_view::npos ? head.size() : eol + 2;
  while (pos < head.size()) {
    size_t end = head.find("\r\n", pos);
    if (end == std::string_view::npos) end = head.size();
    std::string_view line = head.substr(pos, end - pos);
    pos = end + 2;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = Trim(line.substr(0, colon));
    std::string_view value = Trim(line.substr(colon + 1));
    if (IEquals(name, "content-length")) {
      if (!ParseInt(value, &content_length) || content_length < 0) return kInvalid;
    } else if (IEquals(name, "transfer-encoding")) {
      chunked = IEquals(value, "chunked");
    } else if (IEquals(name, "connection")) {
      if (IEquals(value, "close")) reply->close = true;
      if (IEquals(value, "keep-alive")) reply->close = false;
    }
  }
  const size_t body_start = head_end + 4;
  if (chunked) {
    const int64_t used = ParseChunked(data.substr(body_start), &reply->text);
    if (used <= 0) return used;
    return static_cast<int64_t>(body_start) + used;
  }
  // 1xx, 204 and 304 carry no body; without a length the body would run to the close, which
  // a keep-alive load cannot use: treat it as empty and close the connection after it.
  if (content_length < 0) {
    reply->text.clear();
    if (!(status == 204 || status == 304 || status / 100 == 1)) reply->close = true;
    return static_cast<int64_t>(body_start);
  }
  if (static_cast<uint64_t>(content_length) > kMaxReplyBytes) return kInvalid;
  const size_t total = body_start + static_cast<size_t>(content_length);
  if (data.size() < total) return kNeedMore;
  reply->text.assign(data.substr(body_start, static_cast<size_t>(content_length)));
  return static_cast<int64_t>(total);
}

// One RESP value at data[pos..]; appends its text form to `text` (arrays: elements joined by
// spaces). Returns the end position, 0 for "need more", -1 for invalid.
int64_t ParseResp(std::string_view data, size_t pos, std::string* text, bool* error, int depth) {
  if (depth > 8) return kInvalid;
  if (pos >= data.size()) return kNeedMore;
  const size_t eol = data.find("\r\n", pos);
  if (eol == std::string_view::npos) return data.size() > kMaxReplyBytes ? kInvalid : kNeedMore;
  const char type = data[pos];
  std::string_view line = data.substr(pos + 1, eol - pos - 1);
  const size_t after = eol + 2;
  switch (type) {
    case '+':
    case ':':
      text->append(line);
      return static_cast<int64_t>(after);
    case '-':
      *error = true;
      text->append("-");
      text->append(line);
      return static_cast<int64_t>(after);
    case '$': {
      int64_t len = 0;
      if (!ParseInt(line, &len) || len < -1 || static_cast<uint64_t>(len + 1) > kMaxReplyBytes)
        return kInvalid;
      if (len == -1) {
        text->append("(nil)");
        return static_cast<int64_t>(after);
      }
      const size_t end = after + static_cast<size_t>(len);
      if (data.size() < end + 2) return kNeedMore;
      if (data.substr(end, 2) != "\r\n") return kInvalid;
      text->append(data.substr(after, static_cast<size_t>(len)));
      return static_cast<int64_t>(end + 2);
    }
    case '*': {
      int64_t n = 0;
      if (!ParseInt(line, &n) || n < -1 || n > 1 << 20) return kInvalid;
      if (n == -1) {
        text->append("(nil)");
        return static_cast<int64_t>(after);
      }
      size_t p = after;
      for (int64_t i = 0; i < n; ++i) {
        if (i > 0) text->push_back(' ');
        const int64_t r = ParseResp(data, p, text, error, depth + 1);
        if (r <= 0) return r;
        p = static_cast<size_t>(r);
      }
      return static_cast<int64_t>(p);
    }
    default:
      return kInvalid;
  }
}

}  // namespace

framework::Result<LoadProtocol> ParseLoadProtocol(const std::string& name) {
  if (name == "tcp-line") return LoadProtocol::kTcpLine;
  if (name == "http") return LoadProtocol::kHttp;
  if (name == "redis") return LoadProtocol::kRedis;
  return framework::MessageError("unknown load protocol '" + name +
                                 "' (use \"tcp-line\", \"http\" or \"redis\")");
}

std::vector<RequestTemplate::Part> RequestTemplate::Split(std::string_view text,
                                                          bool value_placeholders) {
  static constexpr std::pair<std::string_view, Kind> kNames[] = {{"{seq}", Kind::kSeq},
                                                                 {"{key}", Kind::kKey},
                                                                 {"{n}", Kind::kN},
                                                                 {"{value}", Kind::kValue},
                                                                 {"{len}", Kind::kLen}};
  std::vector<Part> parts;
  std::string literal;
  size_t i = 0;
  while (i < text.size()) {
    bool matched = false;
    if (text[i] == '{') {
      for (const auto& [name, kind] : kNames) {
        if (!value_placeholders && (kind == Kind::kValue || kind == Kind::kLen)) continue;
        if (text.substr(i, name.size()) == name) {
          if (!literal.empty()) parts.push_back({Kind::kLiteral, std::move(literal)});
          literal.clear();
          parts.push_back({kind, {}});
          i += name.size();
          matched = true;
          break;
        }
      }
    }
    if (!matched) literal.push_back(text[i++]);
  }
  if (!literal.empty()) parts.push_back({Kind::kLiteral, std::move(literal)});
  return parts;
}

RequestTemplate::RequestTemplate(std::string_view text, std::string_view value)
    : parts_(Split(text, true)), value_(Split(value, false)) {}

void RequestTemplate::AppendPart(const Part& part, const TemplateValues& values, std::string* out) {
  switch (part.kind) {
    case Kind::kLiteral:
      out->append(part.text);
      return;
    case Kind::kSeq:
      AppendNumber(values.seq, out);
      return;
    case Kind::kKey:
      out->push_back('k');
      AppendNumber(values.key, out);
      return;
    case Kind::kN:
      AppendNumber(values.key, out);
      return;
    case Kind::kValue:
    case Kind::kLen:
      return;  // expanded by AppendTo, which knows the value template
  }
}

void RequestTemplate::AppendParts(const std::vector<Part>& parts, const TemplateValues& values,
                                  std::string* out) {
  for (const Part& part : parts) AppendPart(part, values, out);
}

void RequestTemplate::AppendTo(const TemplateValues& values, std::string* out) const {
  for (const Part& part : parts_) {
    if (part.kind == Kind::kValue) {
      AppendParts(value_, values, out);
    } else if (part.kind == Kind::kLen) {
      const size_t before = out->size();
      AppendParts(value_, values, out);
      const size_t len = out->size() - before;
      out->resize(before);
      AppendNumber(len, out);
    } else {
      AppendPart(part, values, out);
    }
  }
}

std::string RequestTemplate::Expand(const TemplateValues& values) const {
  std::string out;
  AppendTo(values, &out);
  return out;
}

bool RequestTemplate::MatchPart(const Part& part, std::string_view* text, uint64_t key,
                                uint64_t* seq, bool* seq_seen) {
  std::string expected;
  switch (part.kind) {
    case Kind::kLiteral:
      expected = part.text;
      break;
    case Kind::kKey:
      expected.push_back('k');
      AppendNumber(key, &expected);
      break;
    case Kind::kN:
      AppendNumber(key, &expected);
      break;
    case Kind::kSeq: {
      uint64_t value = 0;
      auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
      if (ec != std::errc()) return false;
      // A second {seq} (e.g. in the value and in the line) must read the same number.
      if (*seq_seen && value != *seq) return false;
      *seq = value;
      *seq_seen = true;
      text->remove_prefix(static_cast<size_t>(ptr - text->data()));
      return true;
    }
    case Kind::kValue:
    case Kind::kLen:
      return false;  // handled by Match
  }
  if (text->substr(0, expected.size()) != expected) return false;
  text->remove_prefix(expected.size());
  return true;
}

bool RequestTemplate::MatchParts(const std::vector<Part>& parts, std::string_view* text,
                                 uint64_t key, uint64_t* seq, bool* seq_seen) {
  for (const Part& part : parts) {
    if (!MatchPart(part, text, key, seq, seq_seen)) return false;
  }
  return true;
}

bool RequestTemplate::Match(std::string_view text, uint64_t key, uint64_t* seq) const {
  bool seq_seen = false;
  std::optional<uint64_t> len;
  std::optional<size_t> value_len;
  for (const Part& part : parts_) {
    if (part.kind == Kind::kLen) {
      uint64_t n = 0;
      auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
      if (ec != std::errc()) return false;
      len = n;
      text.remove_prefix(static_cast<size_t>(ptr - text.data()));
    } else if (part.kind == Kind::kValue) {
      const size_t before = text.size();
      if (!MatchParts(value_, &text, key, seq, &seq_seen)) return false;
      value_len = before - text.size();
    } else if (!MatchPart(part, &text, key, seq, &seq_seen)) {
      return false;
    }
  }
  if (!text.empty()) return false;
  // {len} is the byte length of the value: of the one read when {value} appears, else of the
  // value template expanded with what was read.
  if (len) {
    const size_t actual = value_len ? *value_len : [&] {
      std::string v;
      AppendParts(value_, TemplateValues{*seq, key}, &v);
      return v.size();
    }();
    if (*len != actual) return false;
  }
  return true;
}

bool RequestTemplate::has_seq() const {
  auto is_seq = [](const Part& p) { return p.kind == Kind::kSeq; };
  const bool via_value = std::any_of(parts_.begin(), parts_.end(),
                                     [](const Part& p) { return p.kind == Kind::kValue; });
  return std::any_of(parts_.begin(), parts_.end(), is_seq) ||
         (via_value && std::any_of(value_.begin(), value_.end(), is_seq));
}

std::string RequestTemplate::WrittenValue(const TemplateValues& values) const {
  std::string out;
  const bool has_value = std::any_of(parts_.begin(), parts_.end(),
                                     [](const Part& p) { return p.kind == Kind::kValue; });
  if (has_value) {
    AppendParts(value_, values, &out);
  } else if (std::any_of(parts_.begin(), parts_.end(),
                         [](const Part& p) { return p.kind == Kind::kSeq; })) {
    AppendNumber(values.seq, &out);
  }
  return out;
}

bool RequestTemplate::constant() const {
  return std::all_of(parts_.begin(), parts_.end(), [this](const Part& p) {
    return p.kind == Kind::kLiteral ||
           ((p.kind == Kind::kValue || p.kind == Kind::kLen) &&
            std::all_of(value_.begin(), value_.end(),
                        [](const Part& v) { return v.kind == Kind::kLiteral; }));
  });
}

std::string UnknownPlaceholder(std::string_view text) {
  static constexpr std::string_view kKnown[] = {"{seq}", "{key}", "{n}", "{value}", "{len}"};
  for (size_t open = text.find('{'); open != std::string_view::npos;
       open = text.find('{', open + 1)) {
    const size_t close = text.find('}', open);
    if (close == std::string_view::npos) break;
    std::string_view name = text.substr(open + 1, close - open - 1);
    // A regex quantifier ({2}, {1,3}) starts with a digit; a name starts with a letter.
    const bool looks_like = !name.empty() &&
                            std::isalpha(static_cast<unsigned char>(name[0])) != 0 &&
                            std::all_of(name.begin(), name.end(), [](char c) {
                              return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' ||
                                     c == '.' || c == '-';
                            });
    if (!looks_like) continue;
    std::string_view whole = text.substr(open, close - open + 1);
    if (std::find(std::begin(kKnown), std::end(kKnown), whole) == std::end(kKnown)) {
      return std::string(whole);
    }
  }
  return "";
}

framework::Result<void> ValidateTerminator(const std::string& terminator) {
  if (terminator == "\n" || terminator == "\r\n") return {};
  return framework::MessageError("the request terminator must be \"\\n\" or \"\\r\\n\"");
}

framework::Result<void> ValidateFraming(const ReplyFraming& framing) {
  if (framing.end_line.find_first_of("\r\n") != std::string::npos)
    return framework::MessageError("the reply's end line must be one line (no \\r or \\n)");
  if (framing.end_line.empty() && (framing.lines < 1 || framing.lines > kMaxReplyLines))
    return framework::MessageError("a reply has 1.." + std::to_string(kMaxReplyLines) +
                                   " lines, not " + std::to_string(framing.lines));
  return {};
}

framework::Result<ReplyMatcher> ReplyMatcher::Create(const std::string& pattern) {
  ReplyMatcher m;
  m.pattern_ = pattern;
  m.literal_ = pattern.find_first_of("\\^$.|?*+()[]{}") == std::string::npos;
  if (m.literal_) return m;
  // RE2 rejects both with a bare "invalid escape sequence" / "invalid perl operator": say what
  // the construct is and what to write instead.
  for (size_t i = 0; i + 1 < pattern.size(); ++i) {
    if (pattern[i] == '\\' && pattern[i + 1] >= '1' && pattern[i + 1] <= '9') {
      return framework::MessageError(
          "'" + pattern + "' uses a backreference (\\" + pattern[i + 1] +
          "); patterns run on RE2 (linear time on any reply), which has none: match the text "
          "itself, or check the reply with a command probe");
    }
    if (pattern[i] == '\\')
      ++i;  // an escaped character is never the start of a group
    else if (pattern.compare(i, 3, "(?=") == 0 || pattern.compare(i, 3, "(?!") == 0 ||
             pattern.compare(i, 4, "(?<=") == 0 || pattern.compare(i, 4, "(?<!") == 0) {
      return framework::MessageError("'" + pattern +
                                     "' uses a lookaround; patterns run on RE2 (linear time on "
                                     "any reply), which has none: match the text itself");
    }
  }
  RE2::Options options;
  options.set_encoding(RE2::Options::EncodingLatin1);  // bytes, as the reply arrives
  options.set_log_errors(false);                       // the error goes into our message
  auto re = std::make_shared<const re2::RE2>(pattern, options);
  if (!re->ok()) {
    return framework::MessageError("'" + pattern + "' is not a valid regular expression (" +
                                   re->error() + "; the syntax is RE2's)");
  }
  m.regex_ = std::move(re);
  return m;
}

bool ReplyMatcher::Matches(std::string_view reply) const {
  if (pattern_.empty()) return true;
  if (literal_) return reply == pattern_;
  return RE2::FullMatch(re2::StringPiece(reply.data(), reply.size()), *regex_);
}

bool ReplyMatcher::captures() const {
  return !literal_ && regex_ != nullptr && regex_->NumberOfCapturingGroups() > 0;
}

bool ReplyMatcher::Matches(std::string_view reply, std::string* capture, bool* captured) const {
  *captured = false;
  if (!captures()) return Matches(reply);
  re2::StringPiece group;
  if (!RE2::FullMatch(re2::StringPiece(reply.data(), reply.size()), *regex_, &group)) {
    return false;
  }
  capture->assign(group.data() == nullptr ? "" : std::string(group.data(), group.size()));
  *captured = true;
  return true;
}

bool ReplyMatcher::Search(std::string_view text) const {
  if (pattern_.empty()) return true;
  if (literal_) return text.find(pattern_) != std::string_view::npos;
  return RE2::PartialMatch(re2::StringPiece(text.data(), text.size()), *regex_);
}

void RequestBuilder::Build(const TemplateValues& values, std::string* out) const {
  out->clear();
  switch (protocol) {
    case LoadProtocol::kTcpLine:
      body.AppendTo(values, out);
      out->append(terminator);
      return;
    case LoadProtocol::kHttp: {
      out->append(method);
      out->push_back(' ');
      if (path.empty()) {
        out->push_back('/');
      } else {
        path.AppendTo(values, out);
      }
      out->append(" HTTP/1.1\r\nHost: ");
      out->append(host);
      out->append("\r\n");
      if (traceparent) {
        out->append("traceparent: ");
        out->append(
            framework::FormatTraceparent(framework::TraceContextFor(trace_seed, values.seq)));
        out->append("\r\n");
      }
      if (method == "POST" || method == "PUT" || method == "PATCH") {
        std::string content;
        body.AppendTo(values, &content);
        out->append("Content-Type: text/plain\r\nContent-Length: ");
        AppendNumber(content.size(), out);
        out->append("\r\n\r\n");
        out->append(content);
      } else {
        out->append("\r\n");
      }
      return;
    }
    case LoadProtocol::kRedis: {
      const std::string command = body.Expand(values);
      std::vector<std::string_view> args;
      size_t pos = 0;
      while (pos < command.size()) {
        const size_t sp = command.find(' ', pos);
        const size_t end = sp == std::string::npos ? command.size() : sp;
        if (end > pos) args.emplace_back(command.data() + pos, end - pos);
        pos = end + 1;
      }
      out->push_back('*');
      AppendNumber(args.size(), out);
      out->append("\r\n");
      for (std::string_view arg : args) {
        out->push_back('$');
        AppendNumber(arg.size(), out);
        out->append("\r\n");
        out->append(arg);
        out->append("\r\n");
      }
      return;
    }
  }
}

int64_t ParseReply(LoadProtocol protocol, std::string_view data, Reply* reply) {
  return ParseReply(protocol, ReplyFraming{}, data, reply);
}

int64_t ParseReply(LoadProtocol protocol, const ReplyFraming& framing, std::string_view data,
                   Reply* reply) {
  switch (protocol) {
    case LoadProtocol::kTcpLine:
      return ParseLines(framing, data, reply);
    case LoadProtocol::kHttp:
      reply->close = false;
      return ParseHttp(data, reply);
    case LoadProtocol::kRedis: {
      reply->text.clear();
      bool error = false;
      const int64_t r = ParseResp(data, 0, &reply->text, &error, 0);
      reply->protocol_ok = !error;
      return r;
    }
  }
  return kInvalid;
}

}  // namespace duende::harness
