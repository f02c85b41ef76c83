// Internal to the load generator and read-back: the validated form of a LoadConfig.
#pragma once

#include <netinet/in.h>

#include <string>

#include "duende/framework/result.h"
#include "duende/harness/load.h"
#include "duende/harness/load_protocol.h"

namespace duende::harness {

/// One kind of a mixed workload, validated.
struct LoadOpPlan {
  std::string f;
  RequestBuilder builder;
  ReplyMatcher matcher;
  double cumulative = 0;  ///< weights summed up to and including this kind
};

struct LoadPlan {
  LoadConfig config;
  LoadProtocol protocol = LoadProtocol::kTcpLine;
  bool open_loop = true;
  bool kv = false;
  bool unique_keys = false;  // config.keys == 0: {key} is the request's own seq
  uint32_t keys = 1;
  uint32_t threads = 1;
  sockaddr_in addr{};
  std::vector<sockaddr_in> node_addrs;  ///< config.nodes' addresses (empty: `addr` only)
  RequestBuilder builder;
  ReplyMatcher matcher;
  std::vector<LoadOpPlan> ops;  ///< mixed workload (empty: every request is `builder`)
};

/// Validates `config` for the generator. Errors: EINVAL naming the field ("load.rate: ...").
framework::Result<LoadPlan> MakeLoadPlan(const LoadConfig& config);

/// "127.0.0.1:PORT" (or "localhost:PORT"); with `node_range`, also an address in
/// 198.18.0.0/15 (the testing range duende's own network namespaces use, for the nodes of a
/// cluster scenario); anything else is refused.
framework::Result<sockaddr_in> ParseLoopbackAddress(const std::string& address,
                                                    bool node_range = false);

}  // namespace duende::harness
