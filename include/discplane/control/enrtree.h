// EIP-1459 node lists in DNS ("enrtree"): the codec and verification of the tree entries, a
// builder that makes and signs a tree (tests, and operators who publish one), and TreeSync,
// which walks a tree through a caller-supplied TXT lookup with bounds on entries, depth and
// linked trees. Pure: no sockets here (control/dns_client.cc does the DNS, dns_discovery.cc the
// periodic resync). Entries are content-addressed (the name is the hash of the text), so a
// verified entry never changes: a resync only fetches the hashes it has not seen yet.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "discplane/common/bytes.h"
#include "discplane/common/result.h"
#include "discplane/crypto/secp256k1.h"
#include "discplane/wire/enr.h"

namespace discplane::control::enrtree {

enum class TreeError : std::uint8_t {
  kBadUrl,          // not enrtree://<base32 compressed key>@<domain>
  kBadPublicKey,    // the key is not a valid compressed secp256k1 point
  kBadRoot,         // the root TXT is not "enrtree-root:v1 e=.. l=.. seq=.. sig=.."
  kBadSignature,    // the root signature does not verify against the URL's key
  kSeqRollback,     // the root's seq is lower than one seen before (replay of an old tree)
  kBadEntry,        // a subtree entry that is none of branch / enr / link
  kBadHash,         // a child hash that is not base32 of 12..32 bytes
  kHashMismatch,    // an entry whose keccak256 does not start with the hash it was fetched by
  kBadEnr,          // an enr: leaf that does not decode or verify
  kWrongSubtree,    // an enr: leaf in the link tree or a link in the ENR tree
  kTooDeep,         // branch nesting over Limits::max_depth
  kTooManyEntries,  // more fetches than Limits::max_entries
  kLookupFailed,    // the TXT lookup failed (timeout, NXDOMAIN, ...)
};
inline constexpr std::size_t kTreeErrorCount = 13;
std::string_view to_string(TreeError e);

// RFC 4648 base32 (A-Z 2-7), no padding, as EIP-1459 uses for keys and hashes. Decoding
// accepts lower case too (DNS names are case-insensitive) and rejects non-canonical tails.
std::string base32_encode(ByteView in);
[[nodiscard]] std::optional<Bytes> base32_decode(std::string_view in);

// EIP-1459: hashes are abbreviated keccak256 of the entry text; 16 bytes is what geth and the
// EIP's example publish, 12 the least a client accepts.
inline constexpr std::size_t kHashBytes = 16;
inline constexpr std::size_t kMinHashBytes = 12;
// The subdomain label of an entry: base32(keccak256(text)[:16]).
std::string entry_hash(std::string_view text);
// Whether `hash` (base32, 12..32 bytes) is a prefix of keccak256(text).
[[nodiscard]] bool hash_matches(std::string_view hash, std::string_view text);

// enrtree://<key>@<domain>, also the form of a link entry.
struct Link {
  crypto::PublicKey public_key{};
  std::string domain;
  friend bool operator==(const Link&, const Link&) = default;
};
[[nodiscard]] Result<Link, TreeError> parse_url(std::string_view text);
std::string to_url(const Link& link);

struct Root {
  std::string enr_root;   // hash of the ENR subtree's top entry
  std::string link_root;  // hash of the link subtree's top entry
  std::uint64_t seq = 0;
  crypto::RecoverableSignature signature{};
  friend bool operator==(const Root&, const Root&) = default;
};
// Syntax only; verify_root() checks the signature.
[[nodiscard]] Result<Root, TreeError> parse_root(std::string_view text);
// "enrtree-root:v1 e=<e> l=<l> seq=<n>": the text the signature covers (keccak256 of it).
std::string root_signed_text(const Root& root);
std::string to_text(const Root& root);
[[nodiscard]] bool verify_root(const Root& root, const crypto::PublicKey& key);

struct Branch {
  std::vector<std::string> children;  // hashes
  friend bool operator==(const Branch&, const Branch&) = default;
};
using Entry = std::variant<Branch, Link, enr::Record>;
// A subtree entry (branch, enr: or enrtree:// link). ENRs are decoded and their signature
// verified.
[[nodiscard]] Result<Entry, TreeError> parse_entry(std::string_view text);

// A tree: its root (signature all zero until signed) and every subtree entry by hash. Made as
// go-ethereum's dnsdisc.MakeTree makes it: records sorted by node id, links in the order given,
// at most kMaxBranchChildren hashes per branch, a lone entry is its own subtree root, an empty
// list an empty branch. So both tools build the same tree from the same nodes, and a signature
// one of them made verifies on the tree the other rebuilds.
inline constexpr std::size_t kMaxBranchChildren = 13;  // 13 * 27 + 15 = 366 bytes
struct Tree {
  Root root;
  std::map<std::string, std::string> entries;  // hash -> text
  // The TXT records under `domain`: the root at `domain`, each entry at <hash>.<domain>.
  std::map<std::string, std::string> txt(std::string_view domain) const;
};
Tree make_tree(std::uint64_t seq, std::vector<enr::Record> records, const std::vector<Link>& links);
// Signs the root (keccak256 of root_signed_text, recoverable secp256k1).
void sign_tree(Tree& tree, const crypto::PrivateKey& key);
// The URL of a tree signed by `key` under `domain`.
std::string url_of(const crypto::PrivateKey& key, std::string_view domain);

// A whole tree as TXT records: name relative to the domain ("" = the root) -> text.
struct BuiltTree {
  std::map<std::string, std::string> records;
  std::string url;
};
BuiltTree build_tree(const crypto::PrivateKey& key, std::string_view domain, std::uint64_t seq,
                     const std::vector<enr::Record>& records, const std::vector<Link>& links);

// Bounds on one sync (per tree). Every fetch is one DNS query, so these also bound the
// network cost of a hostile or broken tree.
struct Limits {
  std::size_t max_entries = 5000;  // TXT lookups per tree sync, root included
  std::size_t max_depth = 16;      // branch nesting below each subtree root
  std::size_t max_trees = 16;      // trees reached through links, the first one included
};

// A TXT lookup of a full name: the strings of each record concatenated, one per record.
using TxtLookup =
    std::function<Result<std::vector<std::string>, std::string>(const std::string& name)>;

// Keeps the state of the trees it has synced (seq, root, content-addressed entries) so that a
// resync fetches the root and only the entries that changed. Not thread-safe.
class TreeSync {
 public:
  TreeSync(TxtLookup lookup, Limits limits) : lookup_(std::move(lookup)), limits_(limits) {}

  struct TreeReport {
    std::string domain;
    std::uint64_t seq = 0;
    bool changed = false;     // the root differed from the last sync (or first sync)
    std::size_t fetched = 0;  // TXT lookups done
    std::size_t records = 0;  // ENRs in the tree
    Root root;                // the verified root (valid when no error)
    std::vector<Link> links;  // the tree's link entries
    std::optional<TreeError> error;
    std::string detail;  // the failing name and reason
  };
  struct Outcome {
    // Every ENR of every reached tree (the whole list, not only what changed).
    std::vector<enr::Record> records;
    std::vector<TreeReport> trees;
  };
  // Syncs the tree behind `url` and the trees its link subtree names (breadth-first, each
  // domain at most once, at most Limits::max_trees). A tree that fails keeps the records of
  // its last good sync.
  Outcome sync(const Link& url);

 private:
  struct TreeState {
    Root root;
    bool valid = false;
    std::map<std::string, std::string> entries;  // hash -> verified text
    std::vector<enr::Record> records;
    std::vector<Link> links;
  };
  TreeReport sync_tree(const Link& link, TreeState& state);

  TxtLookup lookup_;
  Limits limits_;
  std::map<std::string, TreeState> trees_;  // by domain
};

}  // namespace discplane::control::enrtree
