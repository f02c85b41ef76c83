#include "duende/harness/load_protocol.h"
#include "scenario_read.h"

namespace duende::harness::internal {

using framework::Diagnostics;
using framework::SourcePos;
using framework::TomlReader;

namespace {

const std::vector<std::string> kProbeKinds = {"tcp", "http", "command", "request"};

ProbeSpec::Kind ProbeKindFrom(const std::string& s) {
  if (s == "http") return ProbeSpec::Kind::kHttp;
  if (s == "command") return ProbeSpec::Kind::kCommand;
  if (s == "request") return ProbeSpec::Kind::kRequest;
  return ProbeSpec::Kind::kTcp;
}

const std::vector<std::string> kProtocols = {"tcp-line", "http", "redis"};

}  // namespace

LoadSpec ReadLoad(TomlReader& r) {
  LoadSpec l;
  l.pos = r.pos();
  l.target = r.String("target").value_or("");
  l.address = r.String("address").value_or("");
  l.protocol = r.Enum("protocol", kProtocols).value_or("tcp-line");
  l.mode = r.Enum("mode", {"open", "closed"}).value_or("open");
  l.rate = r.Double("rate", 0.1, 1e7).value_or(200);
  l.connections = static_cast<uint32_t>(r.Int("connections", 1, 10000).value_or(4));
  l.start = r.Duration("start").value_or(nanoseconds{0});
  l.duration = r.Duration("duration");
  l.timeout = r.Duration("timeout").value_or(std::chrono::milliseconds(500));
  const bool redis = l.protocol == "redis";
  l.request = r.String("request").value_or("SET {key} {seq}");
  // Matched against the whole reply text: any 2xx body for http, a Redis "+OK" reads "OK".
  l.expect = r.String("expect").value_or(l.protocol == "http" ? "" : redis ? "OK" : "^OK");
  CheckRegex(r, "expect", l.expect);
  l.http_path = r.String("path").value_or("/");
  l.traceparent = r.Bool("traceparent").value_or(false);
  if (l.traceparent && l.protocol != "http") {
    r.Fail("traceparent", "traceparent = true in " + r.where() +
                              " needs protocol = \"http\" (it is an HTTP header)");
  }
  l.http_method = r.Enum("method", {"GET", "POST", "PUT", "DELETE", "PATCH"}).value_or("GET");
  if (r.Has("method") && l.protocol != "http") {
    r.Fail("method", "'method' in " + r.where() + " applies to protocol = \"http\" only");
  }
  l.spread = r.Enum("spread", {"round-robin", "random", "pinned"}).value_or("");
  l.nodes = r.StringArray("nodes").value_or(std::vector<std::string>{});
  l.keys = static_cast<uint32_t>(r.Int("keys", 1, 10000000).value_or(0));
  l.value = r.String("value").value_or("{seq}");
  ReadTerminator(r, &l.terminator);
  ReadFraming(r, &l.reply_lines, &l.reply_end);
  if (l.protocol != "tcp-line") {
    for (const char* key : {"terminator", "reply_lines", "reply_end"}) {
      if (r.Has(key)) {
        r.Fail(key, "'" + std::string(key) + "' in " + r.where() +
                        " applies to protocol = \"tcp-line\" only (" + l.protocol +
                        " frames its own messages)");
      }
    }
  }
  CheckLoadPlaceholders(r, "request", l.request);
  CheckLoadPlaceholders(r, "path", l.http_path);
  CheckLoadPlaceholders(r, "value", l.value);
  if (l.value.find("{value}") != std::string::npos || l.value.find("{len}") != std::string::npos) {
    r.Fail("value", "'value' in " + r.where() + " may use {seq}, {key} and {n}, not itself");
  }
  const bool has_request = r.Has("request") || r.Has("expect");
  for (auto& o : r.TableArray("op")) {
    LoadOpSpec op;
    op.pos = o.pos();
    op.f = o.String("f", true).value_or("");
    op.request = o.String("request", true).value_or("");
    op.expect = o.String("expect").value_or(redis ? "OK" : "^OK");
    CheckRegex(o, "expect", op.expect);
    CheckLoadPlaceholders(o, "request", op.request);
    op.weight = o.Double("weight", 0.000001, 1e6).value_or(1);
    op.path = o.String("path").value_or("");
    CheckLoadPlaceholders(o, "path", op.path);
    if (o.Has("path") && l.protocol != "http") {
      o.Fail("path", "'path' in [[load.op]] applies to protocol = \"http\" only");
    }
    if (has_request) {
      o.Fail("f", "[[load.op]] in " + r.where() +
                      " replaces 'request' and 'expect' of [load]: remove those, or the ops");
    }
    o.Finish();
    l.ops.push_back(std::move(op));
  }
  if (auto rb = r.Table("readback")) {
    if (!l.ops.empty()) {
      rb->Fail("request",
               "[load.readback] reads back a key-value load; a mixed workload "
               "([[load.op]]) is judged from its history by the model checks instead");
    }
    l.readback_request = rb->String("request", true).value_or("");
    l.readback_expect = rb->String("expect", true).value_or("");
    CheckLoadPlaceholders(*rb, "request", l.readback_request);
    CheckLoadPlaceholders(*rb, "expect", l.readback_expect);
    if (rb->Has("expect") && !RequestTemplate(l.readback_expect, l.value).has_seq()) {
      rb->Fail("expect", "'expect' in " + rb->where() + " is \"" + l.readback_expect +
                             "\", which has no {seq}: the read-back finds the sequence number of "
                             "the last write in the reply (e.g. \"VALUE {seq}\", or {value} when "
                             "the value holds {seq})");
    }
    ReadFraming(*rb, &l.readback_reply_lines, &l.readback_reply_end);
    rb->Finish();
  }
  r.Finish();
  return l;
}

ProbeSpec ReadProbe(TomlReader& r, size_t index) {
  ProbeSpec p;
  p.name = r.String("name").value_or("probe-" + std::to_string(index));
  ReadProbeFields(r, true, &p);
  r.Finish();
  return p;
}

void ReadProbeFields(TomlReader& r, bool address_required, ProbeSpec* out) {
  ProbeSpec& p = *out;
  p.pos = r.pos();
  p.kind = ProbeKindFrom(r.Enum("kind", kProbeKinds, true).value_or("tcp"));
  bool needs_address = address_required && p.kind != ProbeSpec::Kind::kCommand;
  p.address = r.String("address", needs_address).value_or("");
  p.path = r.String("path").value_or("/");
  p.command = r.StringArray("command", p.kind == ProbeSpec::Kind::kCommand)
                  .value_or(std::vector<std::string>{});
  p.send = r.String("send", p.kind == ProbeSpec::Kind::kRequest).value_or("");
  p.expect = r.String("expect").value_or("");
  if (!p.expect.empty()) CheckRegex(r, "expect", p.expect);
  if (p.kind == ProbeSpec::Kind::kRequest) {
    p.protocol = r.Enum("protocol", {"tcp-line", "redis"}).value_or("tcp-line");
    ReadTerminator(r, &p.terminator);
    ReadFraming(r, &p.reply_lines, &p.reply_end);
  }
  if (!p.expect.empty() && p.kind != ProbeSpec::Kind::kRequest &&
      p.kind != ProbeSpec::Kind::kHttp) {
    r.Fail("expect", "'expect' in " + r.where() + " applies to kind = \"request\" or \"http\"");
  }
  p.timeout = r.Duration("timeout").value_or(std::chrono::seconds(1));
}

void CheckProbeVariables(TomlReader& r, const ProbeSpec& p, const std::vector<std::string>& files) {
  CheckRunVariables(r, "address", p.address, files);
  CheckRunVariables(r, "command", p.command, files);
  CheckRunVariables(r, "send", p.send, files);
}

}  // namespace duende::harness::internal

namespace duende::harness {

const char* ProbeKindName(ProbeSpec::Kind kind) {
  switch (kind) {
    case ProbeSpec::Kind::kTcp:
      return "tcp";
    case ProbeSpec::Kind::kHttp:
      return "http";
    case ProbeSpec::Kind::kCommand:
      return "command";
    case ProbeSpec::Kind::kRequest:
      return "request";
  }
  return "?";
}

}  // namespace duende::harness
