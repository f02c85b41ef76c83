// Reading gates.toml (format: docs/gates.md) through TomlReader, so that every mistake is
// reported as "file:line:col: what is wrong; how to fix it", all of them at once.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "duende/framework/read_limits.h"
#include "duende/framework/toml_reader.h"
#include "duende/harness/gate.h"

namespace duende::harness {

using framework::Diagnostics;
using framework::MessageError;
using framework::Result;
using framework::TomlReader;

namespace {

// A step runs at most this long unless gates.toml says otherwise ([defaults] timeout).
constexpr std::chrono::minutes kDefaultTimeout{30};

const std::vector<std::string> kKindNames = {"command", "scenario", "explore", "coverage",
                                             "mutation"};

// Replaces ${name} with vars[name]; reports an undefined name at `key`.
class Expander {
 public:
  explicit Expander(const std::map<std::string, std::string>& vars) : vars_(vars) {}

  std::string Expand(TomlReader& r, std::string_view key, const std::string& text) const {
    std::string out;
    for (size_t i = 0; i < text.size();) {
      if (text.compare(i, 2, "${") == 0) {
        size_t end = text.find('}', i + 2);
        if (end == std::string::npos) {
          r.Fail(key, "unterminated ${ in '" + std::string(key) + "' of " + r.where() +
                          "; write ${name} (names come from [vars])");
          return text;
        }
        std::string name = text.substr(i + 2, end - i - 2);
        auto it = vars_.find(name);
        if (it == vars_.end()) {
          std::vector<std::string> names;
          for (const auto& [n, v] : vars_) names.push_back(n);
          std::string hint = framework::DidYouMean(name, names);
          r.Fail(key, "undefined variable ${" + name + "} in '" + std::string(key) + "' of " +
                          r.where() + "; define it in [vars] or pass --set " + name + "=VALUE" +
                          (hint.empty() ? "" : " (did you mean ${" + hint + "}?)"));
          return text;
        }
        out += it->second;
        i = end + 1;
      } else {
        out += text[i++];
      }
    }
    return out;
  }

  std::optional<std::string> String(TomlReader& r, std::string_view key, bool required) const {
    auto v = r.String(key, required);
    if (!v) return v;
    return Expand(r, key, *v);
  }

  std::vector<std::string> Strings(TomlReader& r, std::string_view key, bool required) const {
    auto v = r.StringArray(key, required);
    if (!v) return {};
    for (auto& s : *v) s = Expand(r, key, s);
    return *v;
  }

 private:
  const std::map<std::string, std::string>& vars_;
};

std::optional<GateStepKind> KindFromName(const std::string& name) {
  for (size_t i = 0; i < kKindNames.size(); ++i) {
    if (kKindNames[i] == name) return static_cast<GateStepKind>(i);
  }
  return std::nullopt;
}

void ReadThresholds(TomlReader& r, GateStep& step) {
  auto tables = r.TableArray("threshold", true);
  if (tables.empty() && r.Has("threshold")) {
    r.Fail("threshold", "'threshold' of " + r.where() +
                            " needs at least one entry such as "
                            "{ path = \"framework/\", lines = 80 }");
  }
  for (TomlReader& t : tables) {
    CoverageThreshold th;
    th.pos = t.pos();
    th.path = t.String("path").value_or("");
    auto lines = t.Double("lines", 0, 100, true);
    th.min_lines = lines.value_or(0);
    th.min_branches = t.Double("branches", 0, 100);
    t.Finish();
    step.thresholds.push_back(std::move(th));
  }
}

std::optional<GateStep> ReadStep(TomlReader& r, const Expander& x,
                                 std::chrono::nanoseconds default_timeout) {
  GateStep step;
  step.pos = r.pos();
  step.name = r.String("name", true).value_or("");
  auto kind_name = r.Enum("kind", kKindNames, true);
  step.timeout = r.Duration("timeout").value_or(default_timeout);
  if (step.timeout.count() == 0) {
    r.Fail("timeout", "'timeout' of " + r.where() + " must be longer than 0s");
  }
  step.cwd = x.String(r, "cwd", false).value_or("");
  if (auto env = r.StringMap("env")) {
    for (auto& [k, v] : *env) step.env.push_back(k + "=" + x.Expand(r, "env", v));
  }
  if (!kind_name) {
    // The kind is missing or wrong (already reported): do not also report its keys as unknown.
    for (const auto& [key, node] : r.table()) r.Accept(key.str());
    r.Finish();
    return std::nullopt;
  }
  step.kind = *KindFromName(*kind_name);
  switch (step.kind) {
    case GateStepKind::kCommand:
      step.argv = x.Strings(r, "run", true);
      if (r.Has("run") && step.argv.empty()) {
        r.Fail("run", "'run' of " + r.where() + " must name a program: run = [\"make\", \"test\"]");
      }
      break;
    case GateStepKind::kScenario:
      step.path = x.String(r, "path", true).value_or("");
      step.argv = x.Strings(r, "args", false);
      break;
    case GateStepKind::kExplore:
      step.path = x.String(r, "path", true).value_or("");
      step.budget = x.String(r, "budget", true).value_or("");
      step.argv = x.Strings(r, "args", false);
      break;
    case GateStepKind::kCoverage:
      step.build_dir = x.String(r, "build_dir", true).value_or("");
      step.root = x.String(r, "root", false).value_or(".");
      step.argv = x.Strings(r, "gcovr_args", false);
      ReadThresholds(r, step);
      break;
    case GateStepKind::kMutation:
      step.path = x.String(r, "path", false).value_or("");
      step.min_score = r.Double("min_score", 0, 1, true).value_or(0);
      step.argv = x.Strings(r, "args", false);
      break;
  }
  r.Finish();
  return step;
}

}  // namespace

const char* GateStepKindName(GateStepKind kind) {
  return kKindNames[static_cast<size_t>(kind)].c_str();
}

const GateTier* GateConfig::FindTier(int number) const {
  for (const auto& t : tiers) {
    if (t.number == number) return &t;
  }
  return nullptr;
}

Result<GateConfig> ParseGateConfig(std::string_view text, const std::string& name,
                                   const std::string& base_dir,
                                   const std::vector<std::string>& overrides) {
  auto root = framework::ParseTomlString(text, name);
  if (!root) return root.error();
  auto diags = std::make_shared<Diagnostics>();
  TomlReader top = TomlReader::ForFile(*root, name, diags);
  GateConfig config;
  config.file = name;
  config.base_dir = base_dir;

  if (auto vars = top.StringMap("vars")) {
    for (auto& [k, v] : *vars) config.vars[k] = v;
  }
  for (const std::string& o : overrides) {
    size_t eq = o.find('=');
    if (eq == 0 || eq == std::string::npos) {
      return MessageError("--set '" + o + "': write name=value, e.g. --set build=build/ci");
    }
    config.vars[o.substr(0, eq)] = o.substr(eq + 1);
  }
  Expander x(config.vars);

  std::chrono::nanoseconds default_timeout = kDefaultTimeout;
  if (auto defaults = top.Table("defaults")) {
    default_timeout = defaults->Duration("timeout").value_or(default_timeout);
    defaults->Finish();
  }

  // [mutate] configures `duende mutate --config gates.toml`; it is not ours to check.
  top.Accept("mutate");

  std::set<int64_t> numbers;
  for (TomlReader& t : top.TableArray("tier", true)) {
    GateTier tier;
    tier.pos = t.pos();
    auto number = t.Int("number", 1, 9, true);
    if (number && !numbers.insert(*number).second) {
      t.Fail("number", "tier " + std::to_string(*number) + " is defined twice; give each " +
                           "[[tier]] its own number");
    }
    tier.number = static_cast<int>(number.value_or(0));
    tier.name = t.String("name").value_or("");
    tier.description = t.String("description").value_or("");
    std::set<std::string> step_names;
    for (TomlReader& s : t.TableArray("step", true)) {
      auto step = ReadStep(s, x, default_timeout);
      if (!step) continue;
      if (!step->name.empty() && !step_names.insert(step->name).second) {
        s.Fail("name", "step '" + step->name + "' appears twice in tier " +
                           std::to_string(tier.number) + "; step names must be unique in a tier");
      }
      tier.steps.push_back(std::move(*step));
    }
    t.Finish();
    config.tiers.push_back(std::move(tier));
  }
  top.Finish();
  if (!diags->empty()) return diags->ToError();
  std::sort(config.tiers.begin(), config.tiers.end(),
            [](const GateTier& a, const GateTier& b) { return a.number < b.number; });
  return config;
}

Result<GateConfig> LoadGateConfig(const std::string& path,
                                  const std::vector<std::string>& overrides) {
  auto text = framework::ReadFileLimited(path, framework::kMaxInputFileBytes);
  if (!text.ok()) return text.error();
  std::string base = std::filesystem::path(path).parent_path().string();
  return ParseGateConfig(*text, path, base.empty() ? "." : base, overrides);
}

}  // namespace duende::harness
