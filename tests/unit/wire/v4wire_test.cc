// discv4 codec: every packet of tests/data/discv4.json (decoded fields, hash, signer; the
// derived ones re-encoded byte-exact), round trips of each type, Neighbors splitting, every
// rejection path of decode and the encoders (with valid hash and signature, so that each
// case fails at the check it targets), and buffer bounds.
#include "discplane/wire/v4wire.h"

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "discplane/common/bytes.h"
#include "discplane/crypto/keccak.h"
#include "discplane/crypto/secp256k1.h"
#include "discplane/wire/rlp.h"

using namespace discplane;
using namespace discplane::v4wire;
using nlohmann::json;

static_assert(std::forward_iterator<NodeList::Iterator>);

namespace {

const json& vectors() {
  static const json j = [] {
    std::ifstream f(std::string(DP_TEST_DATA_DIR) + "/discv4.json");
    REQUIRE(f.good());
    return json::parse(f);
  }();
  return j;
}

Bytes hex(const json& v) {
  return hex_or_die(v.get<std::string>());
}

crypto::PrivateKey eip8_key() {
  return to_array<32>(hex(vectors()["signing_key"]["private_key_hex"]));
}
crypto::PublicKey eip8_pubkey() {
  return to_array<64>(hex(vectors()["signing_key"]["derived_public_key_uncompressed_64_hex"]));
}

const json& vector_named(const std::string& name) {
  for (const auto& v : vectors()["vectors"]) {
    if (v["name"] == name) {
      return v;
    }
  }
  for (const auto& v : vectors()["derived_vectors"]["vectors"]) {
    if (v["name"] == name) {
      return v;
    }
  }
  FAIL("no vector " << name);
  static json none;
  return none;
}

void check_endpoint(const RpcEndpoint& ep, const json& want) {
  REQUIRE(to_hex(ep.ip.view()) == want["ip_hex"].get<std::string>());
  REQUIRE(ep.ip.to_string() == IpAddress::parse(want["ip"].get<std::string>())->to_string());
  REQUIRE(ep.udp == want["udp_port"].get<int>());
  REQUIRE(ep.tcp == want["tcp_port"].get<int>());
}

// Builds hash || sig || type || body with a valid hash and signature, for any body bytes.
Bytes make_packet(const crypto::PrivateKey& key, std::uint8_t type, ByteView body) {
  Bytes p(kHeaderSize, 0);
  p.push_back(type);
  p.insert(p.end(), body.begin(), body.end());
  const auto sig = crypto::sign_recoverable(key, crypto::keccak256(ByteView(p).subspan(97)));
  std::copy(sig.begin(), sig.end(), p.begin() + 32);
  const auto h = crypto::keccak256(ByteView(p).subspan(32));
  std::copy(h.begin(), h.end(), p.begin());
  return p;
}

// Recomputes the hash after the caller changed bytes (keeps the signature as is).
void rehash(Bytes& p) {
  const auto h = crypto::keccak256(ByteView(p).subspan(32));
  std::copy(h.begin(), h.end(), p.begin());
}

template <class F>
Bytes rlp_list(F&& fill) {
  rlp::Builder b;
  const auto t = b.begin_list();
  fill(b);
  b.end_list(t);
  return b.take();
}

void add_endpoint(rlp::Builder& b, ByteView ip, std::uint64_t udp, std::uint64_t tcp) {
  const auto t = b.begin_list();
  b.add_string(ip);
  b.add_uint(udp);
  b.add_uint(tcp);
  b.end_list(t);
}

const Bytes kIp4 = {127, 0, 0, 1};
constexpr std::uint64_t kExp = 1136239445;

V4Error decode_error(const Bytes& p) {
  auto r = decode(p);
  REQUIRE_FALSE(r);
  return r.error();
}

template <class T>
const T& as(const Packet& p) {
  REQUIRE(std::holds_alternative<T>(p.message));
  return std::get<T>(p.message);
}

}  // namespace

TEST_CASE("v4wire: source vectors decode with the expected fields", "[wire][v4wire]") {
  for (const auto& v : vectors()["vectors"]) {
    const std::string name = v["name"];
    INFO(name);
    const Bytes pkt = hex(v["packet_hex"]);
    const json& want = v["expected"];
    REQUIRE(pkt.size() == want["packet_length_bytes"].get<std::size_t>());
    REQUIRE(hash_matches(pkt));
    auto r = decode(pkt);
    REQUIRE(r);
    const Packet& p = *r;
    REQUIRE(static_cast<int>(p.type) == want["packet_type"].get<int>());
    REQUIRE(to_hex(p.hash) == want["hash_hex"].get<std::string>());
    REQUIRE(to_hex(p.sender) == want["recovered_signer_pubkey_hex"].get<std::string>());
    REQUIRE(p.sender == eip8_pubkey());
    REQUIRE(to_hex(p.sender_id) == vectors()["signing_key"]["derived_node_id_keccak256_hex"]);
    // Same result when the classifier already checked the hash.
    auto skipped = decode(pkt, DecodeOptions{.hash_already_checked = true});
    REQUIRE(skipped);
    REQUIRE(skipped->message == p.message);

    const json& d = want["decoded"];
    switch (p.type) {
      case PacketType::kPing: {
        const auto& m = as<Ping>(p);
        REQUIRE(m.version == d["version"].get<std::uint64_t>());
        check_endpoint(m.from, d["from"]);
        check_endpoint(m.to, d["to"]);
        REQUIRE(m.expiration == d["expiration"].get<std::uint64_t>());
        if (d["enr_seq_eip868"].is_null()) {
          REQUIRE_FALSE(m.enr_seq);
        } else {
          REQUIRE(m.enr_seq == d["enr_seq_eip868"].get<std::uint64_t>());
        }
        break;
      }
      case PacketType::kPong: {
        const auto& m = as<Pong>(p);
        check_endpoint(m.to, d["to"]);
        REQUIRE(to_hex(m.ping_hash) == d["ping_hash_hex"].get<std::string>());
        REQUIRE(m.expiration == d["expiration"].get<std::uint64_t>());
        REQUIRE(d["enr_seq_eip868"].is_null());
        REQUIRE_FALSE(m.enr_seq);  // the EIP-8/EIP-868 conflict: a list there means absent
        break;
      }
      case PacketType::kFindNode: {
        const auto& m = as<FindNode>(p);
        REQUIRE(to_hex(m.target) == d["target_pubkey_hex"].get<std::string>());
        REQUIRE(m.expiration == d["expiration"].get<std::uint64_t>());
        break;
      }
      case PacketType::kNeighbors: {
        const auto& m = as<Neighbors>(p);
        REQUIRE(m.expiration == d["expiration"].get<std::uint64_t>());
        const auto& want_nodes = d["nodes"];
        REQUIRE(m.nodes.size() == want_nodes.size());
        REQUIRE(static_cast<std::size_t>(std::distance(m.nodes.begin(), m.nodes.end())) ==
                want_nodes.size());
        std::size_t i = 0;
        for (const NeighborNode& n : m.nodes) {
          check_endpoint(n.endpoint, want_nodes[i]);
          REQUIRE(to_hex(n.pubkey) == want_nodes[i]["node_pubkey_hex"].get<std::string>());
          ++i;
        }
        REQUIRE(i == 4);
        break;
      }
      default:
        FAIL("unexpected type in source vectors");
    }
  }
}

TEST_CASE("v4wire: derived vectors decode and re-encode byte-exact", "[wire][v4wire]") {
  const auto key = eip8_key();
  std::array<std::uint8_t, kMaxPacketSize> out{};

  SECTION("pong") {
    const json& v = vector_named("derived_pong_reply_to_eip8_ping_v4");
    const Bytes pkt = hex(v["packet_hex"]);
    auto r = decode(pkt);
    REQUIRE(r);
    const auto& m = as<Pong>(*r);
    REQUIRE(m.to.ip == IpAddress::v4(127, 0, 0, 1));
    REQUIRE(m.to.udp == 3322);
    REQUIRE(m.to.tcp == 5544);
    REQUIRE(to_hex(m.ping_hash) == v["inputs"]["ping_hash_hex"].get<std::string>());
    REQUIRE(m.expiration == kExp);
    REQUIRE(m.enr_seq == 1u);
    REQUIRE(r->sender == eip8_pubkey());
    // It answers the EIP-8 ping with extra elements: its ping_hash is that packet's hash.
    auto ping = decode(hex(vector_named("eip8_ping_v4_extra_elements")["packet_hex"]));
    REQUIRE(ping);
    REQUIRE(m.ping_hash == ping->hash);

    auto enc = encode_pong(key, m, out);
    REQUIRE(enc);
    REQUIRE(enc->size == pkt.size());
    REQUIRE(equal(ByteView(out).first(enc->size), pkt));
    REQUIRE(to_hex(enc->hash) == v["expected_hash_hex"].get<std::string>());
  }
  SECTION("enrrequest") {
    const json& v = vector_named("derived_enrrequest");
    const Bytes pkt = hex(v["packet_hex"]);
    auto r = decode(pkt);
    REQUIRE(r);
    REQUIRE(as<ENRRequest>(*r).expiration == kExp);
    auto enc = encode_enrrequest(key, ENRRequest{kExp}, out);
    REQUIRE(enc);
    REQUIRE(equal(ByteView(out).first(enc->size), pkt));
    REQUIRE(to_hex(enc->hash) == v["expected_hash_hex"].get<std::string>());
  }
  SECTION("enrresponse") {
    const json& v = vector_named("derived_enrresponse");
    const Bytes pkt = hex(v["packet_hex"]);
    const Bytes record = hex(v["inputs"]["enr_rlp_hex"]);
    auto r = decode(pkt);
    REQUIRE(r);
    const auto& m = as<ENRResponse>(*r);
    REQUIRE(to_hex(m.request_hash) == v["inputs"]["request_hash_hex"].get<std::string>());
    REQUIRE(to_hex(m.request_hash) ==
            vector_named("derived_enrrequest")["expected_hash_hex"].get<std::string>());
    REQUIRE(equal(m.record_rlp, record));
    ENRResponse in{m.request_hash, record};
    auto enc = encode_enrresponse(key, in, out);
    REQUIRE(enc);
    REQUIRE(equal(ByteView(out).first(enc->size), pkt));
    REQUIRE(to_hex(enc->hash) == v["expected_hash_hex"].get<std::string>());
  }
}

TEST_CASE("v4wire: round trip of every type with a random key", "[wire][v4wire]") {
  const auto key = crypto::generate_private_key();
  const auto pub = *crypto::derive_public_key(key);
  std::array<std::uint8_t, kMaxPacketSize> out{};
  auto check = [&](const Result<Encoded, V4Error>& enc, PacketType type) -> Packet {
    REQUIRE(enc);
    const ByteView pkt = ByteView(out).first(enc->size);
    REQUIRE(hash_matches(pkt));
    auto r = decode(pkt);
    REQUIRE(r);
    REQUIRE(r->type == type);
    REQUIRE(r->hash == enc->hash);
    REQUIRE(r->sender == pub);
    REQUIRE(r->sender_id == crypto::node_id_of(pub));
    return *r;
  };

  Ping ping;
  ping.version = 4;
  ping.from = {*IpAddress::parse("10.1.2.3"), 30303, 30304};
  ping.to = {*IpAddress::parse("2001:db8::7"), 1, 65535};
  ping.expiration = 0xffffffffffffffffull;
  SECTION("ping without and with enr_seq") {
    REQUIRE(as<Ping>(check(encode_ping(key, ping, out), PacketType::kPing)) == ping);
    ping.enr_seq = 0;
    REQUIRE(as<Ping>(check(encode_ping(key, ping, out), PacketType::kPing)) == ping);
    ping.enr_seq = 0x0102030405060708ull;
    REQUIRE(as<Ping>(check(encode_ping(key, ping, out), PacketType::kPing)) == ping);
    ping.from.ip = IpAddress{};  // empty `from` ip is allowed
    REQUIRE(as<Ping>(check(encode_ping(key, ping, out), PacketType::kPing)) == ping);
  }
  SECTION("pong") {
    Pong pong{ping.to, crypto::keccak256(as_bytes("ping")), 1700000000, 42};
    REQUIRE(as<Pong>(check(encode_pong(key, pong, out), PacketType::kPong)) == pong);
  }
  SECTION("findnode") {
    FindNode f{pub, 0};
    REQUIRE(as<FindNode>(check(encode_findnode(key, f, out), PacketType::kFindNode)) == f);
  }
  SECTION("neighbors, empty and with nodes") {
    auto enc = encode_neighbors(key, {}, 7, out);
    REQUIRE(enc);
    REQUIRE(enc->nodes_written == 0);
    auto empty = as<Neighbors>(check(enc->packet, PacketType::kNeighbors));
    REQUIRE(empty.nodes.empty());
    REQUIRE(empty.nodes.begin() == empty.nodes.end());
    REQUIRE(empty.expiration == 7);

    std::vector<NeighborNode> nodes = {
        {{IpAddress::v4(1, 2, 3, 4), 1, 0}, pub},
        {{*IpAddress::parse("::1"), 0, 2}, crypto::PublicKey{}},
        {{IpAddress::v4(255, 255, 255, 255), 65535, 65535}, pub},
    };
    enc = encode_neighbors(key, nodes, 8, out);
    REQUIRE(enc);
    REQUIRE(enc->nodes_written == 3);
    auto m = as<Neighbors>(check(enc->packet, PacketType::kNeighbors));
    REQUIRE(m.expiration == 8);
    REQUIRE(std::vector<NeighborNode>(m.nodes.begin(), m.nodes.end()) == nodes);
  }
  SECTION("enrrequest and enrresponse") {
    REQUIRE(
        as<ENRRequest>(check(encode_enrrequest(key, ENRRequest{99}, out), PacketType::kENRRequest))
            .expiration == 99);
    const Bytes record = rlp_list([](rlp::Builder& b) {
      b.add_string(Bytes(64, 0xab));
      b.add_uint(1);
      b.add_string(as_bytes("id"));
      b.add_string(as_bytes("v4"));
    });
    ENRResponse resp{crypto::keccak256(as_bytes("req")), record};
    const Packet p = check(encode_enrresponse(key, resp, out), PacketType::kENRResponse);
    const auto& m = as<ENRResponse>(p);
    REQUIRE(m.request_hash == resp.request_hash);
    REQUIRE(equal(m.record_rlp, record));
  }
}

TEST_CASE("v4wire: 16 worst-case IPv6 nodes split 12 + 4, each packet <= 1280 bytes",
          "[wire][v4wire]") {
  const auto key = crypto::generate_private_key();
  std::vector<NeighborNode> nodes;
  for (int i = 0; i < 16; ++i) {
    NeighborNode n;
    n.endpoint.ip.family = IpAddress::Family::kV6;
    n.endpoint.ip.bytes.fill(static_cast<std::uint8_t>(0xf0 + i));
    n.endpoint.udp = 65535;
    n.endpoint.tcp = 65000 + i;
    n.pubkey.fill(static_cast<std::uint8_t>(i + 1));
    nodes.push_back(n);
  }
  const std::uint64_t expiration = 0xffffffffffffffffull;  // 8 bytes
  std::array<std::uint8_t, kMaxPacketSize> out{};
  std::span<const NeighborNode> rest(nodes);
  std::vector<std::size_t> counts, sizes;
  std::vector<NeighborNode> seen;
  while (!rest.empty()) {
    auto enc = encode_neighbors(key, rest, expiration, out);
    REQUIRE(enc);
    REQUIRE(enc->packet.size <= kMaxPacketSize);
    counts.push_back(enc->nodes_written);
    sizes.push_back(enc->packet.size);
    auto p = decode(ByteView(out).first(enc->packet.size));
    REQUIRE(p);
    const auto& m = as<Neighbors>(*p);
    REQUIRE(m.nodes.size() == enc->nodes_written);
    seen.insert(seen.end(), m.nodes.begin(), m.nodes.end());
    rest = rest.subspan(enc->nodes_written);
  }
  REQUIRE(counts == std::vector<std::size_t>{12, 4});
  REQUIRE(sizes[0] == detail::max_neighbors_packet_size(12));
  REQUIRE(sizes[0] == 1205);
  REQUIRE(seen == nodes);
}

TEST_CASE("v4wire: classification and size limits", "[wire][v4wire]") {
  const Bytes pkt = hex(vector_named("geth_ping_v4_plain")["packet_hex"]);
  REQUIRE(hash_matches(pkt));
  REQUIRE_FALSE(hash_matches(ByteView(pkt).first(97)));
  REQUIRE(decode_error(Bytes(pkt.begin(), pkt.begin() + 97)) == V4Error::kTooShort);
  REQUIRE(decode_error(Bytes(98, 0)) == V4Error::kHashMismatch);
  // 98 bytes with a valid hash: classified as discv4, but it has no RLP at all.
  const Bytes bare = make_packet(eip8_key(), 5, {});
  REQUIRE(bare.size() == kMinPacketSize);
  REQUIRE(hash_matches(bare));
  REQUIRE(decode_error(bare) == V4Error::kMalformedRlp);

  // 1281 bytes: a valid packet padded with trailing bytes, hash and signature redone.
  const auto key = eip8_key();
  const Bytes body = rlp_list([](rlp::Builder& b) { b.add_uint(kExp); });
  Bytes padded = body;
  padded.resize(kMaxPacketSize - kHeaderSize - 1, 0x55);
  const Bytes at_limit = make_packet(key, 5, padded);
  REQUIRE(at_limit.size() == kMaxPacketSize);
  REQUIRE(decode(at_limit));  // 1280 with trailing junk: accepted
  padded.push_back(0x55);
  const Bytes over = make_packet(key, 5, padded);
  REQUIRE(over.size() == 1281);
  REQUIRE(hash_matches(over));
  REQUIRE(decode_error(over) == V4Error::kTooLong);
}

TEST_CASE("v4wire: hash and signature rejections", "[wire][v4wire]") {
  const Bytes good = hex(vector_named("geth_ping_v4_plain")["packet_hex"]);
  SECTION("flipped hash byte") {
    Bytes p = good;
    p[5] ^= 1;
    REQUIRE_FALSE(hash_matches(p));
    REQUIRE(decode_error(p) == V4Error::kHashMismatch);
  }
  SECTION("flipped byte anywhere after the hash breaks the hash") {
    for (std::size_t i : {32u, 96u, 97u, 100u, 140u}) {
      Bytes p = good;
      p[i] ^= 0x80;
      REQUIRE(decode_error(p) == V4Error::kHashMismatch);
    }
  }
  SECTION("flipped signature byte with the hash redone: another signer or no signer") {
    Bytes p = good;
    p[40] ^= 1;
    rehash(p);
    auto r = decode(p);
    if (r) {
      REQUIRE(r->sender != eip8_pubkey());
    } else {
      REQUIRE(r.error() == V4Error::kBadSignature);
    }
  }
  SECTION("r = 0 cannot be recovered") {
    Bytes p = good;
    std::fill(p.begin() + 32, p.begin() + 64, 0);
    rehash(p);
    REQUIRE(decode_error(p) == V4Error::kBadSignature);
  }
  SECTION("recovery id out of range") {
    Bytes p = good;
    p[96] = 4;
    rehash(p);
    REQUIRE(decode_error(p) == V4Error::kBadSignature);
  }
  SECTION("skipping the hash check is the caller's promise") {
    Bytes p = good;
    p[0] ^= 1;
    REQUIRE(decode_error(p) == V4Error::kHashMismatch);
    auto r = decode(p, DecodeOptions{.hash_already_checked = true});
    REQUIRE(r);
    REQUIRE(r->sender == eip8_pubkey());
  }
}

TEST_CASE("v4wire: type and RLP rejections", "[wire][v4wire]") {
  const auto key = crypto::generate_private_key();
  const Bytes ip16(16, 0x20);
  auto ping_body = [&](auto&& extra) {
    return rlp_list([&](rlp::Builder& b) {
      b.add_uint(4);
      add_endpoint(b, kIp4, 1, 2);
      add_endpoint(b, ip16, 3, 4);
      extra(b);
    });
  };
  const Bytes good_ping = ping_body([](rlp::Builder& b) { b.add_uint(kExp); });
  REQUIRE(decode(make_packet(key, 1, good_ping)));

  SECTION("unknown types 0, 7 and 255") {
    for (std::uint8_t t : {0, 7, 255}) {
      REQUIRE(decode_error(make_packet(key, t, good_ping)) == V4Error::kUnknownType);
    }
  }
  SECTION("truncated RLP") {
    for (std::size_t cut = 1; cut < good_ping.size(); cut += 7) {
      const Bytes body(good_ping.begin(), good_ping.end() - cut);
      REQUIRE(decode_error(make_packet(key, 1, body)) == V4Error::kMalformedRlp);
    }
  }
  SECTION("data is a string, not a list") {
    rlp::Builder b;
    b.add_string(as_bytes("hello"));
    REQUIRE(decode_error(make_packet(key, 1, b.bytes())) == V4Error::kMalformedRlp);
  }
  SECTION("non-canonical list size") {
    Bytes body = {0xb8, 0x01, 0x01};  // long form for a 1-byte string
    REQUIRE(decode_error(make_packet(key, 5, body)) == V4Error::kMalformedRlp);
    Bytes inner = {0xc2, 0xb8, 0x01};  // list holding a truncated item
    REQUIRE(decode_error(make_packet(key, 5, inner)) == V4Error::kMalformedRlp);
  }
  SECTION("missing expiration") {
    const Bytes body = ping_body([](rlp::Builder&) {});
    REQUIRE(decode_error(make_packet(key, 1, body)) == V4Error::kMissingField);
    REQUIRE(decode_error(make_packet(key, 5, Bytes{0xc0})) == V4Error::kMissingField);
  }
  SECTION("non-canonical integer expiration") {
    const Bytes body = ping_body([](rlp::Builder& b) { b.add_string(Bytes{0x00, 0x01}); });
    REQUIRE(decode_error(make_packet(key, 1, body)) == V4Error::kBadField);
    const Bytes nine = ping_body([](rlp::Builder& b) { b.add_string(Bytes(9, 0x01)); });
    REQUIRE(decode_error(make_packet(key, 1, nine)) == V4Error::kBadField);
  }
  SECTION("bad endpoints") {
    auto ping_with = [&](ByteView from_ip, ByteView to_ip, std::uint64_t port) {
      return make_packet(key, 1, rlp_list([&](rlp::Builder& b) {
                           b.add_uint(4);
                           add_endpoint(b, from_ip, port, 2);
                           add_endpoint(b, to_ip, 3, 4);
                           b.add_uint(kExp);
                         }));
    };
    REQUIRE(decode(ping_with(Bytes{}, ip16, 1)));  // empty `from` ip: lenient
    REQUIRE(decode_error(ping_with(kIp4, Bytes{}, 1)) == V4Error::kBadField);
    REQUIRE(decode_error(ping_with(Bytes(5, 1), ip16, 1)) == V4Error::kBadField);
    REQUIRE(decode_error(ping_with(kIp4, ip16, 65536)) == V4Error::kBadField);
    // Ports as @ethereumjs/devp2p writes them: 2 fixed bytes, leading zeros kept.
    for (const Bytes& raw : {Bytes{0x00, 0x00}, Bytes{0x00, 0x50}}) {
      const Bytes fixed_ports = rlp_list([&](rlp::Builder& b) {
        b.add_uint(4);
        const auto from = b.begin_list();
        b.add_string(kIp4);
        b.add_string(Bytes{0x76, 0x5f});
        b.add_string(raw);
        b.end_list(from);
        add_endpoint(b, ip16, 3, 4);
        b.add_uint(kExp);
      });
      auto p = decode(make_packet(key, 1, fixed_ports));
      REQUIRE(p);
      const auto& ping = std::get<Ping>(p->message);
      REQUIRE(ping.from.udp == 0x765f);
      REQUIRE(ping.from.tcp == (raw[1] == 0 ? 0 : 80));
    }
    // Endpoint that is a string instead of a list.
    const Bytes body = rlp_list([&](rlp::Builder& b) {
      b.add_uint(4);
      b.add_string(kIp4);
      add_endpoint(b, ip16, 3, 4);
      b.add_uint(kExp);
    });
    REQUIRE(decode_error(make_packet(key, 1, body)) == V4Error::kBadField);
  }
  SECTION("findnode target not 64 bytes") {
    for (std::size_t len : {0u, 63u, 65u}) {
      const Bytes body = rlp_list([&](rlp::Builder& b) {
        b.add_string(Bytes(len, 7));
        b.add_uint(kExp);
      });
      REQUIRE(decode_error(make_packet(key, 3, body)) == V4Error::kBadField);
    }
  }
  SECTION("pong hash not 32 bytes") {
    const Bytes body = rlp_list([&](rlp::Builder& b) {
      add_endpoint(b, kIp4, 1, 2);
      b.add_string(Bytes(31, 1));
      b.add_uint(kExp);
    });
    REQUIRE(decode_error(make_packet(key, 2, body)) == V4Error::kBadField);
  }
  SECTION("neighbors: node list not a list, bad node key, bad node ip") {
    auto neighbors_with = [&](auto&& node_fill) {
      return make_packet(key, 4, rlp_list([&](rlp::Builder& b) {
                           const auto t = b.begin_list();
                           node_fill(b);
                           b.end_list(t);
                           b.add_uint(kExp);
                         }));
    };
    auto node = [](rlp::Builder& b, ByteView ip, std::size_t key_len) {
      const auto t = b.begin_list();
      b.add_string(ip);
      b.add_uint(1);
      b.add_uint(2);
      b.add_string(Bytes(key_len, 9));
      b.end_list(t);
    };
    REQUIRE(decode(neighbors_with([&](rlp::Builder& b) { node(b, kIp4, 64); })));
    REQUIRE(decode_error(neighbors_with([&](rlp::Builder& b) {
              node(b, kIp4, 64);
              node(b, kIp4, 33);
            })) == V4Error::kBadField);
    REQUIRE(decode_error(neighbors_with([&](rlp::Builder& b) { node(b, Bytes{}, 64); })) ==
            V4Error::kBadField);
    REQUIRE(decode_error(neighbors_with([&](rlp::Builder& b) { b.add_uint(1); })) ==
            V4Error::kBadField);
    const Bytes flat = rlp_list([](rlp::Builder& b) {
      b.add_string(Bytes(3, 1));
      b.add_uint(kExp);
    });
    REQUIRE(decode_error(make_packet(key, 4, flat)) == V4Error::kBadField);
  }
  SECTION("enrresponse record not a list") {
    const Bytes body = rlp_list([](rlp::Builder& b) {
      b.add_string(Bytes(32, 1));
      b.add_string(Bytes(10, 2));
    });
    REQUIRE(decode_error(make_packet(key, 6, body)) == V4Error::kBadField);
  }
}

TEST_CASE("v4wire: EIP-8 leniency and EIP-868 enr-seq", "[wire][v4wire]") {
  const auto key = crypto::generate_private_key();
  auto ping_packet = [&](auto&& extra, ByteView trailing) {
    Bytes body = rlp_list([&](rlp::Builder& b) {
      b.add_uint(555);
      add_endpoint(b, kIp4, 1, 2);
      add_endpoint(b, kIp4, 3, 4);
      b.add_uint(kExp);
      extra(b);
    });
    body.insert(body.end(), trailing.begin(), trailing.end());
    return make_packet(key, 1, body);
  };
  auto seq_of = [&](const Bytes& p) {
    auto r = decode(p);
    REQUIRE(r);
    REQUIRE(as<Ping>(*r).version == 555);
    return as<Ping>(*r).enr_seq;
  };
  const Bytes junk = {0xff, 0x00, 0xc0, 0xb9};  // not even valid RLP
  REQUIRE(seq_of(ping_packet([](rlp::Builder&) {}, junk)) == std::nullopt);
  REQUIRE(seq_of(ping_packet([](rlp::Builder& b) { b.add_uint(9); }, junk)) == 9u);
  REQUIRE(seq_of(ping_packet(
              [](rlp::Builder& b) {
                b.add_uint(0);
                b.add_string(Bytes(40, 1));
              },
              {})) == 0u);
  // Non-integers in the enr-seq position count as absent (see v4wire.h).
  REQUIRE(seq_of(ping_packet(
              [](rlp::Builder& b) {
                const auto t = b.begin_list();
                b.add_uint(1);
                b.end_list(t);
              },
              {})) == std::nullopt);
  REQUIRE(seq_of(ping_packet(
              [](rlp::Builder& b) {
                b.add_string(Bytes{0, 5});
              },
              {})) == std::nullopt);
  REQUIRE(seq_of(ping_packet([](rlp::Builder& b) { b.add_string(Bytes(9, 5)); }, {})) ==
          std::nullopt);
}

TEST_CASE("v4wire: encoder bounds and argument errors", "[wire][v4wire]") {
  const auto key = crypto::generate_private_key();
  Ping ping;
  ping.from = {IpAddress::v4(1, 2, 3, 4), 30303, 30303};
  ping.to = {IpAddress::v4(5, 6, 7, 8), 30303, 30303};
  ping.expiration = kExp;
  ping.enr_seq = 3;

  std::array<std::uint8_t, kMaxPacketSize> big{};
  auto full = encode_ping(key, ping, big);
  REQUIRE(full);
  const std::size_t n = full->size;

  SECTION("exact-size buffer works, one byte less fails without writing past it") {
    std::vector<std::uint8_t> buf(n + 16, 0xee);
    auto exact = encode_ping(key, ping, MutableByteView(buf).first(n));
    REQUIRE(exact);
    REQUIRE(exact->size == n);
    REQUIRE(decode(ByteView(buf).first(n)));
    for (std::size_t i = n; i < buf.size(); ++i) {
      REQUIRE(buf[i] == 0xee);
    }
    for (std::size_t small : {n - 1, std::size_t{97}, std::size_t{0}}) {
      std::fill(buf.begin(), buf.end(), 0xee);
      auto r = encode_ping(key, ping, MutableByteView(buf).first(small));
      REQUIRE_FALSE(r);
      REQUIRE(r.error() == V4Error::kBufferTooSmall);
      for (std::size_t i = small; i < buf.size(); ++i) {
        REQUIRE(buf[i] == 0xee);
      }
    }
  }
  SECTION("invalid private key") {
    crypto::PrivateKey zero{};
    REQUIRE(encode_ping(zero, ping, big).error() == V4Error::kInvalidPrivateKey);
    crypto::PrivateKey order_or_more;
    order_or_more.fill(0xff);
    REQUIRE(encode_ping(order_or_more, ping, big).error() == V4Error::kInvalidPrivateKey);
  }
  SECTION("enrresponse: record must be one RLP list, packet at most 1280 bytes") {
    const Hash256 h{};
    REQUIRE(encode_enrresponse(key, ENRResponse{h, Bytes{}}, big).error() == V4Error::kBadRecord);
    REQUIRE(encode_enrresponse(key, ENRResponse{h, Bytes{0x83, 1, 2, 3}}, big).error() ==
            V4Error::kBadRecord);
    REQUIRE(encode_enrresponse(key, ENRResponse{h, Bytes{0xc0, 0x01}}, big).error() ==
            V4Error::kBadRecord);
    const Bytes huge = rlp_list([](rlp::Builder& b) { b.add_string(Bytes(1200, 1)); });
    std::vector<std::uint8_t> roomy(4096);
    REQUIRE(encode_enrresponse(key, ENRResponse{h, huge}, roomy).error() == V4Error::kTooLong);
  }
  SECTION("neighbors node without an ip") {
    NeighborNode bad{};
    REQUIRE(encode_neighbors(key, std::span(&bad, 1), kExp, big).error() == V4Error::kBadField);
  }
}

TEST_CASE("v4wire: expiration", "[wire][v4wire]") {
  REQUIRE(is_expired(kExp, 1700000000));  // the vectors' 2006 expiration is long past
  REQUIRE_FALSE(is_expired(1700000020, 1700000000));
  REQUIRE_FALSE(is_expired(1700000000, 1700000000));
  REQUIRE(is_expired(1699999999, 1700000000));
  REQUIRE_FALSE(is_expired(0, -5));
  // Signed reading (geth): 2^64 - t is the time -t, so it is expired.
  REQUIRE(is_expired(0xffffffffffffffffull, 0x7fffffffffffffffll));
  REQUIRE(is_expired(~std::uint64_t{1700000000} + 1, 1700000000));
  REQUIRE_FALSE(is_expired(0x7fffffffffffffffull, 1700000000));
}

TEST_CASE("v4wire: names of types and errors", "[wire][v4wire]") {
  REQUIRE(to_string(PacketType::kPing) == "PING/v4");
  REQUIRE(to_string(PacketType::kENRResponse) == "ENRRESPONSE/v4");
  REQUIRE(to_string(V4Error::kHashMismatch) == "hash mismatch");
  REQUIRE(to_string(V4Error::kBadRecord) != to_string(V4Error::kBadField));
}
