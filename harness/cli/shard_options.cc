#include "shard_options.h"

#include "cli_util.h"
#include "duende/framework/read_limits.h"

namespace duende::cli {

CLI::Option* AddShardOption(CLI::App& app, std::string* text, const std::string& what) {
  return app
      .add_option("--shard", *text,
                  "run only shard K of N (1 <= K <= N): " + what +
                      "; merge the shards' JSON reports with 'duende report merge' "
                      "(docs/sharding.md)")
      ->type_name("K/N");
}

bool ParseShardFlag(const std::string& text, model::Shard* out) {
  auto shard = model::ParseShard(text);
  if (!shard.ok()) {
    PrintError("--shard " + shard.error().context);
    return false;
  }
  *out = shard.value();
  return true;
}

framework::Result<model::Suite> SuiteOf(const std::vector<harness::Scenario>& scenarios,
                                        const std::vector<std::string>& overrides) {
  model::Suite suite;
  suite.overrides = overrides;
  for (const harness::Scenario& s : scenarios) {
    auto text = framework::ReadFileLimited(s.file, framework::kMaxInputFileBytes);
    if (!text.ok()) return text.error();
    suite.scenarios.push_back(
        {model::NormalizedScenarioPath(s.file), s.meta.name, model::ContentDigest(text.value())});
  }
  return suite;
}

}  // namespace duende::cli
