// enode URLs: "enode://<128 hex digits of the public key>@<ip>:<tcp>[?discport=<udp>]",
// IPv6 in brackets. Only IP literals are accepted (no DNS here). Control plane and
// tools (allocates); the dataplane works with ENRs and endpoints.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "discplane/common/bytes.h"
#include "discplane/common/endpoint.h"
#include "discplane/common/result.h"
#include "discplane/crypto/secp256k1.h"

namespace discplane::enr {
class Record;
}

namespace discplane::enode {

enum class EnodeError : std::uint8_t {
  kBadScheme,         // does not start with "enode://"
  kBadPublicKeyHex,   // not exactly 128 hex digits
  kInvalidPublicKey,  // 64 bytes that are not a point on secp256k1
  kMissingAt,         // no '@' after the key
  kBadHost,           // not an IPv4 literal or a bracketed IPv6 literal (hostnames included)
  kMissingPort,       // no ":<port>" after the host
  kBadPort,           // not a decimal number 0..65535
  kBadQuery,          // anything other than "?discport=<port>"
  kMissingAddress,    // from_record: the record has no IP address
};
std::string_view to_string(EnodeError e);

struct Url {
  crypto::PublicKey public_key{};
  IpAddress ip;
  std::uint16_t tcp_port = 0;
  std::uint16_t udp_port = 0;  // = tcp_port when the URL has no discport

  NodeId node_id() const;
  Endpoint udp_endpoint() const { return {ip, udp_port}; }
  friend bool operator==(const Url&, const Url&) = default;
};

[[nodiscard]] Result<Url, EnodeError> parse(std::string_view text);
// Canonical text: lowercase hex, "?discport=" only when udp != tcp.
std::string to_string(const Url& url);
// The enode URL of a record: its IPv4 address when it has one, else IPv6 (with udp6/tcp6
// falling back to udp/tcp). A missing port prints as 0, like geth.
[[nodiscard]] Result<std::string, EnodeError> from_record(const enr::Record& record);

}  // namespace discplane::enode
