// Fuzz target: the services file parser (`duende supervise services.toml`): a [supervisor]
// table and [[service]] tables, each read as a daemon config.
#include "duende/framework/supervisor.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace duende;
  const std::string name = "etc/services.toml";
  auto services = framework::ParseServicesFile(fuzz::AsText(data, size), name);
  if (!services.ok()) {
    fuzz::CheckErrorNamesFile(services.error(), name);
    return 0;
  }
  fuzz::Check(!services->services.empty(), "a services file without services was accepted");
  return 0;
}
