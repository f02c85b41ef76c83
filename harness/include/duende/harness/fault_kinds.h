// The bridge between the scenario model and faults/: which fault kinds exist and how their
// parameters are validated, so `duende validate` rejects a bad fault before anything runs.
#pragma once

#include <string>

#include "duende/adapters/adapter.h"
#include "duende/harness/scenario.h"

namespace duende::harness {

/// The fault kinds of faults::Catalogue() with a validator of their parameters.
const FaultKindTable& DefaultFaultKinds();

/// The fault kind that cuts a platform's power (Adapter::PowerLoss); the harness injects it
/// itself, it has no injector in faults/.
inline constexpr const char* kPowerLossKind = "power-loss";

/// Why a fault of `kind` (with its parameters `fault`) cannot act on a target that runs on
/// `platform`, or "" when it can. The reason names the platform and what it lacks.
std::string PlatformRefusesFault(const std::string& kind, const toml::table& fault,
                                 const std::string& platform);

}  // namespace duende::harness
