// The node database: the PeerTable's entries saved between runs and reloaded as seeds, so a
// restarted appliance rejoins through the nodes it knew rather than only the bootnodes.
//
// File format (version 1), text, three parts:
//   line 1  "discplane-nodedb v1"
//   line 2  "sha256 <64 lowercase hex> <body length in bytes>"
//   body    JSON: {"saved_at": unix s, "nodes": [{id, public_key, endpoint4, endpoint6, enr,
//           enr_seq, protocols, last_seen, checks_passed, checks_failed}, ...]}
// The header is matched exactly and the checksum covers the whole body, so a truncated, bit
// flipped, foreign or newer file is detected, never half loaded. Saves are atomic: a temp file
// in the same directory is written, fsynced and renamed over the old one, then the directory
// is fsynced; a crash leaves the old or the new file, never a torn one. A bad file is renamed
// aside ("<path>.corrupt-<unix time>") and the appliance starts with an empty table.
// Control plane only (allocates, does file I/O); never called on the dataplane core.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "discplane/common/bytes.h"
#include "discplane/common/endpoint.h"
#include "discplane/common/result.h"
#include "discplane/control/core_snapshot.h"
#include "discplane/crypto/secp256k1.h"
#include "discplane/discovery/server.h"

namespace discplane::control {

inline constexpr std::string_view kNodeDbMagic = "discplane-nodedb";
inline constexpr int kNodeDbVersion = 1;

// One saved node: what a seed needs, plus what the table knew of its health.
struct NodeRecord {
  NodeId id{};
  crypto::PublicKey public_key{};
  Endpoint endpoint4;  // !valid(): unknown
  Endpoint endpoint6;
  Bytes enr;  // raw record; empty when unknown
  std::uint64_t enr_seq = 0;
  std::uint8_t protocols = 0;       // disc::kFlagV4 | disc::kFlagV5
  std::int64_t last_seen_unix = 0;  // 0: never heard from
  std::uint32_t checks_passed = 0;
  std::uint16_t checks_failed = 0;

  friend bool operator==(const NodeRecord&, const NodeRecord&) = default;
};

struct NodeDb {
  std::int64_t saved_at_unix = 0;
  std::vector<NodeRecord> nodes;
};

struct NodeDbError {
  enum class Kind : std::uint8_t {
    kNotFound,      // no file: a first start, not an error to report
    kIo,            // open/read/write/fsync/rename failed (errno in the message)
    kEmpty,         // zero bytes
    kForeign,       // does not start with our magic: not a node database of ours
    kWrongVersion,  // ours, but a version this build does not read
    kTruncated,     // header or body shorter than announced
    kChecksum,      // body does not match its SHA-256
    kMalformed,     // header syntax, JSON or a field is wrong (checksum was fine)
  };
  Kind kind = Kind::kMalformed;
  std::string message;

  // "kind: message"
  std::string to_string() const;
};
std::string_view to_string(NodeDbError::Kind kind);

// The file's bytes for `db` (deterministic for equal input).
[[nodiscard]] std::string encode_node_db(const NodeDb& db);
// Parses and verifies a whole file's bytes.
[[nodiscard]] Result<NodeDb, NodeDbError> decode_node_db(std::string_view file);

// Atomic save (temp file, fsync, rename, fsync of the directory). Creates the directory.
[[nodiscard]] Result<void, NodeDbError> save_node_db(const std::filesystem::path& path,
                                                     const NodeDb& db);
[[nodiscard]] Result<NodeDb, NodeDbError> load_node_db(const std::filesystem::path& path);

// Renames a bad file to "<path>.corrupt-<unix_time>" (a numeric suffix is added if that name
// is taken). Returns the new path.
[[nodiscard]] Result<std::filesystem::path, NodeDbError> set_aside_node_db(
    const std::filesystem::path& path, std::int64_t unix_time);

// Removes the "<path>.tmp-<pid>" files that an atomic save (this file's, CrawlDb's) killed
// mid-write left next to `path`, when process <pid> no longer runs (a live writer's file is
// kept). Called at start for the node DB and nodes.json, so repeated crashes do not pile them
// up. Returns how many were removed; errors are ignored (a file that cannot be removed stays).
std::size_t remove_stale_temp_files(const std::filesystem::path& path) noexcept;

// The table of a snapshot as records (last seen converted from monotonic to wall time).
[[nodiscard]] NodeDb node_db_of(const CoreSnapshot& snapshot);
// A record as an engine seed (its ENR when it has one, else its endpoints).
[[nodiscard]] disc::NodeSeed seed_of(const NodeRecord& record);

// What the appliance does at start: loads `path`; a missing file gives no seeds silently; a
// bad one is reported on `log` (one line), set aside, and gives no seeds. Never throws.
[[nodiscard]] std::vector<disc::NodeSeed> load_node_db_seeds(const std::filesystem::path& path,
                                                             std::FILE* log);
// What the appliance does periodically and at shutdown: saves the snapshot's table. An empty
// table is not saved (the last file is kept: a short run that reached nobody must not erase
// what an earlier run learned). Failures are reported on `log`. Returns true if it wrote.
bool save_node_db_from(const std::filesystem::path& path, const CoreSnapshot& snapshot,
                       std::FILE* log);

}  // namespace discplane::control
