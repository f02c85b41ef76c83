// Fuzz target: a scenario with an [explore] table (`duende explore FILE`): the bounds, the
// table stripping and the scenario underneath.
#include "duende/harness/explore.h"
#include "duende/harness/fault_kinds.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace duende;
  const std::string name = "fuzz.toml";
  auto es =
      harness::ParseExploreScenario(fuzz::AsText(data, size), name, harness::DefaultFaultKinds());
  if (!es.ok()) fuzz::CheckErrorNamesFile(es.error(), name);
  return 0;
}
