#include "duende/framework/trace_context.h"

namespace duende::framework {

namespace {

bool LowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool AllZero(std::string_view s) { return s.find_first_not_of('0') == std::string_view::npos; }

uint8_t HexByte(std::string_view two) {
  auto v = [](char c) { return static_cast<uint8_t>(c <= '9' ? c - '0' : c - 'a' + 10); };
  return static_cast<uint8_t>(v(two[0]) << 4 | v(two[1]));
}

uint64_t SplitMix(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void AppendHex(uint64_t v, std::string* out) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (int shift = 60; shift >= 0; shift -= 4) out->push_back(kDigits[(v >> shift) & 0xf]);
}

}  // namespace

std::optional<TraceContext> ParseTraceparent(std::string_view value) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  // version "-" trace-id "-" parent-id "-" flags: 2 + 1 + 32 + 1 + 16 + 1 + 2 = 55.
  constexpr size_t kLen = 55;
  if (value.size() < kLen) return std::nullopt;
  if (value[2] != '-' || value[35] != '-' || value[52] != '-') return std::nullopt;
  std::string_view version = value.substr(0, 2), trace = value.substr(3, 32),
                   parent = value.substr(36, 16), flags = value.substr(53, 2);
  if (!LowerHex(version) || version == "ff") return std::nullopt;
  // Version 00 is exactly 55 characters; a later version may add fields after a '-'.
  if (version == "00" ? value.size() != kLen : value.size() > kLen && value[kLen] != '-') {
    return std::nullopt;
  }
  if (!LowerHex(trace) || !LowerHex(parent) || !LowerHex(flags)) return std::nullopt;
  if (AllZero(trace) || AllZero(parent)) return std::nullopt;
  TraceContext c;
  c.version = HexByte(version);
  c.trace_id = std::string(trace);
  c.parent_id = std::string(parent);
  c.flags = HexByte(flags);
  return c;
}

std::optional<TraceContext> TraceparentOfRequest(std::string_view head, bool* present) {
  if (present != nullptr) *present = false;
  constexpr std::string_view kName = "traceparent";
  std::optional<std::string_view> found;
  size_t pos = head.find("\r\n");  // past the request line
  while (pos != std::string_view::npos && pos + 2 < head.size()) {
    pos += 2;
    size_t end = head.find("\r\n", pos);
    std::string_view line = head.substr(pos, end == std::string_view::npos ? end : end - pos);
    if (line.empty()) break;  // the end of the head
    size_t colon = line.find(':');
    if (colon == kName.size()) {
      bool same = true;
      for (size_t i = 0; i < kName.size(); ++i) {
        char c = line[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        same = same && c == kName[i];
      }
      if (same) {
        if (found) return std::nullopt;  // repeated: invalid
        found = line.substr(colon + 1);
        if (present != nullptr) *present = true;
      }
    }
    pos = end;
  }
  if (!found) return std::nullopt;
  return ParseTraceparent(*found);
}

std::string TraceLogFields(const TraceContext& context) {
  return "trace_id=" + context.trace_id + " parent_id=" + context.parent_id +
         " sampled=" + (context.sampled() ? "1" : "0");
}

std::string FormatTraceparent(const TraceContext& context) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out = "00-" + context.trace_id + "-" + context.parent_id + "-";
  out.push_back(kDigits[context.flags >> 4]);
  out.push_back(kDigits[context.flags & 0xf]);
  return out;
}

TraceContext TraceContextFor(uint64_t seed, uint64_t n) {
  uint64_t x = seed ^ (n * 0xd1b54a32d192ed03ULL);
  TraceContext c;
  c.flags = 1;
  uint64_t a = SplitMix(x), b = SplitMix(x), p = SplitMix(x);
  if (a == 0 && b == 0) a = 1;  // an all-zero id is invalid
  if (p == 0) p = 1;
  AppendHex(a, &c.trace_id);
  AppendHex(b, &c.trace_id);
  AppendHex(p, &c.parent_id);
  return c;
}

}  // namespace duende::framework
