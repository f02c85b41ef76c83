// The check catalogue: every invariant kind a scenario's [[check]] may name, as one registry of
// {name, what it asserts, its parameters, its evaluator}. The scenario reader takes the keys a
// kind accepts from here and the checks evaluate through it, so adding a kind is one entry.
#pragma once

#include <string_view>
#include <vector>

#include "duende/framework/toml_reader.h"
#include "duende/harness/scenario.h"
#include "duende/model/model.h"

namespace duende::harness {

/// One key of a check kind's table (beyond kind, name and target).
struct CheckParam {
  const char* key;
  bool required;
  /// Reads the key from the [[check]] table into `spec`; bad values go to the reader's
  /// diagnostics with the key's position.
  void (*read)(framework::TomlReader& table, const CheckParam& param, CheckSpec& spec);
};

/// One invariant kind.
struct CheckKind {
  const char* name;     ///< as written in `kind = "..."`
  const char* summary;  ///< what it asserts, naming its keys in `backticks`
  std::vector<CheckParam> params;
  /// Judges the check over a run's events (in time order). A failed invariant is a FAIL
  /// verdict with evidence, never an exception.
  model::CheckResult (*evaluate)(const CheckSpec& check, const Scenario& scenario,
                                 const std::vector<model::Event>& events);
};

/// Every check kind, in documentation order.
const std::vector<CheckKind>& CheckKinds();

/// The kind named `name`; nullptr when there is none.
const CheckKind* FindCheckKind(std::string_view name);

}  // namespace duende::harness
