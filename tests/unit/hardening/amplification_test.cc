// Amplification: for every packet kind an unauthenticated sender (one that holds no bond
// and no session, and may spoof its source) can make us handle, the bytes we send back
// against the bytes it sent, kind by kind. The rule: over any sequence of packets, bytes
// out to an IP <= bytes in from it + the per-IP burst (`v4_amp_per_ip_burst`, which lets a
// first discv4 contact bond) + what each Pong is larger than the Ping it answers (a Pong is
// always sent: a reflection at at most ~1.2x, not an amplification), and in total the same with the
// global burst. Every kind but the discv4 Ping keeps out <= in with no burst at all. The
// table printed at the end is the source of the figures in docs/security.md.
#include <algorithm>
#include <cstdio>
#include <deque>
#include <map>
#include <string>

#include <catch2/catch.hpp>

#include "unit/hardening/hostile_peers.h"

using namespace discplane;
using namespace discplane::disc;
using namespace discplane::hardening;

namespace {

struct Row {
  std::string kind;
  std::size_t samples = 0;
  std::uint64_t in_bytes = 0;
  std::uint64_t out_packets = 0;
  std::uint64_t out_bytes = 0;
  std::size_t min_in = SIZE_MAX;
  // Largest (bytes out - bytes in) over every prefix of the row's packets: for one source
  // IP (the worst one), and over all of them together.
  // (Pong bytes beyond their Pings are not counted: see the rule above.)
  std::int64_t max_ip_excess = 0;
  std::int64_t max_total_excess = 0;
  std::int64_t pong_excess = 0;  // what the Pongs were larger than their Pings, in total
  double ratio() const { return in_bytes == 0 ? 0.0 : double(out_bytes) / double(in_bytes); }
};

// Delivers each packet once from its own source and accounts what went back, per IP too.
struct Meter {
  Target& e;
  std::deque<Row> rows;  // measure() hands out references: they must stay put
  std::map<IpAddress, std::int64_t> ip_out;
  std::int64_t pong_bytes = 0;  // of the current delivery

  explicit Meter(Target& target) : e(target) {
    e.tx.on_send = [this](ByteView payload, const Endpoint& to) {
      ip_out[to.ip] += static_cast<std::int64_t>(payload.size());
      // discv4 layout: hash (32) || signature (65) || type (1)
      if (payload.size() > 97 &&
          payload[97] == static_cast<std::uint8_t>(v4wire::PacketType::kPong)) {
        pong_bytes += static_cast<std::int64_t>(payload.size());
      }
    };
  }

  Row& measure(const std::string& kind, const std::vector<std::pair<Bytes, Endpoint>>& packets) {
    Row r;
    r.kind = kind;
    ip_out.clear();
    std::map<IpAddress, std::int64_t> ip_in;  // bytes in, plus the Pongs' excess
    for (const auto& [payload, from] : packets) {
      const std::uint64_t p0 = e.tx.packets;
      const std::uint64_t b0 = e.tx.bytes;
      pong_bytes = 0;
      e.deliver(payload, from);
      if (pong_bytes > 0) {
        const std::int64_t excess =
            std::max<std::int64_t>(0, pong_bytes - static_cast<std::int64_t>(payload.size()));
        r.pong_excess += excess;
        ip_in[from.ip] += excess;
      }
      r.out_packets += e.tx.packets - p0;
      r.out_bytes += e.tx.bytes - b0;
      r.in_bytes += payload.size();
      r.min_in = std::min(r.min_in, payload.size());
      ip_in[from.ip] += static_cast<std::int64_t>(payload.size());
      // Replies go to the datagram's source only (checked: no other IP gets bytes).
      for (const auto& [ip, out] : ip_out) {
        r.max_ip_excess = std::max(r.max_ip_excess, out - ip_in[ip]);
      }
      r.max_total_excess =
          std::max(r.max_total_excess, static_cast<std::int64_t>(r.out_bytes) -
                                           static_cast<std::int64_t>(r.in_bytes) - r.pong_excess);
      ++r.samples;
    }
    rows.push_back(r);
    return rows.back();
  }
  void print() const {
    std::printf("\n%-48s %7s %9s %8s %9s %6s %10s\n", "packet kind (unauthenticated sender)",
                "samples", "bytes in", "pkts out", "bytes out", "out/in", "excess/IP");
    for (const Row& r : rows) {
      std::printf("%-48s %7zu %9llu %8llu %9llu %6.2f %10lld\n", r.kind.c_str(), r.samples,
                  static_cast<unsigned long long>(r.in_bytes),
                  static_cast<unsigned long long>(r.out_packets),
                  static_cast<unsigned long long>(r.out_bytes), r.ratio(),
                  static_cast<long long>(r.max_ip_excess));
    }
  }
};

Endpoint src(std::size_t kind, std::size_t i) {
  return Endpoint{
      IpAddress::v4(198, 51, static_cast<std::uint8_t>(kind), static_cast<std::uint8_t>(i)),
      static_cast<std::uint16_t>(40'000 + i)};
}

}  // namespace

TEST_CASE("amplification: bytes out <= bytes in for every unauthenticated packet kind",
          "[hardening][amplification]") {
  Target e;
  Meter m(e);
  const std::size_t kN = 32;
  crypto::DeterministicRandom rng(7);
  using Packets = std::vector<std::pair<Bytes, Endpoint>>;
  const crypto::AesCtr128 our_masker(v5wire::masking_key(e.server->local_id()));

  // ---- discv4 ----
  Packets pings;
  Packets pongs;
  Packets findnodes;
  Packets neighbors;
  Packets enrreqs;
  Packets enrresps;
  Packets badsig;
  Packets victim_pings;   // fresh keys, all spoofing one victim IP
  Packets victim_replay;  // one signed Ping replayed with the victim IP as source
  const std::size_t kVictim = 128;
  const Endpoint victim{IpAddress::v4(203, 0, 113, 7), 30303};
  for (std::size_t i = 0; i < kVictim; ++i) {
    const V4Peer p(75'000 + i, victim);
    victim_pings.emplace_back(p.ping(e.clock), Endpoint{victim.ip, static_cast<std::uint16_t>(i)});
  }
  const Endpoint victim2{IpAddress::v4(203, 0, 113, 8), 30303};
  const Bytes replayed = V4Peer(76'000, victim2).ping(e.clock);
  for (std::size_t i = 0; i < kVictim; ++i) {
    victim_replay.emplace_back(replayed, Endpoint{victim2.ip, static_cast<std::uint16_t>(i)});
  }
  for (std::size_t i = 0; i < kN; ++i) {
    const V4Peer p(70'000 + i, src(1, i));
    Hash256 h{};
    rng.fill(h);
    pings.emplace_back(p.ping(e.clock), src(1, i));
    pongs.emplace_back(p.pong(e.clock, h), src(2, i));
    findnodes.emplace_back(p.findnode(e.clock, p.pub), src(3, i));
    const std::array<v4wire::NeighborNode, 12> nodes{};
    std::array<v4wire::NeighborNode, 12> filled = nodes;
    for (auto& n : filled) {
      n.endpoint = {IpAddress::v4(127, 0, 0, 9), 9, 9};
      n.pubkey = p.pub;
    }
    neighbors.emplace_back(p.neighbors(e.clock, filled), src(4, i));
    enrreqs.emplace_back(p.enrrequest(e.clock), src(5, i));
    enrresps.emplace_back(p.enrresponse(h, make_record(p.key, p.ep).raw()), src(6, i));
    // Altered signature bytes under a recomputed hash: either no key recovers (dropped as
    // malformed) or some other key does, and then it is just a Ping from a stranger.
    Bytes bad = p.ping(e.clock, std::nullopt, 30);
    bad[40] ^= 0xff;
    const Hash256 fixed = crypto::keccak256(ByteView(bad).subspan(32));
    std::memcpy(bad.data(), fixed.data(), 32);
    badsig.emplace_back(bad, src(7, i));
  }
  const Row& ping_row = m.measure("v4 Ping, unknown sender, one per IP", pings);
  const Row& victim_row = m.measure("v4 Ping, unknown senders, one spoofed IP", victim_pings);
  const Row& replay_row = m.measure("v4 Ping, one replayed, one spoofed IP", victim_replay);
  const Row& pong_row = m.measure("v4 Pong, unsolicited", pongs);
  const Row& fn_row = m.measure("v4 FindNode, unbonded", findnodes);
  const Row& nb_row = m.measure("v4 Neighbors, unsolicited", neighbors);
  const Row& er_row = m.measure("v4 ENRRequest, unbonded", enrreqs);
  const Row& ers_row = m.measure("v4 ENRResponse, unsolicited", enrresps);
  const Row& bad_row = m.measure("v4 Ping, signature bytes altered, hash fixed", badsig);

  // ---- discv5 ----
  Packets v5_min;
  Packets v5_big;
  Packets v5_repeat;
  Packets garbage;
  Packets whoareyou;
  Packets hs_nochallenge;
  for (std::size_t i = 0; i < kN; ++i) {
    V5Peer p(80'000 + i, src(10, i), *e.server);
    v5_min.emplace_back(p.random_packet(1), src(10, i));  // the smallest message packet
    v5_big.emplace_back(p.random_packet(1000), src(11, i));
    const Bytes again = p.random_packet(8);
    v5_repeat.emplace_back(again, src(12, 0));  // one (id, endpoint): the challenge repeats
    Bytes g(63 + rng.next_u64() % (1280 - 63 + 1));
    rng.fill(g);
    garbage.emplace_back(g, src(13, i));
    // A WHOAREYOU that answers nothing of ours.
    Bytes w(v5wire::kWhoareyouPacketSize);
    v5wire::Nonce nonce{};
    v5wire::IdNonce id_nonce{};
    rng.fill(nonce);
    rng.fill(id_nonce);
    auto enc = v5wire::encode_whoareyou(w, our_masker, nonce, id_nonce, 0, p.iv());
    REQUIRE(enc);
    whoareyou.emplace_back(w, src(14, i));
    // A handshake answering a challenge we never sent (made up, addressed to itself).
    Bytes fake(v5wire::kWhoareyouPacketSize);
    const crypto::AesCtr128 self_masker(v5wire::masking_key(p.id));
    auto fw = v5wire::encode_whoareyou(fake, self_masker, nonce, id_nonce, 0, p.iv());
    REQUIRE(fw);
    hs_nochallenge.emplace_back(p.handshake(fake, v5_ping_pt(Bytes{1})), src(15, i));
  }
  const Row& v5min_row = m.measure("v5 random message packet, smallest (88 B)", v5_min);
  const Row& v5big_row = m.measure("v5 random message packet, large", v5_big);
  const Row& v5rep_row = m.measure("v5 random packet, same (id, endpoint) again", v5_repeat);
  const Row& garbage_row = m.measure("random bytes, 63..1280 B", garbage);
  const Row& who_row = m.measure("v5 WHOAREYOU, unsolicited", whoareyou);
  const Row& hsn_row = m.measure("v5 handshake, no challenge", hs_nochallenge);

  // Handshakes on a real challenge, but with a bad id-signature or a bad record: the
  // challenge (63 B) was already paid for by the random packet; the handshake draws nothing.
  Packets hs_badsig;
  Packets hs_badrec;
  for (std::size_t i = 0; i < kN; ++i) {
    V5Peer p(90'000 + i, src(16, i), *e.server);
    const auto who = e.exchange(p.random_packet(), p.ep);
    REQUIRE(who.size() == 1);
    hs_badsig.emplace_back(p.handshake(who[0], v5_ping_pt(Bytes{1}), std::nullopt, true), p.ep);
    V5Peer q(91'000 + i, src(17, i), *e.server);
    const auto who2 = e.exchange(q.random_packet(), q.ep);
    REQUIRE(who2.size() == 1);
    const Bytes bad = tampered_record(q.record);
    hs_badrec.emplace_back(q.handshake(who2[0], v5_ping_pt(Bytes{1}), ByteView(bad)), q.ep);
  }
  const Row& hsb_row = m.measure("v5 handshake, bad id-signature", hs_badsig);
  const Row& hsr_row = m.measure("v5 handshake, bad record", hs_badrec);
  m.print();

  // Nothing at all for these.
  for (const Row* r : {&pong_row, &fn_row, &nb_row, &er_row, &ers_row, &garbage_row, &who_row,
                       &hsn_row, &hsb_row, &hsr_row}) {
    INFO(r->kind);
    REQUIRE(r->out_bytes == 0);
  }
  // discv5 challenges: one 63-byte WHOAREYOU per packet, never more than the packet.
  for (const Row* r : {&v5min_row, &v5big_row, &v5rep_row}) {
    INFO(r->kind);
    REQUIRE(r->out_packets <= r->samples);
    REQUIRE(r->out_bytes == r->out_packets * v5wire::kWhoareyouPacketSize);
    REQUIRE(r->out_bytes <= r->in_bytes);
    REQUIRE(r->min_in >= v5wire::kWhoareyouPacketSize);
  }
  REQUIRE(v5min_row.out_packets == v5min_row.samples);
  REQUIRE(v5big_row.out_packets == v5big_row.samples);
  // The same (id, endpoint) again: the stored challenge, within the per-IP limit.
  REQUIRE(v5rep_row.out_packets <= ServerConfig{}.whoareyou_per_ip_burst);
  REQUIRE(v5min_row.min_in == 88);
  // The rule for every row: out <= in + per-IP burst for each IP, over every prefix.
  const ServerConfig defaults;
  const auto burst = static_cast<std::int64_t>(defaults.v4_amp_per_ip_burst);
  for (const Row& r : m.rows) {
    INFO(r.kind);
    REQUIRE(r.max_ip_excess <= burst);
    REQUIRE(r.max_total_excess <= static_cast<std::int64_t>(defaults.v4_amp_global_burst));
  }
  // Everything but the discv4 Ping stays within out <= in with no burst at all.
  for (const Row& r : m.rows) {
    if (&r != &ping_row && &r != &victim_row && &r != &replay_row && &r != &bad_row) {
      INFO(r.kind);
      REQUIRE(r.max_total_excess <= 0);
    }
  }
  // discv4 Ping from a first contact: Pong + bond Ping (the endpoint proof needs both), paid
  // from the burst of its IP.
  REQUIRE(ping_row.out_packets == 2 * ping_row.samples);
  REQUIRE(ping_row.ratio() <= 2.5);
  REQUIRE(bad_row.out_packets <= 2 * bad_row.samples);
  // Each altered Ping either recovers no key (malformed) or is a stranger's Ping: a Pong,
  // and a bond Ping while there is credit.
  const std::uint64_t strangers = bad_row.samples - e.dropped(Drop::kV4Malformed);
  REQUIRE(bad_row.out_packets >= strangers);
  REQUIRE(bad_row.out_packets <= 2 * strangers);
  // A flood of fresh keys at one spoofed victim: every Ping gets its Pong (at most ~1.2x of it),
  // and once the burst is spent no bond Ping goes: the victim gets what was sent in its name, the
  // Pongs' excess over it and the burst, no more.
  for (const Row* r : {&victim_row, &replay_row}) {
    INFO(r->kind);
    REQUIRE(r->out_packets >= r->samples);
    REQUIRE(r->out_packets < 2 * r->samples);
    REQUIRE(r->out_bytes <= r->in_bytes + static_cast<std::uint64_t>(r->pong_excess) +
                                defaults.v4_amp_per_ip_burst);
    REQUIRE(r->pong_excess <= static_cast<std::int64_t>(r->in_bytes) / 4);
    REQUIRE(r->ratio() <= 1.2 + double(burst) / double(r->in_bytes));
  }
  REQUIRE(e.dropped(Drop::kV4AmpLimited) > 0);
}

TEST_CASE("amplification: a discv4 Ping flood from one sender id draws one bond Ping",
          "[hardening][amplification]") {
  // The Pong is owed to every (fresh) Ping; the bond Ping is sent once per sender id while
  // it is outstanding, so repeating a sender's id does not repeat the second packet.
  Target e;
  const V4Peer p(95'000, src(20, 0));
  std::uint64_t in = 0;
  for (std::int64_t i = 0; i < 32; ++i) {
    const Bytes ping = p.ping(e.clock, std::nullopt, 20 + i);
    in += ping.size();
    e.deliver(ping, src(20, static_cast<std::size_t>(i)));
  }
  REQUIRE(e.tx.packets == 32 + 1);
  REQUIRE(double(e.tx.bytes) / double(in) <= 1.3);
}

TEST_CASE("amplification: one signed discv4 Ping replayed from spoofed sources",
          "[hardening][amplification]") {
  // Pings are not replay-filtered (discv4.cc: an honest retransmission is byte-identical),
  // so one signed Ping can be replayed from any number of spoofed sources, each copy drawing
  // a Pong (and the first a bond Ping). The Pong carries a 32-byte hash and our enr-seq: it
  // is ~10% larger than the smallest Ping.
  Target e;
  const V4Peer p(96'000, src(21, 0));
  const Bytes ping = p.ping(e.clock);
  const std::uint64_t kCopies = 64;
  std::uint64_t pong_bytes = 0;
  std::uint64_t pongs = 0;
  e.tx.on_send = [&](ByteView payload, const Endpoint&) {
    auto d = v4wire::decode(payload);
    if (d && d->type == v4wire::PacketType::kPong) {
      ++pongs;
      pong_bytes += payload.size();
    }
  };
  for (std::uint64_t i = 0; i < kCopies; ++i) {
    e.deliver(ping, src(21, static_cast<std::size_t>(i)));
  }
  std::printf("replayed v4 Ping: %zu B in, Pong %llu B out per copy (%.2fx), %llu packets total\n",
              ping.size(), static_cast<unsigned long long>(pong_bytes / kCopies),
              double(pong_bytes) / double(kCopies * ping.size()),
              static_cast<unsigned long long>(e.tx.packets));
  REQUIRE(pongs == kCopies);
  REQUIRE(e.tx.packets <= kCopies + 1);
  REQUIRE(double(e.tx.bytes) / double(kCopies * ping.size()) <= 1.3);
}

TEST_CASE(
    "amplification: a flood of fresh-key discv4 Pings from spoofed IPs stays within "
    "bytes in + the Pongs' excess + the global burst",
    "[hardening][amplification]") {
  // Each spoofed IP is new, so each has its full per-IP burst: the global account is the
  // bound for bond Pings (every Ping gets its Pong, at most ~1.2x of it). A peer bonded before the
  // flood is never charged (its endpoint is proved), and a newcomer bonds again once
  // verified traffic has refilled the global account.
  Target e;
  const V4Peer bonded(97'000, Endpoint{IpAddress::v4(127, 0, 0, 97), 30397});
  (void)bond_v4(e, bonded);
  const ServerConfig defaults;
  const std::size_t kSenders = 1000;
  std::uint64_t in = 0;          // everything received, the bonded peer's Pings included
  std::uint64_t out = 0;         // to the spoofed (unverified) IPs only
  std::int64_t pong_bytes = 0;   // of the current delivery, to a spoofed IP
  std::int64_t pong_excess = 0;  // what those Pongs were larger than their Pings
  std::size_t spoofed_pongs = 0;
  e.tx.on_send = [&](ByteView payload, const Endpoint& to) {
    out += to == bonded.ep ? 0 : payload.size();
    if (to != bonded.ep && payload[97] == static_cast<std::uint8_t>(v4wire::PacketType::kPong)) {
      pong_bytes += static_cast<std::int64_t>(payload.size());
      ++spoofed_pongs;
    }
  };
  std::int64_t max_excess = 0;
  std::size_t bonded_pongs = 0;
  for (std::size_t i = 0; i < kSenders; ++i) {
    const Endpoint spoofed{IpAddress::v4(198, 18, static_cast<std::uint8_t>(i / 250),
                                         static_cast<std::uint8_t>(1 + i % 250)),
                           static_cast<std::uint16_t>(1000 + i)};
    const Bytes ping = V4Peer(30'000 + i, spoofed).ping(e.clock);
    in += ping.size();
    pong_bytes = 0;
    e.deliver(ping, spoofed);
    pong_excess += std::max<std::int64_t>(0, pong_bytes - static_cast<std::int64_t>(ping.size()));
    max_excess = std::max(
        max_excess, static_cast<std::int64_t>(out) - static_cast<std::int64_t>(in) - pong_excess);
    if (i % 100 == 0) {  // the bonded peer keeps being answered through the flood
      e.tx.watch = bonded.ep;
      const Bytes bp = bonded.ping(e.clock, std::nullopt, 20 + static_cast<std::int64_t>(i));
      const auto answer = e.exchange(bp, bonded.ep);
      bonded_pongs += find_v4(answer, v4wire::PacketType::kPong).has_value();
      in += bp.size();
    }
  }
  std::printf(
      "fresh-key v4 Ping flood, %zu spoofed IPs: %llu B in, %llu B out (%.3fx), max "
      "excess %lld B, %llu over budget\n",
      kSenders, static_cast<unsigned long long>(in), static_cast<unsigned long long>(out),
      double(out) / double(in), static_cast<long long>(max_excess),
      static_cast<unsigned long long>(e.dropped(Drop::kV4AmpLimited)));
  REQUIRE(spoofed_pongs == kSenders);
  REQUIRE(max_excess <= static_cast<std::int64_t>(defaults.v4_amp_global_burst));
  REQUIRE(out <= in + static_cast<std::uint64_t>(pong_excess) + defaults.v4_amp_global_burst);
  REQUIRE(pong_excess <= static_cast<std::int64_t>(in) / 4);
  REQUIRE(e.dropped(Drop::kV4AmpLimited) > 0);
  REQUIRE(bonded_pongs == kSenders / 100);

  // Verified traffic (the bonded peer's Pings) refills the global account; then a newcomer
  // bonds as usual.
  for (std::int64_t i = 0; i < 4; ++i) {
    (void)e.exchange(bonded.ping(e.clock, std::nullopt, 40 + i), bonded.ep);
  }
  const V4Peer newcomer(98'000, Endpoint{IpAddress::v4(127, 0, 0, 98), 30398});
  (void)bond_v4(e, newcomer);
  REQUIRE(e.server->table().find(newcomer.id) != nullptr);
}

TEST_CASE("amplification: nodes sharing one address get a Pong for every Ping",
          "[hardening][amplification]") {
  // Carrier NAT, or several clients on one host: 2,000 identities behind one IP, 40 Pings
  // each, none answering our bond Pings (the worst case for the IP's account). The Pong is
  // about the size of its Ping and is always sent; only the bond Ping, the part that is more
  // than the request, waits for credit. What goes to the address stays within the Pongs'
  // at most ~1.2x of what came from it, plus the burst.
  Target e;
  const ServerConfig defaults;
  const IpAddress shared = IpAddress::v4(127, 0, 0, 60);
  constexpr std::size_t kIds = 2000;
  constexpr std::size_t kRounds = 40;
  std::vector<V4Peer> peers;
  peers.reserve(kIds);
  for (std::size_t i = 0; i < kIds; ++i) {
    peers.emplace_back(110'000 + i, Endpoint{shared, static_cast<std::uint16_t>(20'000 + i)});
  }
  std::uint64_t pongs = 0;
  std::uint64_t pong_bytes = 0;
  std::uint64_t pings_back = 0;
  std::uint64_t out = 0;
  e.tx.on_send = [&](ByteView payload, const Endpoint& to) {
    REQUIRE(to.ip == shared);
    out += payload.size();
    // discv4 layout: hash (32) || signature (65) || type (1) || RLP
    REQUIRE(payload.size() > 97);
    if (payload[97] == static_cast<std::uint8_t>(v4wire::PacketType::kPong)) {
      ++pongs;
      pong_bytes += payload.size();
    } else if (payload[97] == static_cast<std::uint8_t>(v4wire::PacketType::kPing)) {
      ++pings_back;
    }
  };
  std::uint64_t in = 0;
  for (std::size_t round = 0; round < kRounds; ++round) {
    for (const V4Peer& p : peers) {
      const Bytes ping = p.ping(e.clock);
      in += ping.size();
      e.deliver(ping, p.ep);
    }
    e.clock.advance_ms(1'000);
    e.server->on_idle(e.tx);
  }
  std::printf(
      "%zu ids behind one IP, %zu Pings each: %llu Pongs, %llu bond Pings, %llu B in, "
      "%llu B out, %llu refused\n",
      kIds, kRounds, static_cast<unsigned long long>(pongs),
      static_cast<unsigned long long>(pings_back), static_cast<unsigned long long>(in),
      static_cast<unsigned long long>(out),
      static_cast<unsigned long long>(e.dropped(Drop::kV4AmpLimited)));
  REQUIRE(pongs == kIds * kRounds);
  // Bond Pings are what the budget limits: some go (the burst, then what Pings earn beyond
  // their Pongs), not one per Ping.
  REQUIRE(pings_back > 0);
  REQUIRE(pings_back < kIds * kRounds / 4);
  REQUIRE(e.dropped(Drop::kV4AmpLimited) > 0);
  REQUIRE(double(out) <= 1.25 * double(in) + double(defaults.v4_amp_per_ip_burst));
}
