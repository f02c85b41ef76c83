// "host:port" addresses, as configs and scenarios write them: one parser for every reader
// (probes, load, scenario targets, listener checks).
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "duende/framework/result.h"

namespace duende::framework {

struct HostPort {
  std::string host;  ///< as written: "127.0.0.1", "localhost", "[::1]"
  uint16_t port = 0;
};

/// Splits "host:port" at its last ':'. nullopt unless the host is non-empty and the port is
/// decimal digits only, 1 to 65535.
std::optional<HostPort> SplitHostPort(std::string_view address);

/// The IPv4 socket address of "host:port" whose host is a dotted quad or "localhost"
/// (127.0.0.1). Errors: invalid_argument, "'ADDRESS' is not IPV4:PORT (e.g. 127.0.0.1:8080)".
Result<sockaddr_in> Ipv4SocketAddress(std::string_view address);

}  // namespace duende::framework
