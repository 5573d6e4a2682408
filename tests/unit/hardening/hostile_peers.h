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
#include "unit/discovery/raw_peers.h"

namespace discplane::hardening {

using test::FakeClock;
using test::make_record;

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

using V4Peer = test::RawV4Peer;

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

using V5Peer = test::RawV5Peer;

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
  if (who.size() != 1 || p.try_flag_of(who[0]) != v5wire::Flag::kWhoareyou) {
    return false;
  }
  const auto answer = e.exchange(p.handshake(who[0], v5_ping_pt(req_id)), p.ep);
  if (answer.size() != 1) {
    return false;
  }
  auto m = p.try_open(answer[0]);
  return m && std::holds_alternative<v5wire::Pong>(*m) &&
         equal(std::get<v5wire::Pong>(*m).req_id, req_id);
}

// A PING on the established session: true when the PONG came back.
inline bool v5_ping(Target& e, V5Peer& p, ByteView req_id) {
  const auto answer = e.exchange(p.message(v5_ping_pt(req_id)), p.ep);
  if (answer.size() != 1) {
    return false;
  }
  auto m = p.try_open(answer[0]);
  return m && std::holds_alternative<v5wire::Pong>(*m) &&
         equal(std::get<v5wire::Pong>(*m).req_id, req_id);
}

}  // namespace discplane::hardening
