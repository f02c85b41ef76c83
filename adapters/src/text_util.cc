#include "text_util.h"

#include <charconv>
#include <cstdio>
#include <limits>

namespace duende::adapters::internal {

std::string ShellQuote(std::string_view word) {
  auto safe = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.' || c == '/' || c == ':' || c == '=' || c == ',' || c == '+' ||
           c == '@' || c == '%';
  };
  bool bare = !word.empty();
  for (char c : word) bare = bare && safe(c);
  if (bare) return std::string(word);
  std::string out = "'";
  for (char c : word) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  out += '\'';
  return out;
}

framework::Result<std::vector<std::string>> ShellSplit(std::string_view line) {
  std::vector<std::string> words;
  std::string cur;
  bool in_word = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (c == '\\') {
      if (i + 1 >= line.size()) return framework::MessageError("trailing backslash");
      char n = line[++i];
      if (n == '\n') continue;  // line continuation
      cur += n;
      in_word = true;
    } else if (c == '\'') {
      size_t end = line.find('\'', i + 1);
      if (end == std::string_view::npos) return framework::MessageError("unterminated '");
      cur.append(line.substr(i + 1, end - i - 1));
      i = end;
      in_word = true;
    } else if (c == '"') {
      in_word = true;
      for (++i;; ++i) {
        if (i >= line.size()) return framework::MessageError("unterminated \"");
        if (line[i] == '"') break;
        if (line[i] == '\\' && i + 1 < line.size() &&
            std::string_view("$`\"\\\n").find(line[i + 1]) != std::string_view::npos) {
          ++i;
          if (line[i] == '\n') continue;
        }
        cur += line[i];
      }
    } else if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(std::move(cur));
      cur.clear();
      in_word = false;
    } else {
      cur += c;
      in_word = true;
    }
  }
  if (in_word) words.push_back(std::move(cur));
  return words;
}

std::string DoubleText(double v) {
  // Shortest representation that round-trips (std::to_chars without precision).
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, res.ptr);
}

int64_t CeilSeconds(std::chrono::nanoseconds d) {
  int64_t ns = d.count();
  return ns <= 0 ? 0 : (ns + 999'999'999) / 1'000'000'000;
}

int64_t CeilMicros(std::chrono::nanoseconds d) {
  int64_t ns = d.count();
  return ns <= 0 ? 0 : (ns + 999) / 1000;
}

std::string ExactDuration(std::chrono::nanoseconds d) {
  int64_t ns = d.count();
  if (ns % 1'000'000'000 == 0) return std::to_string(ns / 1'000'000'000) + "s";
  if (ns % 1'000'000 == 0) return std::to_string(ns / 1'000'000) + "ms";
  if (ns % 1000 == 0) return std::to_string(ns / 1000) + "us";
  return std::to_string(ns) + "ns";
}

std::optional<std::chrono::nanoseconds> ParseExactDuration(std::string_view v) {
  struct Unit {
    const char* suffix;
    int64_t ns;
  };
  // "ns", "us" and "ms" before "s", which ends all of them.
  static constexpr Unit kUnits[] = {
      {"ns", 1}, {"us", 1000}, {"ms", 1'000'000}, {"s", 1'000'000'000}};
  for (const Unit& u : kUnits) {
    std::string_view suf(u.suffix);
    if (v.size() > suf.size() && v.substr(v.size() - suf.size()) == suf) {
      auto n = ParseUint(v.substr(0, v.size() - suf.size()));
      if (n) return std::chrono::nanoseconds(static_cast<int64_t>(*n) * u.ns);
      return std::nullopt;
    }
  }
  return std::nullopt;
}

std::optional<uint64_t> ParseUint(std::string_view s) {
  if (s.empty()) return std::nullopt;
  uint64_t v = 0;
  auto res = std::from_chars(s.data(), s.data() + s.size(), v);
  if (res.ec != std::errc() || res.ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

std::vector<std::pair<std::string, std::string>> PlatformEnv(const framework::DaemonConfig& c) {
  auto env = c.env;
  if (c.resources.lock_memory) env.emplace_back("DUENDE_MLOCK", "1");
  if (c.resources.lock_memory_required) env.emplace_back("DUENDE_MLOCK_REQUIRED", "1");
  return env;
}

void TakeMlockEnv(framework::DaemonConfig* c) {
  std::vector<std::pair<std::string, std::string>> kept;
  for (auto& [k, v] : c->env) {
    if (k == "DUENDE_MLOCK" && v == "1") {
      c->resources.lock_memory = true;
    } else if (k == "DUENDE_MLOCK_REQUIRED" && v == "1") {
      c->resources.lock_memory_required = true;
    } else {
      kept.emplace_back(std::move(k), std::move(v));
    }
  }
  c->env = std::move(kept);
}

framework::DaemonConfig Skeleton(const framework::DaemonConfig& c) {
  framework::DaemonConfig t;
  t.name = c.name;
  t.command = c.command;
  return t;
}

}  // namespace duende::adapters::internal
