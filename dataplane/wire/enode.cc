// enode URL parsing and printing. Strict: an exact scheme, exactly 128 hex digits that
// must be a curve point, an IP literal (IPv6 in brackets), decimal ports without signs or
// spaces, and "discport" as the only query parameter.
#include "discplane/wire/enode.h"

#include "discplane/wire/enr.h"

namespace discplane::enode {

std::string_view to_string(EnodeError e) {
  switch (e) {
    case EnodeError::kBadScheme:
      return "enode: URL does not start with enode://";
    case EnodeError::kBadPublicKeyHex:
      return "enode: public key is not 128 hex digits";
    case EnodeError::kInvalidPublicKey:
      return "enode: public key is not on the curve";
    case EnodeError::kMissingAt:
      return "enode: missing '@' after the public key";
    case EnodeError::kBadHost:
      return "enode: host is not an IP literal";
    case EnodeError::kMissingPort:
      return "enode: missing port";
    case EnodeError::kBadPort:
      return "enode: port is not a number 0..65535";
    case EnodeError::kBadQuery:
      return "enode: query must be ?discport=<port>";
    case EnodeError::kMissingAddress:
      return "enode: record has no IP address";
  }
  return "enode: unknown error";
}

namespace {

constexpr std::string_view kScheme = "enode://";
constexpr std::string_view kDiscport = "discport=";
constexpr std::size_t kKeyHexDigits = 128;

Result<std::uint16_t, EnodeError> parse_port(std::string_view s) {
  if (s.empty() || s.size() > 5) {
    return fail(EnodeError::kBadPort);
  }
  std::uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') {
      return fail(EnodeError::kBadPort);
    }
    v = v * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (v > 0xffff) {
    return fail(EnodeError::kBadPort);
  }
  return static_cast<std::uint16_t>(v);
}

}  // namespace

NodeId Url::node_id() const {
  return crypto::node_id_of(public_key);
}

Result<Url, EnodeError> parse(std::string_view text) {
  if (text.substr(0, kScheme.size()) != kScheme) {
    return fail(EnodeError::kBadScheme);
  }
  text.remove_prefix(kScheme.size());
  const std::size_t at = text.find('@');
  if (at == std::string_view::npos) {
    // Distinguish "key only" (no address) from a malformed key.
    return fail(text.size() == kKeyHexDigits ? EnodeError::kMissingAt
                                             : EnodeError::kBadPublicKeyHex);
  }
  const std::string_view key_hex = text.substr(0, at);
  Bytes key;
  if (key_hex.size() != kKeyHexDigits || key_hex.substr(0, 2) == "0x" || !from_hex(key_hex, key)) {
    return fail(EnodeError::kBadPublicKeyHex);
  }
  auto pub = crypto::parse_public_key(key);
  if (!pub) {
    return fail(EnodeError::kInvalidPublicKey);
  }
  Url url;
  url.public_key = *pub;

  std::string_view rest = text.substr(at + 1);
  std::string_view host;
  if (!rest.empty() && rest[0] == '[') {
    const std::size_t close = rest.find(']');
    if (close == std::string_view::npos) {
      return fail(EnodeError::kBadHost);
    }
    host = rest.substr(1, close - 1);
    rest.remove_prefix(close + 1);
    auto ip = IpAddress::parse(host);
    if (!ip || !ip->is_v6()) {
      return fail(EnodeError::kBadHost);
    }
    url.ip = *ip;
  } else {
    const std::size_t end = rest.find_first_of(":?");
    host = rest.substr(0, end);
    rest.remove_prefix(host.size());
    auto ip = IpAddress::parse(host);
    if (!ip || !ip->is_v4()) {  // an unbracketed IPv6 literal is ambiguous with the port
      return fail(EnodeError::kBadHost);
    }
    url.ip = *ip;
  }

  if (rest.empty() || rest[0] != ':') {
    return fail(EnodeError::kMissingPort);
  }
  rest.remove_prefix(1);
  const std::size_t q = rest.find('?');
  auto tcp = parse_port(rest.substr(0, q));
  if (!tcp) {
    return fail(tcp.error());
  }
  url.tcp_port = *tcp;
  url.udp_port = *tcp;
  if (q != std::string_view::npos) {
    std::string_view query = rest.substr(q + 1);
    if (query.substr(0, kDiscport.size()) != kDiscport) {
      return fail(EnodeError::kBadQuery);
    }
    auto udp = parse_port(query.substr(kDiscport.size()));
    if (!udp) {
      return fail(EnodeError::kBadQuery);
    }
    url.udp_port = *udp;
  }
  return url;
}

std::string to_string(const Url& url) {
  std::string out(kScheme);
  out += to_hex(url.public_key);
  out += '@';
  if (url.ip.is_v6()) {
    out += '[';
    out += url.ip.to_string();
    out += ']';
  } else {
    out += url.ip.to_string();
  }
  out += ':';
  out += std::to_string(url.tcp_port);
  if (url.udp_port != url.tcp_port) {
    out += "?discport=";
    out += std::to_string(url.udp_port);
  }
  return out;
}

Result<std::string, EnodeError> from_record(const enr::Record& record) {
  Url url;
  url.public_key = record.public_key();
  if (auto ip = record.ip()) {
    url.ip = *ip;
    url.tcp_port = record.tcp().value_or(0);
    url.udp_port = record.udp().value_or(0);
  } else if (auto ip6 = record.ip6()) {
    url.ip = *ip6;
    url.tcp_port = record.tcp6().value_or(record.tcp().value_or(0));
    url.udp_port = record.udp6().value_or(record.udp().value_or(0));
  } else {
    return fail(EnodeError::kMissingAddress);
  }
  return to_string(url);
}

}  // namespace discplane::enode
