// libFuzzer target for the whole engine: a DiscoveryServer (node B of the discv5 vectors, so
// the vector packets are addressed to it) on a stepped clock with DeterministicRandom, fed
// arbitrary datagrams from arbitrary endpoints and, between them, clock steps, idle calls
// and control commands, and structured actions of eight scripted peers (four discv4, four
// discv5: tests/unit/discovery/raw_peers.h) that sign, bond, handshake and answer for real,
// so the fuzzer reaches bonds, sessions and the handlers behind them. Asserts no crash/UB
// (the sanitizers) and that every bounded structure stays within its configured bound and
// every datagram out within 1280 bytes.
//
// The input is a sequence of records; the first byte `op` of a record selects (op % 16):
//   0..2   datagram as is           [op][ep][len lo][len hi][bytes...]
//   3      discv4 with fixed hash   (the harness writes keccak256(rest) in front,
//                                     so mutated discv4 packets reach the decoder)
//   4      discv5 with header masked by us (iv = first 16 bytes; the fuzzer writes
//                                     the unmasked static header and authdata)
//   5      clock step               [op][n]: n * 10 ms, or n s when op & 0x80
//   6      on_idle
//   7      command                  [op][c]: revalidate, lookup, prune (by c)
//   8      v4 peer Ping             [op][a]: peer a%4, enr-seq, expired (by a)
//   9      v4 peer Pong             [op][a]: answers our latest Ping to it (or a wrong hash),
//                                     `to` (an IP vote) by a
//   10     v4 peer request/answer   [op][a][b]: FindNode, ENRRequest, Neighbors (answering
//                                     our FindNode), ENRResponse (answering our ENRRequest)
//   11     v5 peer random packet    [op][a]: starts a handshake (we answer WHOAREYOU)
//   12     v5 peer handshake        [op][a][b]: answers our latest WHOAREYOU to it with a
//                                     message chosen by b (record left out, bad signature)
//   13     v5 peer message          [op][a][b][c]: PING, FINDNODE, TALKREQ, or the answer to
//                                     our latest request (PONG, NODES, TALKRESP) on its session
//   14     v5 peer WHOAREYOU        [op][a]: answers our latest undecryptable packet to it
//                                     (any latest one when a & 0x80: it forgot the session);
//                                     our handshake back then opens a session (we initiate)
//   15     resend the last peer datagram, mutated   [op][pos][x][s]: byte pos ^= x, from
//                                     endpoint_of(s) when s & 0x80, hash re-fixed when s & 0x40
// The endpoint byte picks one of 16 sources (IPv4 and IPv6, shared IPs, distinct ports).
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

// REQUIRE in the test peers resolves to tests/fuzz/shim/catch2/catch.hpp (abort).
#include "discplane/crypto/aes.h"
#include "discplane/crypto/keccak.h"
#include "discplane/crypto/random.h"
#include "discplane/discovery/server.h"
#include "discplane/wire/v5wire.h"

#include "unit/discovery/raw_peers.h"

using namespace discplane;
using namespace discplane::disc;

namespace {

// Node B of the discv5 wire test vectors.
constexpr crypto::PrivateKey kNodeB = {
    0x66, 0xfb, 0x62, 0xbf, 0xbd, 0x66, 0xb9, 0x17, 0x7a, 0x13, 0x8c, 0x1e, 0x5c, 0xdd, 0xbe, 0x4f,
    0x7c, 0x30, 0xc3, 0x43, 0xe9, 0x4e, 0x68, 0xdf, 0x87, 0x69, 0x45, 0x9c, 0xb1, 0xcd, 0xe6, 0x28};

// Node A: the sender of the vector packets; seeded as a bootnode, so lookups have a peer.
constexpr crypto::PrivateKey kNodeA = {
    0xee, 0xf7, 0x7a, 0xcb, 0x6c, 0x6a, 0x6e, 0xeb, 0xc5, 0xb3, 0x63, 0xa4, 0x75, 0xac, 0x58, 0x3e,
    0xc7, 0xec, 0xcd, 0xb4, 0x2b, 0x64, 0x81, 0x42, 0x4c, 0x60, 0xf5, 0x9a, 0xa3, 0x26, 0x54, 0x7f};

void check(bool ok) {
  if (!ok) {
    std::abort();
  }
}

class StepClock final : public Clock {
 public:
  Time now() const noexcept override { return t_; }
  void advance_ns(std::int64_t ns) {
    t_.mono_ns += ns;
    t_.unix_s = kEpoch + t_.mono_ns / kSecond;
  }
  // Before the discv4 vectors' expirations (2006), so they are not expired on arrival.
  static constexpr std::int64_t kEpoch = 1'100'000'000;

 private:
  Time t_{kSecond, kEpoch + 1};
};

class CheckingTransport final : public Transport {
 public:
  MutableByteView acquire_tx_buffer() noexcept override {
    // Now and then the TX side is full, so the engine's kTxFull paths run too.
    if (full_every_ != 0 && ++calls_ % full_every_ == 0) {
      return {};
    }
    return {buffer_.data(), buffer_.size()};
  }
  void commit_tx(std::size_t length, const Endpoint& to) noexcept override {
    check(length > 0 && length <= kMaxPacketSize);
    check(to.valid());
    ++sent;
    if (capture) {
      capture(ByteView(buffer_.data(), length), to);
    }
  }
  std::function<void(ByteView, const Endpoint&)> capture;
  void set_full_every(std::uint32_t n) { full_every_ = n; }
  std::uint64_t sent = 0;

 private:
  std::array<std::uint8_t, 1280> buffer_{};
  std::uint32_t full_every_ = 0;
  std::uint32_t calls_ = 0;
};

ServerConfig fuzz_config() {
  ServerConfig c;
  c.private_key = kNodeB;
  c.udp_port = 30303;
  c.ipv4 = IpAddress::v4(127, 0, 0, 1);
  // Small bounds, so that eviction and limit paths run within a few packets.
  c.max_sessions = 4;
  c.max_challenges = 8;
  c.v5_max_pending = 16;
  c.v4_max_pending = 16;
  c.v4_max_bonds = 16;
  c.whoareyou_rate_limit_ips = 4;
  // 65536 by default: its LRU map was ~60 % of a short input's time (built and zeroed per
  // input under ASan). 8 IPs (fewer than the 16 sources) also make the budget evict.
  c.v4_amp_ips = 8;
  c.whoareyou_per_ip_burst = 4;
  c.whoareyou_global_burst = 16;
  c.max_lookups = 2;
  // 16384 keys by default, in four maps (per IP and per node, each protocol): building them
  // per input was ~40 % of a short input's time. 8 (fewer than the 16 sources) also makes
  // the limiters evict. Likewise the 4096-entry map of recent nodes.
  c.v4_request_limits.max_keys = 8;
  c.v5_request_limits.max_keys = 8;
  c.recent_nodes = 64;
  c.record_cache = 8;
  // A small table: a fresh engine per input must be cheap (a full-size table is ~3 MB that
  // ASan maps, zeroes and unmaps per input, which capped the run at ~35 execs/s).
  c.table.bucket_size = 2;
  c.table.replacements = 1;
  return c;
}

Endpoint endpoint_of(std::uint8_t sel) {
  const std::uint16_t port = static_cast<std::uint16_t>(30000 + (sel & 0x3));
  switch ((sel >> 2) & 0x3) {
    case 0:
      return Endpoint{IpAddress::v4(127, 0, 0, 2), port};
    case 1:
      return Endpoint{IpAddress::v4(10, 1, 2, static_cast<std::uint8_t>(sel >> 4)), port};
    case 2: {
      std::array<std::uint8_t, 16> b{};
      b[0] = 0x20;
      b[1] = 0x01;
      b[2] = 0x0d;
      b[3] = 0xb8;
      b[15] = static_cast<std::uint8_t>(sel >> 4);
      return Endpoint{IpAddress::v6(ByteView(b)), port};
    }
    default:
      return Endpoint{IpAddress::v4(203, 0, 113, static_cast<std::uint8_t>(sel)), port};
  }
}

void check_bounds(const DiscoveryServer& s, const ServerConfig& c) {
  check(s.session_count() <= c.max_sessions);
  check(s.pending_challenges() <= c.max_challenges);
  check(s.active_lookups() <= c.max_lookups);
  check(s.table().size() <= 256 * c.table.bucket_size);
  check(s.table().replacements_size() <= 256 * c.table.replacements);
}

// ---- scripted peers -----------------------------------------------------------------------

using test::RawV4Peer;
using test::RawV5Peer;

constexpr std::size_t kPeers = 4;

// Each peer in its own /24 (the table's IP limits apply: nothing is exempt by default).
Endpoint v4_peer_endpoint(std::size_t k) {
  return Endpoint{IpAddress::v4(10, 4, static_cast<std::uint8_t>(k), 1),
                  static_cast<std::uint16_t>(30400 + k)};
}
Endpoint v5_peer_endpoint(std::size_t k) {
  return Endpoint{IpAddress::v4(10, 5, static_cast<std::uint8_t>(k), 1),
                  static_cast<std::uint16_t>(30500 + k)};
}

// Our packets to one peer, decoded when the peer acts, and what it learned from them.
struct V4State {
  std::vector<Bytes> inbox;
  std::optional<Hash256> ping_hash;    // our latest Ping
  std::optional<Hash256> enrreq_hash;  // our latest ENRRequest
  bool findnode = false;               // a FindNode of ours to answer
};
struct V5State {
  std::vector<Bytes> inbox;
  std::optional<Bytes> whoareyou;                  // our latest WHOAREYOU to it
  std::optional<v5wire::Nonce> undecryptable;      // nonce of our latest packet it could not open
  std::optional<v5wire::Nonce> last_nonce;         // nonce of our latest message to it
  std::optional<v5wire::ChallengeData> challenge;  // its WHOAREYOU to us, awaiting our handshake
  std::optional<v5wire::MessageType> request;      // our latest request on its session
  Bytes req_id;
};

struct Peers {
  std::array<RawV4Peer, kPeers> v4;
  std::array<std::optional<RawV5Peer>, kPeers> v5;
  std::array<V4State, kPeers> v4s;
  std::array<V5State, kPeers> v5s;
  Bytes last;  // the last datagram a peer sent (for op 15)
  Endpoint last_from;
  bool last_v4 = false;

  Peers()
      : v4{RawV4Peer(101, v4_peer_endpoint(0)), RawV4Peer(102, v4_peer_endpoint(1)),
           RawV4Peer(103, v4_peer_endpoint(2)), RawV4Peer(104, v4_peer_endpoint(3))} {}

  // Fresh peer state for each input (keys and records are made once: signing per input
  // halved the exec rate).
  void reset(const DiscoveryServer& s) {
    for (std::size_t k = 0; k < kPeers; ++k) {
      if (!v5[k]) {
        v5[k].emplace(201 + k, v5_peer_endpoint(k), s);
      }
      RawV5Peer& p = *v5[k];
      p.write.reset();
      p.read.reset();
      p.counter = 0;
      p.rng = crypto::DeterministicRandom(201 + k);
      v4s[k] = V4State{};
      v5s[k] = V5State{};
    }
    last.clear();
  }

  void capture(ByteView payload, const Endpoint& to) {
    for (std::size_t k = 0; k < kPeers; ++k) {
      if (to == v4[k].ep && v4s[k].inbox.size() < 16) {
        v4s[k].inbox.emplace_back(payload.begin(), payload.end());
      }
      if (to == v5[k]->ep && v5s[k].inbox.size() < 16) {
        v5s[k].inbox.emplace_back(payload.begin(), payload.end());
      }
    }
  }

  void absorb_v4(std::size_t k) {
    V4State& st = v4s[k];
    for (const Bytes& b : st.inbox) {
      auto p = v4wire::decode(b);
      if (!p) {
        continue;  // a discv5 packet (a record of this endpoint)
      }
      switch (p->type) {
        case v4wire::PacketType::kPing:
          st.ping_hash = p->hash;
          break;
        case v4wire::PacketType::kFindNode:
          st.findnode = true;
          break;
        case v4wire::PacketType::kENRRequest:
          st.enrreq_hash = p->hash;
          break;
        default:
          break;
      }
    }
    st.inbox.clear();
  }

  // Takes note of a message we sent on the session (requests the peer may answer).
  void note_message(V5State& st, const v5wire::Message& m) {
    std::visit(
        [&](const auto& msg) {
          using T = std::decay_t<decltype(msg)>;
          if constexpr (std::is_same_v<T, v5wire::Ping> || std::is_same_v<T, v5wire::FindNode> ||
                        std::is_same_v<T, v5wire::TalkReq>) {
            st.request = v5wire::type_of(m);
            st.req_id.assign(msg.req_id.begin(), msg.req_id.end());
          }
        },
        m);
  }

  void absorb_v5(std::size_t k, const DiscoveryServer& s) {
    V5State& st = v5s[k];
    if (st.inbox.empty()) {
      return;
    }
    RawV5Peer& p = *v5[k];
    const crypto::AesCtr128 own(v5wire::masking_key(p.id));
    static std::array<std::uint8_t, 1280> scratch{};
    static std::array<std::uint8_t, 1280> plain{};
    for (const Bytes& b : st.inbox) {
      auto h = v5wire::decode_header(b, own, scratch);
      if (!h) {
        continue;  // a discv4 packet
      }
      if (h->flag == v5wire::Flag::kWhoareyou) {
        st.whoareyou = b;
        continue;
      }
      if (h->flag == v5wire::Flag::kHandshake && st.challenge) {
        // We answered its WHOAREYOU: it takes the recipient's side of the session.
        auto keys = v5wire::accept_handshake(*h, *st.challenge, s.local_public_key(), p.key, p.id);
        check(keys.has_value());  // our handshake must verify against its challenge
        p.read.emplace(keys->initiator_key);
        p.write.emplace(keys->recipient_key);
        st.challenge.reset();
      }
      st.last_nonce = h->nonce;
      std::optional<Bytes> pt;
      if (p.read) {
        if (auto opened = v5wire::open_message(*h, *p.read, plain)) {
          pt.emplace(opened->begin(), opened->end());
        }
      }
      if (!pt) {
        st.undecryptable = h->nonce;  // no session (or a stale one): a WHOAREYOU is due
        continue;
      }
      auto m = v5wire::decode_message(*pt);
      check(m.has_value());
      note_message(st, *m);
    }
    st.inbox.clear();
  }

  // After every step, so a handshake of ours meets the challenge it answers.
  void absorb_all(const DiscoveryServer& s) {
    for (std::size_t k = 0; k < kPeers; ++k) {
      absorb_v4(k);
      absorb_v5(k, s);
    }
  }
};

Bytes v5_message(std::uint8_t b, std::uint8_t c, const V5State& st,
                 const std::array<std::optional<RawV5Peer>, kPeers>& v5) {
  std::array<std::uint8_t, 1280> out{};
  const std::array<std::uint8_t, 8> own_id = {b, c, 1, 2, 3, 4, 5, 6};
  const ByteView req_id(own_id.data(), 1 + (c % 8));
  const bool answer = (b & 0x80) != 0 && st.request.has_value();
  const ByteView their_id = answer ? ByteView(st.req_id) : req_id;
  Result<ByteView, v5wire::V5Error> m = tl::unexpected(v5wire::V5Error::kMessageTooShort);
  switch (answer ? 8 + static_cast<int>(*st.request) : b % 4) {
    case 0:
      m = v5wire::encode_ping(out, req_id, c % 3);
      break;
    case 1: {
      std::array<std::uint16_t, 3> d = {static_cast<std::uint16_t>(256 - c % 4),
                                        static_cast<std::uint16_t>(c), 0};
      m = v5wire::encode_findnode(out, req_id,
                                  std::span<const std::uint16_t>(d.data(), 1 + (b >> 2) % 3));
      break;
    }
    case 2:
      m = v5wire::encode_talkreq(out, req_id, ByteView(own_id.data(), c % 4),
                                 ByteView(own_id.data(), b % 8));
      break;
    case 3: {  // unsolicited responses
      m = (c & 1) != 0 ? v5wire::encode_pong(out, req_id, 1, IpAddress::v4(127, 0, 0, 1), 30303)
                       : v5wire::encode_talkresp(out, req_id, ByteView(own_id.data(), c % 8));
      break;
    }
    case 8 + static_cast<int>(v5wire::MessageType::kPing):
      m = v5wire::encode_pong(
          out, their_id, c % 3,
          (c & 1) != 0 ? IpAddress::v4(127, 0, 0, 1) : IpAddress::v4(198, 51, 100, c >> 4), 30303);
      break;
    case 8 + static_cast<int>(v5wire::MessageType::kFindNode): {
      // Records of the other peers (and of the sender itself), `total` from c.
      std::array<ByteView, kPeers> recs{};
      const std::size_t n = c % (kPeers + 1);
      for (std::size_t i = 0; i < n; ++i) {
        recs[i] = v5[i]->record_raw();
      }
      m = v5wire::encode_nodes(out, their_id, 1 + (c >> 5) % 3,
                               std::span<const ByteView>(recs.data(), n));
      break;
    }
    default:
      m = v5wire::encode_talkresp(out, their_id, ByteView(own_id.data(), c % 8));
      break;
  }
  check(m.has_value());
  return Bytes(m->begin(), m->end());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const ServerConfig config = fuzz_config();
  StepClock clock;
  crypto::DeterministicRandom rng(1);
  CheckingTransport tx;
  DiscoveryServer server(config, clock, rng);
  static const crypto::AesCtr128 own_masker(v5wire::masking_key(server.local_id()));
  static std::array<std::uint8_t, 1400> packet;
  static const crypto::PublicKey node_a = *crypto::derive_public_key(kNodeA);
  NodeSeed seed;
  seed.public_key = node_a;
  seed.endpoint4 = endpoint_of(0);
  seed.protocols = kFlagV4 | kFlagV5;
  server.handle(msg::AddSeed{seed}, tx);
  static Peers peers;
  peers.reset(server);
  tx.capture = [&](ByteView payload, const Endpoint& to) { peers.capture(payload, to); };
  // A datagram from a peer: delivered, and kept for op 15.
  auto send = [&](Bytes packet, const Endpoint& from, bool v4) {
    peers.last = std::move(packet);
    peers.last_from = from;
    peers.last_v4 = v4;
    const Datagram d{ByteView(peers.last), from};
    server.on_burst(std::span<const Datagram>(&d, 1), tx);
  };
  if (size > 0) {
    tx.set_full_every(data[0] % 16 == 15 ? 7 : 0);
  }

  std::size_t pos = 0;
  std::size_t steps = 0;
  while (pos < size && steps++ < 256) {
    const std::uint8_t op = data[pos++];
    const std::uint8_t kind = op % 16;
    if (kind <= 4) {
      if (size - pos < 3) {
        break;
      }
      const Endpoint from = endpoint_of(data[pos]);
      std::size_t len = data[pos + 1] | (static_cast<std::size_t>(data[pos + 2]) << 8);
      pos += 3;
      len = std::min({len % 1400, size - pos, packet.size()});
      std::memcpy(packet.data(), data + pos, len);
      pos += len;
      if (kind == 3 && len > 32) {
        const Hash256 h = crypto::keccak256(ByteView(packet.data() + 32, len - 32));
        std::memcpy(packet.data(), h.data(), 32);
      } else if (kind == 4 && len >= v5wire::kMaskingIvSize + v5wire::kStaticHeaderSize) {
        const std::size_t auth = (static_cast<std::size_t>(packet[16 + 21]) << 8) | packet[16 + 22];
        const std::size_t header =
            std::min(len - v5wire::kMaskingIvSize, v5wire::kStaticHeaderSize + auth);
        std::array<std::uint8_t, 1400> masked{};
        own_masker.apply(ByteView(packet.data(), v5wire::kMaskingIvSize),
                         ByteView(packet.data() + v5wire::kMaskingIvSize, header),
                         MutableByteView(masked.data(), header));
        std::memcpy(packet.data() + v5wire::kMaskingIvSize, masked.data(), header);
      }
      const Datagram d{ByteView(packet.data(), len), from};
      server.on_burst(std::span<const Datagram>(&d, 1), tx);
    } else if (kind == 5) {
      if (pos >= size) {
        break;
      }
      const std::int64_t n = data[pos++];
      clock.advance_ns((op & 0x80) != 0 ? n * kSecond : n * 10 * kMillisecond);
    } else if (kind == 6) {
      server.on_idle(tx);
    } else if (kind >= 8) {
      // Structured peer actions: [op][a] then action-specific bytes.
      const std::size_t need = kind == 13 || kind == 15 ? 3 : (kind == 10 || kind == 12 ? 2 : 1);
      if (size - pos < need) {
        break;
      }
      const std::uint8_t a = data[pos];
      const std::uint8_t b = need > 1 ? data[pos + 1] : 0;
      const std::uint8_t c = need > 2 ? data[pos + 2] : 0;
      pos += need;
      const std::size_t k = a % kPeers;
      if (kind <= 10) {
        const RawV4Peer& p = peers.v4[k];
        peers.absorb_v4(k);
        V4State& st = peers.v4s[k];
        if (kind == 8) {
          const std::optional<std::uint64_t> seq =
              (a & 4) != 0 ? std::optional<std::uint64_t>((a >> 3) & 3) : std::nullopt;
          send(p.ping(clock, seq, (a & 0x80) != 0 ? -1 : 20), p.ep, true);
        } else if (kind == 9) {
          Hash256 h{};
          if (st.ping_hash && (a & 0x80) == 0) {
            h = *st.ping_hash;
          } else {
            h[0] = a;
          }
          const v4wire::RpcEndpoint to = {
              (a & 0x40) != 0 ? IpAddress::v4(198, 51, 100, a & 7) : IpAddress::v4(127, 0, 0, 1),
              30303, 0};
          send(p.pong(clock, h,
                      (a & 4) != 0 ? std::optional<std::uint64_t>((a >> 3) & 3) : std::nullopt, to),
               p.ep, true);
        } else {
          switch ((a >> 2) % 4) {
            case 0:
              send(p.findnode(clock, (b & 1) != 0 ? peers.v4[b % kPeers].pub : node_a), p.ep, true);
              break;
            case 1:
              send(p.enrrequest(clock), p.ep, true);
              break;
            case 2: {
              // Neighbors: the other discv4 peers (and node A), b of them.
              std::array<v4wire::NeighborNode, kPeers + 1> nodes{};
              const std::size_t n = b % (kPeers + 2);
              for (std::size_t i = 0; i < n; ++i) {
                const bool peer = i < kPeers;
                const Endpoint ep = peer ? peers.v4[i].ep : endpoint_of(0);
                nodes[i].endpoint = {ep.ip, ep.port, ep.port};
                nodes[i].pubkey = peer ? peers.v4[i].pub : node_a;
              }
              st.findnode = false;
              send(p.neighbors(clock, std::span<const v4wire::NeighborNode>(nodes.data(), n)), p.ep,
                   true);
              break;
            }
            default: {
              Hash256 h{};
              if (st.enrreq_hash && (b & 0x80) == 0) {
                h = *st.enrreq_hash;
              }
              const enr::Record r = test::make_record(p.key, p.ep, 1 + b % 4);
              send(p.enrresponse(h, r.raw()), p.ep, true);
              break;
            }
          }
        }
      } else {
        RawV5Peer& p = *peers.v5[k];
        peers.absorb_v5(k, server);
        V5State& st = peers.v5s[k];
        if (kind == 11) {
          send(p.random_packet(1 + a % 64), p.ep, false);
        } else if (kind == 12) {
          if (st.whoareyou) {
            const Bytes pt = v5_message(b, a, st, peers.v5);
            const Bytes none;
            send(p.handshake(
                     *st.whoareyou, pt,
                     (a & 0x40) != 0 ? std::optional<ByteView>(ByteView(none)) : std::nullopt,
                     (a & 0x80) != 0 && (b & 1) != 0),
                 p.ep, false);
            st.whoareyou.reset();
          }
        } else if (kind == 13) {
          if (p.write) {
            send(p.message(v5_message(b, c, st, peers.v5)), p.ep, false);
            if ((b & 0x80) != 0) {
              st.request.reset();
            }
          }
        } else if (kind == 14) {
          if (!st.undecryptable && (a & 0x80) != 0) {
            st.undecryptable = st.last_nonce;  // the peer forgot the session
          }
          if (st.undecryptable) {
            // Our packet could not be opened: challenge us (we then initiate the handshake).
            Bytes out(v5wire::kWhoareyouPacketSize);
            v5wire::IdNonce id_nonce{};
            id_nonce[0] = a;
            auto w = v5wire::encode_whoareyou(out, p.masker(), *st.undecryptable, id_nonce,
                                              (a & 0x40) != 0 ? 1 : 0, p.iv());
            check(w.has_value());
            st.challenge = w->challenge_data;
            p.write.reset();
            p.read.reset();
            st.undecryptable.reset();
            send(out, p.ep, false);
          }
        } else {
          // Resend the last peer datagram, one byte changed (x = 0: an exact replay).
          if (!peers.last.empty()) {
            Bytes m = peers.last;
            m[a % m.size()] ^= b;
            if (peers.last_v4 && (c & 0x40) != 0 && m.size() > 32) {
              const Hash256 h = crypto::keccak256(ByteView(m).subspan(32));
              std::memcpy(m.data(), h.data(), 32);
            }
            const Endpoint from = (c & 0x80) != 0 ? endpoint_of(c) : peers.last_from;
            const Datagram d{ByteView(m), from};
            server.on_burst(std::span<const Datagram>(&d, 1), tx);
          }
        }
      }
    } else {
      if (pos >= size) {
        break;
      }
      const std::uint8_t c = data[pos++];
      const Protocol p = (c & 1) != 0 ? Protocol::kV5 : Protocol::kV4;
      switch ((c >> 1) % 3) {
        case 0:
          server.handle(msg::Revalidate{p}, tx);
          break;
        case 1:
          server.handle(msg::Lookup{p, std::nullopt, c}, tx);
          break;
        default:
          server.handle(msg::Prune{}, tx);
          break;
      }
    }
    check_bounds(server, config);
    peers.absorb_all(server);
  }
  // Let every deadline run out: timeouts, retries, lookups finishing.
  for (int i = 0; i < 8; ++i) {
    clock.advance_ns(kSecond);
    server.on_idle(tx);
    check_bounds(server, config);
  }
  // DP_FUZZ_DEBUG=1: what one input reached (to check that seeds go deep).
  static const bool debug = std::getenv("DP_FUZZ_DEBUG") != nullptr;
  if (debug) {
    const Counters& n = server.counters();
    std::fprintf(stderr,
                 "v4 bonds %llu, v5 handshakes accepted %llu initiated %llu, table %zu, "
                 "sessions %zu, rx %llu, tx %llu\n",
                 static_cast<unsigned long long>(n.v4_bonds),
                 static_cast<unsigned long long>(n.v5_handshakes_accepted),
                 static_cast<unsigned long long>(n.v5_handshakes_initiated), server.table().size(),
                 server.session_count(), static_cast<unsigned long long>(n.rx_packets),
                 static_cast<unsigned long long>(n.tx_packets));
  }
  return 0;
}
