// Engine: the shared half of DiscoveryServer (private header). It owns what both protocols
// use once: the signer, the local record, the table, IP votes, lookups, counters, the
// clock reading of the current burst, and the TX path. revalidate(), lookup() and prune()
// live here, written once with the protocol as a parameter; Discv4State and Discv5State
// implement the per-protocol primitives and report back through the on_* methods.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "discplane/crypto/aes.h"
#include "discplane/discovery/counters.h"
#include "discplane/discovery/ip_votes.h"
#include "discplane/discovery/lookup.h"
#include "discplane/discovery/lru_map.h"
#include "discplane/discovery/node_id.h"
#include "discplane/discovery/peer_table.h"
#include "discplane/discovery/server.h"
#include "discplane/wire/enr.h"
#include "discplane/wire/v5wire.h"

#include "record_cache.h"

namespace discplane::disc {

// Who to talk to: enough to address a node in either protocol.
struct NodeRef {
  NodeId id{};
  crypto::PublicKey public_key{};
  Endpoint endpoint;
  static NodeRef of(const PeerEntry& e) { return {e.id, e.public_key, e.primary_endpoint()}; }
};

// Our own identity and record, shared by both protocols.
struct LocalNode {
  crypto::PrivateKey private_key{};
  crypto::PublicKey public_key{};
  NodeId id{};
  enr::Record record;
  std::optional<IpAddress> ipv4;
  std::optional<IpAddress> ipv6;
  std::uint16_t udp_port = 0;
  std::uint16_t udp6_port = 0;  // ServerConfig::udp6_port, else udp_port
  std::uint16_t tcp_port = 0;
  std::uint16_t tcp6_port = 0;  // ServerConfig::tcp6_port, else tcp_port
  const char* address_source = "none";
};

// One lookup in flight. `tag` comes from msg::Lookup; `slot` indexes Engine::lookups_.
struct ActiveLookup {
  bool active = false;
  Protocol protocol = Protocol::kV4;
  std::uint64_t tag = 0;
  std::int64_t started_ns = 0;
  NodeId target{};
  crypto::PublicKey target_key{};  // discv4 FindNode carries a 64-byte key, not an id
  std::optional<Lookup> state;
  bool stepping = false;  // guards re-entry: a send may report a failure synchronously
};

// One operator probe in flight (msg::Ping / Resolve / TalkRequest); `slot` indexes
// Engine::probes_. Answered once, by the protocol's answer or by deadline_ns.
struct ActiveProbe {
  bool active = false;
  ProbeKind kind = ProbeKind::kPing;
  Protocol protocol = Protocol::kV5;
  std::uint64_t tag = 0;
  NodeRef node;
  std::int64_t started_ns = 0;
  std::int64_t deadline_ns = 0;
  std::uint64_t talk_req_id = 0;  // kTalk: the TALKREQ's request id
};

class Discv4State;
class Discv5State;

class Engine {
 public:
  Engine(ServerConfig config, const Clock& clock, crypto::RandomSource& rng,
         EngineObserver* observer);
  ~Engine();

  void handle(const InMessage& message, Transport& tx) noexcept;
  void on_burst(std::span<const Datagram> burst, Transport& tx) noexcept;
  void on_idle(Transport& tx) noexcept;

  // ---- shared services for the protocol states ----
  const ServerConfig& config() const { return config_; }
  const Time& now() const { return now_; }
  crypto::RandomSource& rng() { return rng_; }
  Counters& counters() { return counters_; }
  // A peer's record, verified: from the cache of verified records when these bytes were seen
  // before (record_cache.h), else decoded and verified now. Counts hits and misses.
  [[nodiscard]] Result<enr::Record, enr::EnrError> verified_record(ByteView raw) noexcept;
  const Counters& counters() const { return counters_; }
  PeerTable& table() { return table_; }
  const PeerTable& table() const { return table_; }
  const LocalNode& local() const { return local_; }
  IpVotes& votes() { return votes_; }
  const IpVotes& votes() const { return votes_; }
  bool shut_down() const { return shut_down_; }
  Discv5State& v5() { return *v5_; }
  const Discv5State& v5() const { return *v5_; }
  Discv4State& v4() { return *v4_; }

  // TX: a buffer to encode into (empty when the backend is full: counted), then commit.
  MutableByteView tx_buffer() noexcept;
  void tx_commit(std::size_t size, const Endpoint& to) noexcept;

  // ---- events from the protocol states ----
  // A node proved itself (signed packet for v4 after bond, session for v5): into the table.
  void on_node_seen(Protocol p, const NodeRef& node, const enr::Record* record) noexcept;
  // A liveness check (our ping) passed; `reported` is our endpoint as the peer saw it.
  void on_pong(Protocol p, const NodeId& id, const Endpoint& from, const Endpoint& reported,
               std::optional<std::uint64_t> enr_seq) noexcept;
  void on_ping_failed(Protocol p, const NodeId& id) noexcept;
  // A find-node query answered (part of) a lookup: nodes are offered to the table and the
  // lookup. `final` is set when the answer is complete. `records`, when not empty, holds the
  // decoded record of each node (same index; discv5), for the fork filter and node events.
  void on_nodes(Protocol p, std::uint32_t lookup_slot, const NodeId& from,
                std::span<const PeerInfo> nodes, bool final,
                std::span<const enr::Record> records = {}) noexcept;
  void on_query_failed(Protocol p, std::uint32_t lookup_slot, const NodeId& peer) noexcept;
  // A newer record of a peer arrived (already verified and matching the peer's id).
  void on_record(Protocol p, const enr::Record& record) noexcept;
  // A TALKRESP answered our TALKREQ `req_id` (discv5).
  void on_talk_response(std::uint64_t req_id, const NodeId& from_id, const Endpoint& from,
                        ByteView response) noexcept;

  // ---- sharded runtime (table_sync.h) ----
  void apply_table_update(const TableUpdate& u) noexcept;
  void mirror_table(const PeerTable& owner) noexcept { (void)table_.copy_from(owner); }
  void ping_for_owner(Protocol p, const NodeRef& node, Transport& tx) noexcept;
  void findnode_for_owner(Protocol p, const NodeRef& node, const NodeId& target,
                          const crypto::PublicKey& target_key, std::uint32_t slot,
                          Transport& tx) noexcept;
  void apply_lookup_reply(const LookupReply& r, Transport& tx) noexcept;
  bool adopt_local_record(ByteView raw) noexcept;

  // ---- written once, protocol as a parameter ----
  void revalidate(Protocol p) noexcept;
  void lookup(Protocol p, const std::optional<NodeId>& target, std::uint64_t tag) noexcept;
  void prune() noexcept;

  // ---- NetPolicy and the packet log ----
  // Whether the node may enter the table or be contacted (ban list, allow list).
  bool admits(const NodeId& id, const IpAddress& ip) const noexcept {
    return policy_ == nullptr || policy_->admits(id, ip);
  }
  // A node with both its endpoints (either may be unset): refused when the id or any set
  // endpoint is refused, so a dual-stack node cannot be reached through its other address.
  bool admits(const NodeId& id, const Endpoint& e4, const Endpoint& e6) const noexcept {
    if (policy_ == nullptr) {
      return true;
    }
    if (!e4.valid() && !e6.valid()) {
      return policy_->admits(id, IpAddress{});
    }
    return policy_->check_id(id) == Verdict::kAllowed &&
           (!e4.valid() || policy_->check_ip(e4.ip) == Verdict::kAllowed) &&
           (!e6.valid() || policy_->check_ip(e6.ip) == Verdict::kAllowed);
  }
  bool admits(const PeerEntry& e) const noexcept { return admits(e.id, e.endpoint4, e.endpoint6); }
  // Packets from a banned node id are dropped as soon as the id is known (counted here).
  bool admits_sender(const NodeId& id) noexcept {
    if (policy_ != nullptr && policy_->check_id(id) != Verdict::kAllowed) {
      counters_.drop(Drop::kPolicyBanned);
      return false;
    }
    return true;
  }
  const NetPolicy* policy() const noexcept { return policy_.get(); }
  // The level check comes first (one relaxed load); nothing is built when it fails.
  bool wants(EventLevel level) const noexcept {
    return events_ != nullptr && events_->wants(level);
  }
  void emit(EventKind kind, EventLevel level, std::uint8_t protocol, const Endpoint& endpoint,
            const NodeId* id = nullptr, std::uint32_t value = 0) noexcept;

  TalkHandler* talk_handler(ByteView protocol) noexcept;
  // A node's key and endpoint from the table or the recent-answers cache.
  std::optional<NodeRef> resolve(const NodeId& id) const noexcept;
  std::size_t active_lookups() const noexcept;

 private:
  void refresh_time() noexcept { now_ = clock_.now(); }
  void report(const TableUpdate& u) noexcept {
    if (config_.table_observer != nullptr) {
      config_.table_observer->on_table_update(u, now_.mono_ns);
    }
  }
  // `v5_prefix`: the datagram's discv5 header prefix, unmasked with the rest of its burst.
  void dispatch_datagram(const Datagram& d, ByteView v5_prefix) noexcept;
  // Classifies and handles one datagram; returns the protocol it went to (4, 5; 0: dropped
  // before classification).
  std::uint8_t process_datagram(const Datagram& d, ByteView v5_prefix) noexcept;
  void set_policy(const std::shared_ptr<const NetPolicy>& policy) noexcept;
  void add_seed(const NodeSeed& seed) noexcept;
  // Operator probes: started from the inbox, answered by the hooks in on_pong / on_record /
  // on_talk_response (only when probes_active_ > 0: the common path pays one compare), or
  // by run_deadlines.
  void start_probe(ProbeKind kind, Protocol p, const msg::ProbeTarget& target, std::uint64_t tag,
                   std::int64_t timeout_ns, const msg::TalkRequest* talk) noexcept;
  void finish_probe(ActiveProbe& probe, ProbeResult& result) noexcept;
  void expire_probes() noexcept;
  void step_lookup(std::uint32_t slot) noexcept;
  void finish_lookup(std::uint32_t slot) noexcept;
  void run_deadlines() noexcept;
  void apply_votes() noexcept;
  void set_local_endpoints(enr::Builder& b) const;
  void rebuild_local_record() noexcept;
  // Node events for the observer (crawl mode): only with config_.report_node_events.
  void report(NodeEvent::Kind kind, Protocol p, const NodeId& id, const crypto::PublicKey& key,
              const Endpoint& endpoint, const enr::Record* record) noexcept {
    if (config_.report_node_events && observer_ != nullptr) {
      observer_->on_node_event(NodeEvent{kind, p, id, key, endpoint, record});
      if (record != nullptr) {
        const std::uint64_t* seen = records_reported_.peek(id);
        if (seen == nullptr || *seen < record->seq()) {
          (void)records_reported_.insert(id, record->seq());
        }
      }
    }
  }
  // Crawl mode: whether a node that announced `seq` (PONG) has a record newer than any we
  // reported for it, so its own latest record is fetched from it (ENRRequest / FINDNODE 0).
  bool record_unreported(const NodeId& id, std::uint64_t seq) const noexcept {
    if (!config_.report_node_events) {
      return false;
    }
    const std::uint64_t* seen = records_reported_.peek(id);
    return seen == nullptr || *seen < seq;
  }
  // The fork filter's verdict on a record; a refusal is counted and remembered (by seq), so
  // that a refused node that keeps contacting us without a record stays out of the table.
  bool fork_allowed(const enr::Record& record) noexcept;
  bool fork_refused(const NodeId& id) const noexcept {
    return config_.fork_filter.enabled() && fork_refused_.peek(id) != nullptr;
  }
  bool enabled(Protocol p) const {
    return p == Protocol::kV4 ? config_.enable_v4 : config_.enable_v5;
  }

  ServerConfig config_;
  const Clock& clock_;
  crypto::RandomSource& rng_;
  EngineObserver* observer_;
  Time now_{};
  Transport* tx_ = nullptr;
  bool shut_down_ = false;

  LocalNode local_;
  PeerTable table_;
  IpVotes votes_;
  Counters counters_;
  std::vector<std::pair<std::string, TalkHandler>> talk_handlers_;
  std::vector<ActiveLookup> lookups_;
  // Few (msg::kMaxProbes) and rare: matched by a scan of this array, skipped when none is active.
  std::array<ActiveProbe, msg::kMaxProbes> probes_{};
  std::uint32_t probes_active_ = 0;
  std::vector<NodeSeed> bootnodes_;  // kept to re-seed lookups when the table runs dry
  // Nodes recently learned from answers, so a lookup can reach (and discv5 can handshake
  // with) nodes the table refused: their key and endpoint.
  struct RecentNode {
    crypto::PublicKey public_key{};
    Endpoint endpoint;
  };
  FixedLruMap<NodeId, RecentNode, NodeIdHash> recent_;
  RecordCache records_;
  // Ids whose record the fork filter refused, with the refused record's seq.
  FixedLruMap<NodeId, std::uint64_t, NodeIdHash> fork_refused_;
  // Crawl mode: the highest record seq reported per node (see record_unreported).
  FixedLruMap<NodeId, std::uint64_t, NodeIdHash> records_reported_;

  std::shared_ptr<const NetPolicy> policy_;  // null: admit everyone
  EventSink* events_ = nullptr;

  std::unique_ptr<Discv4State> v4_;
  std::unique_ptr<Discv5State> v5_;
  std::int64_t next_deadline_check_ns_ = 0;
  // Burst-wide header unmasking (on_burst): one AES-CTR burst per 32 datagrams.
  static constexpr std::size_t kUnmaskChunk = 32;
  std::array<ByteView, kUnmaskChunk> unmask_in_{};
  std::array<v5wire::HeaderPrefix, kUnmaskChunk> unmask_out_{};
};

}  // namespace discplane::disc
