// Node sets (nodes.json, see crawl.h) and `discctl nodeset filter`: the filters go-ethereum's
// `devp2p nodeset filter` offers, applied to a loaded CrawlDb. Pure: the caller reads and
// writes the files and passes the current time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "discplane/common/result.h"
#include "discplane/control/crawl.h"
#include "discplane/discovery/net_policy.h"
#include "discplane/wire/enr.h"

namespace discplane::control {

// An Ethereum network's EIP-2124 fork history, oldest first: fork hash and the activation
// (block or timestamp) of the next fork, 0 after the last one. Values: go-ethereum's
// core/forkid tests (mainnet, sepolia, hoodi) and, for holesky, the CRC32 chain over its
// genesis hash and fork timestamps (Prague 0xdfbd9bed matches geth's test; later ones are
// computed the same way). See docs/node-lists.md.
struct EthNetwork {
  std::string_view name;
  std::vector<enr::ForkId> forks;
};
// "mainnet", "sepolia", "holesky", "hoodi"; nullopt for other names.
[[nodiscard]] std::optional<EthNetwork> eth_network(std::string_view name);

// Which `eth` entries a filter accepts: a named network's current fork (any announced next),
// or an earlier fork of it whose announced next is the following fork (a node still syncing
// that knows the schedule), as EIP-2124's rules accept them from a node at the head. A bare
// FORKID ("0x07c9462e" or "07c9462e") accepts that hash with any next.
struct EthFilter {
  std::vector<enr::ForkId> forks;
  bool exact_hash = false;
  [[nodiscard]] static Result<EthFilter, std::string> parse(std::string_view network_or_forkid);
  bool accepts(const enr::ForkId& id) const;
};

struct NodeFilter {
  std::optional<std::size_t> limit;                // the N best by score (then lastResponse, id)
  std::optional<disc::Cidr> ip;                    // the record's IPv4 or IPv6 address inside
  std::optional<std::int64_t> min_age_s;           // lastResponse - firstResponse >= this
  std::optional<EthFilter> eth;                    // the record's `eth` entry accepted
  std::uint8_t protocols = 0;                      // kFlagV4 | kFlagV5 wanted (0: any)
  std::optional<std::int64_t> responded_within_s;  // lastResponse >= now - this

  // Whether one node passes every filter but the limit.
  bool matches(const CrawlNode& node, std::int64_t now_s) const;
  // The filtered set; the limit applies last.
  CrawlDb apply(const CrawlDb& db, std::int64_t now_s) const;
};

}  // namespace discplane::control
