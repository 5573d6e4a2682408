// Operator probes: naming the remote node and rendering the engine's answer (probe.h).
#include "discplane/control/probe.h"

#include <cstdio>

#include "discplane/common/bytes.h"
#include "discplane/wire/enode.h"
#include "discplane/wire/enr.h"

namespace discplane::control {

std::optional<disc::Protocol> parse_protocol(std::string_view text) {
  if (text == "v4" || text == "discv4") {
    return disc::Protocol::kV4;
  }
  if (text == "v5" || text == "discv5") {
    return disc::Protocol::kV5;
  }
  return std::nullopt;
}

Result<ProbeNode, std::string> parse_probe_node(std::string_view text,
                                                std::optional<disc::Protocol> protocol) {
  ProbeNode node;
  if (text.starts_with("enode://")) {
    auto url = enode::parse(text);
    if (!url) {
      return tl::unexpected("bad enode URL (" + std::string(enode::to_string(url.error())) +
                            "): " + std::string(text));
    }
    node.target = {url->public_key, url->udp_endpoint()};
    node.protocol = protocol.value_or(disc::Protocol::kV4);
  } else if (text.starts_with("enr:")) {
    auto record = enr::parse_text(text);
    if (!record) {
      return tl::unexpected("bad ENR (" + std::string(enr::to_string(record.error())) +
                            "): " + std::string(text));
    }
    const auto ep =
        record->udp_endpoint_v4() ? record->udp_endpoint_v4() : record->udp_endpoint_v6();
    if (!ep) {
      return tl::unexpected(std::string("the ENR has no UDP endpoint (ip/udp or ip6/udp6)"));
    }
    node.target = {record->public_key(), *ep};
    node.protocol = protocol.value_or(disc::Protocol::kV5);
  } else {
    return tl::unexpected("not an enode:// URL or an enr: record: " + std::string(text));
  }
  if (!node.target.endpoint.valid()) {
    return tl::unexpected("no usable UDP endpoint in " + std::string(text));
  }
  return node;
}

ProbeReport report_of(std::uint64_t tag, const disc::ProbeResult& r) {
  ProbeReport p;
  p.tag = tag;
  p.kind = r.kind;
  p.outcome = r.outcome;
  p.protocol = r.protocol;
  p.id = r.id;
  p.elapsed_ns = r.elapsed_ns;
  p.from = r.from;
  p.reported = r.reported;
  p.enr_seq = r.enr_seq;
  if (r.record != nullptr) {
    p.record.assign(r.record->raw().begin(), r.record->raw().end());
  }
  p.talk_response.assign(r.talk_response.begin(), r.talk_response.end());
  return p;
}

const char* name(disc::ProbeKind kind) {
  switch (kind) {
    case disc::ProbeKind::kPing:
      return "ping";
    case disc::ProbeKind::kResolve:
      return "resolve";
    case disc::ProbeKind::kTalk:
      return "talk";
  }
  return "?";
}

nlohmann::ordered_json probe_json(const ProbeReport& r) {
  nlohmann::ordered_json j;
  j["kind"] = name(r.kind);
  j["outcome"] = disc::name(r.outcome);
  j["protocol"] = disc::name(r.protocol);
  j["node_id"] = to_hex(r.id);
  j["elapsed_ms"] = static_cast<double>(r.elapsed_ns) / 1e6;
  j["from"] = r.from.valid() ? nlohmann::ordered_json(r.from.to_string()) : nullptr;
  if (r.outcome != disc::ProbeOutcome::kAnswered) {
    return j;
  }
  switch (r.kind) {
    case disc::ProbeKind::kPing:
      j["reported"] = r.reported.valid() ? nlohmann::ordered_json(r.reported.to_string()) : nullptr;
      j["enr_seq"] = r.enr_seq ? nlohmann::ordered_json(*r.enr_seq) : nullptr;
      break;
    case disc::ProbeKind::kResolve:
      if (auto record = enr::decode_unverified(r.record)) {  // verified by the engine
        j["enr"] = enr::to_text(*record);
        j["seq"] = record->seq();
      }
      break;
    case disc::ProbeKind::kTalk:
      j["response"] = to_hex(r.talk_response);
      break;
  }
  return j;
}

std::string probe_failure(const ProbeReport& r, const Endpoint& to) {
  const char* what = r.kind == disc::ProbeKind::kPing      ? "no PONG"
                     : r.kind == disc::ProbeKind::kResolve ? "no record"
                                                           : "no TALKRESP";
  const std::string node =
      to_hex(r.id).substr(0, 16) + " at " + to.to_string() + " (" + disc::name(r.protocol) + ")";
  switch (r.outcome) {
    case disc::ProbeOutcome::kTimeout: {
      char ms[32];
      std::snprintf(ms, sizeof ms, "%.0f", static_cast<double>(r.elapsed_ns) / 1e6);
      return std::string(what) + " from " + node + " within " + ms + " ms";
    }
    case disc::ProbeOutcome::kRefused:
      return "not sent to " + node +
             ": the protocol is disabled, the node is ourselves, or the ban list refuses it";
    case disc::ProbeOutcome::kBusy:
      return "not sent to " + node + ": too many probes in flight";
    case disc::ProbeOutcome::kAnswered:
      break;
  }
  return "answered";
}

}  // namespace discplane::control
