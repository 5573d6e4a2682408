// The shared half of the engine: dispatch by variant, classification, the local record,
// IP votes, and revalidate / lookup / prune written once with the protocol as a parameter.
#include "engine.h"

#include <algorithm>
#include <cstring>
#include <random>

#include "discplane/crypto/keccak.h"
#include "discplane/wire/v4wire.h"

#include "discv4.h"
#include "discv5.h"

namespace discplane::disc {

namespace {

// An overload set for std::visit: one lambda per alternative, so a visit that misses an
// alternative does not compile (no catch-all `else`, no reliance on the alternatives' order).
template <class... Fs>
struct Overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
Overloaded(Fs...) -> Overloaded<Fs...>;

// How often run_deadlines looks at timeouts and lookups (they are coarse: 100s of ms).
constexpr std::int64_t kDeadlineCheckNs = 10 * kMillisecond;
// A lookup waits at most this long for one peer, whatever the protocol: covers a discv4
// bond (ping, settle, FindNode) or a discv5 handshake plus one retry.
constexpr std::int64_t kLookupQueryTimeoutNs = 3 * kSecond;
constexpr std::uint32_t kForkRefusedNodes = 4096;
// Crawl mode: nodes whose reported record seq is remembered (older ones are fetched again).
constexpr std::uint32_t kReportedRecords = 65536;
constexpr std::uint32_t kNoLookup = UINT32_MAX;

std::uint64_t process_hash_secret() {
  static const std::uint64_t secret = [] {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^ 0x9e3779b97f4a7c15ULL;
  }();
  return secret;
}

Endpoint endpoint_of(const std::optional<Endpoint>& e) {
  return e ? *e : Endpoint{};
}

// A table update for the observer, with its kind, protocol and node; the caller adds the rest.
TableUpdate table_update(TableUpdate::Kind kind, Protocol p, const NodeId& id) noexcept {
  TableUpdate u;
  u.kind = kind;
  u.protocol = p;
  u.id = id;
  return u;
}

// Points the engine's transport at `tx` for one call and puts the previous one back.
class TransportScope {
 public:
  TransportScope(Transport*& slot, Transport& tx) noexcept : slot_(slot), saved_(slot) {
    slot_ = &tx;
  }
  ~TransportScope() { slot_ = saved_; }
  TransportScope(const TransportScope&) = delete;
  TransportScope& operator=(const TransportScope&) = delete;

 private:
  Transport*& slot_;
  Transport* const saved_;
};

}  // namespace

std::size_t NodeIdHash::operator()(const NodeId& id) const noexcept {
  static const std::uint64_t secret = process_hash_secret();
  std::uint64_t a;
  std::uint64_t b;
  std::memcpy(&a, id.data(), 8);
  std::memcpy(&b, id.data() + 24, 8);
  std::uint64_t h = (a ^ secret) * 0xff51afd7ed558ccdULL;
  h ^= (b + secret) * 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 31;
  return static_cast<std::size_t>(h);
}

const char* name(const InMessage& m) {
  return std::visit(Overloaded{
                        [](const msg::Discv4Packet&) { return "discv4-packet"; },
                        [](const msg::Discv5Packet&) { return "discv5-packet"; },
                        [](const msg::Revalidate&) { return "revalidate"; },
                        [](const msg::Lookup&) { return "lookup"; },
                        [](const msg::Prune&) { return "prune"; },
                        [](const msg::Shutdown&) { return "shutdown"; },
                        [](const msg::AddSeed&) { return "add-seed"; },
                        [](const msg::RegisterTalkProtocol&) { return "register-talk"; },
                        [](const msg::SetNetPolicy&) { return "set-net-policy"; },
                        [](const msg::Ping&) { return "ping"; },
                        [](const msg::Resolve&) { return "resolve"; },
                        [](const msg::TalkRequest&) { return "talk-request"; },
                    },
                    m);
}

const char* name(ProbeOutcome o) {
  switch (o) {
    case ProbeOutcome::kAnswered:
      return "answered";
    case ProbeOutcome::kTimeout:
      return "timeout";
    case ProbeOutcome::kRefused:
      return "refused";
    case ProbeOutcome::kBusy:
      return "busy";
  }
  return "?";
}

Engine::Engine(ServerConfig config, const Clock& clock, crypto::RandomSource& rng,
               EngineObserver* observer)
    : config_(std::move(config)),
      clock_(clock),
      rng_(rng),
      observer_(observer),
      table_(crypto::node_id_of(*crypto::derive_public_key(config_.private_key)), config_.table),
      votes_(config_.votes),
      recent_(std::max<std::uint32_t>(1, config_.recent_nodes)),
      records_(config_.record_cache),
      fork_refused_(config_.fork_filter.enabled() ? kForkRefusedNodes : 1),
      records_reported_(config_.report_node_events ? kReportedRecords : 1) {
  now_ = clock_.now();
  policy_ = std::move(config_.policy);  // held once, so a swap releases it
  events_ = config_.events;
  local_.private_key = config_.private_key;
  local_.public_key = *crypto::derive_public_key(config_.private_key);
  local_.id = crypto::node_id_of(local_.public_key);
  local_.ipv4 = config_.ipv4;
  local_.ipv6 = config_.ipv6;
  local_.udp_port = config_.udp_port;
  local_.udp6_port = config_.udp6_port != 0 ? config_.udp6_port : config_.udp_port;
  local_.tcp_port = config_.tcp_port;
  local_.tcp6_port = config_.tcp6_port != 0 ? config_.tcp6_port : config_.tcp_port;
  local_.address_source = (config_.ipv4 || config_.ipv6) ? "config" : "none";

  enr::Builder b;
  b.set_seq(1);
  set_local_endpoints(b);
  if (config_.eth) {
    b.set_eth(*config_.eth);
  }
  for (const auto& [key, value] : config_.extra_enr_entries) {
    (void)b.set(key, value);
  }
  auto record = b.sign(local_.private_key);
  if (record) {
    local_.record = *record;
  }

  lookups_.resize(std::max<std::uint32_t>(1, config_.max_lookups));
  v4_ = std::make_unique<Discv4State>(*this);
  v5_ = std::make_unique<Discv5State>(*this);
}

Engine::~Engine() = default;

// ---- input ----------------------------------------------------------------------------------

void Engine::on_burst(std::span<const Datagram> burst, Transport& tx) noexcept {
  refresh_time();
  tx_ = &tx;
  // Classifying reads byte 96 (discv4 shape) and bytes 0..38 (discv5 header): two cache lines
  // of a payload nobody has touched yet. Prefetch them a few datagrams ahead, so that cheap
  // drops (garbage) are not bound by memory latency.
  constexpr std::size_t kPrefetchAhead = 4;
  // Burst-wide work: the discv5 header prefixes of up to 32 datagrams are unmasked in one
  // AES-CTR burst (~15 ns a header instead of ~30 ns one by one), before any is classified.
  // A discv4 packet or garbage wastes its unmasking (a few ns; discv4 costs ~70 us anyway).
  const bool unmask = config_.enable_v5 && !shut_down_;
  for (std::size_t base = 0; base < burst.size(); base += kUnmaskChunk) {
    const std::size_t n = std::min(kUnmaskChunk, burst.size() - base);
    if (unmask) {
      for (std::size_t i = 0; i < n; ++i) {
        unmask_in_[i] = burst[base + i].payload;
      }
      v5_->unmask_header_prefixes(std::span(unmask_in_.data(), n),
                                  std::span(unmask_out_.data(), n));
    }
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t at = base + i;
      if (at + kPrefetchAhead < burst.size()) {
        const ByteView next = burst[at + kPrefetchAhead].payload;
        __builtin_prefetch(next.data());
        if (next.size() > 96) {
          __builtin_prefetch(next.data() + 96);
        }
      }
      dispatch_datagram(burst[at], unmask ? unmask_out_[i].view() : ByteView{});
    }
  }
  run_deadlines();
  tx_ = nullptr;
}

void Engine::on_idle(Transport& tx) noexcept {
  refresh_time();
  tx_ = &tx;
  run_deadlines();
  tx_ = nullptr;
}

DiscoveryServer::Kind DiscoveryServer::classify(ByteView p) noexcept {
  // discv4 shape before any keccak: v byte 0/1, known type, RLP list prefix. Random bytes
  // pass these with probability ~5e-5, so garbage and discv5 traffic skip the hash.
  if (p.size() > v4wire::kMinPacketSize && p[96] <= 1 && p[97] >= 1 && p[97] <= 6 &&
      p[98] >= 0xc0 && v4wire::hash_matches(p)) {
    return Kind::kDiscv4;
  }
  return Kind::kDiscv5;
}

void Engine::dispatch_datagram(const Datagram& d, ByteView v5_prefix) noexcept {
  ++counters_.rx_packets;
  counters_.rx_bytes += d.payload.size();
  if (shut_down_) {
    return;
  }
  if (!wants(EventLevel::kDebug)) {
    (void)process_datagram(d, v5_prefix);
    return;
  }
  // Packet log on: what this datagram did is read off the counters around it, so the drop
  // sites and the protocol states need no hooks of their own.
  const std::uint64_t drops = counters_.drops_total;
  const std::uint64_t bonds = counters_.v4_bonds;
  const std::uint64_t initiated = counters_.v5_handshakes_initiated;
  const std::uint64_t accepted = counters_.v5_handshakes_accepted;
  const std::uint8_t protocol = process_datagram(d, v5_prefix);
  if (counters_.drops_total != drops) {
    Event e;
    e.mono_ns = now_.mono_ns;
    e.endpoint = d.from;
    e.kind = EventKind::kDrop;
    e.level = EventLevel::kDebug;
    e.protocol = protocol;
    e.drop = counters_.last_drop;
    events_->push(e);
  }
  if (counters_.v4_bonds != bonds) {
    emit(EventKind::kBond, EventLevel::kDebug, 4, d.from);
  }
  if (counters_.v5_handshakes_initiated != initiated) {
    emit(EventKind::kHandshakeInitiated, EventLevel::kDebug, 5, d.from);
  }
  if (counters_.v5_handshakes_accepted != accepted) {
    emit(EventKind::kHandshakeAccepted, EventLevel::kDebug, 5, d.from);
  }
}

std::uint8_t Engine::process_datagram(const Datagram& d, ByteView v5_prefix) noexcept {
  if (d.payload.size() > kMaxPacketSize) {
    counters_.drop(Drop::kTooLarge);
    return 0;
  }
  if (d.payload.size() < 63) {  // the smallest discv5 packet (WHOAREYOU); discv4 needs 98
    counters_.drop(Drop::kTooSmall);
    return 0;
  }
  // Banned or out-of-allow-list sources: dropped before any hashing or decryption.
  if (policy_ != nullptr) {
    if (const Verdict v = policy_->check_ip(d.from.ip); v != Verdict::kAllowed) {
      counters_.drop(v == Verdict::kBanned ? Drop::kPolicyBanned : Drop::kPolicyNotAllowed);
      return 0;
    }
  }
  if (DiscoveryServer::classify(d.payload) == DiscoveryServer::Kind::kDiscv4) {
    handle(msg::Discv4Packet{d.payload, d.from}, *tx_);
    return 4;
  }
  handle(msg::Discv5Packet{d.payload, d.from, v5_prefix}, *tx_);
  return 5;
}

void Engine::emit(EventKind kind, EventLevel level, std::uint8_t protocol, const Endpoint& endpoint,
                  const NodeId* id, std::uint32_t value) noexcept {
  if (!wants(level)) {
    return;
  }
  Event e;
  e.mono_ns = now_.mono_ns;
  e.endpoint = endpoint;
  if (id != nullptr) {
    std::memcpy(e.id_prefix.data(), id->data(), e.id_prefix.size());
  }
  e.value = value;
  e.kind = kind;
  e.level = level;
  e.protocol = protocol;
  events_->push(e);
}

void Engine::set_policy(const std::shared_ptr<const NetPolicy>& policy) noexcept {
  policy_ = policy;  // the old one: one atomic decrement, never the last (see msg::SetNetPolicy)
  std::uint32_t evicted = 0;
  if (policy_ != nullptr) {
    // Entries the new policy refuses leave the table (live ones and replacements). Collected
    // in fixed batches: removing while iterating would move entries under the walk.
    std::array<NodeId, 64> batch{};
    for (int pass = 0; pass < 4096; ++pass) {  // bound: each pass removes up to 64 entries
      std::size_t n = 0;
      auto collect = [&](const PeerEntry& e) {
        if (n < batch.size() && !admits(e)) {
          batch[n++] = e.id;
        }
      };
      table_.for_each(collect);
      table_.for_each_replacement(collect);
      for (std::size_t i = 0; i < n; ++i) {
        evicted += table_.remove(batch[i]) != RemoveOutcome::kNotFound ? 1 : 0;
      }
      if (n < batch.size()) {
        break;
      }
    }
  }
  emit(EventKind::kPolicyApplied, EventLevel::kInfo, 0, Endpoint{}, nullptr, evicted);
}

void Engine::handle(const InMessage& message, Transport& tx) noexcept {
  const TransportScope scope(tx_, tx);
  // One handler per alternative: a new InMessage alternative without one does not compile.
  // Packets come with the burst's time; every command reads the clock first.
  std::visit(
      Overloaded{
          [&](const msg::Discv4Packet& m) {
            if (!config_.enable_v4) {
              counters_.drop(Drop::kDisabledProtocol);
            } else {
              v4_->on_packet(m.payload, m.from);
            }
          },
          [&](const msg::Discv5Packet& m) {
            if (!config_.enable_v5) {
              counters_.drop(Drop::kDisabledProtocol);
            } else {
              // counts kNotDiscovery itself (one unmask, or none with the burst's prefix)
              v5_->on_packet(m.payload, m.from, m.header_prefix);
            }
          },
          [&](const msg::Revalidate& m) {
            refresh_time();
            revalidate(m.protocol);
          },
          [&](const msg::Lookup& m) {
            refresh_time();
            lookup(m.protocol, m.target, m.tag);
          },
          [&](const msg::Prune&) {
            refresh_time();
            prune();
          },
          [&](const msg::Shutdown&) {
            refresh_time();
            shut_down_ = true;
          },
          [&](const msg::AddSeed& m) {
            refresh_time();
            add_seed(m.seed);
          },
          [&](const msg::RegisterTalkProtocol& m) {
            refresh_time();
            talk_handlers_.emplace_back(m.protocol, m.handler);
          },
          [&](const msg::SetNetPolicy& m) {
            refresh_time();
            set_policy(m.policy);
          },
          [&](const msg::Ping& m) {
            refresh_time();
            start_probe(ProbeKind::kPing, m.protocol, m.target, m.tag, m.timeout_ns, nullptr);
          },
          [&](const msg::Resolve& m) {
            refresh_time();
            start_probe(ProbeKind::kResolve, m.protocol, m.target, m.tag, m.timeout_ns, nullptr);
          },
          [&](const msg::TalkRequest& m) {
            refresh_time();
            start_probe(ProbeKind::kTalk, Protocol::kV5, m.target, m.tag, m.timeout_ns, &m);
          },
      },
      message);
}

// ---- TX -------------------------------------------------------------------------------------

MutableByteView Engine::tx_buffer() noexcept {
  if (tx_ == nullptr) {
    counters_.drop(Drop::kTxFull);
    return {};
  }
  MutableByteView buf = tx_->acquire_tx_buffer();
  if (buf.empty()) {
    counters_.drop(Drop::kTxFull);
  }
  return buf;
}

void Engine::tx_commit(std::size_t size, const Endpoint& to) noexcept {
  ++counters_.tx_packets;
  counters_.tx_bytes += size;
  tx_->commit_tx(size, to);
}

// ---- events from the protocol states -----------------------------------------------------

bool Engine::fork_allowed(const enr::Record& record) noexcept {
  if (config_.fork_filter.allows(record)) {
    if (config_.fork_filter.enabled()) {
      (void)fork_refused_.erase(record.node_id());
    }
    return true;
  }
  ++counters_.fork_filtered;
  (void)fork_refused_.insert(record.node_id(), record.seq());
  return false;
}

void Engine::on_node_seen(Protocol p, const NodeRef& node, const enr::Record* record) noexcept {
  if (!admits(node.id, node.endpoint.ip)) {
    return;
  }
  report(NodeEvent::Kind::kResponded, p, node.id, node.public_key, node.endpoint, record);
  (void)recent_.insert(node.id, RecentNode{node.public_key, node.endpoint});
  if (config_.fork_filter.enabled()) {
    if (record != nullptr ? !fork_allowed(*record) : fork_refused(node.id)) {
      if (record != nullptr) {
        (void)table_.remove(node.id);
      }
      return;
    }
  }
  PeerInfo info;
  info.id = node.id;
  info.public_key = node.public_key;
  (node.endpoint.ip.is_v4() ? info.endpoint4 : info.endpoint6) = node.endpoint;
  if (record != nullptr) {
    info.enr = record->raw();
    info.enr_seq = record->seq();
  }
  info.protocols = flag_of(p);
  const AddOutcome outcome = table_.add_seen(info, now_.mono_ns);
  if (outcome == AddOutcome::kUpdated || outcome == AddOutcome::kAlreadyKnown) {
    (void)table_.update_endpoint(node.id, node.endpoint);
  } else if (outcome == AddOutcome::kInserted) {
    emit(EventKind::kNodeAdded, EventLevel::kDebug, p == Protocol::kV4 ? 4 : 5, node.endpoint,
         &node.id);
  }
  if (config_.table_observer != nullptr) {
    TableUpdate u = table_update(TableUpdate::Kind::kSeen, p, node.id);
    u.public_key = node.public_key;
    (node.endpoint.ip.is_v4() ? u.endpoint4 : u.endpoint6) = node.endpoint;
    if (record != nullptr) {
      u.set_enr(record->raw(), record->seq());
    }
    report(u);
  }
}

void Engine::on_pong(Protocol p, const NodeId& id, const Endpoint& from, const Endpoint& reported,
                     std::optional<std::uint64_t> enr_seq) noexcept {
  for (std::size_t i = 0; probes_active_ > 0 && i < probes_.size(); ++i) {
    ActiveProbe& probe = probes_[i];
    if (!probe.active || probe.protocol != p || probe.node.id != id) {
      continue;
    }
    if (probe.kind == ProbeKind::kPing) {
      ProbeResult r;
      r.outcome = ProbeOutcome::kAnswered;
      r.from = from;
      r.reported = reported;
      r.enr_seq = enr_seq;
      finish_probe(probe, r);
    } else if (probe.kind == ProbeKind::kResolve && p == Protocol::kV4) {
      // The bond's first half is done; the ENRRequest goes now, or when the peer pings us
      // back (it answers only nodes it has verified).
      v4_->request_enr(NodeRef{id, probe.node.public_key, from});
    }
  }
  (void)table_.mark_alive(id, p, now_.mono_ns);
  if (config_.table_observer != nullptr) {
    report(table_update(TableUpdate::Kind::kAlive, p, id));
  }
  if (reported.valid() && !reported.ip.is_unspecified()) {
    if (config_.table_observer != nullptr) {
      // Sharded: the owner alone tallies votes and decides the record (it broadcasts it).
      TableUpdate u = table_update(TableUpdate::Kind::kVote, p, id);
      (reported.ip.is_v4() ? u.endpoint4 : u.endpoint6) = reported;
      report(u);
    } else {
      (void)votes_.vote(id, reported, now_.mono_ns);
      apply_votes();
    }
  }
  const PeerEntry* e = table_.find_any(id);
  const bool table_wants = enr_seq && e != nullptr && (e->enr_size == 0 || *enr_seq > e->enr_seq);
  // Crawl mode: every node that answers gets its own latest record fetched from it, also a
  // node whose record came with a seed (a bootnode) or sits outside the table.
  const RecentNode* recent = e == nullptr ? recent_.peek(id) : nullptr;
  const bool crawl_wants =
      (e != nullptr || recent != nullptr) && enr_seq && record_unreported(id, *enr_seq);
  if (enr_seq && (table_wants || crawl_wants)) {
    const NodeRef ref{id, e != nullptr ? e->public_key : recent->public_key, from};
    if (p == Protocol::kV4) {
      v4_->request_enr(ref);
    } else {
      v5_->request_enr(ref);
    }
  }
}

void Engine::on_ping_failed(Protocol p, const NodeId& id) noexcept {
  for (std::size_t i = 0; probes_active_ > 0 && i < probes_.size(); ++i) {
    ActiveProbe& probe = probes_[i];
    if (probe.active && probe.kind == ProbeKind::kPing && probe.protocol == p &&
        probe.node.id == id) {
      ProbeResult r;
      r.outcome = ProbeOutcome::kTimeout;  // the protocol gave up (retries spent)
      finish_probe(probe, r);
    }
  }
  (void)table_.mark_failed(id, p, now_.mono_ns);
  if (config_.table_observer != nullptr) {
    report(table_update(TableUpdate::Kind::kFailed, p, id));
  }
}

void Engine::on_record(Protocol p, const enr::Record& record) noexcept {
  for (std::size_t i = 0; probes_active_ > 0 && i < probes_.size(); ++i) {
    ActiveProbe& probe = probes_[i];
    if (probe.active && probe.kind == ProbeKind::kResolve && probe.protocol == p &&
        probe.node.id == record.node_id()) {
      ProbeResult r;
      r.outcome = ProbeOutcome::kAnswered;
      r.from = probe.node.endpoint;
      r.record = &record;
      finish_probe(probe, r);
    }
  }
  if (config_.report_node_events) {
    const auto ep = record.udp_endpoint_v4() ? record.udp_endpoint_v4() : record.udp_endpoint_v6();
    report(NodeEvent::Kind::kLearned, p, record.node_id(), record.public_key(),
           ep.value_or(Endpoint{}), &record);
  }
  if (config_.fork_filter.enabled() && !fork_allowed(record)) {
    (void)table_.remove(record.node_id());
    return;
  }
  if (config_.table_observer != nullptr) {
    TableUpdate u;
    u.kind = TableUpdate::Kind::kRecord;
    u.id = record.node_id();
    u.set_enr(record.raw(), record.seq());
    if (auto ep = record.udp_endpoint_v4()) {
      u.endpoint4 = *ep;
    }
    if (auto ep = record.udp_endpoint_v6()) {
      u.endpoint6 = *ep;
    }
    report(u);
  }
  const UpdateOutcome o = table_.update_enr(record.node_id(), record.raw(), record.seq());
  if (o == UpdateOutcome::kUpdated) {
    ++counters_.enr_updates_learned;
    if (auto ep = record.udp_endpoint_v4(); ep && admits(record.node_id(), ep->ip)) {
      (void)table_.update_endpoint(record.node_id(), *ep);
    }
    if (auto ep = record.udp_endpoint_v6(); ep && admits(record.node_id(), ep->ip)) {
      (void)table_.update_endpoint(record.node_id(), *ep);
    }
  }
}

void Engine::on_nodes(Protocol p, std::uint32_t slot, const NodeId& from,
                      std::span<const PeerInfo> nodes, bool final,
                      std::span<const enr::Record> records) noexcept {
  std::array<LookupPeer, 32> peers{};
  std::size_t n = 0;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const PeerInfo& node = nodes[i];
    if (node.id == local_.id) {
      continue;
    }
    const enr::Record* record = i < records.size() ? &records[i] : nullptr;
    const Endpoint& ep = node.endpoint4.valid() ? node.endpoint4 : node.endpoint6;
    if (!admits(node.id, node.endpoint4, node.endpoint6)) {
      continue;  // banned or outside the allow list: neither stored nor queried
    }
    report(NodeEvent::Kind::kLearned, p, node.id, node.public_key, ep, record);
    // Fork filter: a record of another chain stays out of the table (it still serves the
    // lookup below: routing is shared); a node without a record is checked when it arrives.
    const bool keep = !config_.fork_filter.enabled() ||
                      (record != nullptr ? fork_allowed(*record) : !fork_refused(node.id));
    if (keep) {
      (void)table_.add_found(node, now_.mono_ns);
      if (config_.table_observer != nullptr) {
        TableUpdate u = table_update(TableUpdate::Kind::kFound, p, node.id);
        u.protocols = node.protocols;
        u.public_key = node.public_key;
        u.endpoint4 = node.endpoint4;
        u.endpoint6 = node.endpoint6;
        u.set_enr(node.enr, node.enr_seq);
        report(u);
      }
    }
    (void)recent_.insert(node.id, RecentNode{node.public_key, ep});
    if (n < peers.size()) {
      peers[n++] = LookupPeer{node.id, ep};
    }
  }
  if (config_.table_observer != nullptr) {  // a query sent for the owner's lookup
    LookupReply r;
    r.protocol = p;
    r.final = final;
    r.slot = slot;
    r.from = from;
    r.count = static_cast<std::uint8_t>(std::min(n, r.peers.size()));
    std::copy_n(peers.begin(), r.count, r.peers.begin());
    config_.table_observer->on_lookup_reply(r);
    return;
  }
  if (slot >= lookups_.size() || !lookups_[slot].active || lookups_[slot].protocol != p) {
    return;
  }
  Lookup& l = *lookups_[slot].state;
  const std::span<const LookupPeer> found(peers.data(), n);
  if (final) {
    (void)l.on_response(from, found);
  } else {
    l.add_candidates(found);
  }
  if (!lookups_[slot].stepping) {
    step_lookup(slot);
  }
}

void Engine::on_query_failed(Protocol p, std::uint32_t slot, const NodeId& peer) noexcept {
  if (config_.table_observer != nullptr) {  // a query sent for the owner's lookup
    LookupReply r;
    r.protocol = p;
    r.failed = true;
    r.slot = slot;
    r.from = peer;
    config_.table_observer->on_lookup_reply(r);
    return;
  }
  if (slot >= lookups_.size() || !lookups_[slot].active || lookups_[slot].protocol != p) {
    return;
  }
  lookups_[slot].state->on_failure(peer);
  if (!lookups_[slot].stepping) {
    step_lookup(slot);
  }
}

TalkHandler* Engine::talk_handler(ByteView protocol) noexcept {
  for (auto& [name, handler] : talk_handlers_) {
    if (equal(as_bytes(name), protocol)) {
      return &handler;
    }
  }
  return nullptr;
}

std::optional<NodeRef> Engine::resolve(const NodeId& id) const noexcept {
  if (const PeerEntry* e = table_.find_any(id)) {
    return NodeRef::of(*e);
  }
  if (const RecentNode* r = recent_.peek(id)) {
    return NodeRef{id, r->public_key, r->endpoint};
  }
  return std::nullopt;
}

// ---- sharded runtime: updates reported by other shards --------------------------------------

void TableUpdate::set_enr(ByteView raw, std::uint64_t seq) noexcept {
  if (raw.size() > enr.size()) {
    enr_size = 0;
    return;
  }
  if (!raw.empty()) {  // an empty span may carry a null pointer: memcpy must not see it
    std::memcpy(enr.data(), raw.data(), raw.size());
  }
  enr_size = static_cast<std::uint16_t>(raw.size());
  enr_seq = seq;
}

// The table half of on_node_seen / on_nodes / on_pong / on_ping_failed / on_record, with the
// owner's clock: no packets are sent and no votes are counted here (the reporting shard did
// that for the packets it received).
void Engine::apply_table_update(const TableUpdate& u) noexcept {
  refresh_time();
  if (u.id == local_.id) {
    return;
  }
  PeerInfo info;
  info.id = u.id;
  info.public_key = u.public_key;
  info.endpoint4 = u.endpoint4;
  info.endpoint6 = u.endpoint6;
  info.enr = u.enr_bytes();
  info.enr_seq = u.enr_seq;
  switch (u.kind) {
    case TableUpdate::Kind::kSeen: {
      info.protocols = flag_of(u.protocol);
      const AddOutcome outcome = table_.add_seen(info, now_.mono_ns);
      if (outcome == AddOutcome::kUpdated || outcome == AddOutcome::kAlreadyKnown) {
        (void)table_.update_endpoint(u.id, u.endpoint4.valid() ? u.endpoint4 : u.endpoint6);
      }
      const Endpoint& ep = u.endpoint4.valid() ? u.endpoint4 : u.endpoint6;
      (void)recent_.insert(u.id, RecentNode{u.public_key, ep});
      break;
    }
    case TableUpdate::Kind::kFound: {
      info.protocols = u.protocols;
      (void)table_.add_found(info, now_.mono_ns);
      const Endpoint& ep = u.endpoint4.valid() ? u.endpoint4 : u.endpoint6;
      (void)recent_.insert(u.id, RecentNode{u.public_key, ep});
      break;
    }
    case TableUpdate::Kind::kAlive:
      (void)table_.mark_alive(u.id, u.protocol, now_.mono_ns);
      break;
    case TableUpdate::Kind::kFailed:
      (void)table_.mark_failed(u.id, u.protocol, now_.mono_ns);
      break;
    case TableUpdate::Kind::kVote:
      (void)votes_.vote(u.id, u.endpoint4.valid() ? u.endpoint4 : u.endpoint6, now_.mono_ns);
      apply_votes();
      break;
    case TableUpdate::Kind::kRecord:
      if (table_.update_enr(u.id, u.enr_bytes(), u.enr_seq) == UpdateOutcome::kUpdated) {
        ++counters_.enr_updates_learned;
        if (u.endpoint4.valid()) {
          (void)table_.update_endpoint(u.id, u.endpoint4);
        }
        if (u.endpoint6.valid()) {
          (void)table_.update_endpoint(u.id, u.endpoint6);
        }
      }
      break;
  }
}

void Engine::ping_for_owner(Protocol p, const NodeRef& node, Transport& tx) noexcept {
  if (!enabled(p) || shut_down_) {
    return;
  }
  const TransportScope scope(tx_, tx);
  refresh_time();
  if (p == Protocol::kV4) {
    (void)v4_->send_ping(node, Discv4State::PingPurpose::kRevalidate);
  } else {
    (void)v5_->send_ping(node);
  }
}

void Engine::findnode_for_owner(Protocol p, const NodeRef& node, const NodeId& target,
                                const crypto::PublicKey& target_key, std::uint32_t slot,
                                Transport& tx) noexcept {
  if (!enabled(p) || shut_down_) {
    return;
  }
  const TransportScope scope(tx_, tx);
  refresh_time();
  if (p == Protocol::kV4) {
    v4_->send_findnode(node, target_key, slot);
  } else {
    v5_->send_findnode(node, target, slot);
  }
}

void Engine::apply_lookup_reply(const LookupReply& r, Transport& tx) noexcept {
  const std::uint32_t slot = r.slot;
  if (slot >= lookups_.size() || !lookups_[slot].active || lookups_[slot].protocol != r.protocol) {
    return;  // finished meanwhile (or the slot was reused: the Lookup ignores strangers)
  }
  const TransportScope scope(tx_, tx);
  refresh_time();
  if (r.failed) {
    lookups_[slot].state->on_failure(r.from);
  } else if (r.final) {
    (void)lookups_[slot].state->on_response(r.from,
                                            std::span<const LookupPeer>(r.peers.data(), r.count));
  } else {
    lookups_[slot].state->add_candidates(std::span<const LookupPeer>(r.peers.data(), r.count));
  }
  if (!lookups_[slot].stepping) {
    step_lookup(slot);
  }
}

// ---- revalidate / lookup / prune: written once --------------------------------------------

void Engine::revalidate(Protocol p) noexcept {
  if (!enabled(p) || shut_down_) {
    return;
  }
  const PeerEntry* e = table_.revalidation_candidate(now_.mono_ns, p);
  if (e == nullptr) {
    return;
  }
  if (!admits(*e)) {
    (void)table_.remove(e->id);
    return;
  }
  const NodeRef ref = NodeRef::of(*e);
  if (config_.shard_router != nullptr &&
      config_.shard_router->delegate_ping(p, ref.id, ref.public_key, ref.endpoint)) {
    return;
  }
  if (p == Protocol::kV4) {
    (void)v4_->send_ping(ref, Discv4State::PingPurpose::kRevalidate);
  } else {
    (void)v5_->send_ping(ref);
  }
}

void Engine::lookup(Protocol p, const std::optional<NodeId>& target, std::uint64_t tag) noexcept {
  if (!enabled(p) || shut_down_) {
    return;
  }
  std::uint32_t slot = kNoLookup;
  for (std::uint32_t i = 0; i < lookups_.size(); ++i) {
    if (!lookups_[i].active) {
      slot = i;
      break;
    }
  }
  if (slot == kNoLookup) {
    if (observer_ != nullptr) {
      observer_->on_lookup_done(tag, p, target.value_or(NodeId{}), {});
    }
    return;
  }
  ActiveLookup& l = lookups_[slot];
  l = ActiveLookup{};
  l.protocol = p;
  l.tag = tag;
  l.started_ns = now_.mono_ns;

  // discv4 FindNode names its target by a 64-byte public key (the id is its keccak), so a
  // discv4 lookup needs the key: ours for a self lookup, a known node's, or a random one.
  if (!target) {
    rng_.fill(l.target_key);
    l.target = p == Protocol::kV4 ? crypto::keccak256(l.target_key) : NodeId{};
    if (p == Protocol::kV5) {
      rng_.fill(l.target);
    }
  } else {
    l.target = *target;
    if (p == Protocol::kV4) {
      if (*target == local_.id) {
        l.target_key = local_.public_key;
      } else if (auto ref = resolve(*target)) {
        l.target_key = ref->public_key;
      } else {
        // No key for that id: a discv4 lookup cannot name it. Report an empty result.
        if (observer_ != nullptr) {
          observer_->on_lookup_done(tag, p, *target, {});
        }
        return;
      }
    }
  }

  std::array<const PeerEntry*, 16> closest{};
  const std::size_t k = std::min<std::size_t>(config_.lookup_k, closest.size());
  const std::size_t n = table_.closest(l.target, k, closest, flag_of(p));
  std::array<LookupPeer, 32> seeds{};
  std::size_t count = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (admits(*closest[i])) {
      seeds[count++] = LookupPeer{closest[i]->id, closest[i]->primary_endpoint()};
    }
  }
  // A dry table: fall back to the bootnodes.
  for (const NodeSeed& b : bootnodes_) {
    if (count >= seeds.size() || count >= k) {
      break;
    }
    if ((b.protocols & flag_of(p)) == 0) {
      continue;
    }
    const NodeId id = crypto::node_id_of(b.public_key);
    const Endpoint ep = b.endpoint4 ? *b.endpoint4 : endpoint_of(b.endpoint6);
    bool dup = false;
    for (std::size_t i = 0; i < count; ++i) {
      dup = dup || seeds[i].id == id;
    }
    if (!dup && ep.valid() && admits(id, ep.ip)) {
      seeds[count++] = LookupPeer{id, ep};
    }
  }
  LookupConfig lc;
  lc.k = config_.lookup_k;
  lc.alpha = config_.lookup_alpha;
  lc.request_timeout_ns = kLookupQueryTimeoutNs;
  l.state.emplace(l.target, local_.id, std::span<const LookupPeer>(seeds.data(), count), lc);
  l.active = true;
  ++counters_.lookups_started;
  step_lookup(slot);
}

void Engine::step_lookup(std::uint32_t slot) noexcept {
  ActiveLookup& l = lookups_[slot];
  if (!l.active) {
    return;
  }
  l.stepping = true;
  std::array<LookupPeer, 8> next{};
  for (int round = 0; round < 8 && l.active; ++round) {
    const std::size_t n = l.state->next(now_.mono_ns, next);
    for (std::size_t i = 0; i < n; ++i) {
      std::optional<NodeRef> ref = resolve(next[i].id);
      if (!ref) {
        ref = NodeRef{next[i].id, {}, next[i].endpoint};
      }
      if (next[i].endpoint.valid()) {
        ref->endpoint = next[i].endpoint;
      }
      if (!admits(ref->id, ref->endpoint.ip)) {
        l.state->on_failure(ref->id);  // never contacted (a policy swapped in mid-lookup)
        continue;
      }
      if (config_.shard_router != nullptr &&
          config_.shard_router->delegate_findnode(l.protocol, ref->id, ref->public_key,
                                                  ref->endpoint, l.target, l.target_key, slot)) {
        continue;
      }
      if (l.protocol == Protocol::kV4) {
        v4_->send_findnode(*ref, l.target_key, slot);
      } else {
        v5_->send_findnode(*ref, l.target, slot);
      }
    }
    if (l.state->done()) {
      finish_lookup(slot);
      return;
    }
    if (n == 0) {
      break;
    }
  }
  l.stepping = false;
}

void Engine::finish_lookup(std::uint32_t slot) noexcept {
  ActiveLookup& l = lookups_[slot];
  std::array<LookupPeer, 32> result{};
  const std::size_t n = l.state->result(result);
  std::array<FoundNode, 32> found{};
  for (std::size_t i = 0; i < n; ++i) {
    found[i] = FoundNode{result[i].id, result[i].endpoint};
  }
  const std::int64_t ms = (now_.mono_ns - l.started_ns) / kMillisecond;
  ++counters_.lookups_done;
  counters_.lookup_duration_ms_sum += static_cast<std::uint64_t>(std::max<std::int64_t>(ms, 0));
  std::size_t bucket = Counters::kLookupBucketsMs.size() - 1;
  for (std::size_t i = 0; i + 1 < Counters::kLookupBucketsMs.size(); ++i) {
    if (ms < Counters::kLookupBucketsMs[i]) {
      bucket = i;
      break;
    }
  }
  ++counters_.lookup_duration_ms_hist[bucket];
  l.active = false;
  l.stepping = false;
  if (l.protocol == Protocol::kV4) {
    v4_->cancel_lookup(slot);
  } else {
    v5_->cancel_lookup(slot);
  }
  if (observer_ != nullptr) {
    observer_->on_lookup_done(l.tag, l.protocol, l.target,
                              std::span<const FoundNode>(found.data(), n));
  }
  l.state.reset();
}

std::size_t Engine::active_lookups() const noexcept {
  return static_cast<std::size_t>(std::count_if(lookups_.begin(), lookups_.end(),
                                                [](const ActiveLookup& l) { return l.active; }));
}

void Engine::prune() noexcept {
  (void)table_.prune_stale(now_.mono_ns, config_.stale_entry_age_ns);
  v4_->prune();
  v5_->prune();
}

void Engine::run_deadlines() noexcept {
  if (now_.mono_ns < next_deadline_check_ns_) {
    return;
  }
  next_deadline_check_ns_ = now_.mono_ns + kDeadlineCheckNs;
  v4_->run_deadlines();
  v5_->run_deadlines();
  expire_probes();
  for (std::uint32_t i = 0; i < lookups_.size(); ++i) {
    if (lookups_[i].active && !lookups_[i].stepping &&
        (lookups_[i].state->next_deadline() <= now_.mono_ns || lookups_[i].state->done() ||
         lookups_[i].state->in_flight() == 0)) {
      step_lookup(i);
    }
  }
}

// ---- seeds and the local record ------------------------------------------------------------

void Engine::add_seed(const NodeSeed& seed) noexcept {
  PeerInfo info;
  info.public_key = seed.public_key;
  info.id = crypto::node_id_of(seed.public_key);
  if (info.id == local_.id) {
    return;
  }
  info.endpoint4 = endpoint_of(seed.endpoint4);
  info.endpoint6 = endpoint_of(seed.endpoint6);
  if (seed.record) {
    info.enr = seed.record->raw();
    info.enr_seq = seed.record->seq();
    if (auto ep = seed.record->udp_endpoint_v4(); ep && !info.endpoint4.valid()) {
      info.endpoint4 = *ep;
    }
    if (auto ep = seed.record->udp_endpoint_v6(); ep && !info.endpoint6.valid()) {
      info.endpoint6 = *ep;
    }
  }
  info.protocols =
      seed.protocols & ((config_.enable_v4 ? kFlagV4 : 0) | (config_.enable_v5 ? kFlagV5 : 0));
  if (info.protocols == 0) {
    return;
  }
  if (!admits(info.id, info.endpoint4, info.endpoint6)) {
    return;  // a banned bootnode is neither stored nor pinged
  }
  (void)table_.add_found(info, now_.mono_ns);
  NodeSeed kept = seed;
  if (!kept.endpoint4 && info.endpoint4.valid()) {
    kept.endpoint4 = info.endpoint4;
  }
  if (!kept.endpoint6 && info.endpoint6.valid()) {
    kept.endpoint6 = info.endpoint6;
  }
  kept.protocols = info.protocols;
  bootnodes_.push_back(kept);
  const Endpoint& ep = info.endpoint4.valid() ? info.endpoint4 : info.endpoint6;
  (void)recent_.insert(info.id, RecentNode{info.public_key, ep});
  if ((info.protocols & kFlagV4) != 0 && ep.valid() && tx_ != nullptr) {
    // Sharded: the pong goes to the shard that owns the seed's endpoint, so that shard pings.
    if (config_.shard_router == nullptr ||
        !config_.shard_router->delegate_ping(Protocol::kV4, info.id, info.public_key, ep)) {
      (void)v4_->send_ping(NodeRef{info.id, info.public_key, ep}, Discv4State::PingPurpose::kBond);
    }
  }
}

void Engine::apply_votes() noexcept {
  bool changed = false;
  if (auto v4 = config_.static_ip4 ? std::nullopt
                                   : votes_.majority(IpAddress::Family::kV4, now_.mono_ns)) {
    if (!local_.ipv4 || *local_.ipv4 != v4->ip) {
      local_.ipv4 = v4->ip;
      changed = true;
    }
  }
  if (auto v6 = config_.static_ip6 ? std::nullopt
                                   : votes_.majority(IpAddress::Family::kV6, now_.mono_ns)) {
    if (!local_.ipv6 || *local_.ipv6 != v6->ip) {
      local_.ipv6 = v6->ip;
      changed = true;
    }
  }
  if (changed) {
    local_.address_source = "votes";
    rebuild_local_record();
  }
}

// The address entries of our record: `ip`/`udp`/`tcp` per announced IPv4 address, `ip6`/
// `udp6`/`tcp6` per IPv6 one. The TCP ports go only beside an address: EIP-778 ties a port to
// its family's address, and an enode URL without an address has no use for one.
void Engine::set_local_endpoints(enr::Builder& b) const {
  if (local_.ipv4) {
    b.set_ip(*local_.ipv4).set_udp(local_.udp_port);
    if (local_.tcp_port != 0) {
      b.set_tcp(local_.tcp_port);
    }
  }
  if (local_.ipv6) {
    b.set_ip(*local_.ipv6).set_udp6(local_.udp6_port);
    if (local_.tcp6_port != 0) {
      b.set_tcp6(local_.tcp6_port);
    }
  }
}

void Engine::rebuild_local_record() noexcept {
  enr::Builder b = enr::Builder::from(local_.record);
  b.set_seq(local_.record.seq() + 1);
  set_local_endpoints(b);
  auto record = b.sign(local_.private_key);
  if (!record) {
    return;
  }
  local_.record = *record;
  ++counters_.local_record_updates;
  if (observer_ != nullptr) {
    observer_->on_local_record_changed(local_.record);
  }
}

Result<enr::Record, enr::EnrError> Engine::verified_record(ByteView raw) noexcept {
  const std::uint64_t hits = records_.hits();
  auto record = records_.decode(raw);
  ++(records_.hits() != hits ? counters_.record_cache_hits : counters_.record_cache_misses);
  return record;
}

bool Engine::adopt_local_record(ByteView raw) noexcept {
  auto record = enr::decode(raw);  // verifies the signature
  if (!record || record->node_id() != local_.id || record->seq() <= local_.record.seq()) {
    return false;
  }
  local_.record = *record;
  local_.ipv4 = record->ip();
  local_.ipv6 = record->ip6();
  local_.address_source = "owner";
  return true;
}

// ---- DiscoveryServer: the public face --------------------------------------------------------

DiscoveryServer::DiscoveryServer(ServerConfig config, const Clock& clock, crypto::RandomSource& rng,
                                 EngineObserver* observer)
    : engine_(std::make_unique<Engine>(std::move(config), clock, rng, observer)) {}
DiscoveryServer::~DiscoveryServer() = default;

void DiscoveryServer::handle(const InMessage& message, Transport& tx) noexcept {
  engine_->handle(message, tx);
}
void DiscoveryServer::on_burst(std::span<const Datagram> burst, Transport& tx) noexcept {
  engine_->on_burst(burst, tx);
}
void DiscoveryServer::on_idle(Transport& tx) noexcept {
  engine_->on_idle(tx);
}
void DiscoveryServer::apply_table_update(const TableUpdate& update) noexcept {
  engine_->apply_table_update(update);
}
void DiscoveryServer::mirror_table(const PeerTable& owner) noexcept {
  engine_->mirror_table(owner);
}
void DiscoveryServer::ping_for_owner(Protocol protocol, const NodeId& id,
                                     const crypto::PublicKey& public_key, const Endpoint& endpoint,
                                     Transport& tx) noexcept {
  engine_->ping_for_owner(protocol, NodeRef{id, public_key, endpoint}, tx);
}
void DiscoveryServer::findnode_for_owner(Protocol protocol, const NodeId& id,
                                         const crypto::PublicKey& public_key,
                                         const Endpoint& endpoint, const NodeId& target,
                                         const crypto::PublicKey& target_key, std::uint32_t slot,
                                         Transport& tx) noexcept {
  engine_->findnode_for_owner(protocol, NodeRef{id, public_key, endpoint}, target, target_key, slot,
                              tx);
}
void DiscoveryServer::apply_lookup_reply(const LookupReply& reply, Transport& tx) noexcept {
  engine_->apply_lookup_reply(reply, tx);
}
const PeerTable& DiscoveryServer::table() const noexcept {
  return engine_->table();
}
const Counters& DiscoveryServer::counters() const noexcept {
  return engine_->counters();
}
const enr::Record& DiscoveryServer::local_record() const noexcept {
  return engine_->local().record;
}
const NodeId& DiscoveryServer::local_id() const noexcept {
  return engine_->local().id;
}
const crypto::PublicKey& DiscoveryServer::local_public_key() const noexcept {
  return engine_->local().public_key;
}
const IpVotes& DiscoveryServer::ip_votes() const noexcept {
  return engine_->votes();
}
std::size_t DiscoveryServer::session_count() const noexcept {
  return engine_->v5().session_count();
}
std::size_t DiscoveryServer::bytes_per_session() const noexcept {
  return engine_->v5().bytes_per_session();
}
std::size_t DiscoveryServer::pending_challenges() const noexcept {
  return engine_->v5().pending_challenges();
}
std::size_t DiscoveryServer::active_lookups() const noexcept {
  return engine_->active_lookups();
}
bool DiscoveryServer::shut_down() const noexcept {
  return engine_->shut_down();
}
bool DiscoveryServer::adopt_local_record(ByteView raw) noexcept {
  return engine_->adopt_local_record(raw);
}
const char* DiscoveryServer::external_address_source() const noexcept {
  return engine_->local().address_source;
}
const NetPolicy* DiscoveryServer::net_policy() const noexcept {
  return engine_->policy();
}

// ---- operator probes (msg::Ping / msg::Resolve / msg::TalkRequest) ---------------------------

void Engine::start_probe(ProbeKind kind, Protocol p, const msg::ProbeTarget& target,
                         std::uint64_t tag, std::int64_t timeout_ns,
                         const msg::TalkRequest* talk) noexcept {
  ActiveProbe probe;  // active once it has a slot
  probe.kind = kind;
  probe.protocol = p;
  probe.tag = tag;
  probe.node = NodeRef{crypto::node_id_of(target.public_key), target.public_key, target.endpoint};
  probe.started_ns = now_.mono_ns;
  probe.deadline_ns = now_.mono_ns + (timeout_ns > 0 ? timeout_ns : msg::kDefaultProbeTimeoutNs);
  ProbeResult r;
  if (!enabled(p) || !target.endpoint.valid() || probe.node.id == local_.id ||
      !admits(probe.node.id, target.endpoint.ip)) {
    r.outcome = ProbeOutcome::kRefused;
    finish_probe(probe, r);
    return;
  }
  ActiveProbe* slot = nullptr;
  for (ActiveProbe& candidate : probes_) {
    if (!candidate.active) {
      slot = &candidate;
      break;
    }
  }
  if (slot == nullptr) {
    r.outcome = ProbeOutcome::kBusy;
    finish_probe(probe, r);
    return;
  }
  *slot = probe;
  slot->active = true;
  ++probes_active_;
  const NodeRef& node = slot->node;
  switch (kind) {
    case ProbeKind::kPing:
      if (p == Protocol::kV4) {
        (void)v4_->send_ping(node, Discv4State::PingPurpose::kBond);
      } else {
        (void)v5_->send_ping(node);  // false: a ping already in flight, whose PONG counts
      }
      break;
    case ProbeKind::kResolve:
      if (p == Protocol::kV4) {
        // ENRRequest needs the bond both ways: ping first; on_pong sends the request.
        if (!v4_->send_ping(node, Discv4State::PingPurpose::kBond)) {
          v4_->request_enr(node);  // a ping is in flight already, or we are bonded
        }
      } else {
        v5_->request_enr(node);
      }
      break;
    case ProbeKind::kTalk:
      if (!v5_->send_talkreq(node, as_bytes(talk->protocol), ByteView(talk->request),
                             &slot->talk_req_id)) {
        r.outcome = ProbeOutcome::kRefused;
        finish_probe(*slot, r);
      }
      break;
  }
}

void Engine::on_talk_response(std::uint64_t req_id, const NodeId& from_id, const Endpoint& from,
                              ByteView response) noexcept {
  for (std::size_t i = 0; probes_active_ > 0 && i < probes_.size(); ++i) {
    ActiveProbe& probe = probes_[i];
    if (probe.active && probe.kind == ProbeKind::kTalk && probe.talk_req_id == req_id &&
        probe.node.id == from_id) {
      ProbeResult r;
      r.outcome = ProbeOutcome::kAnswered;
      r.from = from;
      r.talk_response = response;
      finish_probe(probe, r);
    }
  }
}

// Fills in what every result carries, frees the slot, then reports (the observer may send
// the next probe from its callback).
void Engine::finish_probe(ActiveProbe& probe, ProbeResult& result) noexcept {
  result.kind = probe.kind;
  result.protocol = probe.protocol;
  result.id = probe.node.id;
  result.elapsed_ns = now_.mono_ns - probe.started_ns;
  const std::uint64_t tag = probe.tag;
  if (probe.active) {
    probe.active = false;
    --probes_active_;
  }
  if (observer_ != nullptr) {
    observer_->on_probe_done(tag, result);
  }
}

void Engine::expire_probes() noexcept {
  for (std::size_t i = 0; probes_active_ > 0 && i < probes_.size(); ++i) {
    ActiveProbe& probe = probes_[i];
    if (probe.active && probe.deadline_ns <= now_.mono_ns) {
      ProbeResult r;
      r.outcome = ProbeOutcome::kTimeout;
      finish_probe(probe, r);
    }
  }
}

}  // namespace discplane::disc
