// ShardGroup: update rings from the shards to the table owner, and the owner's published table
// copies that the shards mirror. See shard_group.h for the ownership model.
#include "discplane/control/shard_group.h"

#include <algorithm>
#include <atomic>
#include <cstring>

namespace discplane::control {

std::uint32_t steer(const Endpoint& from, std::uint32_t shards, std::uint64_t seed) noexcept {
  if (shards <= 1) {
    return 0;
  }
  // splitmix64-style finaliser over the 16 address bytes and the port: every input bit
  // reaches every output bit, so neighbouring ports and addresses spread evenly.
  std::uint64_t a = 0;
  std::uint64_t b = 0;
  std::memcpy(&a, from.ip.bytes.data(), 8);
  std::memcpy(&b, from.ip.bytes.data() + 8, 8);
  std::uint64_t h = seed ^ 0x9e3779b97f4a7c15ULL;
  for (const std::uint64_t w : {a, b, static_cast<std::uint64_t>(from.port)}) {
    h ^= w;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 31;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 29;
  }
  // Multiply-shift instead of modulo: unbiased enough and no division.
  return static_cast<std::uint32_t>((static_cast<unsigned __int128>(h) * shards) >> 64);
}

disc::ServerConfig per_shard_limits(disc::ServerConfig c, std::uint32_t shards) noexcept {
  if (shards <= 1) {
    return c;
  }
  const auto share = [shards](std::uint32_t total) noexcept {
    // In 64 bits: (total + N - 1) wrapped to a tiny share for totals near 2^32.
    const std::uint64_t rounded_up = (std::uint64_t{total} + shards - 1) / shards;
    return std::max<std::uint32_t>(1, static_cast<std::uint32_t>(rounded_up));
  };
  c.max_sessions = share(c.max_sessions);
  c.max_challenges = share(c.max_challenges);
  c.v4_max_pending = share(c.v4_max_pending);
  c.whoareyou_global_rate = share(c.whoareyou_global_rate);
  c.whoareyou_global_burst = share(c.whoareyou_global_burst);
  // Request limits are per source IP and per node id, like the WHOAREYOU per-IP limit: a
  // node's endpoint always lands on the same shard, so its rate is not divided (an honest
  // peer would see 1/N of it); what is divided is the memory that tracks the keys.
  c.v4_request_limits.max_keys = share(c.v4_request_limits.max_keys);
  c.v5_request_limits.max_keys = share(c.v5_request_limits.max_keys);
  // The global credit must still pay for one Pong and one Ping (a first contact's bond; the
  // config's minimum, 360 B): below that a shard could never answer an unbonded peer.
  c.v4_amp_global_burst =
      std::max(share(c.v4_amp_global_burst), std::min(c.v4_amp_global_burst, kMinAmpBurstPerShard));
  return c;
}

TableCopy& TableCopy::operator=(const TableCopy& other) {
  if (this == &other || !other.table) {
    return *this;
  }
  if (!table) {
    table = std::make_unique<disc::PeerTable>(other.table->self(), other.table->config());
  }
  (void)table->copy_from(*other.table);
  return *this;
}

// Shard k's TableObserver: pushes onto ring k, counts what does not fit. Every verified packet
// reports kSeen; a repeat (same id, protocol and endpoint, no newer record, within
// kSeenRepeatNs) is suppressed by a small direct-mapped cache, so a busy peer costs the ring
// about one update a second, not one per packet. A cache collision only lets a repeat through.
// Lookup replies go on the shard's reply ring.
class ShardGroup::Forwarder final : public disc::TableObserver {
 public:
  Forwarder(SpscRing<disc::TableUpdate>& ring, SpscRing<disc::LookupReply>& replies)
      : ring_(ring), replies_(replies), seen_(kSeenSlots) {}
  void on_lookup_reply(const disc::LookupReply& r) noexcept override {
    if (!replies_.try_push(r)) {  // the owner's Lookup times the query out instead
      ring_full_.store(ring_full_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
  }
  void on_table_update(const disc::TableUpdate& u, std::int64_t now_ns) noexcept override {
    if (u.kind == disc::TableUpdate::Kind::kSeen) {
      std::uint64_t h = 0;
      std::memcpy(&h, u.id.data(), sizeof h);  // ids are keccak outputs; a collision is harmless
      Seen& s = seen_[h & (kSeenSlots - 1)];
      const Endpoint& ep = u.endpoint4.valid() ? u.endpoint4 : u.endpoint6;
      if (s.at_ns != 0 && s.id == u.id && s.protocol == u.protocol && s.endpoint == ep &&
          u.enr_seq <= s.enr_seq && now_ns - s.at_ns < kSeenRepeatNs) {
        suppressed_.store(suppressed_.load(std::memory_order_relaxed) + 1,
                          std::memory_order_relaxed);
        return;
      }
      s = Seen{u.id, ep, u.enr_seq, now_ns, u.protocol};
    }
    if (!ring_.try_push(u)) {
      ring_full_.store(ring_full_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
  }
  std::uint64_t ring_full() const noexcept { return ring_full_.load(std::memory_order_relaxed); }
  std::uint64_t suppressed() const noexcept { return suppressed_.load(std::memory_order_relaxed); }

 private:
  static constexpr std::size_t kSeenSlots = 4096;
  static constexpr std::int64_t kSeenRepeatNs = disc::kSecond;
  struct Seen {
    NodeId id{};
    Endpoint endpoint;
    std::uint64_t enr_seq = 0;
    std::int64_t at_ns = 0;
    disc::Protocol protocol = disc::Protocol::kV4;
  };
  SpscRing<disc::TableUpdate>& ring_;
  SpscRing<disc::LookupReply>& replies_;
  std::vector<Seen> seen_;
  std::atomic<std::uint64_t> ring_full_{0};
  std::atomic<std::uint64_t> suppressed_{0};
};

// The owner's ShardRouter: pings and queries for other shards' endpoints go on their command
// ring. A full ring (or the owner's own endpoint) leaves the send to the owner.
class ShardGroup::Router final : public disc::ShardRouter {
 public:
  explicit Router(ShardGroup& group) : group_(group) {}
  bool delegate_ping(disc::Protocol protocol, const NodeId& id, const crypto::PublicKey& key,
                     const Endpoint& endpoint) noexcept override {
    Command c;
    c.protocol = protocol;
    c.id = id;
    c.public_key = key;
    c.endpoint = endpoint;
    return delegate(c);
  }
  bool delegate_findnode(disc::Protocol protocol, const NodeId& id, const crypto::PublicKey& key,
                         const Endpoint& endpoint, const NodeId& target,
                         const crypto::PublicKey& target_key,
                         std::uint32_t slot) noexcept override {
    Command c;
    c.findnode = true;
    c.protocol = protocol;
    c.slot = slot;
    c.id = id;
    c.public_key = key;
    c.endpoint = endpoint;
    c.target = target;
    c.target_key = target_key;
    return delegate(c);
  }
  std::uint64_t delegated = 0;  // owner thread only
  std::uint64_t full = 0;

 private:
  bool delegate(const Command& c) noexcept {
    const ShardGroupConfig& g = group_.config_;
    const std::uint32_t k = g.steer_fn != nullptr ? g.steer_fn(c.endpoint, g.shards, g.steer_seed)
                                                  : steer(c.endpoint, g.shards, g.steer_seed);
    if (k == 0) {
      return false;
    }
    if (!group_.commands_[k]->try_push(c)) {
      ++full;
      return false;
    }
    ++delegated;
    return true;
  }
  ShardGroup& group_;
};

ShardGroup::ShardGroup(const ShardGroupConfig& config)
    : config_(config), state_(std::max<std::uint32_t>(1, config.shards)) {
  config_.shards = std::max<std::uint32_t>(1, config_.shards);
  rings_.resize(config_.shards);
  forwarders_.resize(config_.shards);
  commands_.resize(config_.shards);
  replies_.resize(config_.shards);
  records_.resize(config_.shards);
  controls_.resize(config_.shards);
  for (std::uint32_t k = 1; k < config_.shards; ++k) {
    rings_[k] = std::make_unique<SpscRing<disc::TableUpdate>>(config_.ring_capacity);
    records_[k] = std::make_unique<SpscRing<RecordCopy>>(8);
    controls_[k] = std::make_unique<SpscRing<disc::InMessage>>(64);
    commands_[k] = std::make_unique<SpscRing<Command>>(1024);
    replies_[k] = std::make_unique<SpscRing<disc::LookupReply>>(1024);
    forwarders_[k] = std::make_unique<Forwarder>(*rings_[k], *replies_[k]);
  }
  router_ = std::make_unique<Router>(*this);
}

ShardGroup::~ShardGroup() = default;

disc::TableObserver* ShardGroup::observer(std::uint32_t shard) noexcept {
  return shard == 0 || shard >= config_.shards ? nullptr : forwarders_[shard].get();
}

disc::ShardRouter* ShardGroup::router() noexcept {
  return config_.shards > 1 ? router_.get() : nullptr;
}

std::size_t ShardGroup::poll(std::uint32_t shard, disc::DiscoveryServer& server,
                             disc::Transport& tx, std::int64_t now_ns, bool force) noexcept {
  if (shard >= config_.shards) {
    return 0;
  }
  if (shard != 0) {
    ShardState& st = state_[shard];
    disc::InMessage m;
    for (std::size_t i = 0; i < 16 && controls_[shard]->try_pop(m); ++i) {
      server.handle(m, tx);
      st.broadcasts.store(st.broadcasts.load(std::memory_order_relaxed) + 1,
                          std::memory_order_relaxed);
    }
    m = disc::msg::Prune{};  // drop the message's references (e.g. a policy) here, not later
    RecordCopy rc;
    while (records_[shard]->try_pop(rc)) {
      if (server.adopt_local_record(ByteView(rc.raw.data(), rc.size))) {
        st.records_adopted.store(st.records_adopted.load(std::memory_order_relaxed) + 1,
                                 std::memory_order_relaxed);
      }
    }
    Command c;
    for (std::size_t i = 0; i < 64 && commands_[shard]->try_pop(c); ++i) {
      if (c.findnode) {
        server.findnode_for_owner(c.protocol, c.id, c.public_key, c.endpoint, c.target,
                                  c.target_key, c.slot, tx);
      } else {
        server.ping_for_owner(c.protocol, c.id, c.public_key, c.endpoint, tx);
      }
    }
    ShardState& s = state_[shard];
    // Idle polls are frequent: look at the owner's version counter (a shared read) before
    // pinning a slot (two atomic writes on a line every shard touches).
    if (publications_.load(std::memory_order_acquire) == s.mirrored_version) {
      return 0;
    }
    auto pinned = published_.acquire();
    if (pinned.version() == s.mirrored_version || !pinned->table) {
      return 0;
    }
    server.mirror_table(*pinned->table);
    s.mirrored_version = pinned.version();
    ++s.mirrored;
    return 1;
  }
  // The owner: a bounded batch per ring per call, so a flood of updates cannot starve RX.
  constexpr std::size_t kMaxPerRing = 256;
  std::size_t applied = 0;
  disc::TableUpdate u;
  disc::LookupReply r;
  for (std::uint32_t k = 1; k < config_.shards; ++k) {
    // Table updates first: a reply's nodes arrive as kFound just before it.
    for (std::size_t i = 0; i < kMaxPerRing && rings_[k]->try_pop(u); ++i) {
      server.apply_table_update(u);
      ++applied;
    }
    for (std::size_t i = 0; i < kMaxPerRing && replies_[k]->try_pop(r); ++i) {
      server.apply_lookup_reply(r, tx);
    }
  }
  applied_ += applied;
  if (server.local_record().seq() != owner_seq_) {  // a new record (votes): hand it out
    send_record(server);
  }
  if (config_.shards > 1 && (force || now_ns >= next_publish_ns_)) {
    next_publish_ns_ = now_ns + config_.publish_interval_ns;
    const disc::PeerTable& table = server.table();
    const bool done = published_.publish([&](TableCopy& slot) noexcept {
      if (!slot.table) {  // the first use of this slot: the only allocation here
        slot.table = std::make_unique<disc::PeerTable>(table.self(), table.config());
      }
      (void)slot.table->copy_from(table);
    });
    if (done) {
      publications_.store(published_.published(), std::memory_order_release);
    }
  }
  return applied;
}

// Owner thread: the owner's record to every shard that has not got this seq yet. A full ring
// (8 deep: records change rarely) is retried at the next poll.
void ShardGroup::send_record(const disc::DiscoveryServer& owner) noexcept {
  const enr::Record& record = owner.local_record();
  const ByteView raw = record.raw();
  if (raw.size() > disc::kMaxEnrSize) {
    owner_seq_ = record.seq();  // cannot be carried (never happens: ours are small)
    return;
  }
  RecordCopy rc;
  rc.size = static_cast<std::uint16_t>(raw.size());
  std::memcpy(rc.raw.data(), raw.data(), raw.size());
  bool all = true;
  for (std::uint32_t k = 1; k < config_.shards; ++k) {
    ShardState& st = state_[k];
    if (st.record_seq_sent == record.seq()) {
      continue;
    }
    if (records_[k]->try_push(rc)) {
      st.record_seq_sent = record.seq();
      ++st.records_sent;
    } else {
      all = false;
    }
  }
  if (all) {
    owner_seq_ = record.seq();
  }
}

void ShardGroup::broadcast(const disc::InMessage& message) {
  if (config_.shards <= 1) {
    return;
  }
  std::lock_guard<std::mutex> lock(broadcast_mutex_);
  broadcast_queue_.push_back(PendingBroadcast{message, std::vector<bool>(config_.shards, false)});
  broadcast_queue_.back().delivered[0] = true;  // the owner's copy goes on its own ring
}

std::size_t ShardGroup::flush_broadcasts() {
  std::lock_guard<std::mutex> lock(broadcast_mutex_);
  // In order per shard: once a shard's ring refuses one, later ones wait for it too.
  std::vector<bool> blocked(config_.shards, false);
  for (PendingBroadcast& b : broadcast_queue_) {
    for (std::uint32_t k = 1; k < config_.shards; ++k) {
      if (b.delivered[k] || blocked[k]) {
        continue;
      }
      disc::InMessage copy = b.message;
      if (controls_[k]->try_push(std::move(copy))) {
        b.delivered[k] = true;
      } else {
        blocked[k] = true;
      }
    }
  }
  while (!broadcast_queue_.empty() &&
         std::all_of(broadcast_queue_.front().delivered.begin(),
                     broadcast_queue_.front().delivered.end(), [](bool d) { return d; })) {
    broadcast_queue_.pop_front();
  }
  return broadcast_queue_.size();
}

ShardGroupCounters ShardGroup::counters() const noexcept {
  ShardGroupCounters c;
  c.applied = applied_;
  c.delegated = router_->delegated;
  c.delegate_full = router_->full;
  c.published = published_.published();
  for (std::uint32_t k = 1; k < config_.shards; ++k) {
    c.mirrored += state_[k].mirrored;
    c.ring_full += forwarders_[k]->ring_full();
    c.suppressed += forwarders_[k]->suppressed();
    c.records_sent += state_[k].records_sent;
    c.records_adopted += state_[k].records_adopted.load(std::memory_order_relaxed);
    c.broadcasts += state_[k].broadcasts.load(std::memory_order_relaxed);
  }
  return c;
}

std::uint64_t ShardGroup::published_version() const noexcept {
  return published_.acquire().version();
}

}  // namespace discplane::control
