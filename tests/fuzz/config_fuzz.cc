// Fuzz target: the daemon config parser (`duende-fixture-kvd --config FILE`, every daemon built
// on duende::framework). What it accepts must survive FormatDaemonConfig and parse back equal.
#include "duende/framework/config.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace duende;
  const std::string name = "fuzz.toml";
  auto config = framework::ParseDaemonConfig(fuzz::AsText(data, size), name);
  if (!config.ok()) {
    fuzz::CheckErrorNamesFile(config.error(), name);
    return 0;
  }
  const std::string text = framework::FormatDaemonConfig(*config);
  auto again = framework::ParseDaemonConfig(text, name);
  fuzz::Check(again.ok(), "FormatDaemonConfig wrote a config that does not parse",
              text + "\n" + (again.ok() ? "" : again.error().context));
  fuzz::Check(*again == *config, "FormatDaemonConfig does not read back equal", text);
  return 0;
}
