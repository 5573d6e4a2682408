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
  // Consecutive failed liveness checks before an entry is removed (default 3). geth drops a
  // node after one failed check unless it has a long history; with UDP loss of a few
  // percent one strike evicts healthy peers, three at the revalidation interval bound a
  // dead entry's life to ~3 intervals.
  std::uint32_t max_failures = 3;
  // Never let failures shrink the table below this many live entries when no replacement
  // can take the freed slot (default 8): if our uplink or the bootnodes are briefly down,
  // every check fails, and dropping the last known nodes would leave nothing to rejoin by.
  std::size_t min_live = 8;
  // Revalidation: an entry is due when its last check is older than this (default 10 s);
  // entries with a failure pending are rechecked sooner (default 2 s). Never-checked
  // entries are always due.
  std::int64_t revalidation_interval_ns = 10'000'000'000;
  std::int64_t failed_recheck_interval_ns = 2'000'000'000;
};

// One table entry. Fixed size (ENR inline), so buckets are plain arrays.
struct PeerEntry {
  NodeId id{};
  crypto::PublicKey public_key{};
  Endpoint endpoint4;  // UDP, IPv4; !valid() when unknown
  Endpoint endpoint6;  // UDP, IPv6; !valid() when unknown
  std::uint64_t enr_seq = 0;
  std::int64_t added_ns = 0;
  std::int64_t last_seen_ns = 0;   // last verified contact (0: only heard of, never heard from)
  std::int64_t bond_ns = 0;        // discv4 endpoint proof: last Pong for our Ping (0: none)
  std::int64_t last_check_ns = 0;  // last liveness check, passed or failed
  std::uint32_t checks_passed = 0;
  std::uint16_t checks_failed = 0;  // consecutive; reset by a passed check
  std::uint16_t enr_size = 0;       // 0: record unknown
  std::uint8_t protocols = 0;       // kFlagV4 | kFlagV5
  std::array<std::uint8_t, kMaxEnrSize> enr{};

  bool has(Protocol p) const { return (protocols & flag_of(p)) != 0; }
  bool verified() const { return last_seen_ns != 0; }
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

  // A liveness check passed (a PONG to our PING). For discv4 this is also the endpoint proof
  // (bond_ns = now). A replacement that passes is promoted when its bucket has room.
  [[nodiscard]] UpdateOutcome mark_alive(const NodeId& id, Protocol proto,
                                         std::int64_t now) noexcept;
  // A liveness check failed. After config.max_failures consecutive failures the entry is
  // removed and the most recent replacement takes its place; with no replacement the entry
  // is kept if the table is at or below config.min_live. A failing replacement is dropped.
  [[nodiscard]] FailOutcome mark_failed(const NodeId& id, std::int64_t now) noexcept;

  // Removes a live entry (promoting a replacement) or a replacement.
  [[nodiscard]] RemoveOutcome remove(const NodeId& id) noexcept;

  // Live entry, or nullptr. find_any also searches the replacement lists.
  [[nodiscard]] const PeerEntry* find(const NodeId& id) const noexcept;
  [[nodiscard]] const PeerEntry* find_any(const NodeId& id) const noexcept;

  // Up to min(n, out.size()) live entries closest to target by XOR distance, closest first.
  // required_flags (kFlagV4/kFlagV5, 0 = any) filters by protocol. Returns the count.
  // Walks buckets in distance order (each bucket is one distance range for the target), so
  // it touches only the buckets it needs.
  [[nodiscard]] std::size_t closest(const NodeId& target, std::size_t n,
                                    std::span<const PeerEntry*> out,
                                    std::uint8_t required_flags = 0) const noexcept;
  // Live entries at log distance d from us (1..256), for discv5 FINDNODE. Returns the count.
  [[nodiscard]] std::size_t nodes_at_distance(int d, std::span<const PeerEntry*> out,
                                              std::uint8_t required_flags = 0) const noexcept;

  // The entry to check next for `proto`: buckets are visited round-robin (a cursor advances
  // past the bucket that supplied the last candidate); within a bucket the least recently
  // checked due entry wins. nullptr when nothing is due.
  [[nodiscard]] const PeerEntry* revalidation_candidate(std::int64_t now, Protocol proto) noexcept;

  // Removes live entries not seen for max_age_ns that have a failed check pending (respects
  // min_live, promotes replacements). Returns how many were removed.
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
  [[nodiscard]] bool is_due(const PeerEntry& e, std::int64_t now) const noexcept;

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
  int reval_cursor_ = 0;
  PeerTableCounters counters_;
};

}  // namespace discplane::disc
