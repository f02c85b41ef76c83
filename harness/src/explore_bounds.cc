// [explore] bounds of a scenario file, and fault plans written back as scenario files.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "duende/framework/clock.h"
#include "duende/framework/read_limits.h"
#include "duende/framework/toml_reader.h"
#include "duende/harness/explore.h"

namespace duende::harness {
namespace {

using framework::Diagnostics;
using framework::TomlReader;

constexpr uint32_t kMaxFaultsLimit = 8;

std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string Ms(int64_t ms) { return std::to_string(ms) + "ms"; }

// A scalar TOML value as the literal that reproduces it; nullopt for arrays/tables/dates.
std::optional<std::string> Literal(const toml::node& node) {
  if (auto s = node.as_string()) return Quote(s->get());
  if (auto i = node.as_integer()) return std::to_string(i->get());
  if (auto b = node.as_boolean()) return std::string(b->get() ? "true" : "false");
  if (auto f = node.as_floating_point()) {
    std::ostringstream os;
    os << f->get();
    std::string text = os.str();
    if (text.find_first_of(".eE") == std::string::npos) text += ".0";
    return text;
  }
  return std::nullopt;
}

// An inline table of literals and lists of literals ([fault.select] of an [[explore.fault]]):
// `{ kind = "http", path = "/metrics" }`; nullopt for anything deeper.
std::optional<std::string> InlineTable(const toml::table& table) {
  std::string out;
  for (const auto& [key, value] : table) {
    std::optional<std::string> text = Literal(value);
    if (const toml::array* list = value.as_array()) {
      text = "[";
      for (const auto& element : *list) {
        auto lit = Literal(element);
        if (!lit) return std::nullopt;
        *text += (text->size() == 1 ? "" : ", ") + *lit;
      }
      *text += "]";
    }
    if (!text) return std::nullopt;
    out += (out.empty() ? "{ " : ", ") + Quote(key.str()) + " = " + *text;
  }
  return out.empty() ? "{}" : out + " }";
}

const std::string kDurationRangeText =
    framework::DescribeDurationRange(std::chrono::nanoseconds(0), framework::kMaxDuration);

// Milliseconds of a duration given as "250ms"/"2s" or a number of seconds.
std::optional<int64_t> DurationMs(const toml::node& node) {
  std::chrono::nanoseconds d{};
  if (auto s = node.as_string()) {
    if (!framework::ParseDuration(s->get(), &d)) return std::nullopt;
  } else if (node.is_integer() || node.is_floating_point()) {
    // Seconds, checked as a double: 1e300, inf, nan and negative values are out of range.
    const double ns = node.is_integer() ? static_cast<double>(node.as_integer()->get()) * 1e9
                                        : node.as_floating_point()->get() * 1e9;
    if (!(ns >= 0 && ns <= static_cast<double>(framework::kMaxDuration.count()))) {
      return std::nullopt;
    }
    d = std::chrono::nanoseconds(static_cast<int64_t>(ns));
  } else {
    return std::nullopt;
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

// A range `{ min = ..., max = ... }`, `min <= max`, of integers or durations.
std::optional<ParamBound> ReadRange(TomlReader& r, const std::string& key, const toml::table& range,
                                    bool duration_only) {
  const toml::node* lo = range.get("min");
  const toml::node* hi = range.get("max");
  if (lo == nullptr || hi == nullptr || range.size() != 2) {
    r.Fail(key, "a range needs exactly `min` and `max`, e.g. { min = \"50ms\", max = \"1s\" }");
    return std::nullopt;
  }
  ParamBound b;
  b.name = key;
  if (!duration_only && lo->is_integer() && hi->is_integer()) {
    b.kind = ParamBound::Kind::kIntRange;
    b.min = lo->as_integer()->get();
    b.max = hi->as_integer()->get();
    // The generator draws from [min, max + 1): keep far from int64's ends (2^53 is also the
    // largest integer a double holds exactly).
    constexpr int64_t kLimit = int64_t{1} << 53;
    if (b.min < -kLimit || b.max > kLimit) {
      r.Fail(key, "an integer range must lie between " + std::to_string(-kLimit) + " and " +
                      std::to_string(kLimit));
      return std::nullopt;
    }
  } else {
    auto lo_ms = DurationMs(*lo);
    auto hi_ms = DurationMs(*hi);
    if (!lo_ms || !hi_ms || (duration_only && (!lo->is_string() || !hi->is_string()))) {
      r.Fail(key,
             std::string(duration_only ? "give durations, e.g. { min = \"50ms\", max = \"1s\" }"
                                       : "give integers { min = 1, max = 9 } or durations "
                                         "{ min = \"50ms\", max = \"1s\" }") +
                 " (durations " + kDurationRangeText + ")");
      return std::nullopt;
    }
    b.kind = ParamBound::Kind::kDurationRange;
    b.min = *lo_ms;
    b.max = *hi_ms;
  }
  if (b.min > b.max) {
    r.Fail(key, "min (" + std::to_string(b.min) + ") is above max (" + std::to_string(b.max) +
                    "): swap them");
    return std::nullopt;
  }
  return b;
}

std::optional<ParamBound> ReadParam(TomlReader& r, const std::string& key) {
  const toml::node* node = r.Raw(key);
  if (node == nullptr) return std::nullopt;
  ParamBound b;
  b.name = key;
  if (auto arr = node->as_array()) {
    b.kind = ParamBound::Kind::kChoice;
    for (const auto& el : *arr) {
      auto lit = Literal(el);
      if (!lit) {
        r.Fail(key, "the choices must be strings, numbers or booleans");
        return std::nullopt;
      }
      b.choices.push_back(*lit);
    }
    if (b.choices.empty()) {
      r.Fail(key, "an empty list of choices: give at least one value");
      return std::nullopt;
    }
    return b;
  }
  if (auto tbl = node->as_table()) return ReadRange(r, key, *tbl, false);
  auto lit = Literal(*node);
  if (!lit) {
    r.Fail(key, "give a value, a list of choices [..] or a range { min = .., max = .. }");
    return std::nullopt;
  }
  b.kind = ParamBound::Kind::kFixed;
  b.choices.push_back(*lit);
  return b;
}

// Table headers are recognised by hand, not with std::regex: libstdc++'s regex engine
// recurses once per character of `\s*` or `.*`, and a 30 kB line overflowed the stack.
bool IsSpace(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

std::string_view SkipSpace(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  return s;
}

// The line after its leading whitespace and '[' (or "[["), or nullopt when it is no header.
std::optional<std::string_view> AfterHeaderOpen(std::string_view line) {
  line = SkipSpace(line);
  if (line.empty() || line.front() != '[') return std::nullopt;
  line.remove_prefix(1);
  if (!line.empty() && line.front() == '[') line.remove_prefix(1);
  return line;
}

// The name of a whole-line table header "[name]" or "[[name]]" with an optional comment,
// as ^\s*\[\[?\s*([^\]\s]+)\s*\]\]?\s*(#.*)?$ matched it; nullopt for any other line.
std::optional<std::string> HeaderName(std::string_view line) {
  auto rest = AfterHeaderOpen(line);
  if (!rest) return std::nullopt;
  std::string_view s = SkipSpace(*rest);
  size_t n = 0;
  while (n < s.size() && s[n] != ']' && !IsSpace(s[n])) ++n;
  if (n == 0) return std::nullopt;
  const std::string_view name = s.substr(0, n);
  s = SkipSpace(s.substr(n));
  if (s.empty() || s.front() != ']') return std::nullopt;
  s.remove_prefix(1);
  if (!s.empty() && s.front() == ']') s.remove_prefix(1);
  s = SkipSpace(s);
  if (!s.empty() && s.front() != '#') return std::nullopt;
  return std::string(name);
}

// Blanks the lines of the [explore] and [[fault]] tables (line numbers stay, so the scenario
// parser's messages point into the real file). `had_explore` tells whether [explore] was there.
std::string StripTables(std::string_view text, bool* had_explore) {
  std::string out;
  bool skipping = false;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string line(text.substr(pos, nl == std::string_view::npos ? text.npos : nl - pos));
    if (auto header = HeaderName(line)) {
      std::string name = *header;
      std::string first = name.substr(0, name.find('.'));
      if (first.size() >= 2 && first.front() == '"') first = first.substr(1, first.size() - 2);
      skipping = first == "explore" || first == "fault";
      if (first == "explore") *had_explore = true;
    }
    if (!skipping) out += line;
    if (nl == std::string_view::npos) break;
    out += '\n';
    pos = nl + 1;
  }
  return out;
}

// A planned fault whose target its [fault.select] probe chooses when it fires.
bool HasSelect(const PlannedFault& f) {
  return std::any_of(f.params.begin(), f.params.end(),
                     [](const auto& p) { return p.first == "select"; });
}

std::vector<std::string> TargetNames(const toml::table& root) {
  std::vector<std::string> names;
  if (auto arr = root["target"].as_array()) {
    for (const auto& t : *arr) {
      if (auto tbl = t.as_table()) {
        if (auto n = (*tbl)["name"].value<std::string>()) names.push_back(*n);
      }
    }
  }
  return names;
}

}  // namespace

std::string DescribePlan(const Plan& plan) {
  if (plan.faults.empty()) return "(no faults)";
  std::string out;
  for (const auto& f : plan.faults) {
    if (!out.empty()) out += "; ";
    out += f.kind + "(";
    bool first = true;
    for (const auto& [k, v] : f.params) {
      out += (first ? "" : ", ") + k + "=" + v;
      first = false;
    }
    out += ") on " + (HasSelect(f) ? std::string("the target its select probe finds") : f.target) +
           " at " + Ms(f.at_ms);
    if (f.duration_ms) out += " for " + Ms(*f.duration_ms);
  }
  return out;
}

std::ostream& operator<<(std::ostream& os, const Plan& plan) { return os << DescribePlan(plan); }

void showValue(const Plan& plan, std::ostream& os) { os << DescribePlan(plan); }

ExploreBounds ReadExploreBounds(const toml::table& explore, const std::string& file,
                                const std::vector<std::string>& targets,
                                const FaultKindTable& fault_kinds,
                                std::shared_ptr<Diagnostics> diags) {
  ExploreBounds b;
  TomlReader r(explore, file, "[explore]", diags);
  if (auto n = r.Int("max_faults", 1, kMaxFaultsLimit)) b.max_faults = static_cast<uint32_t>(*n);
  if (r.Has("replays")) {
    // The old meaning (re-run a passing candidate; keep it if any run failed) is what made
    // minimal plans that fail once in three: rejected rather than silently reinterpreted.
    r.Raw("replays");
    r.Fail("replays",
           "'replays' is gone: a shrink candidate now counts as failing only when it fails in "
           "`min_fail_rate` (default 1.0, all) of `shrink_replays` runs (default 3); write "
           "shrink_replays = N instead (see docs/explore.md)");
  }
  if (auto n = r.Int("shrink_replays", 1, 20)) b.shrink_replays = static_cast<uint32_t>(*n);
  if (auto x = r.Double("min_fail_rate", 0.01, 1.0)) b.min_fail_rate = *x;
  if (auto n = r.Int("final_replays", 0, 100)) b.final_replays = static_cast<uint32_t>(*n);
  if (auto x = r.Double("min_reproduce_rate", 0.01, 1.0)) b.min_reproduce_rate = *x;
  if (auto w = r.StringArray("window")) {
    std::chrono::nanoseconds lo{}, hi{};
    if (w->size() != 2 || !framework::ParseDuration((*w)[0], &lo) ||
        !framework::ParseDuration((*w)[1], &hi) || lo > hi) {
      r.Fail("window",
             "give the span of injection times as [start, end], e.g. "
             "[\"100ms\", \"900ms\"] (offsets from the timeline start, " +
                 kDurationRangeText + ")");
    } else {
      b.window_start_ms = std::chrono::duration_cast<std::chrono::milliseconds>(lo).count();
      b.window_end_ms = std::chrono::duration_cast<std::chrono::milliseconds>(hi).count();
    }
  }
  if (auto st = r.Duration("step")) {
    b.step_ms = std::chrono::duration_cast<std::chrono::milliseconds>(*st).count();
    if (b.step_ms < 1) {
      r.Fail("step", "give a step of at least 1ms, e.g. \"50ms\"");
      b.step_ms = 1;
    }
  }
  auto check_targets = [&](TomlReader& reader, const std::vector<std::string>& names) {
    for (const auto& t : names) {
      if (std::find(targets.begin(), targets.end(), t) == targets.end()) {
        std::string hint = framework::DidYouMean(t, targets);
        reader.Fail("targets", "no [[target]] named '" + t + "'" +
                                   (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
      }
    }
  };
  if (auto t = r.StringArray("targets")) {
    check_targets(r, *t);
    b.targets = *t;
  } else {
    b.targets = targets;
  }
  if (b.targets.empty()) r.Fail("targets", "no target to put faults on: add a [[target]]");
  int i = 0;
  for (auto& f : r.TableArray("fault", true)) {
    ++i;
    FaultTemplate t;
    t.pos = f.pos();
    auto kind = f.String("kind", true);
    if (kind) {
      const auto& kinds = fault_kinds.kinds;
      if (!kinds.empty() && std::find(kinds.begin(), kinds.end(), *kind) == kinds.end()) {
        std::string hint = framework::DidYouMean(*kind, kinds);
        f.Fail("kind", "unknown fault kind '" + *kind + "'" +
                           (hint.empty() ? "" : " (did you mean '" + hint + "'?)") +
                           "; see 'duende fault list'");
      }
      t.kind = *kind;
    }
    if (auto tg = f.StringArray("targets")) {
      check_targets(f, *tg);
      t.targets = *tg;
    } else {
      t.targets = b.targets;
    }
    if (const toml::node* d = f.Raw("duration")) {
      if (auto tbl = d->as_table()) {
        if (auto range = ReadRange(f, "duration", *tbl, true)) {
          t.duration_ms = std::make_pair(range->min, range->max);
        }
      } else if (auto ms = DurationMs(*d)) {
        t.duration_ms = std::make_pair(*ms, *ms);
      } else {
        f.Fail("duration",
               "give a duration (\"200ms\") or a range { min = \"50ms\", max = "
               "\"1s\" }, " +
                   kDurationRangeText);
      }
    }
    for (const auto& [key, node] : f.table()) {
      std::string k(key.str());
      if (k == "kind" || k == "targets" || k == "duration") continue;
      if (k == "select") {
        // Kept as it is: the probe chooses the target when the planned fault fires.
        const toml::table* sel = f.Raw(k)->as_table();
        auto text = sel == nullptr ? std::nullopt : InlineTable(*sel);
        if (!text) {
          f.Fail(k, "'select' in " + f.where() +
                        " is a [fault.select] table of values and lists of values (see "
                        "docs/cluster.md)");
          continue;
        }
        ParamBound fixed;
        fixed.name = k;
        fixed.kind = ParamBound::Kind::kFixed;
        fixed.choices.push_back(*text);
        t.params.push_back(std::move(fixed));
        continue;
      }
      if (k == "at" || k == "target" || k == "name" || k == "repeat" || k == "every") {
        f.Fail(k, "'" + k + "' is chosen by the explorer (use [explore] window/targets)");
        continue;
      }
      if (auto p = ReadParam(f, k)) t.params.push_back(std::move(*p));
    }
    f.Finish();
    b.faults.push_back(std::move(t));
  }
  r.Finish();
  return b;
}

framework::Result<ExploreScenario> ParseExploreScenario(std::string_view text,
                                                        const std::string& name,
                                                        const FaultKindTable& fault_kinds) {
  auto doc = framework::ParseTomlString(text, name);
  if (!doc.ok()) return doc.error();
  bool had_explore = false;
  ExploreScenario es;
  es.file = name;
  es.base_text = StripTables(text, &had_explore);
  auto diags = std::make_shared<Diagnostics>();
  const toml::table* explore = doc.value()["explore"].as_table();
  if (!had_explore || explore == nullptr) {
    diags->Add(framework::SourcePos{name, 0, 0},
               "no [explore] table: add one that bounds the fault plans (see docs/explore.md)");
    return diags->ToError();
  }
  es.bounds = ReadExploreBounds(*explore, name, TargetNames(doc.value()), fault_kinds, diags);
  // The scenario as written (its own [[fault]] tables included) must be valid as well.
  // Re-strip only [explore]: keep [[fault]] so a bad fault of the file is still reported.
  std::string without_explore;
  {
    std::istringstream in{std::string(text)};
    std::string line;
    bool skipping = false;
    while (std::getline(in, line)) {
      // Any line opening with '[' starts a table; it skips when it is [explore] or below it.
      if (auto rest = AfterHeaderOpen(line)) {
        std::string_view table = SkipSpace(*rest);
        if (!table.empty() && table.front() == '"') table.remove_prefix(1);
        skipping = table.substr(0, 7) == "explore";
      }
      without_explore += skipping ? "" : line;
      without_explore += '\n';
    }
  }
  auto scenario = ParseScenario(without_explore, name, {}, fault_kinds);
  if (!scenario.ok()) {
    std::string msg = scenario.error().context;
    for (const auto& d : diags->items()) msg = d.ToString() + "\n" + msg;
    return framework::MessageError(msg);
  }
  if (!diags->empty()) return diags->ToError();
  es.scenario = std::move(scenario).value();
  es.bounds.timeline_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(es.scenario.meta.duration).count();
  if (es.bounds.window_end_ms >= es.bounds.timeline_ms) {
    TomlReader r(*explore, name, "[explore]", diags);
    r.Fail("window", "the window ends at " + std::to_string(es.bounds.window_end_ms) +
                         "ms, not before the scenario's duration (" +
                         std::to_string(es.bounds.timeline_ms) +
                         "ms): end it earlier or lengthen [scenario] duration");
    return diags->ToError();
  }
  // Each template at its bounds must give faults the fault kinds accept.
  for (size_t i = 0; i < es.bounds.faults.size(); ++i) {
    const FaultTemplate& t = es.bounds.faults[i];
    for (int corner = 0; corner < 2; ++corner) {
      PlannedFault f;
      f.kind = t.kind;
      f.target = t.targets.empty() ? "" : t.targets.front();
      f.at_ms = es.bounds.window_start_ms;
      if (t.duration_ms) f.duration_ms = corner == 0 ? t.duration_ms->first : t.duration_ms->second;
      for (const auto& p : t.params) {
        switch (p.kind) {
          case ParamBound::Kind::kFixed:
          case ParamBound::Kind::kChoice:
            f.params.emplace_back(p.name, corner == 0 ? p.choices.front() : p.choices.back());
            break;
          case ParamBound::Kind::kIntRange:
            f.params.emplace_back(p.name, std::to_string(corner == 0 ? p.min : p.max));
            break;
          case ParamBound::Kind::kDurationRange:
            f.params.emplace_back(p.name, Quote(Ms(corner == 0 ? p.min : p.max)));
            break;
        }
      }
      auto check = PlanScenario(es, Plan{{f}}, fault_kinds);
      if (!check.ok()) {
        diags->Add(t.pos, "[[explore.fault]] #" + std::to_string(i + 1) +
                              " gives a fault the scenario rejects: " + check.error().context);
        break;
      }
    }
  }
  if (!diags->empty()) return diags->ToError();
  return es;
}

framework::Result<ExploreScenario> LoadExploreScenario(const std::string& path,
                                                       const FaultKindTable& fault_kinds) {
  auto text = framework::ReadFileLimited(path, framework::kMaxInputFileBytes);
  if (!text.ok()) return text.error();
  return ParseExploreScenario(*text, path, fault_kinds);
}

std::string PlanToToml(const ExploreScenario& base, const Plan& plan, const std::string& header) {
  std::string out;
  if (!header.empty()) {
    std::istringstream in(header);
    std::string line;
    while (std::getline(in, line)) out += line.empty() ? "#\n" : "# " + line + "\n";
  }
  std::string text = base.base_text;
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  out += text;
  out += "\n\n# The fault plan (generated by duende explore).\n";
  std::map<std::string, int> counts;
  for (const auto& f : plan.faults) {
    out += "\n[[fault]]\n";
    out += "name = " + Quote(f.kind + "-" + std::to_string(++counts[f.kind])) + "\n";
    out += "kind = " + Quote(f.kind) + "\n";
    if (!HasSelect(f)) out += "target = " + Quote(f.target) + "\n";
    out += "at = " + Quote(Ms(f.at_ms)) + "\n";
    if (f.duration_ms) out += "duration = " + Quote(Ms(*f.duration_ms)) + "\n";
    for (const auto& [k, v] : f.params) out += k + " = " + v + "\n";
  }
  return out;
}

framework::Result<Scenario> PlanScenario(const ExploreScenario& base, const Plan& plan,
                                         const FaultKindTable& fault_kinds) {
  return ParseScenario(PlanToToml(base, plan), base.file, {}, fault_kinds);
}

}  // namespace duende::harness
