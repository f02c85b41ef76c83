#include "duende/model/shard.h"

#include <charconv>
#include <cstdio>
#include <filesystem>

namespace duende::model {

std::string ShardName(const Shard& shard) {
  return std::to_string(shard.index) + "/" + std::to_string(shard.count);
}

namespace {

bool ParseNumber(std::string_view text, uint32_t* out) {
  if (text.empty() || text.size() > 9) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

framework::Result<Shard> ParseShard(std::string_view text) {
  const std::string quoted = "\"" + std::string(text) + "\"";
  const std::string fix = "give K/N with 1 <= K <= N <= " + std::to_string(kMaxShards) +
                          ", e.g. 2/4 for the second of four shards";
  const size_t slash = text.find('/');
  Shard s;
  if (slash == std::string_view::npos || !ParseNumber(text.substr(0, slash), &s.index) ||
      !ParseNumber(text.substr(slash + 1), &s.count)) {
    return framework::MessageError(quoted + " is not a shard: " + fix);
  }
  if (s.count == 0 || s.count > kMaxShards) {
    return framework::MessageError(quoted + " is not a shard: N must be 1 to " +
                                   std::to_string(kMaxShards) + "; " + fix);
  }
  if (s.index == 0 || s.index > s.count) {
    return framework::MessageError(quoted + " is not a shard: K must be 1 to N (" +
                                   std::to_string(s.count) + "); " + fix);
  }
  return s;
}

uint64_t StableHash(std::string_view bytes) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

uint32_t ShardOfScenario(std::string_view name, uint32_t count) {
  if (count == 0) return 1;
  return static_cast<uint32_t>(StableHash(name) % count) + 1;
}

PlanRange ShardPlanRange(const Shard& shard, uint64_t total) {
  // total * k / N without overflowing total * k: total = q*N + r, so it is q*k + r*k/N.
  auto bound = [&](uint32_t k) {
    const uint64_t q = total / shard.count, r = total % shard.count;
    return q * k + r * k / shard.count;
  };
  if (shard.count == 0 || shard.index == 0 || shard.index > shard.count) return {0, 0};
  return {bound(shard.index - 1), bound(shard.index)};
}

std::string NormalizedScenarioPath(const std::string& path) {
  std::string n = std::filesystem::path(path).lexically_normal().generic_string();
  return n.empty() ? path : n;
}

std::string ContentDigest(std::string_view text) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "fnv1a64:%016llx",
                static_cast<unsigned long long>(StableHash(text)));
  return buf;
}

}  // namespace duende::model
