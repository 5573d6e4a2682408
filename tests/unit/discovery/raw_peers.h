// Hand-driven protocol peers for the engine tests (unit/discovery, unit/hardening): a discv4
// peer that signs its own packets and a discv5 peer that does its half of the handshake and
// the session, both with the project's codecs, so that every rule and refusal of the engine
// can be provoked packet by packet.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>

#include <catch2/catch.hpp>

#include "discplane/crypto/aes.h"
#include "discplane/crypto/random.h"
#include "discplane/crypto/secp256k1.h"
#include "discplane/discovery/server.h"
#include "discplane/wire/enr.h"
#include "discplane/wire/v4wire.h"
#include "discplane/wire/v5wire.h"

#include "unit/discovery/engine_harness.h"

namespace discplane::test {

inline enr::Record make_record(const crypto::PrivateKey& key, const Endpoint& ep,
                               std::uint64_t seq = 1) {
  enr::Builder b;
  b.set_seq(seq).set_ip(ep.ip).set_udp(ep.port);
  auto r = b.sign(key);
  REQUIRE(r);
  return *r;
}

// A discv4 peer driven by hand: signs its own packets with the v4wire codec.
struct RawV4Peer {
  crypto::PrivateKey key;
  crypto::PublicKey pub;
  NodeId id;
  Endpoint ep;

  RawV4Peer(std::uint64_t seed, Endpoint endpoint)
      : key(test::key_from_seed(seed)),
        pub(*crypto::derive_public_key(key)),
        id(crypto::node_id_of(pub)),
        ep(endpoint) {}

  template <class F>
  static Bytes encode(F&& f) {
    Bytes out(1280);
    auto enc = f(MutableByteView(out));
    REQUIRE(enc);
    out.resize(enc->size);
    return out;
  }
  std::uint64_t exp(const disc::Clock& c, std::int64_t offset = 20) const {
    return static_cast<std::uint64_t>(c.now().unix_s + offset);
  }
  // `from` is what the Ping claims (default: our own endpoint); replies must ignore it.
  Bytes ping(const disc::Clock& c, std::optional<std::uint64_t> enr_seq = std::nullopt,
             std::int64_t offset = 20, v4wire::RpcEndpoint from = {}) const {
    v4wire::Ping p;
    p.from = from.ip.valid() ? from : v4wire::RpcEndpoint{ep.ip, ep.port, 0};
    p.to = {IpAddress::v4(127, 0, 0, 1), 30303, 0};
    p.expiration = exp(c, offset);
    p.enr_seq = enr_seq;
    return encode([&](MutableByteView out) { return v4wire::encode_ping(key, p, out); });
  }
  // `to` is how we claim to see the engine (a vote for its external address).
  Bytes pong(const disc::Clock& c, const Hash256& ping_hash,
             std::optional<std::uint64_t> enr_seq = std::nullopt,
             v4wire::RpcEndpoint to = {IpAddress::v4(127, 0, 0, 1), 30303, 0}) const {
    v4wire::Pong p;
    p.to = to;
    p.ping_hash = ping_hash;
    p.expiration = exp(c);
    p.enr_seq = enr_seq;
    return encode([&](MutableByteView out) { return v4wire::encode_pong(key, p, out); });
  }
  Bytes findnode(const disc::Clock& c, const crypto::PublicKey& target,
                 std::int64_t offset = 20) const {
    v4wire::FindNode f;
    f.target = target;
    f.expiration = exp(c, offset);
    return encode([&](MutableByteView out) { return v4wire::encode_findnode(key, f, out); });
  }
  Bytes enrrequest(const disc::Clock& c) const {
    return encode([&](MutableByteView out) {
      return v4wire::encode_enrrequest(key, v4wire::ENRRequest{exp(c)}, out);
    });
  }
  Bytes enrresponse(const Hash256& request_hash, ByteView record_rlp) const {
    v4wire::ENRResponse r;
    r.request_hash = request_hash;
    r.record_rlp = record_rlp;
    return encode([&](MutableByteView out) { return v4wire::encode_enrresponse(key, r, out); });
  }
  Bytes neighbors(const disc::Clock& c, std::span<const v4wire::NeighborNode> nodes) const {
    Bytes out(1280);
    auto enc = v4wire::encode_neighbors(key, nodes, exp(c), out);
    REQUIRE(enc);
    out.resize(enc->packet.size);
    return out;
  }
};

// The packet of `type` among `sent`, decoded (nullopt when absent).

// A discv5 peer driven by hand: random packet, handshake on WHOAREYOU, then messages on
// the session, all with the v5wire codec. It decodes what the engine sends it.
struct RawV5Peer {
  crypto::PrivateKey key;
  crypto::PublicKey pub;
  NodeId id;
  Endpoint ep;
  enr::Record record;
  NodeId remote_id{};
  crypto::PublicKey remote_pub{};
  std::optional<crypto::AesGcm128> write;
  std::optional<crypto::AesGcm128> read;
  crypto::DeterministicRandom rng;
  std::uint32_t counter = 0;
  std::array<std::uint8_t, 1280> header_scratch{};
  std::array<std::uint8_t, 1280> plain{};

  RawV5Peer(std::uint64_t seed, Endpoint endpoint)
      : key(test::key_from_seed(seed)),
        pub(*crypto::derive_public_key(key)),
        id(crypto::node_id_of(pub)),
        ep(endpoint),
        record(make_record(key, endpoint)),
        rng(seed) {}
  RawV5Peer(std::uint64_t seed, Endpoint endpoint, const disc::DiscoveryServer& server)
      : RawV5Peer(seed, endpoint) {
    target(server);
  }
  // The engine this peer talks to (its id masks our headers, its key is the ECDH partner).
  void target(const disc::DiscoveryServer& s) {
    remote_id = s.local_id();
    remote_pub = s.local_public_key();
  }

  v5wire::Nonce nonce() {
    v5wire::Nonce n{};
    ++counter;
    std::memcpy(n.data(), &counter, 4);
    rng.fill(MutableByteView(n).subspan(4));
    return n;
  }
  v5wire::MaskingIv iv() {
    v5wire::MaskingIv v{};
    rng.fill(v);
    return v;
  }
  crypto::AesCtr128 masker() const { return crypto::AesCtr128(v5wire::masking_key(remote_id)); }

  // A message packet under a key nobody holds: what starts a handshake, or junk.
  Bytes random_packet(std::size_t plaintext_size = 20) {
    crypto::AesKey k{};
    rng.fill(k);
    const crypto::AesGcm128 junk(k);
    const Bytes junk_pt(plaintext_size, 0x42);
    Bytes out(1280);
    auto p = v5wire::encode_message_packet(out, masker(), id, nonce(), iv(), junk, junk_pt);
    REQUIRE(p);
    out.resize(p->size());
    return out;
  }
  // Answers a WHOAREYOU with a handshake carrying `plaintext`. `record` overrides ours (an
  // empty view sends none); `corrupt_signature` flips a bit of the id-signature.
  Bytes handshake(const Bytes& whoareyou, ByteView plaintext,
                  std::optional<ByteView> record = std::nullopt, bool corrupt_signature = false) {
    const crypto::AesCtr128 own(v5wire::masking_key(id));
    auto h = v5wire::decode_header(whoareyou, own, header_scratch);
    REQUIRE(h);
    REQUIRE(h->flag == v5wire::Flag::kWhoareyou);
    crypto::PrivateKey eph{};
    do {
      rng.fill(eph);
    } while (!crypto::is_valid_private_key(eph));
    auto hs = v5wire::make_initiator_handshake(key, eph, remote_pub, id, remote_id, h->header_data);
    REQUIRE(hs);
    write.emplace(hs->keys.initiator_key);
    read.emplace(hs->keys.recipient_key);
    crypto::Signature sig = hs->id_signature;
    if (corrupt_signature) {
      sig[10] ^= 0x01;
    }
    Bytes out(1280);
    auto p = v5wire::encode_handshake(out, masker(), id, nonce(), iv(), sig, hs->eph_pubkey,
                                      record ? *record : record_raw(), *write, plaintext);
    REQUIRE(p);
    out.resize(p->size());
    return out;
  }
  ByteView record_raw() const { return record.raw(); }
  Bytes message(ByteView plaintext) {
    REQUIRE(write);
    Bytes out(1280);
    auto p = v5wire::encode_message_packet(out, masker(), id, nonce(), iv(), *write, plaintext);
    REQUIRE(p);
    out.resize(p->size());
    return out;
  }
  std::optional<v5wire::Flag> try_flag_of(const Bytes& packet) {
    const crypto::AesCtr128 own(v5wire::masking_key(id));
    auto h = v5wire::decode_header(packet, own, header_scratch);
    if (!h) {
      return std::nullopt;
    }
    return h->flag;
  }
  v5wire::Flag flag_of(const Bytes& packet) {
    auto f = try_flag_of(packet);
    REQUIRE(f);
    return *f;
  }
  // Decrypts a message the engine sent on the session (views valid until the next call);
  // nullopt unless it is a message from the engine that opens under our read key.
  std::optional<v5wire::Message> try_open(const Bytes& packet) {
    const crypto::AesCtr128 own(v5wire::masking_key(id));
    auto h = v5wire::decode_header(packet, own, header_scratch);
    if (!h || h->flag != v5wire::Flag::kMessage || h->src_id != remote_id || !read) {
      return std::nullopt;
    }
    auto pt = v5wire::open_message(*h, *read, plain);
    if (!pt) {
      return std::nullopt;
    }
    auto m = v5wire::decode_message(*pt);
    if (!m) {
      return std::nullopt;
    }
    return *m;
  }
  v5wire::Message open(const Bytes& packet) {
    auto m = try_open(packet);
    REQUIRE(m);
    return *m;
  }
};

}  // namespace discplane::test
