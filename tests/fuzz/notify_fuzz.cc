// Fuzz target: the sd_notify datagram parser of `duende supervise` (any process that can reach
// the service's notify socket chooses these bytes).
#include "duende/framework/notify_socket.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace duende;
  const framework::NotifyMessage m = framework::ParseNotifyMessage(fuzz::AsText(data, size));
  // STATUS= is the only text taken over, and it is a slice of the datagram.
  if (m.status) fuzz::Check(m.status->size() < size, "STATUS= longer than its datagram");
  return 0;
}
