// Engine counters: plain integers bumped by the dataplane core and copied into the
// snapshots the control plane publishes (metrics, API). Every drop has a reason.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace discplane::disc {

enum class Drop : std::uint8_t {
  kTooSmall,      // under the smallest packet of either protocol
  kTooLarge,      // over 1280 bytes
  kNotDiscovery,  // neither a discv4 hash nor a discv5 header
  kV4Malformed,   // decode failed after the hash matched (RLP, fields, signature)
  kV4UnknownType,
  kV4Expired,
  kV4Unsolicited,       // Pong/Neighbors/ENRResponse that matches no request of ours
  kV4Unbonded,          // FindNode/ENRRequest from a sender without an endpoint proof
  kV4BadRecord,         // ENRResponse record invalid or not signed by the sender
  kV4Replayed,          // the same packet (hash) handled recently
  kV5Malformed,         // header or message undecodable
  kV5WhoareyouLimited,  // undecryptable packet over the WHOAREYOU rate limit
  kV5UnknownWhoareyou,  // WHOAREYOU that answers no packet of ours
  kV5BadHandshake,      // no challenge, bad signature, bad record, undecryptable message
  kV5Unsolicited,       // response to no outstanding request
  kV5BadRecord,         // NODES record invalid or at a distance we did not ask for
  kDisabledProtocol,    // packet of a protocol turned off in the config
  kTxFull,              // the backend had no TX buffer
  kEncodeFailed,
  kPolicyBanned,      // source IP/CIDR or sender node id on the ban list (NetPolicy)
  kPolicyNotAllowed,  // source outside the allow list (NetPolicy, netrestrict)
  kV4AmpLimited,      // bond Ping to an unverified endpoint over the amplification budget
  kV4RequestLimited,  // FindNode/ENRRequest over the per-IP or per-node request rate
  kV5RequestLimited,  // FINDNODE/TALKREQ over the per-IP or per-node request rate
  kCount,
};
std::string_view to_string(Drop d);

// Indexed by the discv4 packet type (1..6) or the discv5 message type (1..6); index 0 of
// the discv5 arrays counts WHOAREYOU packets, index 7 handshake packets.
struct Counters {
  std::uint64_t rx_packets = 0;
  std::uint64_t rx_bytes = 0;
  std::uint64_t tx_packets = 0;
  std::uint64_t tx_bytes = 0;
  std::array<std::uint64_t, 8> rx_v4{};
  std::array<std::uint64_t, 8> tx_v4{};
  std::array<std::uint64_t, 8> rx_v5{};
  std::array<std::uint64_t, 8> tx_v5{};
  std::array<std::uint64_t, static_cast<std::size_t>(Drop::kCount)> drops{};

  std::uint64_t v4_bonds = 0;            // endpoint proofs established
  std::uint64_t v4_pings_sent_back = 0;  // pings to complete a bond with a new sender
  std::uint64_t v4_request_timeouts = 0;
  std::uint64_t v4_late_pongs = 0;  // Pongs accepted after their ping timed out
  std::uint64_t v5_whoareyou_sent = 0;
  std::uint64_t v5_whoareyou_resent = 0;      // same challenge repeated while pending
  std::uint64_t v5_handshakes_initiated = 0;  // we answered a WHOAREYOU
  std::uint64_t v5_handshakes_accepted = 0;   // we verified a peer's handshake
  std::uint64_t v5_sessions_evicted = 0;      // LRU evictions (capacity)
  std::uint64_t v5_sessions_expired = 0;      // idle timeout
  std::uint64_t v5_request_timeouts = 0;
  std::uint64_t v5_request_retries = 0;
  std::uint64_t v5_talk_requests = 0;
  std::uint64_t enr_updates_learned = 0;  // newer peer records stored
  // Peer records (NODES, ENRResponse, handshakes) found in the cache of verified records /
  // decoded and verified because they were not.
  std::uint64_t record_cache_hits = 0;
  std::uint64_t record_cache_misses = 0;
  std::uint64_t local_record_updates = 0;  // our own ENR re-signed
  // Records kept out of (or removed from) the table by ServerConfig::fork_filter.
  std::uint64_t fork_filtered = 0;
  std::uint64_t lookups_started = 0;
  std::uint64_t lookups_done = 0;
  // Lookup durations: bucket i counts lookups that took < kLookupBucketsMs[i] ms (last: +Inf).
  static constexpr std::array<std::uint32_t, 8> kLookupBucketsMs{50,   100,  250,   500,
                                                                 1000, 2500, 10000, 0};
  std::array<std::uint64_t, 8> lookup_duration_ms_hist{};
  std::uint64_t lookup_duration_ms_sum = 0;

  // Every drop, and the reason of the last one: the engine compares these around a datagram
  // to report its drop to the packet log without a hook at each drop site.
  std::uint64_t drops_total = 0;
  Drop last_drop = Drop::kCount;

  void drop(Drop d) {
    ++drops[static_cast<std::size_t>(d)];
    ++drops_total;
    last_drop = d;
  }
  std::uint64_t dropped(Drop d) const { return drops[static_cast<std::size_t>(d)]; }
};

}  // namespace discplane::disc
