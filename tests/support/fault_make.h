// Creating faults from TOML text in tests.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "duende/faults/fault.h"
#include "duende/framework/toml_reader.h"

namespace duende::faults::testing {

/// Creates a fault of `kind` from TOML text; the error message when it fails.
inline framework::Result<std::unique_ptr<Fault>> MakeFault(const std::string& kind,
                                                           const std::string& toml, FaultEnv& env) {
  auto table = framework::ParseTomlString(toml, "test.toml");
  if (!table.ok()) return table.error();
  auto diags = std::make_shared<framework::Diagnostics>();
  framework::TomlReader r(*table, "test.toml", "[[fault]]", diags);
  return CreateFault(kind, r, env);
}

/// The number after `prefix` in the first evidence line that has it (-1 when none).
inline long EvidenceNumber(const FaultRecord& rec, const std::string& prefix) {
  for (const auto& e : rec.evidence) {
    auto p = e.find(prefix);
    if (p != std::string::npos) return std::stol(e.substr(p + prefix.size()));
  }
  return -1;
}

inline std::string Joined(const FaultRecord& rec) {
  std::string out;
  for (const auto& e : rec.evidence) out += e + "\n";
  return out;
}

}  // namespace duende::faults::testing
