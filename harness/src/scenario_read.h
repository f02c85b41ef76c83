// The readers of a scenario file's tables, one file per part: scenario.cc (the document, faults,
// checks), scenario_target.cc ([[target]] and its files and probes), scenario_load.cc ([load]
// and the steady-state probes), scenario_overrides.cc (--set), scenario_read.cc (the checks
// every table shares: names, regular expressions, run variables, line framing). Private to the
// harness; the public model is duende/harness/scenario.h.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "duende/framework/toml_reader.h"
#include "duende/harness/scenario.h"

namespace duende::harness::internal {

/// Letters, digits, '_', '-' and '.' (target, file, fault and scenario names).
bool ValidName(const std::string& name);
/// Reports `name` (the value of `key`) unless empty or ValidName.
void CheckName(framework::TomlReader& r, const char* key, const std::string& name);
/// Reports `pattern` unless it compiles (the load's {seq}, {key}, {n} stand for literal text).
void CheckRegex(framework::TomlReader& r, const char* key, const std::string& pattern);
/// Reports every "{name}" in `text` that is not a run variable; `inside` and `where` refine the
/// message ("(nginx.conf)", "[[target.file]] #1 of target nginx").
void CheckRunVariables(framework::TomlReader& r, std::string_view key, const std::string& text,
                       const std::vector<std::string>& files, const std::string& inside = "",
                       const std::string& where = "");
void CheckRunVariables(framework::TomlReader& r, std::string_view key,
                       const std::vector<std::string>& argv, const std::vector<std::string>& files);
/// Reports a placeholder that load templates do not know ({seq}, {key}, {n}, {value}, {len}).
void CheckLoadPlaceholders(framework::TomlReader& r, const char* key, const std::string& text);
/// tcp-line framing keys, shared by [load], [load.readback] and request probes.
void ReadTerminator(framework::TomlReader& r, std::string* terminator);
void ReadFraming(framework::TomlReader& r, uint32_t* lines, std::string* end);

/// The names of every [[target.file]] in the document (variables may name a file declared
/// further down).
std::vector<std::string> DeclaredFiles(const toml::table& doc);
/// One [[target]] with its restart, probe, resources and file tables.
TargetSpec ReadTarget(framework::TomlReader& r, const std::vector<std::string>& files);
/// A target's `trace`, `trace_syscalls` and `trace_slow` (scenario_trace.cc); a name strace
/// would not know is reported at its element.
void ReadTargetTrace(framework::TomlReader& r, TargetSpec* t);
/// Refuses trace = true where strace cannot follow the target (external, a platform without
/// host pids).
void CheckTargetTrace(framework::TomlReader& r, const TargetSpec& t);
/// [load] with its [load.readback].
LoadSpec ReadLoad(framework::TomlReader& r);

/// Reads [[node]] into `s.nodes` and checks the nodes against `s.targets` (read from
/// `targets`, in order): each target's `node` names a node, each node runs a target, node
/// targets are native and not external, addresses are node addresses in one /24 that no host
/// route overlaps (scenario_nodes.cc, docs/cluster.md).
void ReadNodes(framework::TomlReader& root, std::vector<framework::TomlReader>& targets,
               Scenario& s);
/// Checks [load]'s `spread` and `nodes` against the scenario's nodes.
void CheckLoadNodes(framework::TomlReader& load, const Scenario& s);
/// Checks a fault's `node` (and a partition's groups) against the scenario's nodes; for a
/// kind other than partition, points `spec.target` at the node's first target and returns
/// the node's other targets (the fault acts on each).
std::vector<std::string> ResolveFaultNode(framework::TomlReader& f, FaultSpec& spec,
                                          const Scenario& s);
/// One [[steady_state.probe]] (`index` numbers unnamed ones).
ProbeSpec ReadProbe(framework::TomlReader& r, size_t index);
/// A probe's keys other than `name` (kind, address, path, command, send, expect, protocol,
/// framing, timeout) into `*p`, without Finish(); `address` is optional unless
/// `address_required` and the kind needs one.
void ReadProbeFields(framework::TomlReader& r, bool address_required, ProbeSpec* p);
/// `[fault.select]` of fault `f` (scenario_select.cc): the probe, `what`, `pick`, `within` and the
/// candidates (`targets`, `nodes`, else every target a probe can reach); refuses `target` and
/// `node` beside it. Sets `spec.target` to the first candidate.
void ReadFaultSelect(framework::TomlReader& f, const std::vector<std::string>& files,
                     const Scenario& s, FaultSpec& spec);
void CheckProbeVariables(framework::TomlReader& r, const ProbeSpec& p,
                         const std::vector<std::string>& files);

}  // namespace duende::harness::internal
