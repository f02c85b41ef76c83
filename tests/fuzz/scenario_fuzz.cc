// Fuzz target: the scenario parser (`duende run|validate FILE`), with the real fault kinds and
// their parameter validators, then the timeline arithmetic the runner does on what it accepts.
#include "duende/harness/fault_kinds.h"
#include "duende/harness/scenario.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace duende;
  const std::string name = "fuzz.toml";
  auto scenario =
      harness::ParseScenario(fuzz::AsText(data, size), name, {}, harness::DefaultFaultKinds());
  if (!scenario.ok()) {
    fuzz::CheckErrorNamesFile(scenario.error(), name);
    return 0;
  }
  // An accepted scenario's faults all end within its duration (the parser promises it).
  const harness::nanoseconds end = harness::TimelineEnd(scenario.value());
  fuzz::Check(end <= scenario->meta.duration, "a fault ends after the scenario's duration");
  return 0;
}
