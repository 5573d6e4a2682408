// PeerTable: the one Kademlia routing table behind both discv4 and discv5. It owns the
// buckets (by log distance from our id), the per-bucket replacement lists, per-entry
// liveness and the IP-subnet limits. It does no I/O and reads no clock: the engine
// decides when to ping, passes `now` (monotonic ns) in and reports the outcome.
// All storage is allocated in the constructor; no operation allocates afterwards.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "discplane/common/bytes.h"
#include "discplane/common/endpoint.h"
#include "discplane/crypto/secp256k1.h"
#include "discplane/discovery/io.h"
#include "discplane/discovery/net_policy.h"

namespace discplane::disc {

// Protocol flags of an entry (which protocols the node has been seen speaking).
inline constexpr std::uint8_t kFlagV4 = 1u << 0;
inline constexpr std::uint8_t kFlagV5 = 1u << 1;
inline constexpr std::uint8_t flag_of(Protocol p) {
  return p == Protocol::kV4 ? kFlagV4 : kFlagV5;
}
// Index of a protocol in per-protocol arrays: 0 = discv4, 1 = discv5.
inline constexpr std::size_t index_of(Protocol p) {
  return p == Protocol::kV4 ? 0 : 1;
}
inline constexpr std::array<Protocol, 2> kProtocols = {Protocol::kV4, Protocol::kV5};

// EIP-778: a record is at most 300 bytes.
inline constexpr std::size_t kMaxEnrSize = 300;
inline constexpr int kNumBuckets = 256;

struct PeerTableConfig {
  std::size_t bucket_size = 16;   // k (Kademlia), entries per bucket
  std::size_t replacements = 10;  // replacement list per bucket (geth: 10)
  // IP limits, as geth: at most 2 entries of one /24 (IPv6: /64) per bucket and 10 in the
  // whole table, so that one operator cannot fill a bucket (eclipse). Replacements count.
  std::size_t ip4_bucket_limit = 2;
  std::size_t ip4_table_limit = 10;
  std::size_t ip6_bucket_limit = 2;
  std::size_t ip6_table_limit = 10;
  // Addresses inside these prefixes bypass the IP limits. Default none: on an exposed port
  // every source counts, loopback included (geth exempts LAN addresses, which a public
  // appliance should not do). Local tests and testnets that run many nodes on one host name
  // their ranges here (e.g. 127.0.0.0/8).
  std::vector<Cidr> ip_limit_exempt;
  // Consecutive failed liveness checks on one protocol before the entry loses that
  // protocol (default 3): its flag and its liveness on that protocol are dropped, and the
  // entry is removed once no protocol is left. geth drops a node after one failed check
  // unless it has a long history; with UDP loss of a few percent one strike evicts healthy
  // peers, three at the revalidation interval bound a dead entry's life to ~3 intervals.
  std::uint32_t max_failures = 3;
  // Never let failures shrink the table below this many live entries when no replacement
  // can take the freed slot (default 8): if our uplink or the bootnodes are briefly down,
  // every check fails, and dropping the last known nodes would leave nothing to rejoin by.
  std::size_t min_live = 8;
  // Revalidation, per protocol: an entry is due for protocol P when its last check on P is
  // older than P's interval (default 10 s each; timers.revalidate_interval); entries with a
  // failure pending on P are rechecked sooner (default 2 s). Entries never checked on P are
  // always due for P.
  std::int64_t revalidation_interval_v4_ns = 10'000'000'000;
  std::int64_t revalidation_interval_v5_ns = 10'000'000'000;
  std::int64_t failed_recheck_interval_ns = 2'000'000'000;

  std::int64_t revalidation_interval_ns(Protocol p) const {
    return p == Protocol::kV4 ? revalidation_interval_v4_ns : revalidation_interval_v5_ns;
  }
};

// Liveness of an entry on one protocol (our PING / PONG checks on that protocol).
struct Liveness {
  std::int64_t last_check_ns = 0;   // last check on this protocol, passed or failed (0: never)
  std::uint32_t checks_passed = 0;  // reset when the protocol is dropped
  std::uint16_t checks_failed = 0;  // consecutive; reset by a passed check

  bool checked() const { return checks_passed != 0 || checks_failed != 0; }
  // Verified live: a check passed and none failed since.
  bool live() const { return checks_passed != 0 && checks_failed == 0; }
};

// One table entry. Fixed size (ENR inline), so buckets are plain arrays.
struct PeerEntry {
  NodeId id{};
  crypto::PublicKey public_key{};
  Endpoint endpoint4;  // UDP, IPv4; !valid() when unknown
  Endpoint endpoint6;  // UDP, IPv6; !valid() when unknown
  std::uint64_t enr_seq = 0;
  std::int64_t added_ns = 0;
  std::int64_t last_seen_ns = 0;       // last verified contact (0: only heard of, never heard from)
  std::int64_t bond_ns = 0;            // discv4 endpoint proof: last Pong for our Ping (0: none)
  std::array<Liveness, 2> liveness{};  // by index_of(Protocol)
  std::uint16_t enr_size = 0;          // 0: record unknown
  std::uint8_t protocols = 0;          // kFlagV4 | kFlagV5
  std::array<std::uint8_t, kMaxEnrSize> enr{};

  bool has(Protocol p) const { return (protocols & flag_of(p)) != 0; }
  bool verified() const { return last_seen_ns != 0; }
  const Liveness& live_on(Protocol p) const { return liveness[index_of(p)]; }
  Liveness& live_on(Protocol p) { return liveness[index_of(p)]; }
  // Speaks p and its last check on p passed.
  bool live(Protocol p) const { return has(p) && live_on(p).live(); }
  // Summaries over both protocols (snapshots, API, node DB): checks passed in total, and the
  // longest run of failures pending on any protocol the entry still has.
  std::uint32_t checks_passed() const {
    return liveness[0].checks_passed + liveness[1].checks_passed;
  }
  std::uint16_t checks_failed() const {
    std::uint16_t n = 0;
    for (Protocol p : kProtocols) {
      if (has(p) && live_on(p).checks_failed > n) {
        n = live_on(p).checks_failed;
      }
    }
    return n;
  }
  ByteView enr_bytes() const { return {enr.data(), enr_size}; }
  // The endpoint to send to: IPv4 when known, else IPv6.
  const Endpoint& primary_endpoint() const { return endpoint4.valid() ? endpoint4 : endpoint6; }
};

// What the engine knows about a node when it offers it to the table.
struct PeerInfo {
  NodeId id{};
  crypto::PublicKey public_key{};
  Endpoint endpoint4;
  Endpoint endpoint6;
  ByteView enr;  // raw record, may be empty; ignored when larger than kMaxEnrSize
  std::uint64_t enr_seq = 0;
  std::uint8_t protocols = 0;
};

enum class AddOutcome : std::uint8_t {
  kInserted,             // now a live bucket entry
  kUpdated,              // was already a live entry; refreshed
  kAlreadyKnown,         // add_found of a node already in the table or replacements: no change
  kAddedToReplacements,  // bucket full: placed (or refreshed) in the replacement list
  kBucketFull,           // bucket and replacement list full, nothing worth evicting
  kIpLimit,              // subnet already at its bucket or table limit
  kSelf,                 // our own id
  kInvalid,              // no valid endpoint
};
std::string_view to_string(AddOutcome o);

enum class UpdateOutcome : std::uint8_t {
  kUpdated,
  kUnchanged,  // nothing to do (same endpoint; ENR seq not newer)
  kNotFound,
  kIpLimit,  // new endpoint refused by the IP limits; entry kept as it was
  kInvalid,  // bad argument (invalid endpoint, record too large)
};
std::string_view to_string(UpdateOutcome o);

enum class FailOutcome : std::uint8_t {
  kDemoted,    // failure counted; the entry stays, rechecked sooner
  kDropped,    // max_failures on this protocol: its flag dropped, the entry kept for the other
  kReplaced,   // removed, and the most recent replacement promoted into its slot
  kRemoved,    // removed, no replacement available
  kProtected,  // would be removed, but the table is at min_live: kept
  kNotFound,
};
std::string_view to_string(FailOutcome o);

enum class RemoveOutcome : std::uint8_t { kRemoved, kReplaced, kRemovedReplacement, kNotFound };
std::string_view to_string(RemoveOutcome o);

struct PeerTableCounters {
  std::uint64_t inserted = 0;
  std::uint64_t removed = 0;
  std::uint64_t promoted = 0;  // replacements moved into a bucket
  std::uint64_t ip_limit_refusals = 0;
  std::uint64_t bucket_full_refusals = 0;
  std::uint64_t protected_by_min_live = 0;
};

// Not thread-safe: owned by one dataplane core. Pointers returned by find(), closest(),
// nodes_at_distance() and revalidation_candidate() stay valid until the next mutating
// call (entries move inside their bucket when another is removed).
class PeerTable {
 public:
  using Config = PeerTableConfig;

  explicit PeerTable(const NodeId& self, const Config& config = {});
  PeerTable(const PeerTable&) = delete;
  PeerTable& operator=(const PeerTable&) = delete;

  // Makes this table an exact copy of `other`, which must have the same self id and sizes
  // (same Config): the sharded runtime's mirrors. Copies only the used part of each bucket
  // and replacement list; allocates nothing. Returns false (and copies nothing) on mismatch.
  bool copy_from(const PeerTable& other) noexcept;

  const NodeId& self() const { return self_; }
  const Config& config() const { return config_; }

  // We heard from the node in a verified way (a signed packet, a session): it goes into its
  // bucket when there is room, else to the front of the replacement list (oldest evicted).
  [[nodiscard]] AddOutcome add_seen(const PeerInfo& node, std::int64_t now) noexcept;
  // Learned from a NODES/Neighbors answer (unverified): into the bucket when there is room,
  // else the replacement list, but it never evicts a verified replacement.
  [[nodiscard]] AddOutcome add_found(const PeerInfo& node, std::int64_t now) noexcept;

  // Sets the endpoint of the endpoint's family (v4 or v6) for a live or replacement entry.
  [[nodiscard]] UpdateOutcome update_endpoint(const NodeId& id, const Endpoint& endpoint) noexcept;
  // Stores a newer record (seq greater than the stored one, or none stored yet).
  [[nodiscard]] UpdateOutcome update_enr(const NodeId& id, ByteView raw,
                                         std::uint64_t seq) noexcept;

  // A liveness check on `proto` passed (a PONG to our PING): the entry speaks proto and is
  // live on it. For discv4 this is also the endpoint proof (bond_ns = now). A replacement
  // that passes is promoted when its bucket has room.
  [[nodiscard]] UpdateOutcome mark_alive(const NodeId& id, Protocol proto,
                                         std::int64_t now) noexcept;
  // A liveness check on `proto` failed. After config.max_failures consecutive failures on
  // proto the entry loses proto (flag and liveness: kDropped) while it speaks another
  // protocol; when proto was its last one the entry is removed and the best replacement
  // takes its place, or, with no replacement, it is kept if the table is at or below
  // config.min_live. A failing replacement loses proto at once (removed when none is left).
  [[nodiscard]] FailOutcome mark_failed(const NodeId& id, Protocol proto,
                                        std::int64_t now) noexcept;

  // Removes a live entry (promoting a replacement) or a replacement.
  [[nodiscard]] RemoveOutcome remove(const NodeId& id) noexcept;

  // Live entry, or nullptr. find_any also searches the replacement lists.
  [[nodiscard]] const PeerEntry* find(const NodeId& id) const noexcept;
  [[nodiscard]] const PeerEntry* find_any(const NodeId& id) const noexcept;

  // Up to min(n, out.size()) bucket entries closest to target by XOR distance, closest
  // first. required_flags (kFlagV4/kFlagV5, 0 = any) filters by protocol. Returns the count.
  // Walks buckets in distance order (each bucket is one distance range for the target), so
  // it touches only the buckets it needs. With prefer_live (FINDNODE / Neighbors answers,
  // as geth), entries verified live on every protocol of required_flags (on any protocol
  // when 0) come first, closest first, and the rest fill what is left, closest first.
  [[nodiscard]] std::size_t closest(const NodeId& target, std::size_t n,
                                    std::span<const PeerEntry*> out,
                                    std::uint8_t required_flags = 0,
                                    bool prefer_live = false) const noexcept;
  // Bucket entries at log distance d from us (1..256), for discv5 FINDNODE; with
  // prefer_live, those verified live (as closest()) first. Returns the count.
  [[nodiscard]] std::size_t nodes_at_distance(int d, std::span<const PeerEntry*> out,
                                              std::uint8_t required_flags = 0,
                                              bool prefer_live = false) const noexcept;

  // The entry to check next for `proto`, by its liveness on proto alone (its own check time
  // and proto's interval): buckets are visited round-robin (a cursor per protocol advances
  // past the bucket that supplied the last candidate); within a bucket the least recently
  // checked due entry wins. nullptr when nothing is due.
  [[nodiscard]] const PeerEntry* revalidation_candidate(std::int64_t now, Protocol proto) noexcept;

  // Removes live entries not seen for max_age_ns that have a failed check pending on some
  // protocol (respects min_live, promotes replacements). Returns how many were removed.
  [[nodiscard]] std::size_t prune_stale(std::int64_t now, std::int64_t max_age_ns) noexcept;

  // Calls fn(const PeerEntry&) for every live entry (the control plane builds snapshots so).
  template <class Fn>
  void for_each(Fn&& fn) const {
    for (int b = 0; b < kNumBuckets; ++b) {
      const PeerEntry* e = bucket_entries(b);
      for (std::size_t i = 0; i < bucket_count_[b]; ++i) {
        fn(e[i]);
      }
    }
  }
  template <class Fn>
  void for_each_replacement(Fn&& fn) const {
    for (int b = 0; b < kNumBuckets; ++b) {
      const PeerEntry* e = replacement_entries(b);
      for (std::size_t i = 0; i < replacement_count_[b]; ++i) {
        fn(e[i]);
      }
    }
  }

  std::size_t size() const { return size_; }
  std::size_t size(Protocol p) const { return p == Protocol::kV4 ? size_v4_ : size_v5_; }
  std::size_t replacements_size() const;
  // Fill of the bucket holding log distance d (1..256); 0 for d out of range.
  std::size_t bucket_size(int d) const;
  std::size_t replacement_size(int d) const;
  // Number of non-empty buckets.
  std::size_t buckets_in_use() const;
  const PeerTableCounters& counters() const { return counters_; }

 private:
  struct Slot {  // where an id lives
    int bucket = -1;
    bool replacement = false;
    std::size_t index = 0;
    bool found() const { return bucket >= 0; }
  };
  struct SubnetSlot {  // table-wide count of entries (and replacements) per /24 or /64
    std::uint64_t prefix = 0;
    std::uint32_t count = 0;  // 0: empty slot
    IpAddress::Family family = IpAddress::Family::kNone;
  };

  PeerEntry* bucket_entries(int b) { return entries_.data() + b * config_.bucket_size; }
  const PeerEntry* bucket_entries(int b) const { return entries_.data() + b * config_.bucket_size; }
  PeerEntry* replacement_entries(int b) { return replacements_.data() + b * config_.replacements; }
  const PeerEntry* replacement_entries(int b) const {
    return replacements_.data() + b * config_.replacements;
  }
  PeerEntry& at(const Slot& s) {
    return s.replacement ? replacement_entries(s.bucket)[s.index]
                         : bucket_entries(s.bucket)[s.index];
  }

  [[nodiscard]] Slot locate(const NodeId& id) const noexcept;
  [[nodiscard]] AddOutcome add(const PeerInfo& node, std::int64_t now, bool verified) noexcept;
  [[nodiscard]] bool ip_allowed(int bucket, const Endpoint& ep) const noexcept;
  [[nodiscard]] std::uint32_t subnet_count(const IpAddress& ip) const noexcept;
  void subnet_add(const IpAddress& ip, int delta) noexcept;
  // Sets the endpoint of ep's family on the entry at s, honouring the IP limits.
  [[nodiscard]] UpdateOutcome set_endpoint(const Slot& s, const Endpoint& ep) noexcept;
  [[nodiscard]] bool exempt(const IpAddress& ip) const noexcept;
  void count_ips(const PeerEntry& e, int delta) noexcept;
  void count_flags(std::uint8_t flags, int delta) noexcept;
  void fill_entry(PeerEntry& e, const PeerInfo& node, std::int64_t now, bool verified) noexcept;
  void merge_into(const Slot& s, const PeerInfo& node, std::int64_t now) noexcept;
  void add_flags(const Slot& s, std::uint8_t flags) noexcept;
  // Index of the replacement to promote (verified first, then most recent); -1 if none.
  [[nodiscard]] int best_replacement(int b) const noexcept;
  // Removes slot s; for a live entry promotes the most recent replacement (returns true).
  bool erase(const Slot& s) noexcept;
  void erase_replacement(int b, std::size_t index) noexcept;
  // Moves replacement `index` of bucket b into the bucket (which must have room).
  void promote(int b, std::size_t index) noexcept;
  [[nodiscard]] bool is_due(const PeerEntry& e, Protocol proto, std::int64_t now) const noexcept;
  // Live on every protocol of flags (any protocol when flags is 0).
  [[nodiscard]] static bool live_for(const PeerEntry& e, std::uint8_t flags) noexcept;
  // Drops protocol p from the entry at s (flag, counts and liveness).
  void drop_protocol(const Slot& s, Protocol p) noexcept;

  NodeId self_;
  Config config_;
  std::vector<PeerEntry> entries_;       // kNumBuckets * bucket_size
  std::vector<PeerEntry> replacements_;  // kNumBuckets * replacements
  std::array<std::uint8_t, kNumBuckets> bucket_count_{};
  std::array<std::uint8_t, kNumBuckets> replacement_count_{};
  std::vector<SubnetSlot> subnets_;  // open addressing, linear probing, power-of-two size
  std::size_t size_ = 0;
  std::size_t size_v4_ = 0;
  std::size_t size_v5_ = 0;
  std::array<int, 2> reval_cursor_{};  // by index_of(Protocol)
  PeerTableCounters counters_;
};

}  // namespace discplane::disc
