// PeerTable implementation. Layout: two flat arrays (live entries and replacements), each
// cut into 256 fixed slices, one per log distance; a bucket keeps its entries packed at
// the front of its slice (removal swaps the last one in). The table-wide IP limit uses an
// open-addressing counter per subnet so that an insert never scans the whole table.
#include "discplane/discovery/peer_table.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>

#include "discplane/discovery/node_id.h"

namespace discplane::disc {
namespace {

// /24 for IPv4, /64 for IPv6, packed into one word.
std::uint64_t subnet_prefix(const IpAddress& ip) {
  if (ip.is_v4()) {
    return (std::uint64_t{ip.bytes[0]} << 16) | (std::uint64_t{ip.bytes[1]} << 8) | ip.bytes[2];
  }
  std::uint64_t v;
  std::memcpy(&v, ip.bytes.data(), sizeof v);
  return v;
}

bool same_subnet(const IpAddress& a, const IpAddress& b) {
  return a.family == b.family && a.valid() && subnet_prefix(a) == subnet_prefix(b);
}

std::int64_t recency(const PeerEntry& e) {
  return std::max(e.last_seen_ns, e.added_ns);
}

// Bit j (0 = least significant) of a big-endian id.
bool bit_at(const NodeId& id, int j) {
  return (id[31 - j / 8] >> (j % 8)) & 1u;
}

}  // namespace

std::string_view to_string(AddOutcome o) {
  switch (o) {
    case AddOutcome::kInserted:
      return "inserted";
    case AddOutcome::kUpdated:
      return "updated";
    case AddOutcome::kAlreadyKnown:
      return "already-known";
    case AddOutcome::kAddedToReplacements:
      return "added-to-replacements";
    case AddOutcome::kBucketFull:
      return "bucket-full";
    case AddOutcome::kIpLimit:
      return "ip-limit";
    case AddOutcome::kSelf:
      return "self";
    case AddOutcome::kInvalid:
      return "invalid";
  }
  return "?";
}

std::string_view to_string(UpdateOutcome o) {
  switch (o) {
    case UpdateOutcome::kUpdated:
      return "updated";
    case UpdateOutcome::kUnchanged:
      return "unchanged";
    case UpdateOutcome::kNotFound:
      return "not-found";
    case UpdateOutcome::kIpLimit:
      return "ip-limit";
    case UpdateOutcome::kInvalid:
      return "invalid";
  }
  return "?";
}

std::string_view to_string(FailOutcome o) {
  switch (o) {
    case FailOutcome::kDemoted:
      return "demoted";
    case FailOutcome::kDropped:
      return "dropped";
    case FailOutcome::kReplaced:
      return "replaced";
    case FailOutcome::kRemoved:
      return "removed";
    case FailOutcome::kProtected:
      return "protected";
    case FailOutcome::kNotFound:
      return "not-found";
  }
  return "?";
}

std::string_view to_string(RemoveOutcome o) {
  switch (o) {
    case RemoveOutcome::kRemoved:
      return "removed";
    case RemoveOutcome::kReplaced:
      return "replaced";
    case RemoveOutcome::kRemovedReplacement:
      return "removed-replacement";
    case RemoveOutcome::kNotFound:
      return "not-found";
  }
  return "?";
}

PeerTable::PeerTable(const NodeId& self, const Config& config) : self_(self), config_(config) {
  // Counts are stored in a byte per bucket.
  config_.bucket_size = std::clamp<std::size_t>(config_.bucket_size, 1, 255);
  config_.replacements = std::min<std::size_t>(config_.replacements, 255);
  entries_.resize(kNumBuckets * config_.bucket_size);
  replacements_.resize(kNumBuckets * config_.replacements);
  // Every entry has at most two endpoints: keep the load factor at or below one half.
  const std::size_t max_subnets = 2 * (entries_.size() + replacements_.size());
  subnets_.resize(std::bit_ceil(2 * max_subnets));
}

bool PeerTable::copy_from(const PeerTable& other) noexcept {
  if (&other == this) {
    return true;
  }
  if (other.self_ != self_ || other.entries_.size() != entries_.size() ||
      other.replacements_.size() != replacements_.size() ||
      other.subnets_.size() != subnets_.size() ||
      other.config_.bucket_size != config_.bucket_size ||
      other.config_.replacements != config_.replacements) {
    return false;
  }
  for (int b = 0; b < kNumBuckets; ++b) {
    std::copy_n(other.bucket_entries(b), other.bucket_count_[b], bucket_entries(b));
    std::copy_n(other.replacement_entries(b), other.replacement_count_[b], replacement_entries(b));
  }
  bucket_count_ = other.bucket_count_;
  replacement_count_ = other.replacement_count_;
  std::copy(other.subnets_.begin(), other.subnets_.end(), subnets_.begin());
  size_ = other.size_;
  size_v4_ = other.size_v4_;
  size_v5_ = other.size_v5_;
  counters_ = other.counters_;
  return true;
}

// ---- lookup of an id ---------------------------------------------------------------------

PeerTable::Slot PeerTable::locate(const NodeId& id) const noexcept {
  const int b = log_distance(self_, id) - 1;
  if (b < 0) {
    return {};
  }
  const PeerEntry* e = bucket_entries(b);
  for (std::size_t i = 0; i < bucket_count_[b]; ++i) {
    if (e[i].id == id) {
      return {b, false, i};
    }
  }
  const PeerEntry* r = replacement_entries(b);
  for (std::size_t i = 0; i < replacement_count_[b]; ++i) {
    if (r[i].id == id) {
      return {b, true, i};
    }
  }
  return {};
}

const PeerEntry* PeerTable::find(const NodeId& id) const noexcept {
  const Slot s = locate(id);
  if (!s.found() || s.replacement) {
    return nullptr;
  }
  return &bucket_entries(s.bucket)[s.index];
}

const PeerEntry* PeerTable::find_any(const NodeId& id) const noexcept {
  const Slot s = locate(id);
  if (!s.found()) {
    return nullptr;
  }
  return s.replacement ? &replacement_entries(s.bucket)[s.index]
                       : &bucket_entries(s.bucket)[s.index];
}

// ---- IP limits ---------------------------------------------------------------------------

bool PeerTable::exempt(const IpAddress& ip) const noexcept {
  for (const Cidr& c : config_.ip_limit_exempt) {
    if (c.contains(ip)) {
      return true;
    }
  }
  return false;
}

std::uint32_t PeerTable::subnet_count(const IpAddress& ip) const noexcept {
  const std::uint64_t prefix = subnet_prefix(ip);
  const std::size_t mask = subnets_.size() - 1;
  for (std::size_t i = (prefix * 0x9e3779b97f4a7c15ull) >> 40 & mask;; i = (i + 1) & mask) {
    const SubnetSlot& s = subnets_[i];
    if (s.count == 0) {
      return 0;
    }
    if (s.prefix == prefix && s.family == ip.family) {
      return s.count;
    }
  }
}

void PeerTable::subnet_add(const IpAddress& ip, int delta) noexcept {
  const std::uint64_t prefix = subnet_prefix(ip);
  const std::size_t mask = subnets_.size() - 1;
  const auto home = [&](std::uint64_t p) { return (p * 0x9e3779b97f4a7c15ull) >> 40 & mask; };
  std::size_t i = home(prefix);
  while (subnets_[i].count != 0 &&
         !(subnets_[i].prefix == prefix && subnets_[i].family == ip.family)) {
    i = (i + 1) & mask;
  }
  SubnetSlot& s = subnets_[i];
  if (s.count == 0) {
    if (delta <= 0) {
      return;  // not counted (cannot happen when adds and removes pair up)
    }
    s.prefix = prefix;
    s.family = ip.family;
  }
  s.count = static_cast<std::uint32_t>(static_cast<std::int64_t>(s.count) + delta);
  if (s.count != 0) {
    return;
  }
  // Backward-shift deletion keeps every probe chain unbroken without tombstones.
  std::size_t hole = i;
  for (std::size_t j = (i + 1) & mask; subnets_[j].count != 0; j = (j + 1) & mask) {
    const std::size_t h = home(subnets_[j].prefix);
    // Move j into the hole unless its home lies cyclically in (hole, j].
    const bool home_after_hole = hole <= j ? (h > hole && h <= j) : (h > hole || h <= j);
    if (!home_after_hole) {
      subnets_[hole] = subnets_[j];
      subnets_[j] = SubnetSlot{};
      hole = j;
    }
  }
}

void PeerTable::count_ips(const PeerEntry& e, int delta) noexcept {
  for (const Endpoint* ep : {&e.endpoint4, &e.endpoint6}) {
    if (ep->valid() && !exempt(ep->ip)) {
      subnet_add(ep->ip, delta);
    }
  }
}

bool PeerTable::ip_allowed(int b, const Endpoint& ep) const noexcept {
  if (!ep.valid() || exempt(ep.ip)) {
    return true;
  }
  const bool v4 = ep.ip.is_v4();
  const std::size_t bucket_limit = v4 ? config_.ip4_bucket_limit : config_.ip6_bucket_limit;
  const std::size_t table_limit = v4 ? config_.ip4_table_limit : config_.ip6_table_limit;
  if (subnet_count(ep.ip) >= table_limit) {
    return false;
  }
  std::size_t in_bucket = 0;
  const auto tally = [&](const PeerEntry* list, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      const Endpoint& other = v4 ? list[i].endpoint4 : list[i].endpoint6;
      in_bucket += same_subnet(other.ip, ep.ip) ? 1 : 0;
    }
  };
  tally(bucket_entries(b), bucket_count_[b]);
  tally(replacement_entries(b), replacement_count_[b]);
  return in_bucket < bucket_limit;
}

// ---- inserting ---------------------------------------------------------------------------

void PeerTable::count_flags(std::uint8_t flags, int delta) noexcept {
  if (flags & kFlagV4) {
    size_v4_ += static_cast<std::size_t>(delta);
  }
  if (flags & kFlagV5) {
    size_v5_ += static_cast<std::size_t>(delta);
  }
}

void PeerTable::add_flags(const Slot& s, std::uint8_t flags) noexcept {
  PeerEntry& e = at(s);
  const std::uint8_t added = static_cast<std::uint8_t>(flags & ~e.protocols);
  e.protocols |= flags;
  if (!s.replacement) {
    count_flags(added, +1);
  }
}

void PeerTable::fill_entry(PeerEntry& e, const PeerInfo& node, std::int64_t now,
                           bool verified) noexcept {
  e.id = node.id;
  e.public_key = node.public_key;
  e.endpoint4 = node.endpoint4.ip.is_v4() ? node.endpoint4 : Endpoint{};
  e.endpoint6 = node.endpoint6.ip.is_v6() ? node.endpoint6 : Endpoint{};
  e.enr_seq = 0;
  e.enr_size = 0;
  if (!node.enr.empty() && node.enr.size() <= kMaxEnrSize) {
    std::memcpy(e.enr.data(), node.enr.data(), node.enr.size());
    e.enr_size = static_cast<std::uint16_t>(node.enr.size());
    e.enr_seq = node.enr_seq;
  }
  e.added_ns = now;
  e.last_seen_ns = verified ? now : 0;
  e.bond_ns = 0;
  e.liveness = {};
  e.protocols = node.protocols;
}

void PeerTable::merge_into(const Slot& s, const PeerInfo& node, std::int64_t now) noexcept {
  PeerEntry& e = at(s);
  e.last_seen_ns = now;
  add_flags(s, node.protocols);
  for (const Endpoint* ep : {&node.endpoint4, &node.endpoint6}) {
    if (ep->valid()) {
      (void)set_endpoint(s, *ep);  // refused by the IP limits: the old endpoint stays
    }
  }
  if (!node.enr.empty()) {
    (void)update_enr(node.id, node.enr, node.enr_seq);
  }
}

AddOutcome PeerTable::add(const PeerInfo& node, std::int64_t now, bool verified) noexcept {
  if (node.id == self_) {
    return AddOutcome::kSelf;
  }
  const bool has4 = node.endpoint4.valid() && node.endpoint4.ip.is_v4();
  const bool has6 = node.endpoint6.valid() && node.endpoint6.ip.is_v6();
  if (!has4 && !has6) {
    return AddOutcome::kInvalid;
  }
  const int b = log_distance(self_, node.id) - 1;
  const Slot existing = locate(node.id);
  if (existing.found()) {
    if (!verified) {
      return AddOutcome::kAlreadyKnown;
    }
    merge_into(existing, node, now);
    if (!existing.replacement) {
      return AddOutcome::kUpdated;
    }
    if (bucket_count_[b] < config_.bucket_size) {
      promote(b, existing.index);
      return AddOutcome::kInserted;
    }
    return AddOutcome::kAddedToReplacements;
  }

  if (!ip_allowed(b, node.endpoint4) || !ip_allowed(b, node.endpoint6)) {
    ++counters_.ip_limit_refusals;
    return AddOutcome::kIpLimit;
  }
  if (bucket_count_[b] < config_.bucket_size) {
    PeerEntry& e = bucket_entries(b)[bucket_count_[b]++];
    fill_entry(e, node, now, verified);
    count_ips(e, +1);
    count_flags(e.protocols, +1);
    ++size_;
    ++counters_.inserted;
    return AddOutcome::kInserted;
  }
  if (config_.replacements == 0) {
    ++counters_.bucket_full_refusals;
    return AddOutcome::kBucketFull;
  }
  PeerEntry* r = replacement_entries(b);
  PeerEntry* slot = nullptr;
  if (replacement_count_[b] < config_.replacements) {
    slot = &r[replacement_count_[b]++];
  } else {
    // Evict the least recent replacement; an unverified node may only evict unverified ones.
    for (std::size_t i = 0; i < replacement_count_[b]; ++i) {
      if ((verified || !r[i].verified()) && (slot == nullptr || recency(r[i]) < recency(*slot))) {
        slot = &r[i];
      }
    }
    if (slot == nullptr) {
      ++counters_.bucket_full_refusals;
      return AddOutcome::kBucketFull;
    }
    count_ips(*slot, -1);
  }
  fill_entry(*slot, node, now, verified);
  count_ips(*slot, +1);
  return AddOutcome::kAddedToReplacements;
}

AddOutcome PeerTable::add_seen(const PeerInfo& node, std::int64_t now) noexcept {
  return add(node, now, true);
}

AddOutcome PeerTable::add_found(const PeerInfo& node, std::int64_t now) noexcept {
  return add(node, now, false);
}

// ---- updates -----------------------------------------------------------------------------

UpdateOutcome PeerTable::set_endpoint(const Slot& s, const Endpoint& ep) noexcept {
  PeerEntry& e = at(s);
  Endpoint& current = ep.ip.is_v4() ? e.endpoint4 : e.endpoint6;
  if (current == ep) {
    return UpdateOutcome::kUnchanged;
  }
  const bool same = current.valid() && same_subnet(current.ip, ep.ip);
  if (!same && !ip_allowed(s.bucket, ep)) {
    ++counters_.ip_limit_refusals;
    return UpdateOutcome::kIpLimit;
  }
  count_ips(e, -1);
  current = ep;
  count_ips(e, +1);
  return UpdateOutcome::kUpdated;
}

UpdateOutcome PeerTable::update_endpoint(const NodeId& id, const Endpoint& endpoint) noexcept {
  if (!endpoint.valid()) {
    return UpdateOutcome::kInvalid;
  }
  const Slot s = locate(id);
  if (!s.found()) {
    return UpdateOutcome::kNotFound;
  }
  return set_endpoint(s, endpoint);
}

UpdateOutcome PeerTable::update_enr(const NodeId& id, ByteView raw, std::uint64_t seq) noexcept {
  if (raw.empty() || raw.size() > kMaxEnrSize) {
    return UpdateOutcome::kInvalid;
  }
  const Slot s = locate(id);
  if (!s.found()) {
    return UpdateOutcome::kNotFound;
  }
  PeerEntry& e = at(s);
  if (e.enr_size != 0 && seq <= e.enr_seq) {
    return UpdateOutcome::kUnchanged;
  }
  std::memcpy(e.enr.data(), raw.data(), raw.size());
  e.enr_size = static_cast<std::uint16_t>(raw.size());
  e.enr_seq = seq;
  return UpdateOutcome::kUpdated;
}

UpdateOutcome PeerTable::mark_alive(const NodeId& id, Protocol proto, std::int64_t now) noexcept {
  const Slot s = locate(id);
  if (!s.found()) {
    return UpdateOutcome::kNotFound;
  }
  PeerEntry& e = at(s);
  e.last_seen_ns = now;
  Liveness& l = e.live_on(proto);
  l.last_check_ns = now;
  ++l.checks_passed;
  l.checks_failed = 0;
  if (proto == Protocol::kV4) {
    e.bond_ns = now;
  }
  add_flags(s, flag_of(proto));
  if (s.replacement && bucket_count_[s.bucket] < config_.bucket_size) {
    promote(s.bucket, s.index);
  }
  return UpdateOutcome::kUpdated;
}

// ---- removal -----------------------------------------------------------------------------

int PeerTable::best_replacement(int b) const noexcept {
  const PeerEntry* r = replacement_entries(b);
  int best = -1;
  for (std::size_t i = 0; i < replacement_count_[b]; ++i) {
    if (best < 0) {
      best = static_cast<int>(i);
      continue;
    }
    const PeerEntry& c = r[best];
    if (r[i].verified() != c.verified() ? r[i].verified() : recency(r[i]) > recency(c)) {
      best = static_cast<int>(i);
    }
  }
  return best;
}

void PeerTable::erase_replacement(int b, std::size_t index) noexcept {
  PeerEntry* r = replacement_entries(b);
  const std::size_t last = --replacement_count_[b];
  if (index != last) {
    r[index] = r[last];
  }
}

void PeerTable::promote(int b, std::size_t index) noexcept {
  PeerEntry& dst = bucket_entries(b)[bucket_count_[b]++];
  dst = replacement_entries(b)[index];  // its IPs stay counted: replacements count too
  erase_replacement(b, index);
  count_flags(dst.protocols, +1);
  ++size_;
  ++counters_.promoted;
}

bool PeerTable::erase(const Slot& s) noexcept {
  count_ips(at(s), -1);
  if (s.replacement) {
    erase_replacement(s.bucket, s.index);
    return false;
  }
  PeerEntry* e = bucket_entries(s.bucket);
  count_flags(e[s.index].protocols, -1);
  const std::size_t last = --bucket_count_[s.bucket];
  if (s.index != last) {
    e[s.index] = e[last];
  }
  --size_;
  ++counters_.removed;
  const int r = best_replacement(s.bucket);
  if (r < 0) {
    return false;
  }
  promote(s.bucket, static_cast<std::size_t>(r));
  return true;
}

void PeerTable::drop_protocol(const Slot& s, Protocol p) noexcept {
  PeerEntry& e = at(s);
  const std::uint8_t flag = flag_of(p);
  if (!s.replacement && (e.protocols & flag) != 0) {
    count_flags(flag, -1);
  }
  e.protocols = static_cast<std::uint8_t>(e.protocols & ~flag);
  e.live_on(p) = Liveness{};
}

FailOutcome PeerTable::mark_failed(const NodeId& id, Protocol proto, std::int64_t now) noexcept {
  const Slot s = locate(id);
  if (!s.found()) {
    return FailOutcome::kNotFound;
  }
  PeerEntry& e = at(s);
  Liveness& l = e.live_on(proto);
  l.last_check_ns = now;
  if (l.checks_failed < std::numeric_limits<std::uint16_t>::max()) {
    ++l.checks_failed;
  }
  // Another protocol keeps the entry: only proto goes (at once for a replacement).
  const bool others = (e.protocols & ~flag_of(proto)) != 0;
  if (s.replacement) {
    if (others) {
      drop_protocol(s, proto);
      return FailOutcome::kDropped;
    }
    (void)erase(s);
    return FailOutcome::kRemoved;
  }
  if (l.checks_failed < config_.max_failures) {
    return FailOutcome::kDemoted;
  }
  if (others) {
    drop_protocol(s, proto);
    return FailOutcome::kDropped;
  }
  if (replacement_count_[s.bucket] == 0 && size_ <= config_.min_live) {
    ++counters_.protected_by_min_live;
    return FailOutcome::kProtected;
  }
  return erase(s) ? FailOutcome::kReplaced : FailOutcome::kRemoved;
}

RemoveOutcome PeerTable::remove(const NodeId& id) noexcept {
  const Slot s = locate(id);
  if (!s.found()) {
    return RemoveOutcome::kNotFound;
  }
  if (s.replacement) {
    (void)erase(s);
    return RemoveOutcome::kRemovedReplacement;
  }
  return erase(s) ? RemoveOutcome::kReplaced : RemoveOutcome::kRemoved;
}

std::size_t PeerTable::prune_stale(std::int64_t now, std::int64_t max_age_ns) noexcept {
  std::size_t removed = 0;
  for (int b = 0; b < kNumBuckets; ++b) {
    for (std::size_t i = 0; i < bucket_count_[b];) {
      const PeerEntry& e = bucket_entries(b)[i];
      const std::int64_t seen = e.verified() ? e.last_seen_ns : e.added_ns;
      const bool stale = e.checks_failed() > 0 && now - seen > max_age_ns;
      if (!stale) {
        ++i;
        continue;
      }
      if (replacement_count_[b] == 0 && size_ <= config_.min_live) {
        ++counters_.protected_by_min_live;
        ++i;
        continue;
      }
      (void)erase({b, false, i});  // the last entry moved into i: look at i again
      ++removed;
    }
  }
  return removed;
}

// ---- queries -----------------------------------------------------------------------------

bool PeerTable::live_for(const PeerEntry& e, std::uint8_t flags) noexcept {
  if (flags == 0) {
    return e.live(Protocol::kV4) || e.live(Protocol::kV5);
  }
  for (Protocol p : kProtocols) {
    if ((flags & flag_of(p)) != 0 && !e.live(p)) {
      return false;
    }
  }
  return true;
}

std::size_t PeerTable::closest(const NodeId& target, std::size_t n, std::span<const PeerEntry*> out,
                               std::uint8_t required_flags, bool prefer_live) const noexcept {
  n = std::min(n, out.size());
  std::size_t count = 0;
  const PeerEntry* sorted[255];
  // The pass: 0 takes every matching entry; with prefer_live, 1 takes the live ones and
  // 2 the others.
  int pass = prefer_live ? 1 : 0;
  // Appends bucket `dist`'s matching entries in distance order; true once out is full.
  const auto take = [&](int dist) {
    const int b = dist - 1;
    std::size_t m = 0;
    const PeerEntry* e = bucket_entries(b);
    for (std::size_t i = 0; i < bucket_count_[b]; ++i) {
      if ((e[i].protocols & required_flags) == required_flags &&
          (pass == 0 || live_for(e[i], required_flags) == (pass == 1))) {
        sorted[m++] = &e[i];
      }
    }
    std::sort(sorted, sorted + m, [&](const PeerEntry* x, const PeerEntry* y) {
      return compare_distance(target, x->id, y->id) < 0;
    });
    for (std::size_t i = 0; i < m && count < n; ++i) {
      out[count++] = sorted[i];
    }
    return count >= n;
  };
  if (n == 0) {
    return 0;
  }
  // Every bucket is one contiguous range of distance to the target:
  //  - bucket d = logdist(self, target) holds everything at distance < 2^(d-1);
  //  - a bucket i < d is at log distance d from target, and ordered among the others by
  //    bit i-1 of (self ^ target): set -> closer than all lower buckets, clear -> farther;
  //  - a bucket i > d is at log distance exactly i.
  const int d = log_distance(self_, target);
  const NodeId s = xor_distance(self_, target);
  // One walk over the buckets in distance order; true once out is full.
  const auto walk = [&] {
    if (d > 0 && take(d)) {
      return true;
    }
    for (int i = d - 1; i >= 1; --i) {
      if (bit_at(s, i - 1) && take(i)) {
        return true;
      }
    }
    for (int i = 1; i < d; ++i) {
      if (!bit_at(s, i - 1) && take(i)) {
        return true;
      }
    }
    for (int i = d + 1; i <= kNumBuckets; ++i) {
      if (take(i)) {
        return true;
      }
    }
    return false;
  };
  if (walk() || pass == 0) {
    return count;
  }
  pass = 2;
  (void)walk();
  return count;
}

std::size_t PeerTable::nodes_at_distance(int d, std::span<const PeerEntry*> out,
                                         std::uint8_t required_flags,
                                         bool prefer_live) const noexcept {
  if (d < 1 || d > kNumBuckets) {
    return 0;
  }
  std::size_t count = 0;
  const PeerEntry* e = bucket_entries(d - 1);
  // Pass 0: every matching entry; with prefer_live, pass 1 the live ones, pass 2 the rest.
  for (int pass = prefer_live ? 1 : 0; pass <= (prefer_live ? 2 : 0); ++pass) {
    for (std::size_t i = 0; i < bucket_count_[d - 1] && count < out.size(); ++i) {
      if ((e[i].protocols & required_flags) == required_flags &&
          (pass == 0 || live_for(e[i], required_flags) == (pass == 1))) {
        out[count++] = &e[i];
      }
    }
  }
  return count;
}

bool PeerTable::is_due(const PeerEntry& e, Protocol proto, std::int64_t now) const noexcept {
  const Liveness& l = e.live_on(proto);
  if (!l.checked()) {
    return true;
  }
  const std::int64_t interval = l.checks_failed > 0 ? config_.failed_recheck_interval_ns
                                                    : config_.revalidation_interval_ns(proto);
  return now - l.last_check_ns >= interval;
}

const PeerEntry* PeerTable::revalidation_candidate(std::int64_t now, Protocol proto) noexcept {
  const std::uint8_t flag = flag_of(proto);
  // Entries with a failed check pending come first, wherever they are: a dead node should
  // reach max_failures in a few ticks, not in a few sweeps of the whole table.
  Liveness* failing = nullptr;
  PeerEntry* failing_entry = nullptr;
  for (int b = 0; b < kNumBuckets; ++b) {
    PeerEntry* e = bucket_entries(b);
    for (std::size_t i = 0; i < bucket_count_[b]; ++i) {
      Liveness& l = e[i].live_on(proto);
      if ((e[i].protocols & flag) != 0 && l.checks_failed > 0 && is_due(e[i], proto, now) &&
          (failing == nullptr || l.last_check_ns < failing->last_check_ns)) {
        failing = &l;
        failing_entry = &e[i];
      }
    }
  }
  if (failing != nullptr) {
    // The check starts now: until its outcome (mark_alive/mark_failed) or the next recheck
    // interval the entry is not handed out again for proto, so one failing node whose check
    // is still in flight does not take every revalidation tick (and starve the others).
    failing->last_check_ns = now;
    return failing_entry;
  }
  int& cursor = reval_cursor_[index_of(proto)];
  for (int step = 0; step < kNumBuckets; ++step) {
    const int b = (cursor + step) % kNumBuckets;
    PeerEntry* e = bucket_entries(b);
    PeerEntry* best = nullptr;
    for (std::size_t i = 0; i < bucket_count_[b]; ++i) {
      if ((e[i].protocols & flag) == 0 || !is_due(e[i], proto, now)) {
        continue;
      }
      const Liveness& l = e[i].live_on(proto);
      const bool never = !l.checked();
      const bool best_never = best && !best->live_on(proto).checked();
      if (best == nullptr || (never && !best_never) ||
          (never == best_never && l.last_check_ns < best->live_on(proto).last_check_ns)) {
        best = &e[i];
      }
    }
    if (best != nullptr) {
      cursor = (b + 1) % kNumBuckets;
      return best;
    }
  }
  return nullptr;
}

// ---- statistics --------------------------------------------------------------------------

std::size_t PeerTable::replacements_size() const {
  std::size_t n = 0;
  for (auto c : replacement_count_) {
    n += c;
  }
  return n;
}

std::size_t PeerTable::bucket_size(int d) const {
  return d >= 1 && d <= kNumBuckets ? bucket_count_[d - 1] : 0;
}

std::size_t PeerTable::replacement_size(int d) const {
  return d >= 1 && d <= kNumBuckets ? replacement_count_[d - 1] : 0;
}

std::size_t PeerTable::buckets_in_use() const {
  std::size_t n = 0;
  for (auto c : bucket_count_) {
    n += c != 0 ? 1 : 0;
  }
  return n;
}

}  // namespace discplane::disc
