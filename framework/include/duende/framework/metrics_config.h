// Where a metrics endpoint listens: the [metrics] table of a daemon config, `metrics` in a
// services file's [supervisor] table and `duende run --metrics` all name one the same way.
// See docs/metrics.md.
#pragma once

#include <string>
#include <string_view>

#include "duende/framework/toml_reader.h"

namespace duende::framework {

struct MetricsConfig {
  /// "127.0.0.1:9464", "localhost:9464" or "[::1]:9464" ("" = no endpoint). Port 0 takes a
  /// free port (the endpoint says which).
  std::string listen;
  /// Where `listen` was written ("file:line:col"), for messages when it cannot be bound; ""
  /// when it came from code or the command line. Not part of the value (ignored by ==).
  std::string origin;

  bool operator==(const MetricsConfig& other) const { return listen == other.listen; }
};

/// Why `address` cannot be a metrics listen address, naming the accepted forms; "" when it
/// can. Accepted: IPV4:PORT, localhost:PORT, [IPV6]:PORT with PORT 0 to 65535; [IPV6]:PORT
/// only when MetricsServerSupportsIpv6() (else refused here, not at start with exit 3).
std::string MetricsListenProblem(std::string_view address);

/// Whether the HTTP server behind /metrics (civetweb) was built with IPv6 (USE_IPV6). Debian's
/// libcivetweb is not: it refuses "[::1]:9464" as an invalid port spec.
bool MetricsServerSupportsIpv6();

/// Reads the string key `key` of `reader` as a listen address into `out` (listen and origin);
/// a bad one is reported at the key.
void ReadMetricsListen(TomlReader& reader, std::string_view key, MetricsConfig* out);

/// Reads a [metrics] table (key: listen) and calls Finish() on it.
void ReadMetricsConfig(TomlReader& reader, MetricsConfig* out);

}  // namespace duende::framework
