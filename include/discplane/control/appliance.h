// The appliance: one dataplane core that owns the engine and its backend (kernel socket or
// DPDK port), and one control-plane thread that runs the timers and reads the snapshots the
// core publishes. They share only a single-producer/single-consumer command ring (control ->
// core) and the SnapshotPublisher (core -> everyone): no locks on the dataplane.
#pragma once

#include <atomic>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "discplane/common/result.h"
#include "discplane/control/config.h"
#include "discplane/control/core_snapshot.h"
#include "discplane/control/crawl.h"
#include "discplane/control/dns_discovery.h"
#include "discplane/control/packet_log.h"
#include "discplane/control/reload.h"
#include "discplane/control/snapshot.h"
#include "discplane/discovery/server.h"

namespace discplane::control {

// Bootnode strings (enode URLs, enr: records) to engine seeds. Errors name the entry.
[[nodiscard]] Result<disc::NodeSeed, std::string> parse_bootnode(std::string_view text);

// Real clocks (vDSO: no syscall).
class SystemClock final : public disc::Clock {
 public:
  disc::Time now() const noexcept override;
};

// The engine's configuration built from the YAML configuration: the one place where Config's
// settings (and so its defaults) become a disc::ServerConfig. The caller adds the key, the
// addresses and the runtime hooks. disc::ServerConfig{}'s own defaults equal
// engine_config_of(Config{}) (a unit test holds them together).
[[nodiscard]] disc::ServerConfig engine_config_of(const Config& config);

class Appliance {
 public:
  // Loads or creates the node key, binds the backend, builds the engine. Errors are one
  // clear line (the caller prints it and exits non-zero).
  [[nodiscard]] static Result<std::unique_ptr<Appliance>, std::string> create(const Config& config);
  ~Appliance();
  Appliance(const Appliance&) = delete;
  Appliance& operator=(const Appliance&) = delete;

  // Our identity as printed at start.
  std::string enode_url() const;
  std::string enr_text() const;
  // dataplane.workers > 1: the worker that receives datagrams from `from` (0 otherwise), and
  // the datagrams each worker 1..N-1 has received (from its last published stats).
  std::uint32_t shard_of(const Endpoint& from) const;
  std::vector<std::uint64_t> worker_rx_packets() const;
  std::string node_id_hex() const;
  Endpoint bound_endpoint() const;  // the first of bound_endpoints()
  // The UDP endpoints served, one per family (two on a dual-stack node).
  std::vector<Endpoint> bound_endpoints() const;

  // Starts the dataplane core and the control thread; seeds the bootnodes, the nodes of the
  // node database (config.node_db.path, when set; a bad file is reported and set aside) and
  // the first lookups. The node database is saved every prune interval and at shutdown.
  void start();
  // Asks both threads to stop: Shutdown goes to the core, which drains and exits, then the
  // control thread returns. Safe from any thread (and the only thing a signal handler's
  // flag leads to).
  void request_stop() noexcept;
  // Blocks until both threads have stopped.
  void wait();
  bool running() const noexcept;

  // Sends a command to the core (from the control thread side only: the ring has one
  // producer). Returns false when the ring is full.
  [[nodiscard]] bool submit(disc::InMessage&& message);

  // Asks the core for a lookup from any thread (the HTTP API). submit() is for the control
  // thread only (the ring has one producer), so this goes through a small mutex-protected
  // queue on the control plane that the control thread drains into the ring every tick; the
  // dataplane never sees the mutex. Returns the tag that CoreSnapshot::recent_lookups will
  // carry when the lookup is done, or nullopt when the queue is full (kMaxQueuedLookups).
  static constexpr std::size_t kMaxQueuedLookups = 64;
  [[nodiscard]] std::optional<std::uint64_t> request_lookup(disc::Protocol protocol,
                                                            std::optional<NodeId> target);

  // Likewise for an operator probe (the API's POST /v1/ping, /v1/resolve, /v1/talk): `message`
  // is a msg::Ping, msg::Resolve or msg::TalkRequest; its tag is set here and is the one
  // CoreSnapshot::recent_probes carries with the answer. nullopt: the queue is full, or the
  // message is not a probe. The probe leaves from worker 0 (the core's own identity).
  [[nodiscard]] std::optional<std::uint64_t> request_probe(disc::InMessage message);

  // Snapshots (any thread).
  const SnapshotPublisher<CoreSnapshot>& snapshots() const;

  // Called on the control thread for each peer table change it notices between snapshots
  // (the run command prints them). Set before start().
  using PeerEvent = std::function<void(const PeerView& peer, bool added, const CoreSnapshot&)>;
  void on_peer_event(PeerEvent callback);
  // Called on the control thread every control tick (for the API, node DB, ...).
  void on_control_tick(std::function<void()> callback);

  const Config& config() const;
  // Crawl mode: the crawl's counters (any thread); nullopt in the other modes.
  std::optional<CrawlStats> crawl_stats() const;
  // DNS discovery's counters; nullopt when no list is configured.
  std::optional<DnsDiscovery::Stats> dns_stats() const;

  // SIGHUP: applies what can change live from `next` (see reload.h): new bootnodes are seeded,
  // the ban/allow lists are rebuilt (the ban file re-read) and swapped into the core through the
  // command ring, log level and packet-log rate set. Returns one entry per changed key (applied,
  // or ignored until a restart); an error (a bad ban file) applies nothing. Call from one thread
  // at a time (the program's main thread).
  [[nodiscard]] Result<std::vector<ReloadChange>, ConfigError> reload(const Config& next);

 private:
  struct Impl;
  explicit Appliance(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace discplane::control
