#include "duende/harness/scenario.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "duende/framework/clock.h"
#include "duende/framework/process.h"
#include "duende/harness/check_kinds.h"
#include "duende/harness/fault_kinds.h"
#include "duende/harness/load_protocol.h"
#include "scenario_read.h"

namespace duende::harness {
namespace {

// The checks that read a mixed workload's history (checks_models.cc).
bool IsModelCheck(const std::string& kind) {
  return kind == "counter" || kind == "set" || kind == "register" || kind == "kv" ||
         kind == "queue" || kind == "linearizable";
}

using framework::Diagnostics;
using framework::SourcePos;
using framework::TomlReader;
using internal::CheckName;
using internal::CheckProbeVariables;
using internal::CheckRegex;
using internal::CheckRunVariables;
using internal::DeclaredFiles;
using internal::ReadLoad;
using internal::ReadProbe;
using internal::ReadTarget;

const char* const kFaultCommonKeys[] = {"name",     "kind",   "target", "at",
                                        "duration", "repeat", "every",  "node"};

FaultSpec ReadFault(TomlReader& r, const std::shared_ptr<const toml::table>& doc,
                    const FaultKindTable& kinds) {
  FaultSpec f;
  f.pos = r.pos();
  f.file = r.file();
  f.table = std::shared_ptr<const toml::table>(doc, &r.table());
  f.name = r.String("name").value_or("");
  CheckName(r, "name", f.name);
  if (kinds.kinds.empty()) {
    f.kind = r.String("kind", true).value_or("");
  } else {
    f.kind = r.Enum("kind", kinds.kinds, true).value_or("");
  }
  f.target = r.String("target").value_or("");
  f.node = r.String("node").value_or("");
  f.at = r.Duration("at", true).value_or(nanoseconds{0});
  f.duration = r.Duration("duration");
  f.repeat = static_cast<uint32_t>(r.Int("repeat", 1, 10000).value_or(1));
  f.every = r.Duration("every").value_or(nanoseconds{0});
  if (f.repeat > 1 && f.every.count() == 0) {
    r.Fail("repeat", "repeat = " + std::to_string(f.repeat) + " in " + r.where() +
                         " needs every = \"1s\" (the interval between injections)");
  }
  if (f.repeat > 1 && f.duration && *f.duration >= f.every) {
    r.Fail("duration", "'duration' in " + r.where() +
                           " must be shorter than 'every' (each injection heals before the next)");
  }
  r.Accept("select");  // [fault.select]: ReadFaultSelect, once the targets are known
  if (kinds.validate != nullptr && !f.kind.empty()) {
    kinds.validate(f.kind, r);
  } else {
    // Without a catalogue the injector checks its own parameters when the run starts.
    for (const auto& [k, v] : r.table()) r.Accept(k.str());
  }
  r.Finish();
  return f;
}

CheckSpec ReadCheck(TomlReader& r) {
  CheckSpec c;
  c.pos = r.pos();
  c.name = r.String("name").value_or("");
  std::vector<std::string> kinds;
  for (const auto& k : CheckKinds()) kinds.emplace_back(k.name);
  c.kind = r.Enum("kind", kinds, true).value_or("");
  c.target = r.String("target").value_or("");
  const CheckKind* kind = FindCheckKind(c.kind);
  if (kind == nullptr) {
    for (const auto& [k, v] : r.table()) r.Accept(k.str());
    r.Finish();
    return c;
  }
  for (const CheckParam& param : kind->params) param.read(r, param, c);
  if (!c.pattern.empty()) CheckRegex(r, "pattern", c.pattern);
  r.Finish();
  return c;
}

Scenario Build(toml::table root_in, const std::string& file,
               const std::vector<std::string>& overrides, const FaultKindTable& kinds,
               std::shared_ptr<Diagnostics> diags) {
  auto doc = std::make_shared<toml::table>(std::move(root_in));
  Scenario s;
  s.file = file;
  s.overrides = overrides;
  s.document = doc;
  TomlReader root = TomlReader::ForFile(*doc, file, diags);
  if (auto sc = root.Table("scenario", true)) {
    s.meta.name = sc->String("name", true).value_or("");
    CheckName(*sc, "name", s.meta.name);
    s.meta.description = sc->String("description").value_or("");
    s.meta.duration = sc->Duration("duration").value_or(std::chrono::seconds(5));
    if (auto seed = sc->Int("seed", 0, INT64_MAX)) s.meta.seed = static_cast<uint64_t>(*seed);
    sc->Finish();
  }
  auto targets = root.TableArray("target", true);
  if (targets.empty() && !root.Has("target")) {
    // Reported by TableArray already.
  }
  const std::vector<std::string> files = DeclaredFiles(*doc);
  std::set<std::string> names;
  std::set<std::string> file_names;
  std::set<std::string> file_paths;
  for (auto& t : targets) {
    s.targets.push_back(ReadTarget(t, files));
    for (const auto& f : s.targets.back().files) {
      if (!f.name.empty() && !file_names.insert(f.name).second) {
        t.Fail("file", "file name \"" + f.name +
                           "\" is used twice; [[target.file]] names are unique in a scenario");
      }
      if (!f.path.empty() && !file_paths.insert(f.path).second) {
        t.Fail("file",
               "two [[target.file]] tables write \"" + f.path + "\"; give each its own 'path'");
      }
    }
    const std::string& n = s.targets.back().name;
    if (!n.empty() && !names.insert(n).second) {
      t.Fail("name", "target name \"" + n + "\" is used twice; target names must be unique");
    }
  }
  internal::ReadNodes(root, targets, s);
  auto has_target = [&](const std::string& n) { return names.count(n) != 0; };
  if (auto l = root.Table("load")) {
    s.load = ReadLoad(*l);
    internal::CheckLoadNodes(*l, s);
    CheckRunVariables(*l, "address", s.load->address, files);
    if (s.load->target.empty() && !s.targets.empty()) s.load->target = s.targets[0].name;
    if (!s.load->target.empty() && !has_target(s.load->target)) {
      l->Fail("target",
              "[load] names target \"" + s.load->target + "\", which is not defined" +
                  (framework::DidYouMean(s.load->target, {names.begin(), names.end()}).empty()
                       ? ""
                       : "; did you mean \"" +
                             framework::DidYouMean(s.load->target, {names.begin(), names.end()}) +
                             "\"?"));
    }
  }
  std::map<std::string, int> kind_count;
  std::set<std::string> fault_names;
  for (auto& f : root.TableArray("fault")) {
    FaultSpec spec = ReadFault(f, doc, kinds);
    if (f.Has("select")) internal::ReadFaultSelect(f, files, s, spec);
    const std::vector<std::string> node_targets = internal::ResolveFaultNode(f, spec, s);
    if (spec.target.empty() && !s.targets.empty()) spec.target = s.targets[0].name;
    if (!spec.target.empty() && !has_target(spec.target)) {
      std::string hint = framework::DidYouMean(spec.target, {names.begin(), names.end()});
      f.Fail("target", "'target' in " + f.where() + " is \"" + spec.target +
                           "\", which is not a [[target]]" +
                           (hint.empty() ? "" : "; did you mean \"" + hint + "\"?"));
    }
    if (const TargetSpec* on = s.FindTarget(spec.target); on != nullptr && !spec.kind.empty()) {
      if (std::string why = PlatformRefusesFault(spec.kind, f.table(), on->platform);
          !why.empty()) {
        f.Fail("kind",
               "fault kind \"" + spec.kind + "\" cannot act on target " + on->name + ": " + why);
      }
    }
    if (spec.name.empty()) spec.name = spec.kind;
    if (!fault_names.insert(spec.name).second) {
      if (f.Has("name")) {
        f.Fail("name", "fault name \"" + spec.name + "\" is used twice");
      } else {
        spec.name += "-" + std::to_string(++kind_count[spec.kind] + 1);
        fault_names.insert(spec.name);
      }
    }
    // In double: `every` times `repeat` (up to 365 days times 10000) would overflow int64 ns.
    const double last_ns =
        static_cast<double>(spec.at.count()) +
        static_cast<double>(spec.every.count()) * (std::max<uint32_t>(1, spec.repeat) - 1) +
        static_cast<double>(spec.duration.value_or(nanoseconds{0}).count());
    if (last_ns > static_cast<double>(s.meta.duration.count())) {
      const nanoseconds last(static_cast<int64_t>(std::min(last_ns, 9e18)));
      f.Fail(f.Has("duration") ? "duration" : "at",
             f.where() + " ends at " + framework::FormatDuration(last) +
                 ", after the scenario's duration (" + framework::FormatDuration(s.meta.duration) +
                 "); make [scenario] duration longer or the fault earlier");
    }
    for (const auto& t : node_targets) {
      FaultSpec more = spec;
      more.target = t;
      more.name = spec.name + "@" + t;
      fault_names.insert(more.name);
      s.faults.push_back(std::move(more));
    }
    s.faults.push_back(std::move(spec));
  }
  std::set<std::string> check_names;
  std::map<std::string, int> check_count;
  for (auto& c : root.TableArray("check")) {
    CheckSpec spec = ReadCheck(c);
    CheckRunVariables(c, "command", spec.command, files);
    if (!spec.target.empty() && !has_target(spec.target)) {
      c.Fail("target",
             "'target' in " + c.where() + " is \"" + spec.target + "\", which is not a [[target]]");
    }
    if (spec.name.empty()) spec.name = spec.kind;
    if (!check_names.insert(spec.name).second) {
      if (c.Has("name")) {
        c.Fail("name", "check name \"" + spec.name + "\" is used twice");
      } else {
        spec.name += "-" + std::to_string(++check_count[spec.kind] + 1);
        check_names.insert(spec.name);
      }
    }
    if (spec.kind == "no_lost_writes" && (!s.load || s.load->readback_request.empty())) {
      c.Fail("kind",
             "check no_lost_writes needs [load.readback] (request and expect) to read the "
             "acknowledged writes back");
    }
    if (IsModelCheck(spec.kind) && (!s.load || s.load->ops.empty())) {
      c.Fail("kind", "check " + spec.kind +
                         " judges the history of a mixed workload: give [load] a [[load.op]] "
                         "for each kind of operation (scenarios/README.md, \"Model checks\")");
    }
    s.checks.push_back(std::move(spec));
  }
  if (auto ss = root.Table("steady_state")) {
    s.steady_state.recover_timeout =
        ss->Duration("recover_timeout").value_or(std::chrono::seconds(5));
    size_t i = 0;
    for (auto& p : ss->TableArray("probe")) {
      s.steady_state.probes.push_back(ReadProbe(p, ++i));
      CheckProbeVariables(p, s.steady_state.probes.back(), files);
    }
    ss->Finish();
  }
  if (root.Has("explore")) {
    root.Accept("explore");
    root.Fail("explore",
              "an [explore] table makes this an exploration scenario: run it with 'duende "
              "explore FILE' ('duende validate' checks both kinds), or remove the table");
  }
  root.Finish();
  return s;
}

framework::Result<Scenario> Finish(framework::Result<toml::table> parsed, const std::string& file,
                                   const std::vector<std::string>& overrides,
                                   const FaultKindTable& kinds) {
  if (!parsed.ok()) return parsed.error();
  for (const auto& o : overrides) DUENDE_TRY(ApplyOverride(parsed.value(), o));
  auto diags = std::make_shared<Diagnostics>();
  Scenario s = Build(std::move(parsed).value(), file, overrides, kinds, diags);
  if (!diags->empty()) return diags->ToError();
  diags->PrintWarnings();
  return s;
}

}  // namespace

const FileSpec* FindFile(const Scenario& scenario, const std::string& name) {
  for (const auto& t : scenario.targets) {
    for (const auto& f : t.files) {
      if (f.name == name) return &f;
    }
  }
  return nullptr;
}

const TargetSpec* Scenario::FindTarget(const std::string& name) const {
  for (const auto& t : targets) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

framework::Result<Scenario> LoadScenario(const std::string& path,
                                         const std::vector<std::string>& overrides,
                                         const FaultKindTable& fault_kinds) {
  return Finish(framework::ParseTomlFile(path), path, overrides, fault_kinds);
}

framework::Result<Scenario> ParseScenario(std::string_view text, const std::string& name,
                                          const std::vector<std::string>& overrides,
                                          const FaultKindTable& fault_kinds) {
  return Finish(framework::ParseTomlString(text, name), name, overrides, fault_kinds);
}

std::vector<nanoseconds> InjectionTimes(const FaultSpec& fault) {
  std::vector<nanoseconds> out;
  for (uint32_t i = 0; i < std::max<uint32_t>(1, fault.repeat); ++i) {
    out.push_back(fault.at + fault.every * i);
  }
  return out;
}

nanoseconds TimelineEnd(const Scenario& scenario) {
  nanoseconds end{0};
  for (const auto& f : scenario.faults) {
    end = std::max(end, InjectionTimes(f).back() + f.duration.value_or(nanoseconds{0}));
  }
  return end;
}

}  // namespace duende::harness
