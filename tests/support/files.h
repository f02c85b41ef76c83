// Reading whole files in tests.
#pragma once

#include <fstream>
#include <iterator>
#include <string>

namespace duende::testing {

/// The whole content of `path`; "" when it cannot be read.
inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace duende::testing
