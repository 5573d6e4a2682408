// The appliance: wires config, node key, backend (socket or DPDK), engine, command ring and
// snapshot publication into two threads. The dataplane core runs the backend's poll loop;
// between bursts (in the sink's on_idle/on_burst tail) it drains the command ring and
// publishes snapshots. The control thread turns timers into commands and watches snapshots.
#include "discplane/control/appliance.h"

#include "discplane/control/probe.h"

// GCC 12 reports a false -Wmaybe-uninitialized when a std::variant holding a std::string
// alternative (disc::InMessage) is moved through the command ring; the variant is always
// constructed. Silenced for this file only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <time.h>
#include <x86intrin.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <type_traits>

#include "discplane/control/crawl.h"
#include "discplane/control/dns_discovery.h"
#include "discplane/control/log.h"
#include "discplane/control/node_db.h"
#include "discplane/control/node_key.h"
#include "discplane/control/policy.h"
#include "discplane/control/shard_group.h"
#include "discplane/control/spsc_ring.h"
#include "discplane/control/telemetry.h"
#include "discplane/crypto/random.h"
#include "discplane/discovery/node_id.h"
#include "discplane/discovery/peer_table.h"
#include "discplane/net/dpdk_port.h"
#include "discplane/net/dpdk_queues.h"
#include "discplane/net/socket_port.h"
#include "discplane/wire/enode.h"
#include "discplane/wire/enr.h"

namespace discplane::control {

namespace {

std::int64_t ns_of(Duration d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

constexpr std::size_t kCommandRing = 4096;
constexpr std::size_t kCommandsPerPass = 64;  // bounded work per loop pass
constexpr std::size_t kRecentLookups = 16;
// Revalidate ticks: each tick checks one due entry of the protocol.
constexpr auto kRevalidateTick = std::chrono::milliseconds(100);

// Request limits from the YAML rates: bursts of twice the rate, as the WHOAREYOU limit.
disc::RequestLimits request_limits(std::uint32_t per_ip, std::uint32_t per_node) {
  disc::RequestLimits l = disc::kDefaultRequestLimits;
  l.per_ip_rate = per_ip;
  l.per_ip_burst = per_ip * 2;
  l.per_node_rate = per_node;
  l.per_node_burst = per_node * 2;
  return l;
}

std::string endpoints_string(const std::vector<Endpoint>& eps) {
  std::string out;
  for (const Endpoint& ep : eps) {
    out += (out.empty() ? "" : " and ") + ep.to_string();
  }
  return out;
}

net::SocketOptions socket_options(const Config& config) {
  return net::SocketOptions{config.dataplane.socket.rcvbuf, config.dataplane.socket.sndbuf};
}

// What the kernel made of dataplane.socket.rcvbuf/sndbuf (it doubles the figure it is given;
// without CAP_NET_ADMIN, net.core.rmem_max/wmem_max cap it).
void log_socket_buffers(const Config& config, const net::SocketPort& port) {
  const net::SocketBuffers& b = port.buffers();
  logger().info(
      "dataplane: socket buffers: rcvbuf {} B (asked {}), sndbuf {} B (asked {}){}", b.rcvbuf,
      config.dataplane.socket.rcvbuf, b.sndbuf, config.dataplane.socket.sndbuf,
      b.forced ? "" : "; SO_*BUFFORCE not permitted: capped by net.core.rmem_max/wmem_max");
}

}  // namespace

disc::Time SystemClock::now() const noexcept {
  timespec mono{};
  timespec real{};
  clock_gettime(CLOCK_MONOTONIC, &mono);
  clock_gettime(CLOCK_REALTIME, &real);
  return {static_cast<std::int64_t>(mono.tv_sec) * 1'000'000'000 + mono.tv_nsec,
          static_cast<std::int64_t>(real.tv_sec)};
}

Result<disc::NodeSeed, std::string> parse_bootnode(std::string_view text) {
  disc::NodeSeed seed;
  if (text.starts_with("enode://")) {
    auto url = enode::parse(text);
    if (!url) {
      return fail(std::string("bad enode URL (") + std::string(enode::to_string(url.error())) +
                  "): " + std::string(text));
    }
    seed.public_key = url->public_key;
    const Endpoint ep = url->udp_endpoint();
    (ep.ip.is_v4() ? seed.endpoint4 : seed.endpoint6) = ep;
    // An enode URL is what discv4 deployments publish; discv5 bootnodes come as ENRs.
    seed.protocols = disc::kFlagV4;
    return seed;
  }
  if (text.starts_with("enr:")) {
    auto record = enr::parse_text(text);
    if (!record) {
      return fail(std::string("bad ENR (") + std::string(enr::to_string(record.error())) +
                  "): " + std::string(text.substr(0, 60)));
    }
    seed.public_key = record->public_key();
    seed.endpoint4 = record->udp_endpoint_v4();
    seed.endpoint6 = record->udp_endpoint_v6();
    if (!seed.endpoint4 && !seed.endpoint6) {
      return fail("ENR bootnode has no UDP endpoint: " + std::string(text.substr(0, 60)));
    }
    seed.record = *record;
    seed.protocols = disc::kFlagV5 | disc::kFlagV4;
    return seed;
  }
  return fail("bootnode is neither enode:// nor enr: " + std::string(text));
}

// ---- the core side ---------------------------------------------------------------------------

// dataplane.workers > 1: what worker k (1..N-1) publishes for the owner's snapshot.
struct WorkerStats {
  disc::Counters counters;
  net::SocketCounters socket;
  bool dpdk = false;  // backend dpdk: its drops by reason come from dpdk_counters
  net::DpdkCounters dpdk_counters;
  std::uint64_t busy_cycles = 0;  // TSC cycles in the engine on bursts that carried packets
  std::size_t sessions = 0;
  std::size_t pending_challenges = 0;
};

// Adds every counter of `b` to `a` (both are plain structs of 64-bit counters).
template <class T>
void add_counters(T& a, const T& b) noexcept {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) % sizeof(std::uint64_t) == 0);
  std::array<std::uint64_t, sizeof(T) / sizeof(std::uint64_t)> x{};
  std::array<std::uint64_t, sizeof(T) / sizeof(std::uint64_t)> y{};
  std::memcpy(x.data(), &a, sizeof(T));
  std::memcpy(y.data(), &b, sizeof(T));
  for (std::size_t i = 0; i < x.size(); ++i) {
    x[i] += y[i];
  }
  std::memcpy(static_cast<void*>(&a), x.data(), sizeof(T));
}

// A DPDK port's drops by reason (parse results past kFirstDrop, TX and neighbor losses); with a
// port group also the steering losses.
void dpdk_drops(const net::DpdkCounters& c, bool group, LoopStats& l) {
  for (std::size_t i = 0; i < net::kParseResultCount; ++i) {
    const auto r = static_cast<net::ParseResult>(i);
    if (r >= net::ParseResult::kFirstDrop) {
      l.drops.emplace_back(std::string(net::to_string(r)), c.frames[i]);
    }
  }
  l.drops.emplace_back("tx_refused", c.tx_refused);
  l.drops.emplace_back("tx_no_mbuf", c.tx_no_mbuf);
  l.drops.emplace_back("pending_dropped", c.pending_dropped);
  if (group) {  // the distributor's (or an RSS worker's ARP/NDP copies') steering
    l.drops.emplace_back("steer_dropped", c.steer_dropped);
  }
}

// Worker k > 0 of a sharded appliance: its own port (a socket of the SO_REUSEPORT group, or a
// DpdkPortGroup queue handle), engine (table mirror, TableObserver to the owner) and thread.
// Worker 0 is Appliance::Impl itself.
// The engine as the port's DatagramSink: each burst is timed (busy cycles), then the owner's
// between-bursts work runs (commands, table sync, snapshots). Shared by the core thread
// (Appliance::Impl) and the other workers (ShardWorker).
template <class Owner>
struct EngineSink : disc::DatagramSink {
  std::uint64_t busy_cycles = 0;  // TSC cycles in the engine on bursts that carried packets

  void on_burst(std::span<const disc::Datagram> burst, disc::Transport& tx) noexcept final {
    Owner& o = static_cast<Owner&>(*this);
    const std::uint64_t start = __rdtsc();
    o.server->on_burst(burst, tx);
    busy_cycles += __rdtsc() - start;
    o.between_bursts(tx);
  }
  void on_idle(disc::Transport& tx) noexcept final {
    Owner& o = static_cast<Owner&>(*this);
    o.server->on_idle(tx);
    o.between_bursts(tx);
  }
};

struct ShardWorker final : EngineSink<ShardWorker> {
  std::uint32_t shard = 0;
  ShardGroup* group = nullptr;
  const SystemClock* clock = nullptr;
  std::int64_t stats_every_ns = 0;
  std::int64_t next_stats_ns = 0;
  std::int64_t prune_every_ns = 0;  // the owner gets Prune from the control thread; workers
  std::int64_t next_prune_ns = 0;   // prune their own sessions, challenges and bonds
  crypto::BulkRandom rng;
  PacketLog packet_log;  // this worker's EventSink (its own ring); outlives the server
  std::unique_ptr<disc::DiscoveryServer> server;
  std::unique_ptr<net::SocketPort> socket;
  net::DpdkPort* dpdk = nullptr;  // backend dpdk: queue k of the appliance's DpdkPortGroup
  std::optional<unsigned> cpu;    // backend dpdk: the CPU this worker runs on (cpu_placement.h)
  SnapshotPublisher<WorkerStats> stats;
  std::thread thread;

  void run(const std::atomic<bool>& stop) {
    net::name_thread(("dp-worker-" + std::to_string(shard)).c_str());
    if (socket) {
      socket->run(*this, stop, std::chrono::milliseconds(1));
      return;
    }
    if (cpu) {
      (void)net::pin_thread({*cpu});
    }
    const int lcore = net::register_worker_thread();  // per-lcore mempool caches
    dpdk->run(*this, stop, {});
    if (lcore >= 0) {
      net::unregister_worker_thread();
    }
  }
  net::SocketCounters port_counters() const noexcept {
    if (socket) {
      return socket->counters();
    }
    const net::DpdkCounters& c = dpdk->counters();
    net::SocketCounters s;
    s.rx = c.rx_packets;
    s.tx = c.tx_packets;
    s.bursts = c.bursts;
    s.idle = c.empty_polls;
    s.tx_dropped = c.tx_refused + c.tx_no_mbuf;  // tx_refused includes tx_ring_dropped
    return s;
  }

  void between_bursts(disc::Transport& tx) noexcept {
    const std::int64_t now = clock->now().mono_ns;
    (void)group->poll(shard, *server, tx, now);
    if (next_prune_ns == 0) {
      next_prune_ns = now + prune_every_ns;
    } else if (now >= next_prune_ns) {
      next_prune_ns = now + prune_every_ns;
      server->handle(disc::msg::Prune{}, tx);
    }
    if (now >= next_stats_ns) {
      next_stats_ns = now + stats_every_ns;
      stats.publish([&](WorkerStats& w) noexcept {
        w.counters = server->counters();
        w.socket = port_counters();
        if (dpdk != nullptr) {
          w.dpdk = true;
          w.dpdk_counters = dpdk->counters();
        }
        w.busy_cycles = busy_cycles;
        w.sessions = server->session_count();
        w.pending_challenges = server->pending_challenges();
      });
    }
  }
};

struct Appliance::Impl final : EngineSink<Appliance::Impl>, disc::EngineObserver {
  Config config;
  crypto::PrivateKey key{};
  SystemClock clock;
  crypto::BulkRandom rng;
  crypto::BulkRandom rng_control;  // the control thread's (crawl targets)
  PacketLog packet_log;            // the engine's EventSink; outlives the server
  std::unique_ptr<disc::DiscoveryServer> server;
  std::unique_ptr<net::SocketPort> socket;
  std::unique_ptr<net::DpdkPortGroup> dpdk_group;  // backend dpdk with workers > 1
  std::unique_ptr<net::DpdkPort> dpdk_single;      // backend dpdk with one worker
  net::DpdkPort* dpdk = nullptr;                   // worker 0's port (queue 0 of the group)
  Endpoint bound;                                  // the first of bound_all
  std::vector<Endpoint> bound_all;                 // one endpoint per family served
  std::unique_ptr<ShardGroup> group;               // dataplane.workers > 1 only
  std::uint32_t steer_seed = 0;
  net::SteerFn steer_fn = nullptr;  // the group's steering (shard_of)
  std::uint64_t steer_seed64 = 0;
  std::vector<std::unique_ptr<ShardWorker>> workers;  // shards 1..N-1

  SpscRing<disc::InMessage> commands{kCommandRing};
  SnapshotPublisher<CoreSnapshot> snapshots;
  std::vector<LookupOutcome> recent_lookups;  // core side, bounded
  std::vector<ProbeReport> recent_probes;     // core side, bounded

  std::atomic<bool> stop_requested{false};  // anyone -> control thread
  std::atomic<bool> core_stop{false};       // control thread -> backend loop
  std::atomic<bool> core_finished{false};
  std::atomic<bool> running{false};
  std::thread core_thread;
  std::thread control_thread;
  net::CpuPlan cpu_plan;  // backend dpdk only (cpu_placement.h); empty: threads not placed
  std::int64_t next_snapshot_ns = 0;
  std::uint64_t snapshot_seq = 0;

  PeerEvent peer_event;
  std::function<void()> control_tick;
  // DPDK telemetry (/discplane/...): reads `snapshots`, so it is declared after it and goes first.
  std::unique_ptr<TelemetryRegistration> telemetry;
  std::unique_ptr<CrawlSession> crawl;  // crawl mode only
  std::unique_ptr<DnsDiscovery> dns;    // EIP-1459 lists; null when none are configured

  // Lookups asked for by other threads (the API), drained into the ring by the control
  // thread: the ring has a single producer. Control plane only; the core never locks.
  std::mutex lookup_queue_mutex;
  std::deque<disc::msg::Lookup> lookup_queue;
  std::deque<disc::InMessage> probe_queue;        // msg::Ping / Resolve / TalkRequest (the API's)
  std::atomic<std::uint64_t> next_lookup_tag{1};  // 0 is the timers' tag

  // Reloads: reload() (any one thread) leaves what goes to the core here; the control thread
  // pushes it into the ring. Control plane only; the core never locks.
  struct PendingReload {
    bool set_policy = false;
    std::shared_ptr<const disc::NetPolicy> policy;
    std::vector<disc::NodeSeed> seeds;
  };
  std::mutex reload_mutex;
  std::optional<PendingReload> pending_reload;
  Config live_config;  // config with the live fields of every reload applied (reload() only)
  // Every policy handed to the core, newest last. The core never drops the last reference:
  // the control thread frees an old one here once use_count() says the core let go.
  std::vector<std::shared_ptr<const disc::NetPolicy>> policies;

  void apply_pending_reload() {
    std::lock_guard<std::mutex> lock(reload_mutex);
    if (!pending_reload) {
      return;
    }
    PendingReload& r = *pending_reload;
    if (r.set_policy) {
      if (!commands.try_push(disc::msg::SetNetPolicy{r.policy})) {
        return;  // ring full: next tick
      }
      if (group) {  // workers 1..N-1 too; the queued copies keep it referenced meanwhile
        group->broadcast(disc::msg::SetNetPolicy{r.policy});
      }
      policies.push_back(std::move(r.policy));
      r.set_policy = false;
    }
    while (!r.seeds.empty() && commands.try_push(disc::msg::AddSeed{r.seeds.back()})) {
      r.seeds.pop_back();
    }
    if (r.seeds.empty()) {
      pending_reload.reset();
    }
  }

  // Every worker's packet log (one ring each), drained on the control thread.
  void drain_packet_logs() {
    packet_log.drain(logger());
    for (auto& w : workers) {
      w->packet_log.drain(logger());
    }
  }
  // logging.packet_log_rate is the appliance's total: each of N workers logs 1/N of it.
  void configure_packet_logs(LogLevel level, std::uint32_t rate) {
    const auto n = static_cast<std::uint32_t>(workers.size() + 1);
    const std::uint32_t share = rate == 0 ? 0 : std::max<std::uint32_t>(1, (rate + n - 1) / n);
    packet_log.configure(level, share);
    for (auto& w : workers) {
      w->packet_log.configure(level, share);
    }
  }

  void release_policies() {
    if (policies.size() > 1) {
      policies.erase(std::remove_if(policies.begin(), policies.end() - 1,
                                    [](const auto& p) { return p.use_count() == 1; }),
                     policies.end() - 1);
    }
  }

  void drain_lookup_queue() {
    std::lock_guard<std::mutex> lock(lookup_queue_mutex);
    while (!lookup_queue.empty() && commands.try_push(lookup_queue.front())) {
      lookup_queue.pop_front();
    }
    while (!probe_queue.empty() && commands.try_push(std::move(probe_queue.front()))) {
      probe_queue.pop_front();
    }
  }

  void save_node_db() {
    if (config.node_db.path.empty()) {
      return;
    }
    NodeDb db;
    {
      auto pinned = snapshots.acquire();  // copy out, then write without holding the slot
      if (pinned->peers.empty()) {
        return;
      }
      db = node_db_of(pinned.get());
    }
    if (auto saved = control::save_node_db(config.node_db.path, db); !saved) {
      logger().error("node database: {}", saved.error().to_string());
    }
  }

  // ---- between bursts (EngineSink calls it after every burst or idle poll) ----
  void between_bursts(disc::Transport& tx) noexcept {
    disc::InMessage m;
    for (std::size_t i = 0; i < kCommandsPerPass && commands.try_pop(m); ++i) {
      server->handle(m, tx);
      if (std::holds_alternative<disc::msg::Shutdown>(m)) {
        publish();
        core_stop.store(true, std::memory_order_release);
        return;
      }
    }
    const std::int64_t now = clock.now().mono_ns;
    if (group) {  // the table owner: apply the shards' updates, publish the table copy
      (void)group->poll(0, *server, tx, now);
    }
    if (now >= next_snapshot_ns) {
      next_snapshot_ns = now + ns_of(config.timers.snapshot_interval);
      publish();
    }
  }

  // ---- EngineObserver (core thread) ----
  void on_lookup_done(std::uint64_t tag, disc::Protocol protocol, const NodeId& target,
                      std::span<const disc::FoundNode> found) noexcept override {
    if (recent_lookups.size() >= kRecentLookups) {
      recent_lookups.erase(recent_lookups.begin());
    }
    LookupOutcome o;
    o.tag = tag;
    o.protocol = protocol;
    o.target = target;
    for (const auto& f : found) {
      o.found.emplace_back(f.id, f.endpoint);
    }
    recent_lookups.push_back(std::move(o));
  }
  void on_probe_done(std::uint64_t tag, const disc::ProbeResult& result) noexcept override {
    if (recent_probes.size() >= kRecentLookups) {
      recent_probes.erase(recent_probes.begin());
    }
    recent_probes.push_back(report_of(tag, result));
  }
  void on_local_record_changed(const enr::Record&) noexcept override {}
  void on_node_event(const disc::NodeEvent& e) noexcept override {
    if (crawl) {
      crawl->on_node_event(e);
    }
  }

  void publish() noexcept {
    const disc::Time now = clock.now();
    snapshots.publish([&](CoreSnapshot& s) {
      s.sequence = ++snapshot_seq;
      s.taken_mono_ns = now.mono_ns;
      s.taken_unix_s = now.unix_s;
      s.peers.clear();
      const disc::PeerTable& table = server->table();
      table.for_each([&](const disc::PeerEntry& e) {
        PeerView v;
        v.id = e.id;
        v.public_key = e.public_key;
        v.endpoint4 = e.endpoint4;
        v.endpoint6 = e.endpoint6;
        v.enr_seq = e.enr_seq;
        v.enr.assign(e.enr_bytes().begin(), e.enr_bytes().end());
        v.protocols = e.protocols;
        v.distance = disc::log_distance(table.self(), e.id);
        v.added_ns = e.added_ns;
        v.last_seen_ns = e.last_seen_ns;
        v.bond_ns = e.bond_ns;
        v.checks_passed = e.checks_passed();
        v.checks_failed = e.checks_failed();
        v.liveness = e.liveness;
        s.peers.push_back(std::move(v));
      });
      s.replacements = table.replacements_size();
      s.counters = server->counters();
      s.sessions = server->session_count();
      s.pending_challenges = server->pending_challenges();
      s.active_lookups = server->active_lookups();
      s.ip_votes_v4 = server->ip_votes().count(IpAddress::Family::kV4, now.mono_ns);
      s.ip_votes_v6 = server->ip_votes().count(IpAddress::Family::kV6, now.mono_ns);
      s.local_id = server->local_id();
      const ByteView raw = server->local_record().raw();
      s.local_enr.assign(raw.begin(), raw.end());
      s.local_seq = server->local_record().seq();
      s.external_address_source = server->external_address_source();
      s.recent_lookups = recent_lookups;
      s.recent_probes = recent_probes;
      s.shut_down = server->shut_down();
      fill_loop_stats(s.loop);
      s.workers.clear();
      if (!workers.empty()) {
        s.workers.push_back(s.loop);  // worker 0's own figures, before the sums
      }
      for (const auto& w : workers) {  // sharded: counters are the sum over the workers
        auto pinned = w->stats.acquire();
        add_counters(s.counters, pinned->counters);
        s.sessions += pinned->sessions;
        s.pending_challenges += pinned->pending_challenges;
        LoopStats own;
        own.rx_packets = pinned->socket.rx;
        own.tx_packets = pinned->socket.tx;
        own.bursts = pinned->socket.bursts;
        own.empty_polls = pinned->socket.idle;
        own.busy_cycles = pinned->busy_cycles;
        if (pinned->dpdk) {  // the same reasons as worker 0's
          dpdk_drops(pinned->dpdk_counters, true, own);
        } else {
          own.drops = {{"tx_dropped", pinned->socket.tx_dropped},
                       {"rx_oversize", pinned->socket.rx_oversize},
                       {"kernel_rx_overflow", pinned->socket.kernel_rx_dropped},
                       {"errors", pinned->socket.errors}};
        }
        s.loop.rx_packets += own.rx_packets;
        s.loop.tx_packets += own.tx_packets;
        s.loop.bursts += own.bursts;
        s.loop.empty_polls += own.empty_polls;
        s.loop.busy_cycles += own.busy_cycles;
        for (const auto& drop : own.drops) {  // drops too are the sums, by reason
          auto at = std::find_if(s.loop.drops.begin(), s.loop.drops.end(),
                                 [&](const auto& d) { return d.first == drop.first; });
          if (at != s.loop.drops.end()) {
            at->second += drop.second;
          } else {
            s.loop.drops.push_back(drop);
          }
        }
        s.workers.push_back(std::move(own));
      }
    });
  }

  void fill_loop_stats(LoopStats& l) const {
    l.busy_cycles = busy_cycles;
    l.drops.clear();
    if (socket) {
      const auto& c = socket->counters();
      l.rx_packets = c.rx;
      l.tx_packets = c.tx;
      l.bursts = c.bursts;
      l.empty_polls = c.idle;
      l.drops.emplace_back("tx_dropped", c.tx_dropped);
      l.drops.emplace_back("rx_oversize", c.rx_oversize);
      l.drops.emplace_back("kernel_rx_overflow", c.kernel_rx_dropped);
      l.drops.emplace_back("errors", c.errors);
    } else if (dpdk) {
      const auto& c = dpdk->counters();
      l.rx_packets = c.rx_packets;
      l.tx_packets = c.tx_packets;
      l.bursts = c.bursts;
      l.empty_polls = c.empty_polls;
      dpdk_drops(c, dpdk_group != nullptr, l);
    }
  }

  void run_core() {
    net::name_thread("dp-core");
    if (socket) {
      socket->run(*this, core_stop, std::chrono::milliseconds(1));
    } else {
      if (!cpu_plan.worker.empty()) {
        (void)net::pin_thread({cpu_plan.worker[0]});
      }
      // An lcore id of its own: mempool gets and puts then use a per-lcore cache.
      const int lcore = net::register_worker_thread();
      dpdk->run(*this, core_stop, {});
      if (lcore >= 0) {
        net::unregister_worker_thread();
      }
    }
    core_finished.store(true, std::memory_order_release);
  }

  // ---- the control thread ----
  void run_control() {
    net::name_thread("dp-control");
    if (!cpu_plan.control.empty()) {
      (void)net::pin_thread(cpu_plan.control);
    }
    using Clock = std::chrono::steady_clock;
    const auto now0 = Clock::now();
    struct Timer {
      Clock::time_point next;
      Clock::duration every;
    };
    const bool v4 = config.runs(Protocol::kDiscv4);
    const bool v5 = config.runs(Protocol::kDiscv5);
    const bool random_lookups = config.mode != Mode::kBootnode;
    // Lookup pace by mode: node = timers.lookup_interval; bootnode = one self lookup per
    // bootnode.refresh_interval; crawl = one lookup per crawl.lookup_interval, all random.
    Clock::duration every4 = config.timers.lookup_interval.discv4;
    Clock::duration every5 = config.timers.lookup_interval.discv5;
    if (config.mode == Mode::kBootnode) {
      every4 = every5 = config.bootnode.refresh_interval;
    } else if (config.mode == Mode::kCrawl) {
      every4 = every5 = config.crawl.lookup_interval;
    }
    Timer reval{now0 + kRevalidateTick, kRevalidateTick};
    Timer look4{now0 + every4, every4};
    Timer look5{now0 + every5, every5};
    CrawlTargets crawl_targets(rng_control);
    if (crawl) {
      crawl->start(clock.now().unix_s);
    }
    Timer prune{now0 + config.timers.prune_interval, config.timers.prune_interval};
    // The node database on its own schedule (node_db.save_interval), so a crash loses at
    // most that much of the table; each save is atomic (control::save_node_db).
    Timer save_db{now0 + config.node_db.save_interval, config.node_db.save_interval};
    std::uint64_t lookups_v4 = 0;
    std::uint64_t lookups_v5 = 0;
    std::map<NodeId, PeerView> known;
    std::uint64_t seen_sequence = 0;
    // Self lookups again shortly after start: the first ones run before bonds exist.
    bool early_lookup_done = false;
    const auto early_lookup_at = now0 + std::chrono::seconds(2);

    while (!stop_requested.load(std::memory_order_acquire)) {
      const auto now = Clock::now();
      auto due = [&](Timer& t) {
        if (now < t.next) {
          return false;
        }
        t.next = now + t.every;
        return true;
      };
      if (due(reval)) {
        if (v4) {
          (void)commands.try_push(disc::msg::Revalidate{disc::Protocol::kV4});
        }
        if (v5) {
          (void)commands.try_push(disc::msg::Revalidate{disc::Protocol::kV5});
        }
      }
      if (!early_lookup_done && now >= early_lookup_at) {
        early_lookup_done = true;
        push_self_lookups(v4, v5);
      }
      // Lookups alternate between our own id (keeps our neighbourhood full: a node whose
      // start-up lookups failed would otherwise never learn its closest peers) and a random
      // target (spreads the table over all buckets). A bootnode does only the light self
      // lookups.
      if (crawl) {
        // Crawl: random discv4 targets, discv5 targets sweeping the id space.
        if (v4 && due(look4) && commands.try_push(disc::msg::Lookup{disc::Protocol::kV4, {}, 0})) {
          crawl->count_lookup();
        }
        if (v5 && due(look5) &&
            commands.try_push(disc::msg::Lookup{disc::Protocol::kV5, crawl_targets.next_v5(), 0})) {
          crawl->count_lookup();
        }
        crawl->tick(now, clock.now().unix_s);
      } else {
        if (v4 && due(look4)) {
          push_lookup(disc::Protocol::kV4, random_lookups && (++lookups_v4 % 2) == 0);
        }
        if (v5 && due(look5)) {
          push_lookup(disc::Protocol::kV5, random_lookups && (++lookups_v5 % 2) == 0);
        }
      }
      if (due(prune)) {
        (void)commands.try_push(disc::msg::Prune{});
      }
      if (due(save_db)) {
        save_node_db();
      }
      drain_lookup_queue();
      if (dns) {
        (void)dns->drain(
            [this](disc::NodeSeed& s) { return commands.try_push(disc::msg::AddSeed{s}); });
      }
      apply_pending_reload();
      if (group) {
        (void)group->flush_broadcasts();
      }
      release_policies();
      drain_packet_logs();
      watch_peers(known, seen_sequence);
      if (control_tick) {
        control_tick();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }

    if (dns) {
      dns->stop();
    }
    // Shutdown: the core handles it, publishes a last snapshot and leaves its loop.
    (void)commands.try_push(disc::msg::Shutdown{});
    const auto deadline = Clock::now() + std::chrono::milliseconds(500);
    while (!core_finished.load(std::memory_order_acquire) && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    core_stop.store(true, std::memory_order_release);  // in case the ring was full
    drain_packet_logs();
    // The core's last snapshot goes to the node database.
    save_node_db();
    if (crawl) {
      crawl->finish(clock.now().unix_s);
    }
  }

  void push_lookup(disc::Protocol p, bool random) {
    std::optional<NodeId> target;
    if (!random) {
      target = server->local_id();  // immutable after construction
    }
    (void)commands.try_push(disc::msg::Lookup{p, target, 0});
  }

  void push_self_lookups(bool v4, bool v5) {
    const NodeId self = server->local_id();  // immutable after construction
    if (v4) {
      (void)commands.try_push(disc::msg::Lookup{disc::Protocol::kV4, self, 0});
    }
    if (v5) {
      (void)commands.try_push(disc::msg::Lookup{disc::Protocol::kV5, self, 0});
    }
  }

  void watch_peers(std::map<NodeId, PeerView>& known, std::uint64_t& seen_sequence) {
    if (!peer_event) {
      return;
    }
    auto pinned = snapshots.acquire();
    const CoreSnapshot& s = pinned.get();
    if (s.sequence == seen_sequence) {
      return;
    }
    seen_sequence = s.sequence;
    std::map<NodeId, const PeerView*> now;
    for (const auto& p : s.peers) {
      now.emplace(p.id, &p);
    }
    for (auto it = known.begin(); it != known.end();) {
      if (now.count(it->first) == 0) {
        peer_event(it->second, false, s);
        it = known.erase(it);
      } else {
        ++it;
      }
    }
    for (const auto& [id, p] : now) {
      auto it = known.find(id);
      if (it == known.end()) {
        known.emplace(id, *p);
        peer_event(*p, true, s);
      } else if (it->second.protocols != p->protocols) {
        it->second = *p;
        peer_event(*p, true, s);
      }
    }
  }
};

disc::ServerConfig engine_config_of(const Config& config) {
  disc::ServerConfig sc;
  sc.enable_v4 = config.runs(Protocol::kDiscv4);
  sc.enable_v5 = config.runs(Protocol::kDiscv5);
  sc.table.bucket_size = config.table.bucket_size;
  sc.table.replacements = config.table.replacements;
  sc.table.ip4_bucket_limit = sc.table.ip6_bucket_limit = config.table.bucket_ip_limit;
  sc.table.ip4_table_limit = sc.table.ip6_table_limit = config.table.table_ip_limit;
  sc.table.ip_limit_exempt = config.table.ip_limit_exempt;
  sc.table.revalidation_interval_v4_ns = ns_of(config.timers.revalidate_interval.discv4);
  sc.table.revalidation_interval_v5_ns = ns_of(config.timers.revalidate_interval.discv5);
  sc.bond_lifetime_ns = ns_of(config.discv4.bond_lifetime);
  sc.v4_request_timeout_ns = ns_of(config.discv4.request_timeout);
  sc.v4_amp_per_ip_burst = config.discv4.amplification_burst_per_ip;
  sc.v4_amp_global_burst = config.discv4.amplification_burst_global;
  sc.max_sessions = config.discv5.max_sessions;
  sc.session_idle_timeout_ns = ns_of(config.discv5.session_idle_timeout);
  sc.whoareyou_per_ip_rate = config.discv5.whoareyou_rate_per_ip;
  sc.whoareyou_per_ip_burst = disc::whoareyou_per_ip_burst_of(config.discv5.whoareyou_rate_per_ip);
  sc.whoareyou_global_rate = config.discv5.whoareyou_rate_global;
  sc.whoareyou_global_burst = disc::whoareyou_global_burst_of(config.discv5.whoareyou_rate_global);
  sc.v5_request_timeout_ns = ns_of(config.discv5.request_timeout);
  sc.v4_request_limits =
      request_limits(config.discv4.request_rate_per_ip, config.discv4.request_rate_per_node);
  sc.v5_request_limits =
      request_limits(config.discv5.request_rate_per_ip, config.discv5.request_rate_per_node);
  for (const Config::ForkId& f : config.fork_filter.accept) {
    if (sc.fork_filter.count < sc.fork_filter.accepted.size()) {
      sc.fork_filter.accepted[sc.fork_filter.count++] = enr::ForkId{f.hash, f.next};
    }
  }
  sc.fork_filter.require_eth = config.fork_filter.require_eth;
  if (config.mode == Mode::kCrawl) {
    sc.report_node_events = true;
    sc.max_lookups = 64;      // crawl.lookup_interval outpaces 16 concurrent lookups of ~1-3 s
    sc.record_cache = 16384;  // a crawl meets each live record from dozens of neighbours
  }
  return sc;
}

Result<std::unique_ptr<Appliance>, std::string> Appliance::create(const Config& config) {
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  impl->live_config = config;

  auto spec = policy_spec_of(config.policy);
  if (!spec) {
    return fail(spec.error().to_string());
  }
  impl->policies.push_back(std::make_shared<const disc::NetPolicy>(*spec));
  impl->packet_log.configure(config.logging.level, config.logging.packet_log_rate);

  auto key = load_or_create_key(config.identity.key_file);
  if (!key) {
    return fail(key.error().to_string());
  }
  impl->key = key->key;
  if (key->warning) {
    logger().warn("{}", *key->warning);
  }

  disc::ServerConfig sc = engine_config_of(config);
  sc.private_key = key->key;
  if (config.mode == Mode::kCrawl) {
    impl->crawl = std::make_unique<CrawlSession>(config.crawl, stderr);
  }

  // The addresses we announce, per family: the configured external address, else the
  // family's listen address when it is a concrete one (socket backend) or the port's address
  // (DPDK), else learned from votes.
  std::optional<IpAddress> announce4 = config.network.external_ip_of(IpAddress::Family::kV4);
  std::optional<IpAddress> announce6 = config.network.external_ip_of(IpAddress::Family::kV6);
  auto announce_if_unset = [&](const IpAddress& ip) {
    std::optional<IpAddress>& slot = ip.is_v4() ? announce4 : announce6;
    if (!slot && !ip.is_unspecified()) {
      slot = ip;
    }
  };
  const std::uint32_t n_workers = std::max<std::uint32_t>(1, config.dataplane.workers);
  std::vector<std::unique_ptr<net::SocketPort>> extra_sockets;
  std::uint32_t steer_seed = 0;
  if (config.dataplane.backend == Backend::kSocket && n_workers > 1) {
    for (const Endpoint& ep : config.network.listen) {
      if (ep.port == 0) {
        return fail("dataplane.workers > 1 needs a fixed network.listen port (not 0)");
      }
    }
    impl->rng.fill(
        MutableByteView(reinterpret_cast<std::uint8_t*>(&steer_seed), sizeof steer_seed));
    auto group = net::SocketPort::create_group(config.network.listen, n_workers, steer_seed,
                                               socket_options(config));
    if (!group) {
      return fail("cannot bind " + std::to_string(n_workers) +
                  " SO_REUSEPORT UDP sockets (with "
                  "their steering BPF) on " +
                  endpoints_string(config.network.listen) + ": " + net::to_string(group.error()));
    }
    log_socket_buffers(config, *(*group)[0]);
    impl->socket = std::move((*group)[0]);
    for (std::uint32_t k = 1; k < n_workers; ++k) {
      extra_sockets.push_back(std::move((*group)[k]));
    }
  } else if (config.dataplane.backend == Backend::kSocket) {
    auto port = net::SocketPort::create(config.network.listen, socket_options(config));
    if (!port) {
      return fail("cannot bind UDP " + endpoints_string(config.network.listen) + ": " +
                  net::to_string(port.error()));
    }
    log_socket_buffers(config, **port);
    impl->socket = std::move(*port);
  } else {
    const Config::Dpdk& d = config.dataplane.dpdk;
    net::DpdkConfig dc;
    dc.eal_args.assign(1, "discplane");
    dc.eal_args.insert(dc.eal_args.end(), d.eal_args.begin(), d.eal_args.end());
    dc.port_id = d.port;
    dc.mempool_size = d.mempool_size;
    dc.rx_ring_size = static_cast<std::uint16_t>(d.rx_queue_size);
    dc.tx_ring_size = static_cast<std::uint16_t>(d.tx_queue_size);
    dc.udp_port = config.network.listen.front().port;
    if (d.ipv4) {
      dc.ipv4 = d.ipv4->address;
      dc.prefix4 = d.ipv4->prefix_length;
    }
    if (d.ipv6) {
      dc.ipv6 = d.ipv6->address;
      dc.prefix6 = d.ipv6->prefix_length;
    }
    if (d.gateway_mac) {
      dc.gateway_mac = *d.gateway_mac;
    }
    dc.vlan_id = d.vlan.value_or(0);
    dc.allow_martian = d.allow_martian;
    if (n_workers > 1) {
      // One port, N queue handles: RSS where the port offers it, else the software
      // distributor on worker 0 (docs/multicore.md).
      net::DpdkGroupConfig gc;
      gc.port = dc;
      gc.workers = n_workers;
      gc.steer = [](const Endpoint& from, std::uint32_t n, std::uint64_t seed) noexcept {
        return steer(from, n, seed);
      };
      impl->rng.fill(
          MutableByteView(reinterpret_cast<std::uint8_t*>(&gc.steer_seed), sizeof gc.steer_seed));
      auto group = net::DpdkPortGroup::create(gc);
      if (!group) {
        return fail("DPDK port setup for dataplane.workers: " + std::to_string(n_workers) +
                    " failed: " + net::to_string(group.error()) +
                    " (each worker needs its own pool of dataplane.dpdk.mempool_size mbufs in -m, "
                    "worker 0's 1024 more per other worker with the software distributor, "
                    "and the port must accept " +
                    std::to_string(n_workers) + " TX queues or at least one)");
      }
      impl->dpdk_group = std::move(*group);
      const net::DpdkGroupInfo& gi = impl->dpdk_group->info();
      impl->steer_fn = impl->dpdk_group->steer_fn();
      impl->steer_seed64 = impl->dpdk_group->steer_seed();
      impl->dpdk = &impl->dpdk_group->queue(0);
      if (gi.mode == net::DpdkSteering::kRss) {
        logger().info(
            "dataplane: dpdk port {} with {} workers: RSS, {} RX/TX queues, rss_hf {:#x}, reta {}",
            impl->dpdk_group->port_id(), n_workers, gi.rx_queues, gi.rss_hf, gi.reta_size);
      } else {
        logger().info(
            "dataplane: dpdk port {} with {} workers: software distributor on worker 0 (no "
            "usable RSS; it reads {} RX queue(s)), {} TX queue(s){}",
            impl->dpdk_group->port_id(), n_workers, gi.rx_queues, gi.tx_queues,
            gi.tx_rings ? ", the other workers send through worker 0" : "");
      }
    } else {
      auto port = net::DpdkPort::create(dc);
      if (!port) {
        return fail(std::string("DPDK port setup failed: ") + net::to_string(port.error()));
      }
      impl->dpdk_single = std::move(*port);
      impl->dpdk = impl->dpdk_single.get();
    }
    // The EAL pinned nothing we start (cpu_placement.h): place the workers on its lcores'
    // CPUs and the control thread on the rest.
    impl->cpu_plan = net::plan_cpus(net::eal_lcore_cpus(), net::cpus_before_eal(), n_workers);
    const net::CpuPlan& cp = impl->cpu_plan;
    logger().info("dataplane: worker CPUs {} (from the EAL lcores), control thread on CPUs {}{}{}",
                  net::cpu_list_string(cp.worker), net::cpu_list_string(cp.control),
                  cp.workers_share ? "; fewer lcores than workers: workers share CPUs" : "",
                  cp.control_shares ? "; no CPU left for the control thread alone" : "");
    const std::uint16_t port = config.network.listen.front().port;
    if (d.ipv4) {
      impl->bound_all.push_back(Endpoint{d.ipv4->address, port});
    }
    if (d.ipv6) {
      impl->bound_all.push_back(Endpoint{d.ipv6->address, port});
    }
  }
  if (impl->socket) {
    const auto eps = impl->socket->local_endpoints();
    impl->bound_all.assign(eps.begin(), eps.end());
    for (const Endpoint& ep : config.network.listen) {
      announce_if_unset(ep.ip);
    }
  } else {
    for (const Endpoint& ep : impl->bound_all) {
      announce_if_unset(ep.ip);
    }
  }
  impl->bound = impl->bound_all.front();
  const Endpoint* bound4 = nullptr;
  const Endpoint* bound6 = nullptr;
  for (const Endpoint& ep : impl->bound_all) {
    (ep.ip.is_v4() ? bound4 : bound6) = &ep;
  }
  sc.udp_port = bound4 != nullptr ? bound4->port : impl->bound.port;
  sc.udp6_port = bound6 != nullptr ? bound6->port : 0;
  sc.tcp_port = config.network.tcp_port;
  sc.tcp6_port = config.network.tcp6_port;
  if (config.enr.eth) {
    sc.eth = enr::ForkId{config.enr.eth->hash, config.enr.eth->next};
  }
  for (const Config::EnrEntry& e : config.enr.extra) {
    sc.extra_enr_entries.emplace_back(e.key, e.value);
  }
  sc.ipv4 = announce4;
  sc.ipv6 = announce6;
  sc.static_ip4 = config.network.external_ip_of(IpAddress::Family::kV4).has_value();
  sc.static_ip6 = config.network.external_ip_of(IpAddress::Family::kV6).has_value();
  sc.policy = impl->policies.back();
  sc.events = &impl->packet_log;
  if (n_workers > 1) {
    // Sharded (docs/multicore.md): worker 0 (this Impl) owns the table; the others mirror it.
    // Workers forward their IP votes; the owner decides and hands its new record to them.
    // Limits are per engine: each worker gets 1/N of the configured totals.
    sc = per_shard_limits(sc, n_workers);
    ShardGroupConfig gc;
    gc.shards = n_workers;
    gc.steer_seed = steer_seed;
    gc.steer_fn = [](const Endpoint& from, std::uint32_t n, std::uint64_t seed) noexcept {
      return net::reuseport_steer(from, n, static_cast<std::uint32_t>(seed));
    };
    if (impl->dpdk_group) {  // the NIC's RSS prediction, or the distributor's steer()
      gc.steer_fn = impl->steer_fn;
      gc.steer_seed = impl->steer_seed64;
    } else {
      impl->steer_fn = gc.steer_fn;
      impl->steer_seed64 = steer_seed;
    }
    impl->group = std::make_unique<ShardGroup>(gc);
    impl->steer_seed = steer_seed;
    for (std::uint32_t k = 1; k < n_workers; ++k) {
      auto w = std::make_unique<ShardWorker>();
      w->shard = k;
      w->group = impl->group.get();
      w->clock = &impl->clock;
      w->stats_every_ns = ns_of(config.timers.snapshot_interval) / 2;
      w->prune_every_ns = ns_of(config.timers.prune_interval);
      disc::ServerConfig wc = sc;
      wc.table_observer = impl->group->observer(k);
      // Each worker logs through its own packet log (one ring per producer). Policy swaps and
      // TALKREQ handlers reach them through ShardGroup::broadcast.
      wc.events = &w->packet_log;
      w->server = std::make_unique<disc::DiscoveryServer>(wc, impl->clock, w->rng, nullptr);
      if (impl->dpdk_group) {
        w->dpdk = &impl->dpdk_group->queue(k);
        if (k < impl->cpu_plan.worker.size()) {
          w->cpu = impl->cpu_plan.worker[k];
        }
      } else {
        w->socket = std::move(extra_sockets[k - 1]);
      }
      impl->workers.push_back(std::move(w));
    }
    sc.shard_router = impl->group->router();
    impl->configure_packet_logs(config.logging.level, config.logging.packet_log_rate);
  }
  impl->server = std::make_unique<disc::DiscoveryServer>(sc, impl->clock, impl->rng, impl.get());
  impl->publish();
  if (impl->dpdk) {  // the EAL is up: its telemetry socket serves /discplane/... from snapshots
    auto telemetry = TelemetryRegistration::attach(impl->snapshots, impl->bound);
    if (!telemetry) {
      return fail(telemetry.error());
    }
    impl->telemetry = std::move(*telemetry);
  }
  if (!config.dns_discovery.urls.empty()) {
    auto dns = DnsDiscovery::create(config.dns_discovery, stderr);
    if (!dns) {
      return fail(dns.error());
    }
    impl->dns = std::move(*dns);
  }
  return std::unique_ptr<Appliance>(new Appliance(std::move(impl)));
}

Appliance::Appliance(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Appliance::~Appliance() {
  request_stop();
  wait();
}

std::string Appliance::enode_url() const {
  auto url = enode::from_record(impl_->server->local_record());
  if (url) {
    return *url;
  }
  // No announced address yet: print the key with the bound endpoint.
  enode::Url u;
  u.public_key = impl_->server->local_public_key();
  u.ip = impl_->bound.ip;
  u.udp_port = impl_->bound.port;
  u.tcp_port = impl_->config.network.tcp_port != 0 ? impl_->config.network.tcp_port : u.udp_port;
  return enode::to_string(u);
}

std::string Appliance::enr_text() const {
  return enr::to_text(impl_->server->local_record());
}

std::uint32_t Appliance::shard_of(const Endpoint& from) const {
  const Impl& i = *impl_;
  if (!i.group) {
    return 0;
  }
  return i.steer_fn(from, i.group->shards(), i.steer_seed64);
}

std::vector<std::uint64_t> Appliance::worker_rx_packets() const {
  std::vector<std::uint64_t> out;
  for (const auto& w : impl_->workers) {
    out.push_back(w->stats.acquire()->socket.rx);
  }
  return out;
}

std::string Appliance::node_id_hex() const {
  return to_hex(impl_->server->local_id());
}

Endpoint Appliance::bound_endpoint() const {
  return impl_->bound;
}

std::vector<Endpoint> Appliance::bound_endpoints() const {
  return impl_->bound_all;
}

void Appliance::start() {
  Impl& i = *impl_;
  for (const std::string& b : i.config.bootnodes) {
    auto seed = parse_bootnode(b);
    if (seed) {
      (void)i.commands.try_push(disc::msg::AddSeed{*seed});
    } else {
      logger().warn("skipping bootnode: {}", seed.error());
    }
  }
  if (!i.config.node_db.path.empty()) {
    if (const std::size_t n = remove_stale_temp_files(i.config.node_db.path); n > 0) {
      logger().info("node database: removed {} temp file(s) of interrupted saves", n);
    }
    for (disc::NodeSeed& seed : load_node_db_seeds(i.config.node_db.path, stderr)) {
      (void)i.commands.try_push(disc::msg::AddSeed{std::move(seed)});
    }
  }
  i.push_self_lookups(i.config.runs(Protocol::kDiscv4), i.config.runs(Protocol::kDiscv5));
  if (i.dns) {
    i.dns->start();
  }
  i.running.store(true);
  i.core_thread = std::thread([&i] { i.run_core(); });
  for (auto& w : i.workers) {
    ShardWorker* p = w.get();
    w->thread = std::thread([&i, p] { p->run(i.core_stop); });
  }
  i.control_thread = std::thread([&i] { i.run_control(); });
}

void Appliance::request_stop() noexcept {
  impl_->stop_requested.store(true);
}

void Appliance::wait() {
  if (impl_->control_thread.joinable()) {
    impl_->control_thread.join();
  }
  if (impl_->core_thread.joinable()) {
    impl_->core_thread.join();
  }
  for (auto& w : impl_->workers) {
    if (w->thread.joinable()) {
      w->thread.join();
    }
  }
  impl_->running.store(false);
}

bool Appliance::running() const noexcept {
  return impl_->running.load();
}

bool Appliance::submit(disc::InMessage&& message) {
  Impl& i = *impl_;
  if (i.group && (std::holds_alternative<disc::msg::RegisterTalkProtocol>(message) ||
                  std::holds_alternative<disc::msg::SetNetPolicy>(message))) {
    // Every worker needs it (a TALKREQ or a banned peer can land on any of them). A policy
    // sent this way is kept referenced by the queue until every worker has its own copy.
    if (!i.commands.try_push(disc::InMessage(message))) {
      return false;
    }
    i.group->broadcast(message);
    return true;
  }
  return i.commands.try_push(std::move(message));
}

std::optional<std::uint64_t> Appliance::request_lookup(disc::Protocol protocol,
                                                       std::optional<NodeId> target) {
  Impl& i = *impl_;
  std::lock_guard<std::mutex> lock(i.lookup_queue_mutex);
  if (i.lookup_queue.size() >= kMaxQueuedLookups) {
    return std::nullopt;
  }
  const std::uint64_t tag = i.next_lookup_tag.fetch_add(1);
  i.lookup_queue.push_back(disc::msg::Lookup{protocol, target, tag});
  return tag;
}

std::optional<std::uint64_t> Appliance::request_probe(disc::InMessage message) {
  Impl& i = *impl_;
  std::lock_guard<std::mutex> lock(i.lookup_queue_mutex);
  if (i.probe_queue.size() >= kMaxQueuedLookups) {
    return std::nullopt;
  }
  const std::uint64_t tag = i.next_lookup_tag.fetch_add(1);
  bool probe = false;
  std::visit(
      [&](auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, disc::msg::Ping> || std::is_same_v<T, disc::msg::Resolve> ||
                      std::is_same_v<T, disc::msg::TalkRequest>) {
          m.tag = tag;
          probe = true;
        }
      },
      message);
  if (!probe) {
    return std::nullopt;
  }
  i.probe_queue.push_back(std::move(message));
  return tag;
}

const SnapshotPublisher<CoreSnapshot>& Appliance::snapshots() const {
  return impl_->snapshots;
}

void Appliance::on_peer_event(PeerEvent callback) {
  impl_->peer_event = std::move(callback);
}

void Appliance::on_control_tick(std::function<void()> callback) {
  impl_->control_tick = std::move(callback);
}

const Config& Appliance::config() const {
  return impl_->config;
}

std::optional<CrawlStats> Appliance::crawl_stats() const {
  if (!impl_->crawl) {
    return std::nullopt;
  }
  return impl_->crawl->stats();
}

std::optional<DnsDiscovery::Stats> Appliance::dns_stats() const {
  if (!impl_->dns) {
    return std::nullopt;
  }
  return impl_->dns->stats();
}

Result<std::vector<ReloadChange>, ConfigError> Appliance::reload(const Config& next) {
  Impl& i = *impl_;
  ReloadPlan plan = plan_reload(i.live_config, next);
  Impl::PendingReload r;
  if (plan.policy) {
    auto spec = policy_spec_of(next.policy);
    if (!spec) {
      return tl::unexpected(std::move(spec.error()));  // nothing applied
    }
    r.set_policy = true;
    r.policy = std::make_shared<const disc::NetPolicy>(*spec);
    logger().info("{}", describe(*r.policy));
  }
  for (const std::string& b : plan.new_bootnodes) {
    if (auto seed = parse_bootnode(b)) {
      r.seeds.push_back(std::move(*seed));
    } else {
      logger().warn("skipping bootnode: {}", seed.error());
    }
  }
  if (plan.logging) {
    set_log_level(next.logging.level);
    i.configure_packet_logs(next.logging.level, next.logging.packet_log_rate);
  }
  if (r.set_policy || !r.seeds.empty()) {
    std::lock_guard<std::mutex> lock(i.reload_mutex);
    if (i.pending_reload) {  // an earlier reload not yet applied: merge
      if (!r.set_policy && i.pending_reload->set_policy) {
        r.set_policy = true;
        r.policy = std::move(i.pending_reload->policy);
      }
      r.seeds.insert(r.seeds.end(), i.pending_reload->seeds.begin(), i.pending_reload->seeds.end());
    }
    i.pending_reload = std::move(r);
  }
  i.live_config = apply_live_fields(i.live_config, next);
  return std::move(plan.changes);
}

}  // namespace discplane::control
