// ShardGroup: the wiring between N dataplane shards (one DiscoveryServer per worker core).
//
// Ownership model:
//  - Protocol state (discv4 pending/bonds, discv5 sessions/challenges, WHOAREYOU limits) lives
//    in the shard that owns the peer's endpoint: steer(source ip:port) picks it (or the NIC's
//    RSS does, one RX queue per shard). A flow never changes shard, so a session never moves.
//  - The PeerTable has ONE owner, shard 0. Every other shard runs on a mirror: a copy of the
//    owner's last published table plus its own recent changes. Those changes also go to the
//    owner as TableUpdate values on one SPSC ring per shard (shard k produces, shard 0
//    consumes); the owner applies them and publishes a new copy every publish_interval.
//  - FINDNODE answers and "do we know this node" checks on shard k read its mirror: at most
//    one publish interval (plus ring latency) behind the owner.
// Nothing here locks; nothing allocates after the owner's first publication. Threads: ring
// k's producer is shard k's thread, every consumer and the publisher are shard 0's thread, a
// mirror refresh runs on the mirror's own shard. Active work stays with the owner: it picks the
// entry to revalidate and runs every lookup, but each ping / FINDNODE is delegated (command ring,
// owner -> shard k) to the shard that owns the node's endpoint; outcomes return as kAlive / kFailed
// updates and LookupReplies (reply ring, shard k -> owner).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "discplane/common/endpoint.h"
#include "discplane/control/snapshot.h"
#include "discplane/control/spsc_ring.h"
#include "discplane/discovery/server.h"
#include "discplane/discovery/table_sync.h"

namespace discplane::control {

// Software steering: a shard for a source endpoint, stable for a given seed (the same ip:port
// always maps to the same shard) and balanced across ports and addresses. The seed keeps a
// remote party from aiming many flows at one shard; the runtime draws it at start.
[[nodiscard]] std::uint32_t steer(const Endpoint& from, std::uint32_t shards,
                                  std::uint64_t seed = 0) noexcept;

// A PeerTable copy that SnapshotPublisher can hold (default-constructible, copy-assignable
// without allocating once both sides exist).
struct TableCopy {
  std::unique_ptr<disc::PeerTable> table;
  TableCopy() = default;
  TableCopy(const TableCopy& other) { *this = other; }
  TableCopy& operator=(const TableCopy& other);
};

struct ShardGroupConfig {
  std::uint32_t shards = 1;
  std::uint64_t steer_seed = 0;  // the seed of steer(): the same as the distributor's
  // The steering the packets get (e.g. the kernel's reuseport BPF, net::reuseport_steer, with
  // a 32-bit seed); nullptr = steer(). Delegated pings/queries go to this function's shard.
  std::uint32_t (*steer_fn)(const Endpoint&, std::uint32_t shards,
                            std::uint64_t seed) noexcept = nullptr;
  std::size_t ring_capacity = 4096;  // TableUpdates in flight per shard (~500 B each)
  std::int64_t publish_interval_ns = 100 * disc::kMillisecond;
};

// The per-engine limits of a sharded runtime: each of N shards gets the configured total
// divided by N (rounded up, at least 1), so that the N engines together keep the totals:
// max_sessions, max_challenges, v4_max_pending, the WHOAREYOU global token bucket (rate and
// burst) and the anti-amplification global credit (v4_amp_global_burst). Per-IP limits stay as
// configured (each shard applies them to the flows it owns; see docs/multicore.md).
// The credit is never divided below kMinAmpBurstPerShard (one Pong and one Ping, the smallest
// total the config accepts), so the N shards together may exceed a total under N x 360 B.
inline constexpr std::uint32_t kMinAmpBurstPerShard = 360;
[[nodiscard]] disc::ServerConfig per_shard_limits(disc::ServerConfig config,
                                                  std::uint32_t shards) noexcept;

struct ShardGroupCounters {
  std::uint64_t applied = 0;          // updates the owner applied
  std::uint64_t published = 0;        // table copies published by the owner
  std::uint64_t mirrored = 0;         // mirror refreshes on the other shards (sum)
  std::uint64_t ring_full = 0;        // updates dropped because a ring was full (sum)
  std::uint64_t suppressed = 0;       // repeated kSeen reports not sent (sum)
  std::uint64_t delegated = 0;        // revalidation pings the owner handed to another shard
  std::uint64_t delegate_full = 0;    // ... that did not fit (the owner then pings itself)
  std::uint64_t records_sent = 0;     // owner's new local records handed to a shard (sum)
  std::uint64_t records_adopted = 0;  // ... that a shard took as its own (sum)
  std::uint64_t broadcasts = 0;       // control messages delivered to shards 1..N-1 (sum)
};

class ShardGroup {
 public:
  // Built before the shards' engines (they take observer()/router() in their ServerConfig).
  // The published copies are allocated at the owner's first poll, nothing after that.
  explicit ShardGroup(const ShardGroupConfig& config);
  ~ShardGroup();
  ShardGroup(const ShardGroup&) = delete;
  ShardGroup& operator=(const ShardGroup&) = delete;

  std::uint32_t shards() const noexcept { return config_.shards; }
  // The observer to put in shard k's ServerConfig::table_observer (nullptr for the owner).
  disc::TableObserver* observer(std::uint32_t shard) noexcept;
  // The router to put in the owner's ServerConfig::shard_router: a revalidation ping or a
  // lookup query for an endpoint that steers to shard k goes to k on a command ring (owner ->
  // k); the query's answer comes back on k's reply ring.
  disc::ShardRouter* router() noexcept;

  // Shard k's between-bursts hook, on shard k's thread. Owner (k == 0): applies every pending
  // update from the rings and publishes a table copy when publish_interval has passed (or
  // `force`). Other shards: refresh the mirror when a newer copy is published. Returns the
  // number of updates applied (owner) or 1 when the mirror was refreshed.
  // Other shards also send the revalidation pings the owner delegated to them through `tx`.
  std::size_t poll(std::uint32_t shard, disc::DiscoveryServer& server, disc::Transport& tx,
                   std::int64_t now_ns, bool force = false) noexcept;

  // Control messages for every shard but the owner (which gets its copy on its own command
  // ring): msg::RegisterTalkProtocol, msg::SetNetPolicy. broadcast() queues a message (any
  // thread; control plane, takes a mutex); flush_broadcasts() hands the queued ones to each
  // shard's control ring in order (ONE thread, the control thread: the rings' only producer)
  // and returns how many are still queued (a full ring: retried at the next flush). Shard k
  // handles them at its poll. A message stays referenced (e.g. a policy) until every shard
  // has taken it; the shard's engine then holds its own copy.
  void broadcast(const disc::InMessage& message);
  std::size_t flush_broadcasts();

  // Counters; exact only when the shards are quiescent (tests, end of a benchmark).
  ShardGroupCounters counters() const noexcept;
  std::uint64_t published_version() const noexcept;

 private:
  class Forwarder;
  class Router;
  struct Command {          // owner -> shard k: send this for me
    bool findnode = false;  // else a revalidation ping
    disc::Protocol protocol = disc::Protocol::kV4;
    std::uint32_t slot = 0;
    NodeId id{};
    crypto::PublicKey public_key{};
    Endpoint endpoint;
    NodeId target{};
    crypto::PublicKey target_key{};
  };
  struct alignas(kCacheLineSize) ShardState {
    std::uint64_t mirrored_version = 0;
    std::uint64_t mirrored = 0;
    std::uint64_t record_seq_sent = 0;  // owner thread: the newest record pushed to this shard
    std::uint64_t records_sent = 0;     // owner thread
    std::atomic<std::uint64_t> records_adopted{0};  // shard thread
    std::atomic<std::uint64_t> broadcasts{0};       // shard thread
  };
  // The owner's local record, owner -> shard k (rare: a new record after a vote).
  struct RecordCopy {
    std::uint16_t size = 0;
    std::array<std::uint8_t, disc::kMaxEnrSize> raw{};
  };
  struct PendingBroadcast {
    disc::InMessage message;
    std::vector<bool> delivered;  // [k]: shard k has it on its ring
  };
  void send_record(const disc::DiscoveryServer& owner) noexcept;
  ShardGroupConfig config_;
  std::vector<std::unique_ptr<SpscRing<disc::TableUpdate>>> rings_;  // [k]: shard k -> owner
  std::vector<std::unique_ptr<Forwarder>> forwarders_;
  std::vector<std::unique_ptr<SpscRing<Command>>> commands_;           // [k]: owner -> shard k
  std::vector<std::unique_ptr<SpscRing<disc::LookupReply>>> replies_;  // [k]: shard k -> owner
  std::vector<std::unique_ptr<SpscRing<RecordCopy>>> records_;         // [k]: owner -> shard k
  std::vector<std::unique_ptr<SpscRing<disc::InMessage>>> controls_;   // [k]: control -> k
  std::unique_ptr<Router> router_;
  std::vector<ShardState> state_;
  std::uint64_t owner_seq_ = 0;  // owner thread: the seq of the last record sent to all
  std::mutex broadcast_mutex_;
  std::deque<PendingBroadcast> broadcast_queue_;
  SnapshotPublisher<TableCopy> published_;
  // The number of publications so far (== the newest version): checked before pinning.
  alignas(kCacheLineSize) std::atomic<std::uint64_t> publications_{0};
  std::int64_t next_publish_ns_ = 0;
  std::uint64_t applied_ = 0;
};

}  // namespace discplane::control
