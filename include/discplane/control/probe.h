// Operator probes of one remote node (discctl ping / resolve / talk and the API's POST
// /v1/ping, /v1/resolve, /v1/talk): naming the node (an enode URL or an ENR) and rendering the
// engine's answer (disc::ProbeResult) as the JSON both print. The probe itself is an engine
// inbox message (msg::Ping / msg::Resolve / msg::TalkRequest); nothing here sends a packet.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "discplane/common/result.h"
#include "discplane/control/core_snapshot.h"
#include "discplane/discovery/server.h"

namespace discplane::control {

struct ProbeNode {
  disc::msg::ProbeTarget target;
  disc::Protocol protocol = disc::Protocol::kV5;
};

// `text` is an enode:// URL (default protocol v4) or an enr: record (default v5); `protocol`
// overrides the default. The record's IPv4 endpoint is used when it has both. Errors are one
// line naming what is wrong.
[[nodiscard]] Result<ProbeNode, std::string> parse_probe_node(
    std::string_view text, std::optional<disc::Protocol> protocol = std::nullopt);
// "v4"/"discv4" or "v5"/"discv5".
std::optional<disc::Protocol> parse_protocol(std::string_view text);

ProbeReport report_of(std::uint64_t tag, const disc::ProbeResult& result);
const char* name(disc::ProbeKind kind);  // "ping", "resolve", "talk"

// {"kind", "outcome", "protocol", "node_id", "elapsed_ms", "from", and per kind: "reported",
// "enr_seq" (ping), "enr" (resolve, text form), "response" (talk, hex)}.
nlohmann::ordered_json probe_json(const ProbeReport& report);
// One line for an unanswered probe: "no PONG from ID at ENDPOINT within N ms", ...
std::string probe_failure(const ProbeReport& report, const Endpoint& to);

}  // namespace discplane::control
