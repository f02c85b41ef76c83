// Golden-file comparison with placeholders, after google/benchmark's output tests: a golden
// line may hold %float, %int, %time (ISO 8601 UTC), %host and %any; everything else must match
// exactly. Lines are compared one by one so that a failure names the first differing line.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "support/files.h"

namespace duende::testing {

inline std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line)) lines.push_back(line);
  return lines;
}

/// The regex for one golden line.
inline std::string GoldenLineRegex(const std::string& line) {
  static const std::vector<std::pair<std::string, std::string>> kHoles = {
      {"%float", R"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"},
      {"%int", R"([-+]?[0-9]+)"},
      {"%time", R"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z)"},
      {"%host", R"([A-Za-z0-9._-]+)"},
      {"%any", R"(.*)"},
  };
  std::string out;
  for (size_t i = 0; i < line.size();) {
    bool hole = false;
    for (const auto& [name, re] : kHoles) {
      if (line.compare(i, name.size(), name) == 0) {
        out += re;
        i += name.size();
        hole = true;
        break;
      }
    }
    if (hole) continue;
    char c = line[i++];
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

/// Compares `actual` with the golden file tests/reporters/golden/<name>.
inline ::testing::AssertionResult MatchesGolden(const std::string& actual,
                                                const std::string& name) {
  std::string path = std::string(DUENDE_SOURCE_DIR) + "/tests/reporters/golden/" + name;
  std::ifstream in(path);
  if (!in) return ::testing::AssertionFailure() << "missing golden file " << path;
  std::vector<std::string> want = SplitLines(ReadFile(path));
  std::vector<std::string> got = SplitLines(actual);
  for (size_t i = 0; i < std::max(want.size(), got.size()); ++i) {
    if (i >= want.size()) {
      return ::testing::AssertionFailure()
             << path << ": output has extra line " << i + 1 << ": " << got[i];
    }
    if (i >= got.size()) {
      return ::testing::AssertionFailure()
             << path << ":" << i + 1 << ": output ends before: " << want[i];
    }
    if (!std::regex_match(got[i], std::regex(GoldenLineRegex(want[i])))) {
      return ::testing::AssertionFailure()
             << path << ":" << i + 1 << ": mismatch\n  want: " << want[i] << "\n  got:  " << got[i];
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace duende::testing
