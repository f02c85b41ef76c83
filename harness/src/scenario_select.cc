// [fault.select]: a fault whose target is chosen when it fires, by a probe run against each
// candidate target (a cluster's current leader; docs/cluster.md, "Faults on the target a probe
// selects"). The probe's keys are a steady-state probe's (ReadProbeFields); this file reads the
// rest, resolves the candidates and checks that the fault kind can act on each of them.
#include <algorithm>

#include "duende/harness/fault_kinds.h"
#include "scenario_read.h"
#include "variables.h"

namespace duende::harness::internal {

using framework::TomlReader;

namespace {

constexpr auto kMaxWithin = std::chrono::minutes(10);

std::string Hint(const std::string& name, const std::vector<std::string>& names) {
  const std::string close = framework::DidYouMean(name, names);
  return close.empty() ? "" : "; did you mean \"" + close + "\"?";
}

// Every string of the probe that is expanded per candidate, with the key it came from.
std::vector<std::pair<const char*, const std::string*>> ProbeStrings(const ProbeSpec& p) {
  std::vector<std::pair<const char*, const std::string*>> out = {
      {"address", &p.address}, {"path", &p.path}, {"send", &p.send}};
  for (const auto& a : p.command) out.emplace_back("command", &a);
  return out;
}

// Checks the variables of the probe's strings; true when one of them needs the candidate's
// address ({select.address}, {select.host}, {select.port}).
bool CheckSelectVariables(TomlReader& r, const ProbeSpec& p,
                          const std::vector<std::string>& files) {
  bool needs_address = false;
  for (const auto& [key, text] : ProbeStrings(p)) {
    for (const auto& ref : FindVariables(*text)) {
      if (IsSelectVariable(ref.name)) {
        needs_address |=
            ref.name == "select.address" || ref.name == "select.host" || ref.name == "select.port";
        continue;
      }
      std::string hint;
      if (IsRunVariable(ref.name, files, &hint)) continue;
      const std::string close = framework::DidYouMean(ref.name, SelectVariables());
      if (!close.empty()) hint = "did you mean {" + close + "}?";
      r.Fail(key, "unknown variable {" + ref.name + "} in '" + key + "' of " + r.where() + "; " +
                      hint +
                      " (the candidate's: {select.target}, {select.address}, {select.host}, "
                      "{select.port}, {select.node}, {select.pid})");
    }
  }
  return needs_address;
}

// The candidates: the targets of `targets` and of the nodes of `nodes`, in that order, each
// once; without either, every target (with an address when the probe needs one).
std::vector<std::string> Candidates(TomlReader& r, const Scenario& s, bool needs_address) {
  std::vector<std::string> out;
  auto add = [&](const std::string& name) {
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
  };
  std::vector<std::string> target_names, node_names;
  for (const auto& t : s.targets) target_names.push_back(t.name);
  for (const auto& n : s.nodes) node_names.push_back(n.name);
  const auto targets = r.StringArray("targets");
  const auto nodes = r.StringArray("nodes");
  for (const auto& name : targets.value_or(std::vector<std::string>{})) {
    if (s.FindTarget(name) == nullptr) {
      r.Fail("targets", "'targets' in " + r.where() + " names \"" + name +
                            "\", which is not a [[target]]" + Hint(name, target_names));
    } else {
      add(name);
    }
  }
  for (const auto& name : nodes.value_or(std::vector<std::string>{})) {
    if (std::find(node_names.begin(), node_names.end(), name) == node_names.end()) {
      r.Fail("nodes", "'nodes' in " + r.where() + " names \"" + name +
                          "\", which is not a [[node]]" + Hint(name, node_names));
      continue;
    }
    for (const auto& t : s.targets) {
      if (t.node == name) add(t.name);
    }
  }
  if ((targets && targets->empty()) || (nodes && nodes->empty())) {
    r.Fail(targets && targets->empty() ? "targets" : "nodes",
           "an empty list of candidates in " + r.where() +
               ": name the targets (or nodes) the probe chooses among, or leave the key out "
               "(every target)");
  }
  if (targets || nodes) return out;
  for (const auto& t : s.targets) {
    if (!needs_address || !t.address.empty()) add(t.name);
  }
  if (out.empty()) {
    r.Fail("kind", "no target of this scenario has an address for the probe of " + r.where() +
                       " to reach: give the targets an address, or use kind = \"command\"");
  }
  return out;
}

}  // namespace

void ReadFaultSelect(TomlReader& f, const std::vector<std::string>& files, const Scenario& s,
                     FaultSpec& spec) {
  auto r = f.Table("select");
  if (!r) return;  // not a table: reported by Table()
  FaultSelectSpec sel;
  sel.pos = r->pos();
  sel.role = r->String("role").value_or("");
  CheckName(*r, "role", sel.role);
  sel.all = r->Enum("pick", {"one", "all"}).value_or("one") == "all";
  sel.within = r->Duration("within", false, {std::chrono::nanoseconds{0}, kMaxWithin})
                   .value_or(std::chrono::seconds(5));
  ReadProbeFields(*r, false, &sel.probe);
  if (sel.probe.address.empty() && sel.probe.kind != ProbeSpec::Kind::kCommand) {
    sel.probe.address = "{select.address}";
  }
  sel.probe.name = "select " + (sel.role.empty() ? std::string("probe") : sel.role);
  const bool needs_address = CheckSelectVariables(*r, sel.probe, files);
  sel.candidates = Candidates(*r, s, needs_address);
  for (const auto& c : sel.candidates) {
    const TargetSpec* t = s.FindTarget(c);
    if (needs_address && t->address.empty()) {
      r->Fail(r->Has("nodes") ? "nodes" : "targets",
              "candidate " + c + " of " + r->where() +
                  " has no address for the probe to reach: give it one, or remove it");
    }
    // The first candidate is spec.target, whose platform the fault table's reader checks.
    if (c == sel.candidates.front() || spec.kind.empty()) continue;
    if (std::string why = PlatformRefusesFault(spec.kind, f.table(), t->platform); !why.empty()) {
      r->Fail("targets",
              "fault kind \"" + spec.kind + "\" cannot act on candidate " + c + ": " + why);
    }
  }
  r->Finish();
  if (f.Has("target")) {
    f.Fail("target",
           "give either 'target' or [fault.select] (which chooses among its 'targets' "
           "or 'nodes' when the fault fires)");
  }
  if (spec.kind == "partition") {
    // The partition isolates the node of the target the probe selects.
    if (f.Has("node")) {
      f.Fail("node", "give either 'node' or [fault.select] (which chooses the node to isolate)");
    }
    if (f.table()["mode"].value_or(std::string()) != "isolate") {
      f.Fail("select",
             "[fault.select] chooses the node a partition isolates: it needs mode = "
             "\"isolate\"");
    }
    if (sel.all) r->Fail("pick", "a partition isolates one node: pick = \"one\"");
    for (const auto& c : sel.candidates) {
      if (s.FindTarget(c)->node.empty()) {
        r->Fail(r->Has("targets") ? "targets" : "kind",
                "candidate " + c + " of " + r->where() +
                    " runs on no [[node]]: a partition isolates a node; name node targets "
                    "with 'targets' or 'nodes'");
      }
    }
  } else if (f.Has("node")) {
    f.Fail("node",
           "give either 'node' or [fault.select] (name the node in its 'nodes' to choose "
           "among the node's targets)");
  }
  spec.node.clear();  // the selection makes the fault's node (and target) at fire time
  if (!sel.candidates.empty()) spec.target = sel.candidates.front();
  spec.select = std::move(sel);
}

}  // namespace duende::harness::internal
