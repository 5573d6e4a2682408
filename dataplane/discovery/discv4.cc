// discv4 behaviour (devp2p discv4.md, EIP-8, EIP-868): verify then handle each packet kind,
// bonds (endpoint proofs), FindNode queries for lookups, ENR requests. Replies always go to
// the datagram's source, never to the address a packet claims.
#include "discv4.h"

#include <algorithm>

#include "discplane/crypto/keccak.h"

namespace discplane::disc {

using v4wire::PacketType;

namespace {
// geth waits this long after bonding before sending a FindNode, giving the peer time to ping
// us back and so consider us verified (ensureBond).
constexpr std::int64_t kBondSettleNs = 300 * kMillisecond;
// A Neighbors answer is complete at this many nodes (k); fewer means wait for the timeout.
constexpr std::uint32_t kFindNodeComplete = 16;
// Upper bound of our Pong and Ping sizes (IPv6 endpoints, 8-byte enr-seq: 171 and 164 B):
// what must be affordable before one is signed for an unverified endpoint.
constexpr std::size_t kV4ReplyMax = 180;
// How long after sending a Ping its Pong is still accepted, past the request timeout.
constexpr std::int64_t kLatePongWindowNs = 10 * kSecond;

std::size_t idx(PacketType t) {
  return static_cast<std::size_t>(t);
}
}  // namespace

Discv4State::Discv4State(Engine& engine)
    : engine_(engine),
      pings_(engine.config().v4_max_pending),
      bonds_(engine.config().v4_max_bonds),
      findnodes_(engine.config().v4_max_pending),
      enr_requests_(std::max<std::uint32_t>(64, engine.config().v4_max_pending / 4)),
      seen_(engine.config().v4_max_pending * 4),
      late_pings_(std::max<std::uint32_t>(64, engine.config().v4_max_pending / 4)),
      amp_(engine.config().v4_amp_ips, engine.config().v4_amp_per_ip_burst,
           engine.config().v4_amp_global_burst),
      requests_(engine.config().v4_request_limits) {}

std::uint64_t Discv4State::unique_expiration(std::uint64_t* last) const noexcept {
  std::uint64_t e = expiration();
  if (last != nullptr) {
    e = std::max(e, *last + 1);
    *last = e;
  }
  return e;
}

std::uint64_t Discv4State::expiration() const noexcept {
  return static_cast<std::uint64_t>(engine_.now().unix_s + engine_.config().v4_expiration_s);
}

bool Discv4State::expired(std::uint64_t expiration) noexcept {
  if (v4wire::is_expired(expiration, engine_.now().unix_s)) {
    engine_.counters().drop(Drop::kV4Expired);
    return true;
  }
  return false;
}

// Our endpoint as a peer of `family` reaches it: a dual-stack node names its IPv6 address to
// an IPv6 peer, falling back to the other family when it knows only that one.
v4wire::RpcEndpoint Discv4State::local_rpc_endpoint(IpAddress::Family family) const noexcept {
  const LocalNode& l = engine_.local();
  const bool six = l.ipv6 && (family == IpAddress::Family::kV6 || !l.ipv4);
  v4wire::RpcEndpoint ep;
  ep.ip = six ? *l.ipv6 : (l.ipv4 ? *l.ipv4 : IpAddress::v4(0, 0, 0, 0));
  ep.udp = six ? l.udp6_port : l.udp_port;
  ep.tcp = six ? l.tcp6_port : l.tcp_port;
  return ep;
}

void Discv4State::count_tx(PacketType t, std::size_t size, const Endpoint& to) noexcept {
  ++engine_.counters().tx_v4[idx(t)];
  engine_.tx_commit(size, to);
}

// FindNode and ENRRequest are answered only while fresh and from a sender with a current
// endpoint proof; anything else is counted and dropped.
bool Discv4State::verify_request(const v4wire::Packet& p, std::uint64_t expiration,
                                 const Endpoint& from) noexcept {
  if (expired(expiration)) {
    return false;
  }
  if (!bonded(p.sender_id, from.ip)) {
    engine_.counters().drop(Drop::kV4Unbonded);
    return false;
  }
  // Bonded, yet the answer is up to ~20x the request (two Neighbors of ~1 KB for ~100 B):
  // per source IP and per node id, a peer gets a few requests a second, not line rate.
  if (!requests_.allow(from.ip, p.sender_id, engine_.now().mono_ns)) {
    engine_.counters().drop(Drop::kV4RequestLimited);
    return false;
  }
  return true;
}

bool Discv4State::bonded(const NodeId& id, const IpAddress& ip) const noexcept {
  const Bond* b = bonds_.peek(id);
  return b != nullptr && b->ip == ip && b->pong_received_ns != 0 &&
         engine_.now().mono_ns - b->pong_received_ns < engine_.config().bond_lifetime_ns;
}

bool Discv4State::we_are_bonded_for(const NodeId& id, const IpAddress& ip) const noexcept {
  const Bond* b = bonds_.peek(id);
  return b != nullptr && b->ip == ip && b->ping_received_ns != 0 &&
         engine_.now().mono_ns - b->ping_received_ns < engine_.config().bond_lifetime_ns;
}

void Discv4State::on_packet(ByteView payload, const Endpoint& from) noexcept {
  auto decoded = v4wire::decode(payload, {.hash_already_checked = true});
  if (!decoded) {
    engine_.counters().drop(decoded.error() == v4wire::V4Error::kUnknownType ? Drop::kV4UnknownType
                                                                             : Drop::kV4Malformed);
    return;
  }
  const v4wire::Packet& p = *decoded;
  if (p.sender_id == engine_.local().id) {
    engine_.counters().drop(Drop::kV4Malformed);  // our own key: a reflection, never valid
    return;
  }
  if (!engine_.admits_sender(p.sender_id)) {
    return;  // banned node id (counted)
  }
  ++engine_.counters().rx_v4[idx(p.type)];
  // Every signed datagram earns its sender's IP (and the total) credit for replies to
  // unverified endpoints: what we send them stays within what was sent in their name.
  amp_.earn(from.ip, payload.size());
  // Replays: a packet's hash covers its signature and expiration, so the same hash within
  // the expiration window is the same packet sent again. Requests whose answer is larger
  // than they are (FindNode, ENRRequest) are dropped when replayed: a replay with a spoofed
  // source would aim our answer at a bonded victim. Pings are answered again: signatures are
  // deterministic (RFC6979), so an honest retransmission within the same second is
  // byte-identical. A replayed Ping draws one Pong (~1.2x its size, the same ratio as a fresh
  // Ping) and no second Ping back (one outstanding ping per node). Responses need no filter:
  // each consumes the request it answers.
  if (p.type == PacketType::kFindNode || p.type == PacketType::kENRRequest) {
    if (const std::int64_t* seen = seen_.peek(p.hash);
        seen != nullptr && engine_.now().mono_ns - *seen < 60 * kSecond) {
      engine_.counters().drop(Drop::kV4Replayed);
      return;
    }
    (void)seen_.insert(p.hash, engine_.now().mono_ns);
  }
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, v4wire::Ping>) {
          handle_ping(p, m, from);
        } else if constexpr (std::is_same_v<T, v4wire::Pong>) {
          handle_pong(p, m, from);
        } else if constexpr (std::is_same_v<T, v4wire::FindNode>) {
          handle_findnode(p, m, from);
        } else if constexpr (std::is_same_v<T, v4wire::Neighbors>) {
          handle_neighbors(p, m, from);
        } else if constexpr (std::is_same_v<T, v4wire::ENRRequest>) {
          handle_enrrequest(p, m, from);
        } else {
          handle_enrresponse(p, m, from);
        }
      },
      p.message);
}

// ---- PING/v4 -----------------------------------------------------------------------------
// Answer with a Pong to the datagram's source (never to ping.from: that field is unverified
// and answering it would let anyone aim our Pongs at a third party). A sender without a
// current endpoint proof also gets a Ping of ours, so that the bond completes both ways.
void Discv4State::handle_ping(const v4wire::Packet& p, const v4wire::Ping& m,
                              const Endpoint& from) noexcept {
  if (expired(m.expiration)) {
    return;
  }
  // A sender without an endpoint proof at this IP is unverified. Its Pong is always sent: it
  // is about the size of the Ping it answers (no amplification), and refusing it would starve
  // honest nodes that share an address (carrier NAT, several clients on one host) once their
  // account ran dry. It is paid from what the account holds, never refused; the bond Ping,
  // the packet that is more than the request, is paid from the budget or not sent.
  const bool unverified = !bonded(p.sender_id, from.ip);
  bool ponged = false;
  if (MutableByteView buf = engine_.tx_buffer(); !buf.empty()) {
    v4wire::Pong pong;
    pong.to = {from.ip, from.port, m.from.tcp};
    pong.ping_hash = p.hash;
    pong.expiration = expiration();
    pong.enr_seq = engine_.local().record.seq();
    auto enc = v4wire::encode_pong(engine_.local().private_key, pong, buf);
    if (enc) {
      if (unverified) {
        amp_.spend_held(from.ip, enc->size);
      }
      count_tx(PacketType::kPong, enc->size, from);
      ponged = true;
    } else {
      engine_.counters().drop(Drop::kEncodeFailed);
    }
  }
  if (!ponged && unverified) {
    return;  // no Pong (TX full): nothing proved to them, nothing to remember
  }

  // They pinged and we answered: from their side we are now verified.
  Bond* bond = bonds_.find(p.sender_id);
  if (bond == nullptr || bond->ip != from.ip) {
    bond = bonds_.insert(p.sender_id, Bond{from.ip, 0, 0, false}).value;
  }
  if (ponged) {
    bond->ping_received_ns = engine_.now().mono_ns;
  }

  const NodeRef ref{p.sender_id, p.sender, from};
  if (bonded(p.sender_id, from.ip)) {
    engine_.on_node_seen(Protocol::kV4, ref, nullptr);
    const PeerEntry* e = engine_.table().find(p.sender_id);
    if (m.enr_seq && e != nullptr && *m.enr_seq > e->enr_seq) {
      request_enr(ref);
    }
    if (bond->want_enr) {
      bond->want_enr = false;
      request_enr(ref);
    }
  } else if (send_ping(ref, PingPurpose::kBond, /*unverified=*/true)) {
    ++engine_.counters().v4_pings_sent_back;
  }

  // A FindNode waiting for the peer to consider us bonded can go now.
  if (PendingFindNode* f = findnodes_.peek(p.sender_id);
      f != nullptr && f->phase == FindPhase::kAwaitingBond && f->node.endpoint.ip == from.ip) {
    transmit_findnode(*f);
  }
}

// ---- PONG/v4 -----------------------------------------------------------------------------
// Accepted only as the answer to our latest Ping to that node (hash match): that is the
// endpoint proof. The `to` field is how the peer sees us: a vote for our external address.
void Discv4State::handle_pong(const v4wire::Packet& p, const v4wire::Pong& m,
                              const Endpoint& from) noexcept {
  if (expired(m.expiration)) {
    return;
  }
  PendingPing* ping = pings_.peek(p.sender_id);
  if (ping == nullptr) {
    // A Pong that missed the timeout still proves the endpoint: a loaded peer answering
    // late should not be evicted as dead (its timeout was already counted as a failure;
    // on_pong's mark_alive clears it).
    ping = late_pings_.peek(p.sender_id);
    if (ping != nullptr && ping->hash == m.ping_hash && ping->to.ip == from.ip) {
      ++engine_.counters().v4_late_pongs;
      PendingPing late = *ping;
      (void)late_pings_.erase(p.sender_id);
      (void)pings_.insert(p.sender_id, late);
      ping = pings_.peek(p.sender_id);
    } else {
      ping = nullptr;
    }
  }
  if (ping == nullptr || ping->hash != m.ping_hash || ping->to.ip != from.ip) {
    engine_.counters().drop(Drop::kV4Unsolicited);
    return;
  }
  const PingPurpose purpose = ping->purpose;
  (void)pings_.erase(p.sender_id);

  Bond* bond = bonds_.find(p.sender_id);
  if (bond == nullptr || bond->ip != from.ip) {
    bond = bonds_.insert(p.sender_id, Bond{from.ip, 0, 0, false}).value;
  }
  bond->pong_received_ns = engine_.now().mono_ns;
  ++engine_.counters().v4_bonds;

  const NodeRef ref{p.sender_id, p.sender, from};
  engine_.on_node_seen(Protocol::kV4, ref, nullptr);
  const Endpoint reported{m.to.ip, m.to.udp};
  engine_.on_pong(Protocol::kV4, p.sender_id, from, reported, m.enr_seq);
  (void)purpose;

  // A FindNode waiting on this bond: give the peer a moment to ping us back (ensureBond).
  if (PendingFindNode* f = findnodes_.peek(p.sender_id);
      f != nullptr && f->phase == FindPhase::kAwaitingBond) {
    if (we_are_bonded_for(p.sender_id, from.ip)) {
      transmit_findnode(*f);
    } else {
      f->deadline_ns = engine_.now().mono_ns + kBondSettleNs;
    }
  }
}

// ---- FINDNODE/v4 -------------------------------------------------------------------------
namespace {
// The TCP port a Neighbors entry carries: the node's record's `tcp` (`tcp6` for an IPv6
// endpoint, falling back to `tcp` as EIP-778 says), 0 when the record has none, as go-ethereum
// writes it. Without a record, the UDP port, the usual guess (the discv4 Ping we had from it
// does not survive in the table). Table records were verified when they were stored, so only
// their key/value pairs are read (a full decode would parse the public key: ~7 us a node).
std::uint16_t neighbor_tcp_port(const PeerEntry& e, const Endpoint& ep) noexcept {
  if (e.enr_size == 0) {
    return ep.port;
  }
  return enr::tcp_port_of(e.enr_bytes(), ep.ip.is_v6()).value_or(0);
}
}  // namespace

// Only for senders with a current endpoint proof: answering an unverified source would make
// us an amplifier (a ~100-byte request draws up to ~2 KB of Neighbors).
void Discv4State::handle_findnode(const v4wire::Packet& p, const v4wire::FindNode& m,
                                  const Endpoint& from) noexcept {
  if (!verify_request(p, m.expiration, from)) {
    return;
  }
  const NodeId target = crypto::keccak256(m.target);
  std::array<const PeerEntry*, 16> closest{};
  const std::size_t want = std::min<std::size_t>(engine_.config().findnode_results, 16);
  // Nodes verified live on discv4 first (as geth), then the others.
  const std::size_t n = engine_.table().closest(target, want, closest, kFlagV4, true);

  std::size_t count = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const PeerEntry& e = *closest[i];
    const Endpoint& ep = e.primary_endpoint();
    if (!ep.valid()) {
      continue;
    }
    v4wire::NeighborNode& node = neighbor_scratch_[count++];
    node.endpoint = {ep.ip, ep.port, neighbor_tcp_port(e, ep)};
    node.pubkey = e.public_key;
  }
  const std::uint64_t exp = expiration();
  std::size_t offset = 0;
  do {
    MutableByteView buf = engine_.tx_buffer();
    if (buf.empty()) {
      return;
    }
    auto enc = v4wire::encode_neighbors(
        engine_.local().private_key,
        std::span<const v4wire::NeighborNode>(neighbor_scratch_.data() + offset, count - offset),
        exp, buf);
    if (!enc) {
      engine_.counters().drop(Drop::kEncodeFailed);
      return;
    }
    count_tx(PacketType::kNeighbors, enc->packet.size, from);
    offset += enc->nodes_written;
  } while (offset < count);
}

// ---- NEIGHBORS/v4 ------------------------------------------------------------------------
// Accepted only while a FindNode of ours to that node is outstanding.
void Discv4State::handle_neighbors(const v4wire::Packet& p, const v4wire::Neighbors& m,
                                   const Endpoint& from) noexcept {
  if (expired(m.expiration)) {
    return;
  }
  PendingFindNode* f = findnodes_.peek(p.sender_id);
  if (f == nullptr || f->phase != FindPhase::kSent || f->node.endpoint.ip != from.ip) {
    engine_.counters().drop(Drop::kV4Unsolicited);
    return;
  }
  // `received` counts every node the peer sent, ourselves and unusable ones included: a
  // Neighbors packet holding only us is still an answer (a small network), not a timeout.
  const std::uint32_t before = f->received;
  std::size_t n = 0;
  for (const v4wire::NeighborNode& node : m.nodes) {
    if (n == found_scratch_.size() || f->received >= kFindNodeComplete) {
      break;
    }
    ++f->received;
    const Endpoint ep{node.endpoint.ip, node.endpoint.udp};
    if (!ep.valid() || ep.ip.is_unspecified()) {
      continue;
    }
    PeerInfo& info = found_scratch_[n];
    info = PeerInfo{};
    info.public_key = node.pubkey;
    info.id = crypto::node_id_of(node.pubkey);
    if (info.id == engine_.local().id) {
      continue;
    }
    (ep.ip.is_v4() ? info.endpoint4 : info.endpoint6) = ep;
    info.protocols = kFlagV4;
    ++n;
  }
  if (f->received == before) {
    f->received = before + 1;  // an empty Neighbors is an answer too
  }
  const bool complete = f->received >= kFindNodeComplete;
  const std::uint32_t slot = f->lookup_slot;
  if (complete) {
    (void)findnodes_.erase(p.sender_id);
  }
  engine_.on_nodes(Protocol::kV4, slot, p.sender_id,
                   std::span<const PeerInfo>(found_scratch_.data(), n), complete);
}

// ---- ENRREQUEST/v4 (EIP-868) --------------------------------------------------------------
void Discv4State::handle_enrrequest(const v4wire::Packet& p, const v4wire::ENRRequest& m,
                                    const Endpoint& from) noexcept {
  if (!verify_request(p, m.expiration, from)) {
    return;
  }
  MutableByteView buf = engine_.tx_buffer();
  if (buf.empty()) {
    return;
  }
  v4wire::ENRResponse resp;
  resp.request_hash = p.hash;
  resp.record_rlp = engine_.local().record.raw();
  auto enc = v4wire::encode_enrresponse(engine_.local().private_key, resp, buf);
  if (!enc) {
    engine_.counters().drop(Drop::kEncodeFailed);
    return;
  }
  count_tx(PacketType::kENRResponse, enc->size, from);
}

// ---- ENRRESPONSE/v4 ------------------------------------------------------------------------
// Must answer our request (hash) and carry a record signed by the packet's signer.
void Discv4State::handle_enrresponse(const v4wire::Packet& p, const v4wire::ENRResponse& m,
                                     const Endpoint& /*from*/) noexcept {
  PendingEnr* req = enr_requests_.peek(p.sender_id);
  if (req == nullptr || req->hash != m.request_hash) {
    engine_.counters().drop(Drop::kV4Unsolicited);
    return;
  }
  (void)enr_requests_.erase(p.sender_id);
  auto record = engine_.verified_record(m.record_rlp);
  if (!record || record->node_id() != p.sender_id) {
    engine_.counters().drop(Drop::kV4BadRecord);
    return;
  }
  engine_.on_record(Protocol::kV4, *record);
}

// ---- outgoing ------------------------------------------------------------------------------

bool Discv4State::send_ping(const NodeRef& node, PingPurpose purpose, bool unverified) noexcept {
  if (!node.endpoint.valid()) {
    return false;
  }
  if (PendingPing* pending = pings_.peek(node.id)) {
    // One outstanding ping per node: a flood of pings from spoofed sources draws at most one
    // ping back each. A revalidation upgrades a pending bond ping.
    if (purpose == PingPurpose::kRevalidate) {
      pending->purpose = purpose;
    }
    return false;
  }
  if (unverified && !amp_.affordable(node.endpoint.ip, kV4ReplyMax)) {
    engine_.counters().drop(Drop::kV4AmpLimited);
    return false;
  }
  MutableByteView buf = engine_.tx_buffer();
  if (buf.empty()) {
    return false;
  }
  v4wire::Ping ping;
  ping.version = 4;
  ping.from = local_rpc_endpoint(node.endpoint.ip.family);
  ping.to = {node.endpoint.ip, node.endpoint.port, 0};
  Bond* bond = bonds_.peek(node.id);
  ping.expiration = unique_expiration(bond != nullptr ? &bond->last_ping_expiration : nullptr);
  ping.enr_seq = engine_.local().record.seq();
  auto enc = v4wire::encode_ping(engine_.local().private_key, ping, buf);
  if (!enc) {
    engine_.counters().drop(Drop::kEncodeFailed);
    return false;
  }
  (void)pings_.insert(node.id, PendingPing{enc->hash, node.endpoint, node.public_key,
                                           engine_.now().mono_ns, purpose});
  if (unverified) {
    amp_.spend(node.endpoint.ip, enc->size);
  }
  count_tx(PacketType::kPing, enc->size, node.endpoint);
  return true;
}

void Discv4State::send_findnode(const NodeRef& node, const crypto::PublicKey& target_key,
                                std::uint32_t lookup_slot) noexcept {
  if (findnodes_.peek(node.id) != nullptr || !node.endpoint.valid()) {
    engine_.on_query_failed(Protocol::kV4, lookup_slot, node.id);  // one query per peer
    return;
  }
  PendingFindNode f;
  f.node = node;
  f.target_key = target_key;
  f.lookup_slot = lookup_slot;
  auto ins = findnodes_.insert(node.id, f);
  if (ins.evicted) {
    ++engine_.counters().v4_request_timeouts;
  }
  PendingFindNode& pending = *ins.value;
  if (we_are_bonded_for(node.id, node.endpoint.ip)) {
    transmit_findnode(pending);
    return;
  }
  // Bond first: ping, then send once they pinged us back or after a short settle time.
  pending.phase = FindPhase::kAwaitingBond;
  pending.deadline_ns = engine_.now().mono_ns + engine_.config().v4_request_timeout_ns;
  if (!bonded(node.id, node.endpoint.ip)) {
    (void)send_ping(node, PingPurpose::kBond);
  } else {
    pending.deadline_ns = engine_.now().mono_ns + kBondSettleNs;
    (void)send_ping(node, PingPurpose::kBond);
  }
}

void Discv4State::transmit_findnode(PendingFindNode& f) noexcept {
  f.phase = FindPhase::kSent;
  f.deadline_ns = engine_.now().mono_ns + engine_.config().v4_request_timeout_ns;
  // One signature per lookup target: the same signed FindNode goes to every peer a lookup
  // asks while its expiration is comfortably in the future (signing costs ~28 us).
  const std::uint64_t now_unix = static_cast<std::uint64_t>(engine_.now().unix_s);
  CachedFindNode& c = cached_findnode_;
  if (c.size == 0 || c.lookup_slot != f.lookup_slot || c.target != f.target_key ||
      c.expiration < now_unix + 10) {
    v4wire::FindNode m;
    m.target = f.target_key;
    m.expiration = expiration();
    auto enc = v4wire::encode_findnode(engine_.local().private_key, m, c.bytes);
    if (!enc) {
      engine_.counters().drop(Drop::kEncodeFailed);
      c.size = 0;
      return;
    }
    c.lookup_slot = f.lookup_slot;
    c.target = f.target_key;
    c.expiration = m.expiration;
    c.size = enc->size;
  }
  MutableByteView buf = engine_.tx_buffer();
  if (buf.empty() || buf.size() < c.size) {
    return;
  }
  std::memcpy(buf.data(), c.bytes.data(), c.size);
  count_tx(PacketType::kFindNode, c.size, f.node.endpoint);
}

void Discv4State::request_enr(const NodeRef& node) noexcept {
  if (enr_requests_.peek(node.id) != nullptr) {
    return;
  }
  if (!we_are_bonded_for(node.id, node.endpoint.ip)) {
    // The peer answers only once it has verified us: ask when it next pings (handle_ping),
    // or when its Pong completes the bond after its Ping came first (handle_pong).
    Bond* b = bonds_.peek(node.id);
    if (b == nullptr || b->ip != node.endpoint.ip) {
      b = bonds_.insert(node.id, Bond{node.endpoint.ip, 0, 0, false}).value;
    }
    if (b != nullptr) {
      b->want_enr = true;
    }
    return;
  }
  MutableByteView buf = engine_.tx_buffer();
  if (buf.empty()) {
    return;
  }
  Bond* bond = bonds_.peek(node.id);
  const std::uint64_t exp =
      unique_expiration(bond != nullptr ? &bond->last_enr_expiration : nullptr);
  auto enc = v4wire::encode_enrrequest(engine_.local().private_key, v4wire::ENRRequest{exp}, buf);
  if (!enc) {
    engine_.counters().drop(Drop::kEncodeFailed);
    return;
  }
  (void)enr_requests_.insert(node.id, PendingEnr{enc->hash, engine_.now().mono_ns});
  count_tx(PacketType::kENRRequest, enc->size, node.endpoint);
}

void Discv4State::finish_findnode(const NodeId& id, bool timed_out) noexcept {
  PendingFindNode* f = findnodes_.peek(id);
  if (f == nullptr) {
    return;
  }
  const std::uint32_t slot = f->lookup_slot;
  const std::uint32_t received = f->received;
  if (timed_out && received == 0 && f->phase == FindPhase::kSent) {
    // Not a word back: the peer may hold no endpoint proof for us (our Pong to its Ping was
    // lost, or it forgot us) and drop our FindNodes as unbonded. Forget its Ping, so that
    // the next query bonds again first (geth: ensureBond after findnode failures).
    if (Bond* b = bonds_.peek(id)) {
      b->ping_received_ns = 0;
    }
  }
  (void)findnodes_.erase(id);
  if (timed_out && received == 0) {
    ++engine_.counters().v4_request_timeouts;
    engine_.on_query_failed(Protocol::kV4, slot, id);
  } else {
    engine_.on_nodes(Protocol::kV4, slot, id, {}, true);
  }
}

void Discv4State::run_deadlines() noexcept {
  const std::int64_t now = engine_.now().mono_ns;
  const std::int64_t timeout = engine_.config().v4_request_timeout_ns;

  // Pings: insertion order is send order (never touched by find()), so the oldest is first.
  while (auto oldest = pings_.oldest()) {
    if (now - oldest->second->sent_ns < timeout) {
      break;
    }
    const NodeId id = *oldest->first;
    const PingPurpose purpose = oldest->second->purpose;
    (void)late_pings_.insert(id, *oldest->second);  // a late Pong still counts (handle_pong)
    (void)pings_.erase(id);
    ++engine_.counters().v4_request_timeouts;
    if (purpose == PingPurpose::kRevalidate) {
      engine_.on_ping_failed(Protocol::kV4, id);
    }
  }
  while (auto oldest = late_pings_.oldest()) {
    if (now - oldest->second->sent_ns < kLatePongWindowNs) {
      break;
    }
    (void)late_pings_.erase(NodeId(*oldest->first));
  }
  while (auto oldest = enr_requests_.oldest()) {
    if (now - oldest->second->sent_ns < timeout) {
      break;
    }
    (void)enr_requests_.erase(NodeId(*oldest->first));
  }

  // FindNodes have two kinds of deadline; collect first, act after (acting may insert).
  std::array<NodeId, 64> due{};
  std::array<bool, 64> send{};
  std::size_t n = 0;
  findnodes_.for_each([&](const NodeId& id, const PendingFindNode& f) {
    if (n < due.size() && f.deadline_ns <= now) {
      due[n] = id;
      send[n] = f.phase == FindPhase::kAwaitingBond && bonded(id, f.node.endpoint.ip);
      ++n;
    }
  });
  for (std::size_t i = 0; i < n; ++i) {
    if (send[i]) {
      if (PendingFindNode* f = findnodes_.peek(due[i])) {
        transmit_findnode(*f);
      }
    } else {
      finish_findnode(due[i], true);
    }
  }
}

void Discv4State::cancel_lookup(std::uint32_t lookup_slot) noexcept {
  if (cached_findnode_.lookup_slot == lookup_slot) {
    cached_findnode_.size = 0;  // the next lookup in this slot signs its own
  }
  findnodes_.erase_if(
      [&](const NodeId&, const PendingFindNode& f) { return f.lookup_slot == lookup_slot; });
}

void Discv4State::prune() noexcept {
  const std::int64_t now = engine_.now().mono_ns;
  const std::int64_t lifetime = engine_.config().bond_lifetime_ns;
  bonds_.erase_if([&](const NodeId&, const Bond& b) {
    return now - std::max(b.pong_received_ns, b.ping_received_ns) > lifetime;
  });
  requests_.prune(now, 60 * kSecond);  // idle buckets would be full again long before
}

}  // namespace discplane::disc
