// Table updates between dataplane shards. With more than one worker core, each core runs its own
// DiscoveryServer for the endpoints steered to it, but the PeerTable has ONE owner (shard 0).
// The other shards report what they learn as TableUpdate values through a TableObserver (the
// sharded runtime puts them on an SPSC ring to the owner, which applies them with
// DiscoveryServer::apply_table_update); they answer FINDNODE from a mirror of the owner's
// published table. This header holds only the value type and the hook: no rings, no threads.
#pragma once

#include <array>
#include <cstdint>

#include "discplane/common/endpoint.h"
#include "discplane/discovery/io.h"
#include "discplane/discovery/lookup.h"
#include "discplane/discovery/node_id.h"
#include "discplane/discovery/peer_table.h"

namespace discplane::disc {

// One table mutation, self-contained (the ENR is copied inline: no pointer into a packet).
struct TableUpdate {
  enum class Kind : std::uint8_t {
    kSeen,    // verified contact: add_seen + update_endpoint (Engine::on_node_seen)
    kFound,   // learned from an answer: add_found (Engine::on_nodes)
    kAlive,   // our liveness check passed: mark_alive
    kFailed,  // our liveness check failed: mark_failed
    kRecord,  // a newer record: update_enr + its endpoints
    kVote,    // an IP vote: `id` saw us at endpoint4 (or endpoint6); the owner tallies it
  };
  Kind kind = Kind::kSeen;
  Protocol protocol = Protocol::kV4;
  std::uint8_t protocols = 0;  // kFound: the PeerInfo's flags
  std::uint16_t enr_size = 0;  // 0: no record carried
  NodeId id{};
  crypto::PublicKey public_key{};
  Endpoint endpoint4;
  Endpoint endpoint6;
  std::uint64_t enr_seq = 0;
  std::array<std::uint8_t, kMaxEnrSize> enr{};

  ByteView enr_bytes() const { return {enr.data(), enr_size}; }
  // Copies `raw` when it fits (a larger record is not carried: the table refuses it anyway).
  void set_enr(ByteView raw, std::uint64_t seq) noexcept;
};

// A lookup query's outcome on the shard that sent it for the owner: the nodes it returned (or
// the failure), for the owner's Lookup state (the nodes themselves travel as kFound updates).
struct LookupReply {
  Protocol protocol = Protocol::kV4;
  bool final = false;   // the answer is complete (on_response), else more may follow
  bool failed = false;  // the query failed (on_failure); peers unused
  std::uint8_t count = 0;
  std::uint32_t slot = 0;  // the owner's lookup slot
  NodeId from{};
  std::array<LookupPeer, 32> peers{};
};

// Where a non-owner shard's engine reports table mutations, with the engine's monotonic time.
// Called on the shard's thread, synchronously, at most a few times per packet (every verified
// packet reports kSeen: the observer rate-limits); must not block.
class TableObserver {
 public:
  virtual ~TableObserver() = default;
  virtual void on_table_update(const TableUpdate& update, std::int64_t now_ns) noexcept = 0;
  // An answer (or failure) to a FINDNODE this shard sent for the owner's lookup.
  virtual void on_lookup_reply(const LookupReply& reply) noexcept = 0;
};

// The table owner's side of active work in a sharded runtime: the owner picks whom to
// contact (revalidation candidate, a lookup's next peers), but the packet must leave from (and
// its answer arrive at) the shard that owns the node's endpoint, where its discv4 pending
// entry or discv5 session lives. True: delegated (results come back as TableUpdates and
// LookupReplies); false: the endpoint is the owner's own, send locally.
class ShardRouter {
 public:
  virtual ~ShardRouter() = default;
  virtual bool delegate_ping(Protocol protocol, const NodeId& id,
                             const crypto::PublicKey& public_key,
                             const Endpoint& endpoint) noexcept = 0;
  virtual bool delegate_findnode(Protocol protocol, const NodeId& id,
                                 const crypto::PublicKey& public_key, const Endpoint& endpoint,
                                 const NodeId& target, const crypto::PublicKey& target_key,
                                 std::uint32_t slot) noexcept = 0;
};

}  // namespace discplane::disc
