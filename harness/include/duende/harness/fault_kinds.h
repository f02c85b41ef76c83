// The bridge between the scenario model and faults/: which fault kinds exist and how their
// parameters are validated, so `duende validate` rejects a bad fault before anything runs.
#pragma once

#include "duende/harness/scenario.h"

namespace duende::harness {

/// The fault kinds of faults::Catalogue() with a validator of their parameters.
const FaultKindTable& DefaultFaultKinds();

}  // namespace duende::harness
