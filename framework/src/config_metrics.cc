#include <arpa/inet.h>
#include <civetweb.h>

#include <cctype>

#include "duende/framework/metrics_config.h"

namespace duende::framework {

std::string MetricsListenProblem(std::string_view address) {
  const std::string forms =
      "write IPV4:PORT, localhost:PORT or [IPV6]:PORT, e.g. \"127.0.0.1:9464\" (port 0 takes "
      "a free port)";
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == address.size()) {
    return "'" + std::string(address) + "' is not a listen address; " + forms;
  }
  std::string_view host = address.substr(0, colon);
  std::string_view port = address.substr(colon + 1);
  if (port.size() > 5) return "port '" + std::string(port) + "' is out of range 0-65535";
  uint32_t value = 0;
  for (char ch : port) {
    if (std::isdigit(static_cast<unsigned char>(ch)) == 0) {
      return "port '" + std::string(port) + "' is not a number; " + forms;
    }
    value = value * 10 + static_cast<uint32_t>(ch - '0');
  }
  if (value > 65535) return "port " + std::string(port) + " is out of range 0-65535";
  if (host == "localhost") return "";
  unsigned char buf[sizeof(in6_addr)];
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    std::string inner(host.substr(1, host.size() - 2));
    if (::inet_pton(AF_INET6, inner.c_str(), buf) != 1) {
      return "'" + inner + "' is not an IPv6 address; " + forms;
    }
    if (!MetricsServerSupportsIpv6()) {
      return "'" + std::string(address) +
             "' is IPv6, which this build's HTTP server (civetweb without USE_IPV6) cannot "
             "serve; listen on IPV4:PORT such as \"127.0.0.1:" +
             std::string(port) + "\"";
    }
    return "";
  }
  std::string h(host);
  if (::inet_pton(AF_INET, h.c_str(), buf) == 1) return "";
  if (h.find(':') != std::string::npos) {
    return "an IPv6 host goes in brackets: '[" + h + "]:" + std::string(port) + "'";
  }
  return "host '" + h + "' is not an IPv4 address or localhost (host names are not resolved); " +
         forms;
}

bool MetricsServerSupportsIpv6() {
  // Feature bit 8: "support IPv6 (USE_IPV6 set)" (civetweb.h, mg_check_feature).
  return mg_check_feature(8) != 0;
}

void ReadMetricsListen(TomlReader& reader, std::string_view key, MetricsConfig* out) {
  auto v = reader.String(key);
  if (!v) return;
  if (std::string why = MetricsListenProblem(*v); !why.empty()) {
    reader.Fail(key, "'" + std::string(key) + "': " + why);
    return;
  }
  out->listen = *v;
  out->origin = reader.PosOf(key).ToString();
}

void ReadMetricsConfig(TomlReader& reader, MetricsConfig* out) {
  ReadMetricsListen(reader, "listen", out);
  reader.Finish();
}

}  // namespace duende::framework
