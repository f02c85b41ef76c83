// Fuzz target: the gates parser (`duende gate`, gates.toml).
#include "duende/harness/gate.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace duende;
  const std::string name = "gates.toml";
  auto gates = harness::ParseGateConfig(fuzz::AsText(data, size), name, ".");
  if (!gates.ok()) fuzz::CheckErrorNamesFile(gates.error(), name);
  return 0;
}
