// W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` header that
// carries a request's trace id across services. duende's HTTP load generator sends one per
// request; daemons parse an incoming one to log it with their own records.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace duende::framework {

struct TraceContext {
  uint8_t version = 0;
  std::string trace_id;   ///< 32 lowercase hex digits, not all zero
  std::string parent_id;  ///< 16 lowercase hex digits, not all zero
  uint8_t flags = 0;      ///< bit 0: sampled
  bool sampled() const { return (flags & 1) != 0; }
};

/// Parses a `traceparent` header value as the W3C rules say: "00-<32 hex>-<16 hex>-<2 hex>",
/// lowercase hex only, ids not all zero, version ff refused; a later version may append
/// "-..." fields (ignored). Surrounding spaces and tabs are allowed. nullopt when invalid
/// (the receiver then starts a new trace, as the spec asks).
std::optional<TraceContext> ParseTraceparent(std::string_view value);

/// The traceparent of an HTTP/1.1 request head (request line and header lines up to the empty
/// line; the header name is case-insensitive). nullopt when there is none or it is invalid;
/// `*present` (optional) tells the two apart. A repeated header makes it invalid, as the
/// spec says for traceparent.
std::optional<TraceContext> TraceparentOfRequest(std::string_view head, bool* present = nullptr);

/// "trace_id=<32 hex> parent_id=<16 hex> sampled=<0|1>": the fields a daemon logs with the
/// records of the request, so its lines can be found by trace id.
std::string TraceLogFields(const TraceContext& context);

/// "00-<trace_id>-<parent_id>-<flags>" (version 00).
std::string FormatTraceparent(const TraceContext& context);

/// A sampled context whose ids are a function of (seed, n) only: the load generator's request
/// n of a run with `seed` always carries the same trace id, so a replay is looked up the same.
TraceContext TraceContextFor(uint64_t seed, uint64_t n);

}  // namespace duende::framework
