#include "duende/harness/fault_kinds.h"

#include "duende/faults/fault.h"

namespace duende::harness {

// The kinds of the faults/ catalogue, with their parameter checks, so that `duende validate`
// rejects an unknown kind or a bad parameter with file:line:col before anything runs.
const FaultKindTable& DefaultFaultKinds() {
  static const FaultKindTable kTable = [] {
    FaultKindTable t;
    for (const auto& k : faults::Catalogue()) t.kinds.push_back(k.kind);
    t.validate = faults::CheckFaultParams;
    return t;
  }();
  return kTable;
}

}  // namespace duende::harness
