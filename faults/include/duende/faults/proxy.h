// Proxy: a userspace TCP proxy on loopback between clients and a target, with toxics per
// direction (these machines have no netem and no iptables). Modelled on Toxiproxy's toxics.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "duende/framework/result.h"

namespace duende::faults {

/// upstream = client -> target, downstream = target -> client.
enum class Direction { kUpstream, kDownstream };

/// What happens to the bytes of one direction. All off by default.
struct Toxics {
  int64_t latency_ns = 0;      ///< every chunk is delayed by this much
  int64_t jitter_ns = 0;       ///< plus a uniform random 0..jitter (order is kept)
  uint64_t bandwidth_bps = 0;  ///< bytes per second, 0 = unlimited
  bool blackhole = false;      ///< bytes are read and dropped; the connection stays open
  bool reset = false;          ///< the next byte resets the connection (RST to both sides)
  uint32_t slice_bytes = 0;    ///< send in slices of this many bytes (0 = whole chunks)
  int64_t slice_delay_ns = 0;  ///< between slices
};

/// Counters since Start().
struct ProxyStats {
  uint64_t connections = 0;               ///< accepted and connected upstream
  uint64_t upstream_failures = 0;         ///< accepted but the target refused
  uint64_t bytes_up = 0, bytes_down = 0;  ///< forwarded
  uint64_t bytes_delayed = 0;             ///< forwarded under latency/bandwidth/slicing
  uint64_t bytes_dropped = 0;             ///< swallowed by a blackhole
  uint64_t resets = 0;                    ///< connections reset by the reset toxic
  uint64_t closed_by_down = 0;            ///< connections closed when the proxy went down
};

class Proxy {
 public:
  /// Listens on 127.0.0.1:`listen_port` (0 = any free port) and forwards every connection to
  /// 127.0.0.1:`target_port`. `seed` drives the jitter. Errors: the bind/listen errno
  /// (EADDRINUSE).
  static framework::Result<std::unique_ptr<Proxy>> Start(uint16_t listen_port, uint16_t target_port,
                                                         uint64_t seed = 0);
  /// Stops: closes the listener and every connection, joins the threads.
  ~Proxy();
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  uint16_t port() const;
  uint16_t target_port() const;

  /// Replaces the toxics of one direction; applies to bytes read from now on.
  void SetToxics(Direction direction, const Toxics& toxics);
  /// The toxics of one direction as last set (none until SetToxics); a copy, safe to call
  /// from any thread while the proxy forwards.
  Toxics GetToxics(Direction direction) const;
  /// Down: close the listener (new connections are refused) and every open connection.
  /// Up again: listen on the same port. Errors: the bind errno when going up.
  framework::Result<void> SetDown(bool down);
  bool down() const;
  /// Counters since Create(), read atomically one by one (not a consistent snapshot of all
  /// of them while connections are busy); they never go down.
  ProxyStats Stats() const;

  struct Impl;

 private:
  explicit Proxy(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace duende::faults
