// Helpers shared by the fuzz targets: invariants that turn a wrong answer into a crash, so
// libFuzzer reports it like a sanitizer finding and the replay test fails on it.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "duende/framework/result.h"

namespace duende::fuzz {

/// The fuzzer's bytes as text (the parsers take arbitrary bytes, NULs included).
inline std::string_view AsText(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

/// Aborts with `what` when `ok` is false.
inline void Check(bool ok, const char* what, const std::string& detail = {}) {
  if (ok) return;
  std::fprintf(stderr, "FUZZ_CHECK failed: %s\n%s\n", what, detail.c_str());
  std::abort();
}

/// A rejected input names its place: every error of a file parser starts with "NAME:" (the
/// "file:line:col: message" form of every bad input), never an empty or placeless message.
inline void CheckErrorNamesFile(const framework::Error& error, const std::string& name) {
  Check(error.context.rfind(name + ":", 0) == 0, "the error does not start with the file name",
        error.context);
}

}  // namespace duende::fuzz
