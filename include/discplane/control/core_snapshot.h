// What the dataplane core publishes for everyone else: an immutable copy of the PeerTable,
// the engine and backend counters, and our own record. The control thread, the API and the
// metrics read only these snapshots (SnapshotPublisher), never the live engine.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "discplane/common/bytes.h"
#include "discplane/common/endpoint.h"
#include "discplane/crypto/secp256k1.h"
#include "discplane/discovery/counters.h"
#include "discplane/discovery/io.h"
#include "discplane/discovery/peer_table.h"
#include "discplane/discovery/server.h"

namespace discplane::control {

struct PeerView {
  NodeId id{};
  crypto::PublicKey public_key{};
  Endpoint endpoint4;
  Endpoint endpoint6;
  std::uint64_t enr_seq = 0;
  Bytes enr;                   // raw record (empty: unknown)
  std::uint8_t protocols = 0;  // disc::kFlagV4 | disc::kFlagV5
  int distance = 0;            // log distance from us (the bucket)
  std::int64_t added_ns = 0;
  std::int64_t last_seen_ns = 0;
  std::int64_t bond_ns = 0;
  std::uint32_t checks_passed = 0;           // both protocols together
  std::uint16_t checks_failed = 0;           // most consecutive failures pending on one protocol
  std::array<disc::Liveness, 2> liveness{};  // per protocol, by disc::index_of
  bool live() const { return last_seen_ns != 0 && checks_failed == 0; }
};

// Table entries per protocol (a node may speak both) and how many are live: what the API,
// /metrics, telemetry and the run command's peer lines all report.
struct TableCounts {
  std::size_t entries = 0, v4 = 0, v5 = 0, live = 0;
  void add(const PeerView& p) {
    ++entries;
    v4 += (p.protocols & disc::kFlagV4) != 0;
    v5 += (p.protocols & disc::kFlagV5) != 0;
    live += p.live();
  }
};
template <typename Peers>
TableCounts count_table(const Peers& peers) {
  TableCounts c;
  for (const PeerView& p : peers) {
    c.add(p);
  }
  return c;
}

// Loop statistics of the backend that drives the core (socket or DPDK).
struct LoopStats {
  std::uint64_t rx_packets = 0;
  std::uint64_t tx_packets = 0;
  std::uint64_t bursts = 0;
  std::uint64_t empty_polls = 0;
  std::uint64_t busy_cycles = 0;  // TSC cycles spent in bursts that carried packets
  std::vector<std::pair<std::string, std::uint64_t>> drops;  // backend drop reasons
};

struct LookupOutcome {
  std::uint64_t tag = 0;
  disc::Protocol protocol = disc::Protocol::kV4;
  NodeId target{};
  std::vector<std::pair<NodeId, Endpoint>> found;
};

// An operator probe's answer (disc::ProbeResult with its views copied), for the API.
struct ProbeReport {
  std::uint64_t tag = 0;
  disc::ProbeKind kind = disc::ProbeKind::kPing;
  disc::ProbeOutcome outcome = disc::ProbeOutcome::kTimeout;
  disc::Protocol protocol = disc::Protocol::kV5;
  NodeId id{};
  std::int64_t elapsed_ns = 0;
  Endpoint from;
  Endpoint reported;
  std::optional<std::uint64_t> enr_seq;
  Bytes record;  // kResolve: the record, raw (verified)
  Bytes talk_response;
};

struct CoreSnapshot {
  std::uint64_t sequence = 0;  // 0: nothing published yet
  std::int64_t taken_mono_ns = 0;
  std::int64_t taken_unix_s = 0;
  std::vector<PeerView> peers;
  std::size_t replacements = 0;
  disc::Counters counters;
  LoopStats loop;
  // dataplane.workers > 1: each worker's own loop figures ([0]: the owner; `loop` is their
  // sum, drops summed by reason). Empty with one worker. Workers' lag up to half an interval.
  std::vector<LoopStats> workers;
  std::size_t sessions = 0;
  std::size_t pending_challenges = 0;
  std::size_t active_lookups = 0;
  std::size_t ip_votes_v4 = 0;
  std::size_t ip_votes_v6 = 0;
  NodeId local_id{};
  Bytes local_enr;  // our record, raw
  std::uint64_t local_seq = 0;
  std::string external_address_source;
  std::vector<LookupOutcome> recent_lookups;  // newest last, bounded
  std::vector<ProbeReport> recent_probes;     // newest last, bounded
  bool shut_down = false;
};

}  // namespace discplane::control
