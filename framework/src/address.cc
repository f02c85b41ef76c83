#include "duende/framework/address.h"

#include <arpa/inet.h>

#include <charconv>

namespace duende::framework {

std::optional<HostPort> SplitHostPort(std::string_view address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == address.size()) {
    return std::nullopt;
  }
  const std::string_view digits = address.substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (ec != std::errc() || end != digits.data() + digits.size() || digits[0] == '+' || port == 0 ||
      port > 65535) {
    return std::nullopt;
  }
  return HostPort{std::string(address.substr(0, colon)), static_cast<uint16_t>(port)};
}

Result<sockaddr_in> Ipv4SocketAddress(std::string_view address) {
  auto hp = SplitHostPort(address);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  if (hp) {
    if (hp->host == "localhost") hp->host = "127.0.0.1";
    sa.sin_port = htons(hp->port);
  }
  if (!hp || ::inet_pton(AF_INET, hp->host.c_str(), &sa.sin_addr) != 1) {
    return MessageError("'" + std::string(address) + "' is not IPV4:PORT (e.g. 127.0.0.1:8080)");
  }
  return sa;
}

}  // namespace duende::framework
