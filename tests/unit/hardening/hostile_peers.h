// Shared pieces of the hardening tests: hostile (and one well-behaved) peers that craft raw
// discv4/discv5 packets with the wire codecs, a Transport that only counts what the engine
// sends (no per-packet allocation, so a flood of a million packets keeps the test's own
// memory flat), an engine fixture on a FakeClock, and the process RSS. Everything stays in
// the process: endpoints such as 10.1.2.x are labels on in-memory datagrams, never sockets.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <functional>
#include <optional>
#include <vector>

#include <catch2/catch.hpp>

#include "discplane/crypto/keccak.h"
#include "discplane/discovery/server.h"
#include "discplane/wire/enr.h"
#include "discplane/wire/rlp.h"
#include "discplane/wire/v4wire.h"
#include "discplane/wire/v5wire.h"

#include "unit/discovery/engine_harness.h"

namespace discplane::hardening {

using test::FakeClock;

// Resident set size of this process in bytes (/proc/self/statm, second field).
inline std::size_t rss_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) {
    return 0;
  }
  unsigned long size = 0;
  unsigned long resident = 0;
  const int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  return n == 2 ? resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE)) : 0;
}

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kUnderAsan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kUnderAsan = true;
#else
inline constexpr bool kUnderAsan = false;
#endif
#else
inline constexpr bool kUnderAsan = false;
#endif

// Counts what the engine sends; keeps the payloads only of datagrams to `watch` (the
// well-behaved peer), so a flood's replies cost the test nothing per packet.
class CountingTransport final : public disc::Transport {
 public:
  MutableByteView acquire_tx_buffer() noexcept override { return {buffer_.data(), buffer_.size()}; }
  void commit_tx(std::size_t length, const Endpoint& to) noexcept override {
    ++packets;
    bytes += length;
    if (watch && to == *watch) {
      kept.emplace_back(buffer_.begin(), buffer_.begin() + length);
    }
    if (on_send) {
      on_send(ByteView(buffer_.data(), length), to);
    }
  }
  std::vector<Bytes> take_kept() {
    std::vector<Bytes> out;
    out.swap(kept);
    return out;
  }

  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;
  std::optional<Endpoint> watch;
  std::vector<Bytes> kept;
  std::function<void(ByteView, const Endpoint&)> on_send;

 private:
  std::array<std::uint8_t, 1280> buffer_{};
};

// One engine on a FakeClock, as a node at 127.0.0.1:30303 would run it.
struct Target {
  FakeClock clock;
  crypto::DeterministicRandom rng{4242};
  CountingTransport tx;
  std::unique_ptr<disc::DiscoveryServer> server;

  explicit Target(disc::ServerConfig config = {}) {
    config.private_key = test::key_from_seed(1);
    config.udp_port = 30303;
    config.ipv4 = IpAddress::v4(127, 0, 0, 1);
    server = std::make_unique<disc::DiscoveryServer>(config, clock, rng);
  }
  void deliver(ByteView payload, const Endpoint& from) {
    disc::Datagram d{payload, from};
    server->on_burst(std::span<const disc::Datagram>(&d, 1), tx);
  }
  // Delivers and returns what went back to `from` (the transport must watch `from`).
  std::vector<Bytes> exchange(ByteView payload, const Endpoint& from) {
    tx.watch = from;
    deliver(payload, from);
    return tx.take_kept();
  }
  const disc::Counters& counters() const { return server->counters(); }
  std::uint64_t dropped(disc::Drop d) const { return server->counters().dropped(d); }
};

inline enr::Record make_record(const crypto::PrivateKey& key, const Endpoint& ep,
                               std::uint64_t seq = 1) {
  enr::Builder b;
  b.set_seq(seq).set_ip(ep.ip).set_udp(ep.port);
  auto r = b.sign(key);
  REQUIRE(r);
  return *r;
}

// A record whose signature no longer verifies: the low bit of its last byte (part of the
// last value) flipped, which keeps the RLP shape.
inline Bytes tampered_record(const enr::Record& r) {
  Bytes raw(r.raw().begin(), r.raw().end());
  raw.back() ^= 0x01;
  return raw;
}

// A correctly signed "v4" record over the 300-byte limit of EIP-778 (a padding entry "zz"),
// built by hand because enr::Builder refuses to make one.
inline Bytes oversized_record(const crypto::PrivateKey& key, std::uint64_t seq = 1) {
  const crypto::CompressedPublicKey pub = crypto::compress(*crypto::derive_public_key(key));
  const Bytes pad(260, 0x5a);
  auto content = [&](rlp::Builder& b) {
    b.add_uint(seq);
    b.add_string(as_bytes(std::string_view("id")));
    b.add_string(as_bytes(std::string_view("v4")));
    b.add_string(as_bytes(std::string_view("secp256k1")));
    b.add_string(pub);
    b.add_string(as_bytes(std::string_view("zz")));
    b.add_string(pad);
  };
  rlp::Builder signed_part;
  const std::size_t t = signed_part.begin_list();
  content(signed_part);
  signed_part.end_list(t);
  const crypto::Signature sig = crypto::sign(key, crypto::keccak256(signed_part.bytes()));
  rlp::Builder out;
  const std::size_t t2 = out.begin_list();
  out.add_string(sig);
  content(out);
  out.end_list(t2);
  REQUIRE(out.bytes().size() > enr::kMaxRecordSize);
  return out.take();
}

// ---- discv4 ------------------------------------------------------------------------------

struct V4Peer {
  crypto::PrivateKey key;
  crypto::PublicKey pub;
  NodeId id;
  Endpoint ep;

  V4Peer(std::uint64_t seed, Endpoint endpoint)
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
  std::uint64_t exp(const FakeClock& c, std::int64_t offset = 20) const {
    return static_cast<std::uint64_t>(c.now().unix_s + offset);
  }
  Bytes ping(const FakeClock& c, std::optional<std::uint64_t> enr_seq = std::nullopt,
             std::int64_t offset = 20) const {
    v4wire::Ping p;
    p.from = {ep.ip, ep.port, 0};
    p.to = {IpAddress::v4(127, 0, 0, 1), 30303, 0};
    p.expiration = exp(c, offset);
    p.enr_seq = enr_seq;
    return encode([&](MutableByteView out) { return v4wire::encode_ping(key, p, out); });
  }
  Bytes pong(const FakeClock& c, const Hash256& ping_hash,
             std::optional<std::uint64_t> enr_seq = std::nullopt) const {
    v4wire::Pong p;
    p.to = {IpAddress::v4(127, 0, 0, 1), 30303, 0};
    p.ping_hash = ping_hash;
    p.expiration = exp(c);
    p.enr_seq = enr_seq;
    return encode([&](MutableByteView out) { return v4wire::encode_pong(key, p, out); });
  }
  Bytes findnode(const FakeClock& c, const crypto::PublicKey& target,
                 std::int64_t offset = 20) const {
    v4wire::FindNode f;
    f.target = target;
    f.expiration = exp(c, offset);
    return encode([&](MutableByteView out) { return v4wire::encode_findnode(key, f, out); });
  }
  Bytes enrrequest(const FakeClock& c) const {
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
  Bytes neighbors(const FakeClock& c, std::span<const v4wire::NeighborNode> nodes) const {
    Bytes out(1280);
    auto enc = v4wire::encode_neighbors(key, nodes, exp(c), out);
    REQUIRE(enc);
    out.resize(enc->packet.size);
    return out;
  }
};

// The packet of `type` among `sent`, decoded (nullopt when absent).
inline std::optional<v4wire::Packet> find_v4(const std::vector<Bytes>& sent, v4wire::PacketType t) {
  for (const Bytes& s : sent) {
    auto p = v4wire::decode(s);
    if (p && p->type == t) {
      return *p;
    }
  }
  return std::nullopt;
}

// Ping, our Pong + Ping, their Pong: the peer is bonded both ways. Returns what the engine
// sent after their Pong (an ENRRequest when pong_enr_seq is set and we hold no record).
inline std::vector<Bytes> bond_v4(Target& e, const V4Peer& p,
                                  std::optional<std::uint64_t> pong_enr_seq = std::nullopt) {
  const auto first = e.exchange(p.ping(e.clock), p.ep);
  auto our_ping = find_v4(first, v4wire::PacketType::kPing);
  REQUIRE(our_ping);
  return e.exchange(p.pong(e.clock, our_ping->hash, pong_enr_seq), p.ep);
}

// ---- discv5 ------------------------------------------------------------------------------

struct V5Peer {
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

  V5Peer(std::uint64_t seed, Endpoint endpoint, const disc::DiscoveryServer& target)
      : key(test::key_from_seed(seed)),
        pub(*crypto::derive_public_key(key)),
        id(crypto::node_id_of(pub)),
        ep(endpoint),
        record(make_record(key, endpoint)),
        remote_id(target.local_id()),
        remote_pub(target.local_public_key()),
        rng(seed) {}

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
  std::optional<v5wire::Flag> flag_of(const Bytes& packet) {
    const crypto::AesCtr128 own(v5wire::masking_key(id));
    auto h = v5wire::decode_header(packet, own, header_scratch);
    if (!h) {
      return std::nullopt;
    }
    return h->flag;
  }
  // Decrypts a message the engine sent on the session (views valid until the next call).
  std::optional<v5wire::Message> open(const Bytes& packet) {
    const crypto::AesCtr128 own(v5wire::masking_key(id));
    auto h = v5wire::decode_header(packet, own, header_scratch);
    if (!h || h->flag != v5wire::Flag::kMessage || !read) {
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
};

inline Bytes v5_ping_pt(ByteView req_id, std::uint64_t seq = 1) {
  Bytes out(64);
  auto m = v5wire::encode_ping(out, req_id, seq);
  REQUIRE(m);
  out.resize(m->size());
  return out;
}

inline Bytes v5_nodes_pt(ByteView req_id, std::uint64_t total, std::span<const ByteView> records) {
  Bytes out(1280);
  auto m = v5wire::encode_nodes(out, req_id, total, records);
  REQUIRE(m);
  out.resize(m->size());
  return out;
}

// Random packet -> WHOAREYOU -> handshake carrying a PING: true when the PONG came back.
inline bool v5_handshake_and_ping(Target& e, V5Peer& p, ByteView req_id) {
  const auto who = e.exchange(p.random_packet(), p.ep);
  if (who.size() != 1 || p.flag_of(who[0]) != v5wire::Flag::kWhoareyou) {
    return false;
  }
  const auto answer = e.exchange(p.handshake(who[0], v5_ping_pt(req_id)), p.ep);
  if (answer.size() != 1) {
    return false;
  }
  auto m = p.open(answer[0]);
  return m && std::holds_alternative<v5wire::Pong>(*m) &&
         equal(std::get<v5wire::Pong>(*m).req_id, req_id);
}

// A PING on the established session: true when the PONG came back.
inline bool v5_ping(Target& e, V5Peer& p, ByteView req_id) {
  const auto answer = e.exchange(p.message(v5_ping_pt(req_id)), p.ep);
  if (answer.size() != 1) {
    return false;
  }
  auto m = p.open(answer[0]);
  return m && std::holds_alternative<v5wire::Pong>(*m) &&
         equal(std::get<v5wire::Pong>(*m).req_id, req_id);
}

}  // namespace discplane::hardening
