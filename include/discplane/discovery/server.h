// DiscoveryServer: discv4 and discv5 as ONE state machine around ONE PeerTable.
//
// One entry point, handle(InMessage), dispatches by variant: a discv4 packet, a discv5
// packet, Revalidate{protocol}, Lookup{protocol}, Prune, Shutdown, plus the control
// plane's seeds and TALKREQ handlers, and operator probes (Ping, Resolve, TalkRequest). Shared
// state lives here once (port, signer, local record, bootnodes, table, IP votes); Discv4State and
// Discv5State hold only what is particular to their protocol. revalidate(), lookup() and prune()
// are written once, with the protocol as a parameter; the protocol states supply the per-protocol
// primitives (send a ping, send a find-node query) and report back through the Engine interface.
//
// No DPDK, no sockets, no clock reads, no RNG calls of its own: a backend hands in
// datagrams (DatagramSink) and takes encoded replies (Transport); time and randomness are
// injected. Owned by one thread (the dataplane core); not thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "discplane/common/bytes.h"
#include "discplane/common/endpoint.h"
#include "discplane/crypto/random.h"
#include "discplane/crypto/secp256k1.h"
#include "discplane/discovery/counters.h"
#include "discplane/discovery/events.h"
#include "discplane/discovery/io.h"
#include "discplane/discovery/ip_votes.h"
#include "discplane/discovery/lookup.h"
#include "discplane/discovery/net_policy.h"
#include "discplane/discovery/peer_table.h"
#include "discplane/discovery/table_sync.h"
#include "discplane/wire/enr.h"

namespace discplane::disc {

inline constexpr std::int64_t kMillisecond = 1'000'000;
inline constexpr std::int64_t kSecond = 1'000'000'000;

// EIP-2124 fork-id filter for the table: records whose `eth` entry names a fork not listed
// here are kept out of the PeerTable (counted in Counters::fork_filtered). Checked where a
// record enters the table (handshake, NODES answer, ENR response); nodes whose record we do
// not know yet (discv4 Neighbors) enter unchecked and are removed when their record arrives.
// Operator seeds (bootnodes, node DB) are exempt. Lookups still route through filtered nodes:
// the DHT is shared by all chains, only our table (and so our FINDNODE answers) is filtered.
struct ForkFilter {
  static constexpr std::size_t kMaxForks = 16;
  // Accepted fork ids: the hash must match; a non-zero `next` must also match the record's
  // announced next fork unless the record announces none (0).
  std::array<enr::ForkId, kMaxForks> accepted{};
  std::uint8_t count = 0;    // 0: the filter is off
  bool require_eth = false;  // also refuse records that have no (well-formed) `eth` entry

  bool enabled() const noexcept { return count != 0; }
  bool allows(const enr::Record& record) const noexcept {
    if (count == 0) {
      return true;
    }
    const std::optional<enr::ForkId> eth = record.eth();
    if (!eth) {
      return !require_eth;
    }
    for (std::size_t i = 0; i < count; ++i) {
      const enr::ForkId& f = accepted[i];
      if (f.hash == eth->hash && (f.next == 0 || eth->next == 0 || f.next == eth->next)) {
        return true;
      }
    }
    return false;
  }
};

// Request rate limits (see ServerConfig::v4_request_limits); the YAML keys
// discv4/discv5.request_rate_per_ip and request_rate_per_node set the rates, bursts are twice
// the rates.
struct RequestLimits {
  std::uint32_t per_ip_rate = 0;  // per second; 0 = no per-IP limit
  std::uint32_t per_ip_burst = 0;
  std::uint32_t per_node_rate = 0;  // per second; 0 = no per-node limit
  std::uint32_t per_node_burst = 0;
  std::uint32_t max_keys = 1;  // IPs and node ids tracked (LRU), each
};
inline constexpr RequestLimits kDefaultRequestLimits{.per_ip_rate = 100,
                                                     .per_ip_burst = 200,
                                                     .per_node_rate = 10,
                                                     .per_node_burst = 20,
                                                     .max_keys = 16384};

// WHOAREYOU bursts from the configured rates (discv5.whoareyou_rate_per_ip / _global): two
// seconds' worth per IP, a tenth of a second's in total (at least one).
inline constexpr std::uint32_t whoareyou_per_ip_burst_of(std::uint32_t rate) {
  return rate * 2;
}
inline constexpr std::uint32_t whoareyou_global_burst_of(std::uint32_t rate) {
  return rate / 10 > 1 ? rate / 10 : 1;
}

// The engine's settings. The defaults are the product's (conf/discplane.yaml, control/config.h):
// the appliance builds this from its Config in one place (control::engine_config_of), and a
// unit test fails when a default here drifts from engine_config_of(Config{}).
struct ServerConfig {
  crypto::PrivateKey private_key{};
  std::uint16_t udp_port = 30303;  // the port we listen on (put in our ENR and discv4 Pings)
  std::uint16_t udp6_port = 0;     // the IPv6 socket's port when it differs (`udp6`; 0: udp_port)
  std::uint16_t tcp_port = 0;      // advertised TCP port (0: none)
  std::uint16_t tcp6_port = 0;     // advertised TCP port for IPv6 (`tcp6`; 0: tcp_port)
  // Addresses to advertise at start (unset: learned from IP votes). With static_ip4/6 set,
  // that family's configured address is kept and its votes are only counted.
  std::optional<IpAddress> ipv4;
  std::optional<IpAddress> ipv6;
  bool static_ip4 = false;
  bool static_ip6 = false;
  bool enable_v4 = true;
  bool enable_v5 = true;
  std::optional<enr::ForkId> eth;  // EIP-2124 fork id announced as `eth` (nullopt: none)
  std::vector<std::pair<std::string, Bytes>> extra_enr_entries;  // e.g. "eth" (raw RLP values)

  PeerTableConfig table;
  IpVotesConfig votes;

  // discv4
  std::int64_t bond_lifetime_ns = 12 * 3600 * kSecond;  // endpoint proof validity (12 h)
  std::int64_t v4_request_timeout_ns = 500 * kMillisecond;
  std::int64_t v4_expiration_s = 20;    // expiration we stamp on our packets
  std::uint32_t v4_max_pending = 4096;  // outstanding pings/findnodes/enr requests
  std::uint32_t v4_max_bonds = 65536;   // endpoint proofs remembered (also off-table)
  // Anti-amplification (docs/security.md): bytes sent to an endpoint without an endpoint
  // proof (Pong and bond Ping for a Ping) are paid from credit earned by discv4 bytes
  // received, per source IP and in total, each starting at (and capped by) its burst.
  std::uint32_t v4_amp_per_ip_burst = 2048;
  std::uint32_t v4_amp_global_burst = 65536;
  std::uint32_t v4_amp_ips = 65536;  // IPs tracked (LRU)
  // Requests whose answer is larger than they are, from bonded peers: FindNode and
  // ENRRequest. Token buckets per source IP and per node id (per second, burst; rate 0 = no
  // limit), each over an LRU of `max_keys` keys. Honest lookups (one FindNode per peer per
  // lookup, a lookup every few seconds) stay far below them.
  RequestLimits v4_request_limits = kDefaultRequestLimits;

  // discv5
  std::uint32_t max_sessions = 1024;
  std::int64_t session_idle_timeout_ns = 10 * 60 * kSecond;
  std::int64_t v5_request_timeout_ns = 1 * kSecond;
  std::int64_t handshake_timeout_ns = 1 * kSecond;
  std::uint32_t v5_max_pending = 4096;  // outstanding requests (by request id)
  std::uint32_t max_challenges = 4096;  // WHOAREYOU challenges awaiting a handshake
  // WHOAREYOU limits: a token bucket per source IP and one for all (packets per second and
  // burst). An undecryptable packet over the limit is dropped and counted.
  std::uint32_t whoareyou_per_ip_rate = 5;
  std::uint32_t whoareyou_per_ip_burst = whoareyou_per_ip_burst_of(5);
  std::uint32_t whoareyou_global_rate = 2000;
  std::uint32_t whoareyou_global_burst = whoareyou_global_burst_of(2000);
  std::uint32_t whoareyou_rate_limit_ips = 65536;  // IPs tracked by the per-IP limiter
  std::uint32_t max_nodes_responses = 5;           // NODES messages accepted per request
  // The same limits for FINDNODE and TALKREQ on established sessions.
  RequestLimits v5_request_limits = kDefaultRequestLimits;

  // Lookups
  std::uint32_t max_lookups = 16;  // concurrent lookups (both protocols)
  // Nodes remembered outside the table (public key and endpoint of recent senders, seeds and
  // lookup results), LRU. Not a YAML key: the fuzz harness shrinks it.
  std::uint32_t recent_nodes = 4096;
  // Verified peer records kept by content hash, LRU (a record seen again costs no signature
  // check). Storage is reserved, touched as it fills (~420 B a record). Not a YAML key: crawl
  // mode raises it (control::engine_config_of).
  std::uint32_t record_cache = 4096;
  std::uint32_t lookup_alpha = 3;
  std::uint32_t lookup_k = 16;
  std::uint32_t findnode_results = 16;  // nodes in an answer (discv4 and discv5)

  // Prune
  std::int64_t stale_entry_age_ns = 24 * 3600 * kSecond;

  ForkFilter fork_filter;  // off by default
  // Report every node the engine hears from or of to EngineObserver::on_node_event (crawl
  // mode). Off: the engine makes no such call.
  bool report_node_events = false;
  // Sharded runtime (dataplane.workers > 1): a non-owner shard reports every table mutation
  // here (and keeps applying it to its own mirror table). nullptr: single owner, no reports.
  TableObserver* table_observer = nullptr;
  // On the table owner: where revalidation pings and lookup queries for other shards'
  // endpoints go (nullptr: everything leaves from here).
  ShardRouter* shard_router = nullptr;
  // Ban/allow lists (null: everyone admitted); replaced at run time by msg::SetNetPolicy.
  std::shared_ptr<const NetPolicy> policy;
  // The packet log's sink (null: no events). Not owned; must outlive the engine.
  EventSink* events = nullptr;
};

// A node handed in by the control plane (bootnode, node database, DNS list): an ENR, or an
// enode URL's public key and endpoint.
struct NodeSeed {
  crypto::PublicKey public_key{};
  std::optional<Endpoint> endpoint4;
  std::optional<Endpoint> endpoint6;
  std::optional<enr::Record> record;
  std::uint8_t protocols = 0;  // kFlagV4 | kFlagV5: which protocols to contact it with
};

// A TALKREQ handler: gets (protocol, request, sender id, sender endpoint) and writes its
// answer into `response`, returning its length (0: empty TALKRESP).
using TalkHandler = std::function<std::size_t(ByteView request, const NodeId& from_id,
                                              const Endpoint& from, MutableByteView response)>;

// Results of a finished lookup, reported to the observer.
struct FoundNode {
  NodeId id{};
  Endpoint endpoint;
};

// A node the engine heard from or of (ServerConfig::report_node_events). kResponded: a verified
// contact (a signed discv4 packet after the bond, a discv5 answer or handshake). kLearned: named
// in a NODES/Neighbors answer or its record fetched (not a contact of its own). `record` is
// set when the event carries a verified record (valid only during the call).
struct NodeEvent {
  enum class Kind : std::uint8_t { kResponded, kLearned };
  Kind kind = Kind::kLearned;
  Protocol protocol = Protocol::kV4;
  NodeId id{};
  crypto::PublicKey public_key{};
  Endpoint endpoint;
  const enr::Record* record = nullptr;
};

// The answer to an operator's probe of one node (msg::Ping, msg::Resolve, msg::TalkRequest),
// reported once per probe through EngineObserver::on_probe_done. Views are valid only during
// the call.
enum class ProbeKind : std::uint8_t { kPing, kResolve, kTalk };
enum class ProbeOutcome : std::uint8_t {
  kAnswered,  // PONG / the node's record / TALKRESP
  kTimeout,   // no answer within the probe's timeout (or the protocol gave up first)
  kRefused,   // not sent: protocol disabled, bad endpoint, our own id, or the net policy
  kBusy,      // not sent: msg::kMaxProbes probes already in flight
};
const char* name(ProbeOutcome o);

struct ProbeResult {
  ProbeKind kind = ProbeKind::kPing;
  ProbeOutcome outcome = ProbeOutcome::kTimeout;
  Protocol protocol = Protocol::kV5;
  NodeId id{};
  std::int64_t elapsed_ns = 0;  // from the message to the answer (a first v5 contact includes
                                // the handshake; a v4 resolve includes the bond)
  Endpoint from;                // where the answer came from
  Endpoint reported;            // kPing: our endpoint as the PONG reports it
  std::optional<std::uint64_t> enr_seq;  // kPing: the seq the PONG announces
  const enr::Record* record = nullptr;   // kResolve: the node's record (verified)
  ByteView talk_response{};              // kTalk: the TALKRESP payload
};

// Callbacks for the layer above (the control plane's core-side adapter). Called on the
// dataplane thread, synchronously; implementations must be quick and must not block.
class EngineObserver {
 public:
  virtual ~EngineObserver() = default;
  virtual void on_lookup_done(std::uint64_t tag, Protocol protocol, const NodeId& target,
                              std::span<const FoundNode> found) noexcept = 0;
  virtual void on_local_record_changed(const enr::Record& record) noexcept = 0;
  // Only with ServerConfig::report_node_events. Default: ignored.
  virtual void on_node_event(const NodeEvent& /*event*/) noexcept {}
  // Each msg::Ping / msg::Resolve / msg::TalkRequest is answered here once, with its tag.
  // Default: ignored.
  virtual void on_probe_done(std::uint64_t /*tag*/, const ProbeResult& /*result*/) noexcept {}
};

// ---- The one input type ---------------------------------------------------------------------
namespace msg {
struct Discv4Packet {
  ByteView payload;
  Endpoint from;
};
struct Discv5Packet {
  ByteView payload;
  Endpoint from;
  // Optional: the header's first bytes already unmasked (Engine::on_burst does a whole burst
  // at once); empty: the protocol unmasks them itself.
  ByteView header_prefix{};
};
struct Revalidate {
  Protocol protocol;
};
struct Lookup {
  Protocol protocol;
  std::optional<NodeId> target;  // unset: a random target
  std::uint64_t tag = 0;         // echoed to EngineObserver::on_lookup_done
};
// Operator probes of one node (discctl ping / resolve / talk, POST /v1/ping|resolve|talk),
// answered through EngineObserver::on_probe_done with `tag`. At most kMaxProbes in flight.
struct ProbeTarget {
  crypto::PublicKey public_key{};
  Endpoint endpoint;
};
inline constexpr std::size_t kMaxProbes = 16;
inline constexpr std::int64_t kDefaultProbeTimeoutNs = 5 * kSecond;
// PING (discv4 Ping / discv5 PING, handshaking first when needed); answered with the PONG.
struct Ping {
  Protocol protocol = Protocol::kV5;
  ProbeTarget target;
  std::uint64_t tag = 0;
  std::int64_t timeout_ns = kDefaultProbeTimeoutNs;
};
// The node's current record: discv4 ENRRequest (after the bond it needs), discv5 FINDNODE [0].
struct Resolve {
  Protocol protocol = Protocol::kV5;
  ProbeTarget target;
  std::uint64_t tag = 0;
  std::int64_t timeout_ns = kDefaultProbeTimeoutNs;
};
// A discv5 TALKREQ; answered with the TALKRESP's payload.
struct TalkRequest {
  ProbeTarget target;
  std::string protocol;
  Bytes request;
  std::uint64_t tag = 0;
  std::int64_t timeout_ns = kDefaultProbeTimeoutNs;
};
struct Prune {};
struct Shutdown {};
struct AddSeed {
  NodeSeed seed;
};
struct RegisterTalkProtocol {
  std::string protocol;
  TalkHandler handler;
};
// Swaps in a new ban/allow policy (null: admit everyone) and evicts table entries it refuses.
// Freeing: the core never drops the last reference. The sender keeps its own reference to
// every policy it sent and frees an old one on its own thread once use_count() shows that the
// core (and the ring) let go of it; the core's part is one atomic decrement.
struct SetNetPolicy {
  std::shared_ptr<const NetPolicy> policy;
};
}  // namespace msg

using InMessage = std::variant<msg::Discv4Packet, msg::Discv5Packet, msg::Revalidate, msg::Lookup,
                               msg::Prune, msg::Shutdown, msg::AddSeed, msg::RegisterTalkProtocol,
                               msg::SetNetPolicy, msg::Ping, msg::Resolve, msg::TalkRequest>;
const char* name(const InMessage& m);

// What the protocol states call back into: the shared half of the engine.
class Engine;
class Discv4State;
class Discv5State;

class DiscoveryServer final : public DatagramSink {
 public:
  DiscoveryServer(ServerConfig config, const Clock& clock, crypto::RandomSource& rng,
                  EngineObserver* observer = nullptr);
  ~DiscoveryServer() override;
  DiscoveryServer(const DiscoveryServer&) = delete;
  DiscoveryServer& operator=(const DiscoveryServer&) = delete;

  // The one entry point. Packets' payload views must stay valid for the call.
  void handle(const InMessage& message, Transport& tx) noexcept;

  // DatagramSink: classifies each datagram (discv4 or discv5) and handles it; then runs due
  // deadlines (request timeouts, lookup steps).
  void on_burst(std::span<const Datagram> burst, Transport& tx) noexcept override;
  void on_idle(Transport& tx) noexcept override;

  // Which protocol a datagram belongs to, by cheap checks first: discv4 when it is at least
  // 98 bytes and starts with keccak256 of the rest. The keccak runs only when the discv4
  // shape checks pass (signature v byte, type byte, RLP list prefix), so discv5 traffic and
  // garbage never pay for it.
  enum class Kind : std::uint8_t { kDiscv4, kDiscv5 };
  static Kind classify(ByteView payload) noexcept;

  // Sharded runtime. On the table owner: applies a mutation another shard reported. On a
  // non-owner: replaces the mirror table by a copy of the owner's (same id and table config).
  void apply_table_update(const TableUpdate& update) noexcept;
  void mirror_table(const PeerTable& owner) noexcept;
  // On the shard that owns `endpoint`: a liveness check the owner delegated (a revalidation
  // ping); its outcome reaches the owner as kAlive / kFailed.
  void ping_for_owner(Protocol protocol, const NodeId& id, const crypto::PublicKey& public_key,
                      const Endpoint& endpoint, Transport& tx) noexcept;
  // Likewise for a lookup query (the answer goes back as a LookupReply through the observer),
  // and, on the owner, the reply's way into the lookup.
  void findnode_for_owner(Protocol protocol, const NodeId& id, const crypto::PublicKey& public_key,
                          const Endpoint& endpoint, const NodeId& target,
                          const crypto::PublicKey& target_key, std::uint32_t slot,
                          Transport& tx) noexcept;
  void apply_lookup_reply(const LookupReply& reply, Transport& tx) noexcept;
  // On a non-owner shard: takes the owner's local record as it is (same seq and signature;
  // its ip/ip6 become ours). Refused (false) unless it is ours and newer than the current one.
  bool adopt_local_record(ByteView raw) noexcept;

  // Read-only views for snapshots and tests.
  const PeerTable& table() const noexcept;
  const Counters& counters() const noexcept;
  const enr::Record& local_record() const noexcept;
  const NodeId& local_id() const noexcept;
  const crypto::PublicKey& local_public_key() const noexcept;
  const IpVotes& ip_votes() const noexcept;
  std::size_t session_count() const noexcept;
  std::size_t bytes_per_session() const noexcept;  // reserved per slot, resident once used
  std::size_t pending_challenges() const noexcept;
  std::size_t active_lookups() const noexcept;
  bool shut_down() const noexcept;
  // Human description of how the external address was learned ("config", "votes", "none").
  const char* external_address_source() const noexcept;
  // The policy in force (null: none).
  const NetPolicy* net_policy() const noexcept;

 private:
  std::unique_ptr<Engine> engine_;
};

}  // namespace discplane::disc
