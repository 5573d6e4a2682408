// Discv4State: the discv4-only half of the engine (private header). It holds what only
// discv4 needs: pending pings (matched by hash), endpoint proofs (bonds), outstanding
// FindNode queries and ENRRequests, and the cached signed FINDNODE a lookup reuses for
// every peer it asks. Everything shared (table, signer, record, votes) is the Engine's.
#pragma once

#include <cstdint>

#include "discplane/discovery/lru_map.h"
#include "discplane/wire/v4wire.h"

#include "amp_budget.h"
#include "engine.h"
#include "rate_limit.h"

namespace discplane::disc {

class Discv4State {
 public:
  explicit Discv4State(Engine& engine);

  void on_packet(ByteView payload, const Endpoint& from) noexcept;

  // ---- per-protocol primitives used by revalidate / lookup / bootstrap ----
  enum class PingPurpose : std::uint8_t { kBond, kRevalidate };
  // Sends a Ping unless one is already outstanding for the node. Returns true when sent.
  // `unverified`: the Ping answers a Ping from an endpoint without a proof, so it is paid
  // from the amplification budget (and not sent when that is short).
  bool send_ping(const NodeRef& node, PingPurpose purpose, bool unverified = false) noexcept;
  // Asks `node` for the nodes closest to target_key's id for lookup `lookup_slot`. When the
  // peer may not consider us bonded yet, pings first and sends the FindNode once the peer
  // has had the chance to ping back (as geth's ensureBond).
  void send_findnode(const NodeRef& node, const crypto::PublicKey& target_key,
                     std::uint32_t lookup_slot) noexcept;
  void request_enr(const NodeRef& node) noexcept;

  // Timeouts and deferred FindNodes. Cheap when nothing is due.
  void run_deadlines() noexcept;
  void prune() noexcept;
  // Forget queries of a lookup that ended.
  void cancel_lookup(std::uint32_t lookup_slot) noexcept;

  bool bonded(const NodeId& id, const IpAddress& ip) const noexcept;
  std::size_t pending_pings() const noexcept { return pings_.size(); }
  std::size_t pending_findnodes() const noexcept { return findnodes_.size(); }
  std::size_t amp_tracked_ips() const noexcept { return amp_.tracked_ips(); }

 private:
  struct PendingPing {
    Hash256 hash{};
    Endpoint to;
    crypto::PublicKey key{};
    std::int64_t sent_ns = 0;
    PingPurpose purpose = PingPurpose::kBond;
  };
  struct Bond {
    IpAddress ip;
    std::int64_t pong_received_ns = 0;  // they answered our ping: they are verified for us
    std::int64_t ping_received_ns = 0;  // they pinged us and we answered: we are for them
    bool want_enr = false;              // request their record once they consider us bonded
    // Expirations of our last Ping and ENRRequest to them: a second one within the same
    // second would be byte-identical (deterministic signatures), and a peer's replay filter
    // (ours has one) drops it, so each goes out at least one second later than the last.
    std::uint64_t last_ping_expiration = 0;
    std::uint64_t last_enr_expiration = 0;
  };
  // A fresh expiration for a request to the node that `last` (the bond's field, if any)
  // remembers.
  std::uint64_t unique_expiration(std::uint64_t* last) const noexcept;
  enum class FindPhase : std::uint8_t { kAwaitingBond, kSent };
  struct PendingFindNode {
    NodeRef node;
    crypto::PublicKey target_key{};
    std::uint32_t lookup_slot = 0;
    FindPhase phase = FindPhase::kSent;
    std::int64_t deadline_ns = 0;  // send (kAwaitingBond) or give up (kSent)
    std::uint32_t received = 0;
  };
  struct PendingEnr {
    Hash256 hash{};
    std::int64_t sent_ns = 0;
  };
  struct CachedFindNode {
    // Reused only by the lookup that signed it: each lookup asks a peer once, but a second
    // lookup for the same target would send the very same bytes again, which the peer's
    // replay filter drops (signatures are deterministic).
    std::uint32_t lookup_slot = UINT32_MAX;
    crypto::PublicKey target{};
    std::uint64_t expiration = 0;
    std::size_t size = 0;
    std::array<std::uint8_t, 256> bytes{};
  };

  // PING/v4 .. ENRRESPONSE/v4: verify_x checks expiry, bond, solicitation; handle_x acts.
  void handle_ping(const v4wire::Packet& p, const v4wire::Ping& m, const Endpoint& from) noexcept;
  void handle_pong(const v4wire::Packet& p, const v4wire::Pong& m, const Endpoint& from) noexcept;
  void handle_findnode(const v4wire::Packet& p, const v4wire::FindNode& m,
                       const Endpoint& from) noexcept;
  void handle_neighbors(const v4wire::Packet& p, const v4wire::Neighbors& m,
                        const Endpoint& from) noexcept;
  void handle_enrrequest(const v4wire::Packet& p, const v4wire::ENRRequest& m,
                         const Endpoint& from) noexcept;
  void handle_enrresponse(const v4wire::Packet& p, const v4wire::ENRResponse& m,
                          const Endpoint& from) noexcept;
  bool expired(std::uint64_t expiration) noexcept;
  bool verify_request(const v4wire::Packet& p, std::uint64_t expiration,
                      const Endpoint& from) noexcept;
  bool we_are_bonded_for(const NodeId& id, const IpAddress& ip) const noexcept;
  void transmit_findnode(PendingFindNode& f) noexcept;
  void finish_findnode(const NodeId& id, bool timed_out) noexcept;
  std::uint64_t expiration() const noexcept;
  v4wire::RpcEndpoint local_rpc_endpoint(IpAddress::Family family) const noexcept;
  void count_tx(v4wire::PacketType t, std::size_t size, const Endpoint& to) noexcept;

  Engine& engine_;
  FixedLruMap<NodeId, PendingPing, NodeIdHash> pings_;
  FixedLruMap<NodeId, Bond, NodeIdHash> bonds_;
  FixedLruMap<NodeId, PendingFindNode, NodeIdHash> findnodes_;
  FixedLruMap<NodeId, PendingEnr, NodeIdHash> enr_requests_;
  // Hashes of packets handled recently: an exact replay (same bytes, so same signature and
  // expiration) is dropped instead of answered again.
  FixedLruMap<Hash256, std::int64_t, NodeIdHash> seen_;
  // Pings whose timeout passed, kept a little longer so that a late Pong still bonds and
  // marks the node alive instead of being dropped as unsolicited.
  FixedLruMap<NodeId, PendingPing, NodeIdHash> late_pings_;
  CachedFindNode cached_findnode_;
  AmpBudget amp_;
  RequestLimiter requests_;  // FindNode / ENRRequest from bonded peers
  std::array<v4wire::NeighborNode, 16> neighbor_scratch_{};
  std::array<PeerInfo, 16> found_scratch_{};
};

}  // namespace discplane::disc
