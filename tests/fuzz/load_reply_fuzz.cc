// Fuzz target: the load generator's reply parsers (tcp-line with its framings, HTTP/1.1, RESP),
// fed what a server under test sends back. The first byte picks the protocol and framing; the
// rest is the byte stream of one connection, parsed reply after reply as load.cc does.
#include "duende/harness/load_protocol.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace duende;
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  std::string_view stream = fuzz::AsText(data + 1, size - 1);
  harness::ReplyFraming framing;
  harness::LoadProtocol protocol = harness::LoadProtocol::kTcpLine;
  switch (mode % 4) {
    case 0:  // tcp-line, 1..8 lines
      framing.lines = 1 + (mode >> 2) % 8;
      break;
    case 1:  // tcp-line up to an end line (memcached's "END")
      framing.end_line = "END";
      break;
    case 2:
      protocol = harness::LoadProtocol::kHttp;
      break;
    default:
      protocol = harness::LoadProtocol::kRedis;
      break;
  }
  harness::Reply reply;
  while (!stream.empty()) {
    const int64_t used = harness::ParseReply(protocol, framing, stream, &reply);
    fuzz::Check(used >= -1 && used <= static_cast<int64_t>(stream.size()),
                "ParseReply used more bytes than it was given");
    if (used <= 0) break;
    // A reply complete in `used` bytes is complete, and the same, given exactly those bytes
    // (the loader parses whatever has arrived so far).
    harness::Reply alone;
    const int64_t again =
        harness::ParseReply(protocol, framing, stream.substr(0, static_cast<size_t>(used)), &alone);
    fuzz::Check(again == used, "a reply parses differently without the bytes after it");
    fuzz::Check(alone.text == reply.text && alone.protocol_ok == reply.protocol_ok &&
                    alone.status == reply.status && alone.close == reply.close,
                "a reply parses differently without the bytes after it");
    stream.remove_prefix(static_cast<size_t>(used));
  }
  return 0;
}
