#include "duende/mutate/mutate_config.h"

#include <filesystem>
#include <memory>

#include "duende/framework/toml_reader.h"

namespace duende::mutate {

namespace fs = std::filesystem;

framework::Result<void> LoadMutateConfig(const std::string& path, MutateConfig* config) {
  auto root = framework::ParseTomlFile(path);
  if (!root.ok()) return root.error();
  auto diags = std::make_shared<framework::Diagnostics>();
  auto file = framework::TomlReader::ForFile(*root, path, diags);
  auto t = file.Table("mutate", /*required=*/true);
  if (!t) return diags->ToError();
  fs::path dir = fs::absolute(path).parent_path();
  auto resolve = [&](const std::string& p) {
    return fs::path(p).is_absolute() ? p : (dir / p).lexically_normal().string();
  };
  MutateOptions& o = config->options;
  if (auto v = t->String("compile_db", /*required=*/o.compile_db.empty()))
    o.compile_db = resolve(*v);
  if (auto v = t->String("source_dir")) o.source_dir = resolve(*v);
  if (auto v = t->StringArray("files")) o.files = *v;
  if (auto v = t->StringArray("test_command")) o.test_command = *v;
  if (auto v = t->StringArray("ctest_args")) o.ctest_args = *v;
  if (auto v = t->StringArray("build_targets")) o.build_targets = *v;
  if (auto v = t->StringArray("cmake_args")) o.cmake_args = *v;
  if (auto v = t->StringArray("operators")) {
    auto ops = ParseOperators(*v);
    if (ops.ok()) {
      o.operators = *ops;
    } else {
      t->Fail("operators", ops.error().context);
    }
  }
  if (auto v = t->Enum("mode", {"schemata", "rebuild"})) {
    o.mode = *v == "rebuild" ? MutateOptions::Mode::kRebuild : MutateOptions::Mode::kSchemata;
  }
  if (auto v = t->Int("jobs", 1, 256)) o.jobs = static_cast<int>(*v);
  if (auto v = t->Duration("time_budget")) o.time_budget = *v;
  if (auto v = t->Double("timeout_factor", 1.0, 100.0)) o.timeout_factor = *v;
  if (auto v = t->Duration("timeout_margin")) o.timeout_margin = *v;
  if (auto v = t->String("work_dir")) o.work_dir = resolve(*v);
  if (auto v = t->Double("min_score", 0.0, 100.0)) config->gate.min_score = *v;
  if (auto v = t->Int("max_survivors", 0, 1000000)) {
    config->gate.max_survivors = static_cast<uint32_t>(*v);
  }
  if (auto v = t->String("json_report")) config->reports.json = resolve(*v);
  if (auto v = t->String("html_report")) config->reports.html = resolve(*v);
  if (auto v = t->String("junit_report")) config->reports.junit = resolve(*v);
  for (auto& ig : t->TableArray("ignore")) {
    IgnoreEntry e;
    auto f = ig.String("file", true);
    auto l = ig.Int("line", 1, 10000000, true);
    auto c = ig.Int("column", 1, 10000000);
    auto r = ig.String("reason", true);
    if (f && l && r) {
      e.file = *f;
      e.line = static_cast<uint32_t>(*l);
      e.column = c ? static_cast<uint32_t>(*c) : 0;
      e.reason = *r;
      o.ignore.push_back(e);
    }
    ig.Finish();
  }
  t->Finish();
  if (!diags->empty()) return diags->ToError();
  return {};
}

}  // namespace duende::mutate
