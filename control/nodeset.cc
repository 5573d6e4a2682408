// Node-set filters (see nodeset.h).
#include "discplane/control/nodeset.h"

#include <algorithm>
#include <array>
#include <charconv>

#include "discplane/discovery/peer_table.h"
#include "discplane/wire/enode.h"

namespace discplane::control {

namespace {

enr::ForkId fork(std::uint32_t hash, std::uint64_t next) {
  enr::ForkId f;
  f.hash = {static_cast<std::uint8_t>(hash >> 24), static_cast<std::uint8_t>(hash >> 16),
            static_cast<std::uint8_t>(hash >> 8), static_cast<std::uint8_t>(hash)};
  f.next = next;
  return f;
}

// The IP addresses a nodes.json entry names (record text already checked by the loader).
std::vector<IpAddress> addresses_of(const CrawlNode& n) {
  std::vector<IpAddress> out;
  if (n.has_enr) {
    if (auto r = enr::parse_text(n.record)) {
      if (auto ip = r->ip()) {
        out.push_back(*ip);
      }
      if (auto ip = r->ip6()) {
        out.push_back(*ip);
      }
    }
  } else if (auto u = enode::parse(n.record)) {
    out.push_back(u->ip);
  }
  return out;
}

}  // namespace

std::optional<EthNetwork> eth_network(std::string_view name) {
  // Each entry: the fork hash in force and the activation of the fork after it.
  if (name == "mainnet") {
    return EthNetwork{
        "mainnet",
        {fork(0xf0afd0e3, 1681338455), fork(0xdce96c2d, 1710338135), fork(0x9f3d2254, 1746612311),
         fork(0xc376cf8b, 1764798551), fork(0x5167e2a6, 1765290071), fork(0xcba2a1c0, 1767747671),
         fork(0x07c9462e, 0)}};
  }
  if (name == "sepolia") {
    return EthNetwork{
        "sepolia",
        {fork(0xce82fa52, 1706655072), fork(0xa6260961, 1741159776), fork(0x1cd80755, 1760427360),
         fork(0x55369a33, 1761017184), fork(0xa47328a8, 1761607008), fork(0x4463073b, 0)}};
  }
  if (name == "holesky") {
    return EthNetwork{
        "holesky",
        {fork(0x9b192ad0, 1740434112), fork(0xdfbd9bed, 1759308480), fork(0x783def52, 1759800000),
         fork(0xa280a45c, 1760389824), fork(0x9bc6cb31, 0)}};
  }
  if (name == "hoodi") {
    return EthNetwork{
        "hoodi",
        {fork(0xbef71d30, 1742999832), fork(0x0929e24e, 1761677592), fork(0xe7e0e7ff, 1762365720),
         fork(0x3893353e, 1762955544), fork(0x23aa1351, 0)}};
  }
  return std::nullopt;
}

Result<EthFilter, std::string> EthFilter::parse(std::string_view text) {
  if (auto net = eth_network(text)) {
    return EthFilter{std::move(net->forks), false};
  }
  std::string_view hex = text;
  if (hex.starts_with("0x") || hex.starts_with("0X")) {
    hex.remove_prefix(2);
  }
  std::uint32_t hash = 0;
  auto [ptr, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), hash, 16);
  if (hex.size() != 8 || ec != std::errc() || ptr != hex.data() + hex.size()) {
    return fail(
        "--eth-network must be mainnet, sepolia, holesky, hoodi or a 4-byte fork hash "
        "in hex (0x07c9462e), not \"" +
        std::string(text) + "\"");
  }
  return EthFilter{{fork(hash, 0)}, true};
}

bool EthFilter::accepts(const enr::ForkId& id) const {
  if (forks.empty()) {
    return false;
  }
  if (exact_hash || id.hash == forks.back().hash) {
    return id.hash == forks.back().hash;
  }
  for (std::size_t i = 0; i + 1 < forks.size(); ++i) {
    if (forks[i].hash == id.hash) {
      return id.next == forks[i].next;  // behind, but aware of the fork that follows
    }
  }
  return false;
}

bool NodeFilter::matches(const CrawlNode& n, std::int64_t now_s) const {
  if (ip) {
    const auto addrs = addresses_of(n);
    if (std::none_of(addrs.begin(), addrs.end(),
                     [&](const IpAddress& a) { return ip->contains(a); })) {
      return false;
    }
  }
  if (min_age_s && (n.first_response == 0 || n.last_response - n.first_response < *min_age_s)) {
    return false;
  }
  if (responded_within_s &&
      (n.last_response == 0 || n.last_response < now_s - *responded_within_s)) {
    return false;
  }
  if (protocols != 0) {
    // Unknown (a file from another crawler): an enode URL is discv4 only, a record may be
    // either.
    const std::uint8_t have = n.protocols != 0 ? n.protocols
                              : n.has_enr      ? (disc::kFlagV4 | disc::kFlagV5)
                                               : disc::kFlagV4;
    if ((have & protocols) != protocols) {
      return false;
    }
  }
  if (eth) {
    if (!n.has_enr) {
      return false;
    }
    auto r = enr::parse_text(n.record);
    const auto id = r ? r->eth() : std::nullopt;
    if (!id || !eth->accepts(*id)) {
      return false;
    }
  }
  return true;
}

CrawlDb NodeFilter::apply(const CrawlDb& db, std::int64_t now_s) const {
  std::vector<std::pair<NodeId, const CrawlNode*>> kept;
  for (const auto& [id, n] : db.nodes()) {
    if (matches(n, now_s)) {
      kept.emplace_back(id, &n);
    }
  }
  if (limit && kept.size() > *limit) {
    std::stable_sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) {
      if (a.second->score != b.second->score) {
        return a.second->score > b.second->score;
      }
      return a.second->last_response > b.second->last_response;
    });
    kept.resize(*limit);
  }
  CrawlDb out;
  for (const auto& [id, n] : kept) {
    out.put(id, *n);
  }
  return out;
}

}  // namespace discplane::control
