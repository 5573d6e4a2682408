// ENR codec (EIP-778, scheme "v4"): one pass over the record checks its structure, caches
// the typed fields and hashes the signed content without copying it; Builder signs new
// records. Standard keys with malformed values are rejected; a malformed `eth` entry (not
// part of EIP-778) only reads as absent.
#include "discplane/wire/enr.h"

#include <algorithm>
#include <cstring>

#include "discplane/crypto/keccak.h"
#include "discplane/wire/base64.h"
#include "discplane/wire/rlp.h"

namespace discplane::enr {

std::string_view to_string(EnrError e) {
  switch (e) {
    case EnrError::kBadPrefix:
      return "ENR text does not start with \"enr:\"";
    case EnrError::kBadBase64:
      return "ENR text is not valid unpadded base64url";
    case EnrError::kTooLarge:
      return "ENR larger than 300 bytes";
    case EnrError::kBadRlp:
      return "ENR is not valid RLP";
    case EnrError::kNotAList:
      return "ENR is not an RLP list";
    case EnrError::kMissingSignature:
      return "ENR has no signature";
    case EnrError::kBadSeq:
      return "ENR seq missing or not a canonical uint64";
    case EnrError::kOddKeyValueCount:
      return "ENR key without a value";
    case EnrError::kBadKey:
      return "ENR key is not a string";
    case EnrError::kKeysNotSorted:
      return "ENR keys not sorted";
    case EnrError::kDuplicateKey:
      return "ENR key appears twice";
    case EnrError::kMissingId:
      return "ENR has no \"id\"";
    case EnrError::kUnknownScheme:
      return "ENR identity scheme is not \"v4\"";
    case EnrError::kMissingPublicKey:
      return "ENR has no \"secp256k1\" key";
    case EnrError::kBadPublicKey:
      return "ENR \"secp256k1\" is not a valid compressed public key";
    case EnrError::kBadSignature:
      return "ENR signature invalid";
    case EnrError::kBadIp:
      return "ENR \"ip\"/\"ip6\" has the wrong length";
    case EnrError::kBadPort:
      return "ENR port is not a canonical integer <= 65535";
    case EnrError::kBadValue:
      return "ENR value is not one RLP item";
    case EnrError::kReservedKey:
      return "ENR key \"id\"/\"secp256k1\" is written by sign()";
    case EnrError::kInvalidPrivateKey:
      return "invalid private key";
  }
  return "unknown ENR error";
}

namespace {

constexpr std::size_t kSignatureSize = 64;      // v4: r || s
constexpr std::size_t kCompressedKeySize = 33;  // v4: 0x02/0x03 || x
constexpr std::string_view kTextPrefix = "enr:";
constexpr std::uint8_t kIdV4[] = {0x82, 'v', '4'};  // RLP of the string "v4"

bool key_is(ByteView key, std::string_view name) {
  return equal(key, as_bytes(name));
}

int compare_keys(ByteView a, ByteView b) {
  const std::size_t n = std::min(a.size(), b.size());
  const int c = n == 0 ? 0 : std::memcmp(a.data(), b.data(), n);
  if (c != 0) {
    return c;
  }
  return a.size() < b.size() ? -1 : a.size() > b.size() ? 1 : 0;
}

std::optional<std::uint16_t> to_port(const rlp::Item& item) {
  auto v = rlp::to_uint64(item);
  if (!v || *v > 0xffff) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(*v);
}

// eth = [[fork-hash, fork-next], ...]: the fork id must be exact, further elements of the
// outer list are allowed (geth's entry has a "tail" for future fields).
std::optional<ForkId> parse_eth(const rlp::Item& value) {
  auto outer = rlp::ListReader::of(value);
  if (!outer) {
    return std::nullopt;
  }
  auto fork = outer->next_list();
  if (!fork) {
    return std::nullopt;
  }
  auto hash = fork->next_string(4);
  if (!hash) {
    return std::nullopt;
  }
  auto next = fork->next_uint();
  if (!next || !fork->at_end()) {
    return std::nullopt;
  }
  ForkId id;
  id.hash = to_array<4>(*hash);
  id.next = *next;
  return id;
}

// Walks the key/value pairs of an already decoded record; f(key, value) returns false to
// stop.
template <class F>
void for_each_pair(ByteView raw, F&& f) {
  auto top = rlp::decode_prefix(raw);
  if (!top) {
    return;
  }
  rlp::ListReader r(top->payload);
  if (!r.next() || !r.next()) {  // signature, seq
    return;
  }
  while (!r.at_end()) {
    auto key = r.next();
    auto value = r.next();
    if (!key || !value || !f(key->payload, *value)) {
      return;
    }
  }
}

}  // namespace

// Not in the anonymous namespace: Record names it as a friend.
Result<Record, EnrError> decode_impl(ByteView in, bool verify) noexcept {
  if (in.size() > kMaxRecordSize) {
    return fail(EnrError::kTooLarge);
  }
  auto top = rlp::decode_exact_deep(in);
  if (!top) {
    return fail(EnrError::kBadRlp);
  }
  if (!top->is_list) {
    return fail(EnrError::kNotAList);
  }
  rlp::ListReader r(top->payload);
  if (r.at_end()) {
    return fail(EnrError::kMissingSignature);
  }
  auto sig = r.next();
  if (!sig || sig->is_list || sig->payload.size() != kSignatureSize) {
    return fail(EnrError::kBadSignature);
  }
  // Everything after the signature is the payload of the signed content list.
  const ByteView content = r.rest();
  auto seq_item = r.next();
  if (!seq_item) {
    return fail(EnrError::kBadSeq);
  }
  auto seq = rlp::to_uint64(*seq_item);
  if (!seq) {
    return fail(EnrError::kBadSeq);
  }

  Record rec;
  rec.seq_ = *seq;
  ByteView id;
  ByteView pubkey;
  bool has_id = false;
  bool has_pubkey = false;
  ByteView prev_key;
  bool has_prev = false;
  while (!r.at_end()) {
    auto key_item = r.next();
    if (!key_item) {
      return fail(EnrError::kBadRlp);
    }
    if (key_item->is_list) {
      return fail(EnrError::kBadKey);
    }
    if (r.at_end()) {
      return fail(EnrError::kOddKeyValueCount);
    }
    auto value = r.next();
    if (!value) {
      return fail(EnrError::kBadRlp);
    }
    const ByteView key = key_item->payload;
    if (has_prev) {
      const int c = compare_keys(prev_key, key);
      if (c == 0) {
        return fail(EnrError::kDuplicateKey);
      }
      if (c > 0) {
        return fail(EnrError::kKeysNotSorted);
      }
    }
    prev_key = key;
    has_prev = true;

    if (key_is(key, "id")) {
      if (value->is_list) {
        return fail(EnrError::kUnknownScheme);
      }
      id = value->payload;
      has_id = true;
    } else if (key_is(key, "secp256k1")) {
      if (value->is_list) {
        return fail(EnrError::kBadPublicKey);
      }
      pubkey = value->payload;
      has_pubkey = true;
    } else if (key_is(key, "ip") || key_is(key, "ip6")) {
      const bool v6 = key.size() == 3;
      if (value->is_list || value->payload.size() != (v6 ? 16u : 4u)) {
        return fail(EnrError::kBadIp);
      }
      if (v6) {
        std::memcpy(rec.ip6_.data(), value->payload.data(), 16);
        rec.flags_ |= Record::kHasIp6;
      } else {
        std::memcpy(rec.ip_.data(), value->payload.data(), 4);
        rec.flags_ |= Record::kHasIp;
      }
    } else if (key_is(key, "udp") || key_is(key, "tcp") || key_is(key, "udp6") ||
               key_is(key, "tcp6")) {
      auto port = to_port(*value);
      if (!port) {
        return fail(EnrError::kBadPort);
      }
      const bool v6 = key.size() == 4;
      const bool udp = key[0] == 'u';
      const auto index =
          v6 ? (udp ? Record::kUdp6 : Record::kTcp6) : (udp ? Record::kUdp : Record::kTcp);
      rec.ports_[index] = *port;
      rec.port_mask_ |= static_cast<std::uint8_t>(1u << index);
    } else if (key_is(key, "eth")) {
      if (auto fork = parse_eth(*value)) {
        rec.eth_ = *fork;
        rec.flags_ |= Record::kHasEth;
      }
    }
  }

  if (!has_id) {
    return fail(EnrError::kMissingId);
  }
  if (!key_is(id, "v4")) {
    return fail(EnrError::kUnknownScheme);
  }
  if (!has_pubkey) {
    return fail(EnrError::kMissingPublicKey);
  }
  if (pubkey.size() != kCompressedKeySize) {
    return fail(EnrError::kBadPublicKey);
  }
  auto pub = crypto::parse_public_key(pubkey);
  if (!pub) {
    return fail(EnrError::kBadPublicKey);
  }
  if (verify) {
    // keccak256(RLP([seq, k, v, ...])): a list header for `content`, then content itself.
    std::uint8_t header[9];
    const std::size_t header_size = rlp::write_list_header(header, content.size());
    crypto::Keccak256 hasher;
    hasher.update(ByteView(header, header_size));
    hasher.update(content);
    const Hash256 digest = hasher.finish();
    if (!crypto::verify(*pub, sig->payload, digest)) {
      return fail(EnrError::kBadSignature);
    }
  }

  rec.public_key_ = *pub;
  rec.node_id_ = crypto::node_id_of(*pub);
  std::memcpy(rec.bytes_.data(), in.data(), in.size());
  rec.size_ = static_cast<std::uint16_t>(in.size());
  rec.signature_offset_ = static_cast<std::uint16_t>(sig->payload.data() - in.data());
  return rec;
}

Result<Record, EnrError> decode(ByteView rlp) noexcept {
  return decode_impl(rlp, true);
}

Result<Record, EnrError> decode_unverified(ByteView rlp) noexcept {
  return decode_impl(rlp, false);
}

// ---- Record accessors ----

std::optional<IpAddress> Record::ip() const noexcept {
  if (!(flags_ & kHasIp)) {
    return std::nullopt;
  }
  return IpAddress::v4(ByteView(ip_));
}

std::optional<IpAddress> Record::ip6() const noexcept {
  if (!(flags_ & kHasIp6)) {
    return std::nullopt;
  }
  return IpAddress::v6(ByteView(ip6_));
}

std::optional<ForkId> Record::eth() const noexcept {
  if (!(flags_ & kHasEth)) {
    return std::nullopt;
  }
  return eth_;
}

namespace {
std::optional<Endpoint> make_endpoint(std::optional<IpAddress> ip,
                                      std::optional<std::uint16_t> port) {
  if (!ip || !port || *port == 0) {
    return std::nullopt;
  }
  return Endpoint{*ip, *port};
}
}  // namespace

std::optional<Endpoint> Record::udp_endpoint_v4() const noexcept {
  return make_endpoint(ip(), udp());
}

std::optional<Endpoint> Record::udp_endpoint_v6() const noexcept {
  const auto p = udp6();
  return make_endpoint(ip6(), p ? p : udp());
}

std::optional<Endpoint> Record::tcp_endpoint_v4() const noexcept {
  return make_endpoint(ip(), tcp());
}

std::optional<Endpoint> Record::tcp_endpoint_v6() const noexcept {
  const auto p = tcp6();
  return make_endpoint(ip6(), p ? p : tcp());
}

std::optional<ByteView> Record::get(std::string_view key) const noexcept {
  std::optional<ByteView> found;
  for_each_pair(raw(), [&](ByteView k, const rlp::Item& v) {
    const int c = compare_keys(k, as_bytes(key));
    if (c == 0) {
      found = v.encoded;
    }
    return c < 0;  // keys are sorted: stop at the first one not below `key`
  });
  return found;
}

std::optional<std::uint16_t> tcp_port_of(ByteView raw, bool ipv6) noexcept {
  std::optional<std::uint16_t> tcp;
  std::optional<std::uint16_t> tcp6;
  for_each_pair(raw, [&](ByteView k, const rlp::Item& v) {
    if (key_is(k, "tcp")) {
      tcp = to_port(v);
    } else if (key_is(k, "tcp6")) {
      tcp6 = to_port(v);
    }
    return compare_keys(k, as_bytes("tcp6")) < 0;  // sorted keys: nothing after tcp6 matters
  });
  return ipv6 && tcp6 ? tcp6 : tcp;
}

// ---- Text form ----

Result<Record, EnrError> parse_text(std::string_view text) noexcept {
  if (text.substr(0, kTextPrefix.size()) != kTextPrefix) {
    return fail(EnrError::kBadPrefix);
  }
  text.remove_prefix(kTextPrefix.size());
  if (text.size() > kMaxTextSize - kTextPrefix.size()) {
    return fail(EnrError::kTooLarge);
  }
  std::array<std::uint8_t, kMaxRecordSize> buf;
  auto n = base64::decode(text, MutableByteView(buf));
  if (!n) {
    return fail(n.error() == base64::Base64Error::kOutputTooSmall ? EnrError::kTooLarge
                                                                  : EnrError::kBadBase64);
  }
  return decode(ByteView(buf.data(), *n));
}

std::string to_text(const Record& record) {
  std::string out(kTextPrefix);
  out += base64::encode(record.raw());
  return out;
}

// ---- Builder ----

Builder Builder::from(const Record& record) {
  Builder b;
  b.seq_ = record.seq();
  for_each_pair(record.raw(), [&](ByteView k, const rlp::Item& v) {
    b.pairs_[std::string(reinterpret_cast<const char*>(k.data()), k.size())] =
        Bytes(v.encoded.begin(), v.encoded.end());
    return true;
  });
  return b;
}

Builder& Builder::set_ip(const IpAddress& ip) {
  if (ip.valid()) {
    rlp::Builder v;
    v.add_string(ip.view());
    pairs_[ip.is_v4() ? "ip" : "ip6"] = v.take();
  }
  return *this;
}

Builder& Builder::set_port(std::string_view key, std::uint16_t port) {
  rlp::Builder v;
  v.add_uint(port);
  pairs_[std::string(key)] = v.take();
  return *this;
}

Builder& Builder::set_eth(const ForkId& fork) {
  rlp::Builder v;
  const auto outer = v.begin_list();
  const auto inner = v.begin_list();
  v.add_string(fork.hash);
  v.add_uint(fork.next);
  v.end_list(inner);
  v.end_list(outer);
  pairs_["eth"] = v.take();
  return *this;
}

Result<void, EnrError> Builder::set(std::string_view key, ByteView rlp_value) {
  if (key == "id" || key == "secp256k1") {
    return fail(EnrError::kReservedKey);
  }
  if (!rlp::decode_exact_deep(rlp_value)) {
    return fail(EnrError::kBadValue);
  }
  pairs_[std::string(key)] = Bytes(rlp_value.begin(), rlp_value.end());
  return {};
}

Builder& Builder::remove(std::string_view key) {
  pairs_.erase(std::string(key));
  return *this;
}

Result<Record, EnrError> Builder::sign(const crypto::PrivateKey& key) const {
  auto pub = crypto::derive_public_key(key);
  if (!pub) {
    return fail(EnrError::kInvalidPrivateKey);
  }
  std::map<std::string, Bytes> pairs = pairs_;
  pairs["id"] = Bytes(std::begin(kIdV4), std::end(kIdV4));
  rlp::Builder pk;
  pk.add_string(crypto::compress(*pub));
  pairs["secp256k1"] = pk.take();

  rlp::Builder content;
  const auto list = content.begin_list();
  content.add_uint(seq_);
  for (const auto& [k, v] : pairs) {
    content.add_string(as_bytes(k));
    content.add_raw(v);
  }
  content.end_list(list);
  const crypto::Signature sig = crypto::sign(key, crypto::keccak256(content.bytes()));

  auto content_item = rlp::decode_exact(content.bytes());
  if (!content_item) {
    return fail(EnrError::kBadRlp);  // cannot happen: we just encoded it
  }
  rlp::Builder record;
  const auto outer = record.begin_list();
  record.add_string(sig);
  record.add_raw(content_item->payload);
  record.end_list(outer);
  if (record.bytes().size() > kMaxRecordSize) {
    return fail(EnrError::kTooLarge);
  }
  // Re-reading checks the values and fills the typed fields; the signature is ours.
  return decode_unverified(record.bytes());
}

bool is_reserved_key(std::string_view key) noexcept {
  for (const std::string_view k :
       {"id", "secp256k1", "ip", "ip6", "udp", "udp6", "tcp", "tcp6", "eth"}) {
    if (key == k) {
      return true;
    }
  }
  return false;
}

bool is_valid_extra_key(std::string_view key) noexcept {
  return !key.empty() && key.size() <= 64 &&
         std::all_of(key.begin(), key.end(), [](char c) { return c > ' ' && c < 0x7f; });
}

namespace {
std::string_view strip_0x(std::string_view h) noexcept {
  if (h.starts_with("0x") || h.starts_with("0X")) {
    h.remove_prefix(2);
  }
  return h;
}
}  // namespace

std::optional<Bytes> parse_hex_rlp(std::string_view text) {
  const std::string_view h = strip_0x(text);
  Bytes b;
  if (h.empty() || !from_hex(h, b) || !rlp::decode_exact_deep(b)) {
    return std::nullopt;
  }
  return b;
}

std::optional<ByteArray<4>> parse_fork_hash(std::string_view text) {
  const std::string_view h = strip_0x(text);
  Bytes b;
  if (h.size() != 8 || !from_hex(h, b) || b.size() != 4) {
    return std::nullopt;
  }
  ByteArray<4> out{};
  std::copy(b.begin(), b.end(), out.begin());
  return out;
}

}  // namespace discplane::enr
