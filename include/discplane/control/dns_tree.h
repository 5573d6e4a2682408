// EIP-1459 publishing on disk, in go-ethereum's `devp2p dns` tree directory layout, so both
// tools read what the other wrote:
//   <dir>/nodes.json         the node set (crawl.h format); every entry must be an enr: record
//   <dir>/enrtree-info.json  {"url": "enrtree://KEY@DOMAIN", "seq": N, "signature": "...",
//                             "links": ["enrtree://..."], "lastModified": "RFC 3339"}
// `sign` builds the tree from nodes.json and the links (enrtree.h make_tree, geth's layout),
// signs its root and writes enrtree-info.json and txt.json (name -> TXT text, geth's
// `dns to-txt` format, the tree as published). Loading a signed directory rebuilds the tree and
// checks the stored signature against the URL's key, as geth does: a nodes.json edited after
// signing is refused.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "discplane/common/result.h"
#include "discplane/control/crawl.h"
#include "discplane/control/enrtree.h"

namespace discplane::control::dnstree {

struct Meta {
  std::string url;  // "" before the first signing
  std::uint64_t seq = 0;
  std::string signature;  // base64url of the 65-byte root signature; "" unsigned
  std::vector<std::string> links;
  std::int64_t last_modified = 0;  // Unix seconds
};

struct Definition {
  Meta meta;
  std::vector<enr::Record> records;
  std::vector<enrtree::Link> links;
};

// Reads <dir>/nodes.json (required) and <dir>/enrtree-info.json (optional). Errors name the
// file and the entry.
[[nodiscard]] Result<Definition, std::string> load_definition(const std::filesystem::path& dir);

struct SignOptions {
  std::string domain;
  std::optional<std::uint64_t> seq;  // default: the stored seq + 1 (1 for a new directory)
  std::int64_t now_s = 0;            // lastModified
};
struct Signed {
  std::string url;
  std::uint64_t seq = 0;
  std::size_t records = 0;
  enrtree::Tree tree;
};
// Signs the directory's tree and writes enrtree-info.json and txt.json.
[[nodiscard]] Result<Signed, std::string> sign_directory(const std::filesystem::path& dir,
                                                         const crypto::PrivateKey& key,
                                                         const SignOptions& options);

// A signed directory: the rebuilt tree (signature checked) and its domain.
struct Published {
  std::string domain;
  enrtree::Tree tree;
};
[[nodiscard]] Result<Published, std::string> load_signed(const std::filesystem::path& dir);

enum class ZoneFormat : std::uint8_t { kZoneFile, kDnsmasq };
struct ZoneOptions {
  ZoneFormat format = ZoneFormat::kZoneFile;
  std::uint32_t ttl = 300;
  // Zone file only: also write SOA and NS records so the output is a whole zone (NSD, BIND).
  // `ns` names the zone's name server (absolute, outside the zone needs no glue).
  bool soa = false;
  std::string ns = "localhost.";
  std::uint32_t serial = 1;
};
// The TXT records (full name -> text) as a master zone file ($ORIGIN, $TTL, one TXT line per
// name, texts over 255 bytes split into several character-strings) or as dnsmasq
// `txt-record=` lines.
std::string to_zone(const std::map<std::string, std::string>& txt, const std::string& domain,
                    const ZoneOptions& options);

// The records of a synced tree as a nodes.json database (seq and record; times zero: nobody
// here contacted them).
CrawlDb to_node_set(const std::vector<enr::Record>& records);
// enrtree-info.json text, and writing it into a directory.
std::string meta_json(const Meta& meta);
[[nodiscard]] Result<void, std::string> write_meta(const std::filesystem::path& dir,
                                                   const Meta& meta);

}  // namespace discplane::control::dnstree
