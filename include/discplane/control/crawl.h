// Crawl mode, control side: the database of every node the engine reported (not only table
// entries) and its nodes.json file in go-ethereum's `devp2p` crawler format, plus the crawl's
// lookup targets and progress line.
//
// Data flow: the engine (dataplane core) calls EngineObserver::on_node_event; the appliance's
// observer copies the event into a fixed-size CrawlEvent and pushes it on an SPSC ring (full:
// dropped and counted, never blocks). The control thread drains the ring into a CrawlDb, stamps
// the wall-clock second, prints a progress line every progress_interval, and writes nodes.json
// atomically (temp file, fsync, rename, fsync of the directory) every write_interval and at
// shutdown.
//
// nodes.json (cmd/devp2p/nodeset.go): one JSON object keyed by the node id in lowercase hex,
// sorted, indented by 4 spaces; each value is
//   {"seq": N, "record": "enr:..." | "enode://...", "score": N (omitted when 0),
//    "firstResponse": T, "lastResponse": T, "lastCheck": T,
//    "protocols": ["v4", "v5"] (ours: the discovery protocols it answered or was named in;
//    omitted when unknown; geth's loader ignores the field)}
// with T in RFC 3339 UTC at whole seconds ("2024-05-01T12:00:00Z") and Go's zero time
// "0001-01-01T00:00:00Z" for never. Each node that answers has its own latest record fetched
// from it by the engine (crawl mode: ENRRequest / FINDNODE 0 when its PONG announces a newer
// seq), so only discv4 nodes without EIP-868 and nodes only named in Neighbors are written as
// enode URLs, which geth's loader also accepts.
// Field meaning here: firstResponse/lastResponse = first/last verified contact (a signed
// discv4 packet after the bond, a discv5 answer or handshake); lastCheck = last time we heard
// from or of the node (a contact, or its record in someone's answer); score = number of
// distinct score_interval windows (default 1 min) in which the node responded (geth: checks
// passed; we see no failed checks, so the score is never halved).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "discplane/common/bytes.h"
#include "discplane/common/endpoint.h"
#include "discplane/common/result.h"
#include "discplane/control/config.h"
#include "discplane/control/spsc_ring.h"
#include "discplane/crypto/random.h"
#include "discplane/crypto/secp256k1.h"
#include "discplane/discovery/server.h"

namespace discplane::control {

// One engine node event, flattened for the core -> control ring (trivially copyable).
struct CrawlEvent {
  disc::NodeEvent::Kind kind = disc::NodeEvent::Kind::kLearned;
  disc::Protocol protocol = disc::Protocol::kV4;
  std::uint16_t record_size = 0;  // 0: no record
  NodeId id{};
  crypto::PublicKey public_key{};
  Endpoint endpoint;
  std::array<std::uint8_t, disc::kMaxEnrSize> record{};

  static CrawlEvent of(const disc::NodeEvent& e) noexcept;
};

// One nodes.json entry. Times are Unix seconds, 0 = never (Go's zero time in the file).
struct CrawlNode {
  std::uint64_t seq = 0;
  std::string record;  // "enr:..." or "enode://..."
  bool has_enr = false;
  int score = 0;
  std::int64_t first_response = 0;
  std::int64_t last_response = 0;
  std::int64_t last_check = 0;
  std::int64_t last_scored = 0;  // not in the file: start of the last scored window
  std::uint8_t protocols = 0;    // kFlagV4 | kFlagV5 seen ("protocols"; 0: unknown)
};

// "2024-05-01T12:00:00Z"; 0 -> "0001-01-01T00:00:00Z".
std::string format_crawl_time(std::int64_t unix_s);
// RFC 3339 as Go writes it (fraction and offset allowed, fraction dropped); nullopt if bad.
// The zero time parses to 0.
std::optional<std::int64_t> parse_crawl_time(std::string_view text);

class CrawlDb {
 public:
  explicit CrawlDb(std::int64_t score_interval_s = 60) : score_interval_s_(score_interval_s) {}

  // Merges one event seen at `unix_s`. Returns true when the node was new.
  bool apply(const CrawlEvent& event, std::int64_t unix_s);

  // The file's text (see the header comment).
  std::string to_json() const;
  // Merges a nodes.json text into the database (resume): unknown nodes are added, known ones
  // keep the newer record and the wider time range. Every entry is checked (id hex, record
  // signature, id matches record, times); the first bad one fails the whole load with its key.
  [[nodiscard]] Result<std::size_t, std::string> merge_json(std::string_view text);
  [[nodiscard]] Result<std::size_t, std::string> load(const std::filesystem::path& path);
  // Atomic write: `path`.tmp-PID in the same directory, fsync, rename, fsync the directory.
  [[nodiscard]] Result<void, std::string> save(const std::filesystem::path& path) const;

  // Adds or replaces one node as it is (nodeset filter, dns sync).
  void put(const NodeId& id, CrawlNode node);

  const std::map<NodeId, CrawlNode>& nodes() const { return nodes_; }
  std::size_t size() const { return nodes_.size(); }
  std::size_t responded() const { return responded_; }

 private:
  void set_record(CrawlNode& n, const CrawlEvent& e);
  std::int64_t score_interval_s_;
  std::map<NodeId, CrawlNode> nodes_;
  std::size_t responded_ = 0;  // nodes with a first response
};

// Crawl lookup targets: discv5 lookups sweep the id space in bit-reversed order of a counter
// in the top 16 bits (so successive targets are spread evenly and 65536 lookups cover every
// 16-bit prefix once), random below; discv4 lookups can only name a public key (the target id
// is its keccak), so they get random targets (the engine picks them).
class CrawlTargets {
 public:
  explicit CrawlTargets(crypto::RandomSource& rng) : rng_(rng) {}
  NodeId next_v5();
  std::uint64_t issued() const { return counter_; }

 private:
  crypto::RandomSource& rng_;
  std::uint64_t counter_ = 0;
};

// Counters of a crawl, readable from any thread (/metrics).
struct CrawlStats {
  std::uint64_t nodes = 0;           // in the database
  std::uint64_t responded = 0;       // of which answered us at least once
  std::uint64_t events = 0;          // node events drained from the ring
  std::uint64_t events_dropped = 0;  // node events lost to a full ring
  std::uint64_t lookups = 0;         // crawl lookups issued (both protocols)
  std::uint64_t writes = 0;          // nodes.json written
  std::uint64_t write_errors = 0;
};

// One crawl: the event ring (core -> control), the database, the progress line and the file.
// on_node_event is the core side (wait-free, no allocation); everything else is the control
// thread's.
class CrawlSession {
 public:
  CrawlSession(Config::Crawl config, std::FILE* log);

  // Core thread: copies the event into the ring; full -> dropped and counted.
  void on_node_event(const disc::NodeEvent& e) noexcept {
    if (!ring_.try_emplace(CrawlEvent::of(e))) {
      dropped_.store(dropped_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
  }

  // Control thread. start(): resume from the output file (config.resume; a missing file is
  // fine, a bad one is reported and left alone: the first write replaces it).
  void start(std::int64_t unix_s);
  // Drains the ring, prints progress and writes the file when due.
  void tick(std::chrono::steady_clock::time_point now, std::int64_t unix_s);
  void count_lookup() { lookups_.fetch_add(1, std::memory_order_relaxed); }
  // Final drain and write.
  void finish(std::int64_t unix_s);

  CrawlStats stats() const;
  const CrawlDb& db() const { return db_; }
  std::string progress_line(std::chrono::steady_clock::time_point now);

 private:
  void drain(std::int64_t unix_s);
  void write();

  Config::Crawl config_;
  std::FILE* log_;
  SpscRing<CrawlEvent> ring_;
  std::atomic<std::uint64_t> dropped_{0};  // written by the core only
  CrawlDb db_;
  std::chrono::steady_clock::time_point started_{};
  std::chrono::steady_clock::time_point next_progress_{};
  std::chrono::steady_clock::time_point next_write_{};
  std::chrono::steady_clock::time_point last_progress_{};
  std::size_t nodes_at_last_progress_ = 0;
  // Mirrors for stats() (other threads).
  std::atomic<std::uint64_t> nodes_{0};
  std::atomic<std::uint64_t> responded_{0};
  std::atomic<std::uint64_t> events_{0};
  std::atomic<std::uint64_t> lookups_{0};
  std::atomic<std::uint64_t> writes_{0};
  std::atomic<std::uint64_t> write_errors_{0};
};

}  // namespace discplane::control
