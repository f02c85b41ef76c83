#include "duende/harness/fault_kinds.h"

namespace duende::harness {

const FaultKindTable& DefaultFaultKinds() {
  static const FaultKindTable kTable{};
  return kTable;
}

}  // namespace duende::harness
