// discbench --workers=1,2,...: the sharded runtime (control/shard_group.h) over DPDK net_ring.
//
// One ring port per worker (its own RX/TX rte_rings and mbuf pool): what a NIC with one RSS
// queue pair per core gives each core. The generator plays the NIC: it steers every frame by
// source endpoint (control::steer) into the owning worker's RX ring. Each worker runs its own
// DiscoveryServer (same node key); worker 0 owns the table and drains the others' update rings.
//
// Method (so that the generator does not compete with the workers for the 2 vCPUs): per round,
// the generator (untimed) pre-loads up to --round frames into every worker's RX ring, then
// releases the workers and sleeps (futex) until each has drained its ring: the round's wall
// time runs from the release to the last worker's end. The generator then (untimed) empties
// the TX rings, checks samples of the answers and builds the next round. For v5-handshake a
// round is two timed phases: random packets (-> WHOAREYOU) and then the handshakes built from
// those WHOAREYOUs (-> session + PONG). Rate = units / sum of round wall times.
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include <rte_eth_ring.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "discplane/control/shard_group.h"
#include "discplane/net/dpdk_port.h"
#include "discplane/net/frames.h"

#include "bench.h"
#include "generator_frames.h"

namespace discbench {

namespace {

const net::MacAddress kGenMac{2, 0, 0, 0, 0, 2};
constexpr unsigned kRingSize = 16384;

std::vector<std::string> eal_args() {
  return {"discbench",
          "--no-huge",
          "--no-pci",
          "-m",
          "512",
          "--log-level=lib.eal:warning",
          "--file-prefix=discbench_" + std::to_string(::getpid())};
}

// One worker's queue pair (a net_ring port) and its port.
struct Lane {
  rte_ring* rx = nullptr;
  rte_ring* tx = nullptr;
  std::unique_ptr<net::DpdkPort> port;
};

bool make_lane(std::uint32_t index, Lane& lane) {
  static std::uint32_t made = 0;  // ring names are global to the EAL: unique per lane made
  const std::string tag = std::to_string(made++);
  lane.rx = rte_ring_create(("mc_rx" + tag).c_str(), kRingSize, SOCKET_ID_ANY,
                            RING_F_SP_ENQ | RING_F_SC_DEQ);
  lane.tx = rte_ring_create(("mc_tx" + tag).c_str(), kRingSize, SOCKET_ID_ANY,
                            RING_F_SP_ENQ | RING_F_SC_DEQ);
  if (lane.rx == nullptr || lane.tx == nullptr) {
    return false;
  }
  const int port_id = rte_eth_from_rings(("mc_ring" + tag).c_str(), &lane.rx, 1, &lane.tx, 1, 0);
  if (port_id < 0) {
    return false;
  }
  net::DpdkConfig config;
  config.eal_args = eal_args();
  config.port_id = static_cast<std::uint16_t>(port_id);
  config.mempool_size = 8191;  // a round's answers wait in the TX ring until the generator runs
  config.rx_ring_size = 1024;
  config.ipv4 = IpAddress::v4(10, 0, 0, 2);
  config.udp_port = 30303;
  config.gateway4 = IpAddress::v4(10, 0, 0, 1);
  config.gateway_mac = kGenMac;
  // The synthetic peers' 127.1.x.y sources are martians on a DPDK port: allow them, so
  // every frame still pays the martian check and the allow-list look-up (its worst case).
  config.allow_martian = {*disc::Cidr::parse("127.0.0.0/8")};
  auto p = net::DpdkPort::create(config);
  if (!p) {
    std::fprintf(stderr, "discbench: worker %u port: %s\n", index, net::to_string(p.error()));
    return false;
  }
  lane.port = std::move(*p);
  return true;
}

void enqueue(rte_mempool* pool, Lane& lane, const Workload& w,
             std::span<const Input* const> inputs) {
  std::vector<rte_mbuf*> m(inputs.size());
  build_generator_frames(pool, m.data(), w, inputs, kGenMac, lane.port->interface());
  if (rte_ring_enqueue_bulk(lane.rx, reinterpret_cast<void**>(m.data()),
                            static_cast<unsigned>(m.size()), nullptr) != m.size()) {
    std::fprintf(stderr, "discbench: RX ring full\n");
    std::exit(1);
  }
}

void drain(Lane& lane, Responses& out) {
  std::array<rte_mbuf*, 64> m{};
  for (;;) {
    const unsigned n = rte_ring_dequeue_burst(lane.tx, reinterpret_cast<void**>(m.data()),
                                              static_cast<unsigned>(m.size()), nullptr);
    if (n == 0) {
      return;
    }
    for (unsigned i = 0; i < n; ++i) {
      const auto* f = rte_pktmbuf_mtod(m[i], const std::uint8_t*);
      const std::size_t len = m[i]->data_len;
      if (len < 42 || f[12] != 0x08 || f[13] != 0x00 || f[23] != 17) {
        ++out.unmatched;
        continue;
      }
      const Endpoint to{IpAddress::v4(ByteView(f + 30, 4)),
                        static_cast<std::uint16_t>((f[36] << 8) | f[37])};
      const std::size_t udp_len = static_cast<std::size_t>((f[38] << 8) | f[39]);
      out.on_response(ByteView(f + 42, std::min(udp_len - 8, len - 42)), to);
    }
    rte_pktmbuf_free_bulk(m.data(), n);
  }
}

// A worker's sink: its engine plus the between-bursts hook (ShardGroup::poll with the port's
// transport), on every idle poll and, on the owner, every 8th burst so that the update rings
// drain under load.
class ShardSink final : public disc::DatagramSink {
 public:
  ShardSink(std::uint32_t k, disc::DiscoveryServer& server, control::ShardGroup& group,
            const RealClock& clock)
      : k_(k), server_(server), group_(group), clock_(clock) {}
  void on_burst(std::span<const disc::Datagram> burst, disc::Transport& tx) noexcept override {
    server_.on_burst(burst, tx);
    if (k_ == 0 && ++bursts_ % 8 == 0) {
      (void)group_.poll(k_, server_, tx, clock_.now().mono_ns);
    }
  }
  void on_idle(disc::Transport& tx) noexcept override {
    server_.on_idle(tx);
    (void)group_.poll(k_, server_, tx, clock_.now().mono_ns);
  }

 private:
  std::uint32_t k_;
  disc::DiscoveryServer& server_;
  control::ShardGroup& group_;
  const RealClock& clock_;
  std::uint64_t bursts_ = 0;
};

// The workers: persistent threads released once per timed phase.
class Workers {
 public:
  Workers(std::vector<Lane>& lanes, std::vector<disc::DiscoveryServer*> servers,
          control::ShardGroup& group)
      : lanes_(lanes),
        servers_(std::move(servers)),
        group_(group),
        target_(lanes.size()),
        cpu_ns_(lanes.size()) {
    for (std::size_t k = 0; k < lanes_.size(); ++k) {
      threads_.emplace_back([this, k] { loop(static_cast<std::uint32_t>(k)); });
    }
  }
  ~Workers() {
    stop_ = true;
    phase_.fetch_add(1);
    phase_.notify_all();
    for (auto& t : threads_) {
      t.join();
    }
  }
  // Runs one phase: worker k takes target[k] frames from its RX ring. Returns wall tsc.
  std::uint64_t run(const std::vector<std::size_t>& target) {
    for (std::size_t k = 0; k < target.size(); ++k) {
      target_[k] = target[k];
    }
    done_.store(0);
    const std::uint64_t t0 = rdtsc();
    phase_.fetch_add(1);
    phase_.notify_all();
    for (unsigned d = done_.load(); d < lanes_.size(); d = done_.load()) {
      done_.wait(d);
    }
    return end_tsc_.exchange(0) - t0;
  }
  std::int64_t cpu_ns(std::size_t k) const { return cpu_ns_[k]; }

 private:
  void loop(std::uint32_t k) {
    // An lcore id for this thread, as an EAL worker would have: mempool gets and frees then go
    // through a per-lcore cache instead of the shared ring (without it, two workers freeing RX
    // mbufs into the generator's pool contend on one cache line).
    if (rte_thread_register() != 0) {
      std::fprintf(stderr, "discbench: worker %u: rte_thread_register failed\n", k);
    }
    // Worker k on the k-th EAL lcore's CPU, as the appliance places its workers (threads
    // started after rte_eal_init would otherwise all inherit the main lcore's CPU).
    if (const auto cpus = net::eal_lcore_cpus(); !cpus.empty()) {
      (void)net::pin_thread({cpus[k % cpus.size()]});
    }
    std::uint64_t seen = 0;
    for (;;) {
      phase_.wait(seen);
      seen = phase_.load();
      if (stop_) {
        return;
      }
      const std::int64_t c0 = thread_cpu_ns();
      std::size_t got = 0;
      net::DpdkPort& port = *lanes_[k].port;
      ShardSink sink(k, *servers_[k], group_, clock_);
      while (got < target_[k]) {
        got += port.run_once(sink);
      }
      port.flush_tx();
      cpu_ns_[k] += thread_cpu_ns() - c0;
      std::uint64_t end = rdtsc();
      for (std::uint64_t cur = end_tsc_.load();
           cur < end && !end_tsc_.compare_exchange_weak(cur, end);) {
      }
      done_.fetch_add(1);
      done_.notify_all();
    }
  }

  std::vector<Lane>& lanes_;
  std::vector<disc::DiscoveryServer*> servers_;
  control::ShardGroup& group_;
  std::vector<std::size_t> target_;
  std::vector<std::int64_t> cpu_ns_;
  std::vector<std::thread> threads_;
  std::atomic<std::uint64_t> phase_{0};
  std::atomic<unsigned> done_{0};
  std::atomic<std::uint64_t> end_tsc_{0};
  std::atomic<bool> stop_{false};
  RealClock clock_;
};

struct McResult {
  std::size_t units = 0;
  double wall_s = 0;
  std::vector<double> cpu_s;
  std::uint64_t checked = 0, failed = 0;
  std::string first_failure;
  control::ShardGroupCounters group;
  std::size_t owner_table = 0;
  std::vector<std::size_t> per_worker;
  std::vector<std::size_t> sessions;
  double load = 0;       // 1-minute load average after the run
  std::size_t sent = 0;  // handshakes sent (units: those answered)
};

// One timed phase: every worker at once, or (serial: a diagnostic) one worker after the other,
// so that each runs alone on the machine and its CPU time carries no contention.
std::uint64_t run_phase(Workers& workers, const std::vector<std::size_t>& target, bool serial) {
  if (!serial) {
    return workers.run(target);
  }
  std::uint64_t wall = 0;
  for (std::size_t k = 0; k < target.size(); ++k) {
    std::vector<std::size_t> one(target.size(), 0);
    one[k] = target[k];
    wall += workers.run(one);
  }
  return wall;
}

McResult run_sharded(const std::string& scenario, std::uint32_t n, const Options& base,
                     std::size_t round, bool serial, rte_mempool* gen_pool) {
  McResult res;
  std::vector<std::unique_ptr<Workload>> ws;
  control::ShardGroupConfig gc;
  gc.shards = n;
  gc.ring_capacity = 16384;
  auto group = std::make_unique<control::ShardGroup>(gc);
  for (std::uint32_t k = 0; k < n; ++k) {
    Options opt = base;
    opt.table_observer = group->observer(k);
    opt.shard_router = k == 0 ? group->router() : nullptr;
    ws.push_back(make_workload(scenario, opt));
  }
  // Set-up traffic of the other shards reached the owner's rings: apply, publish, mirror.
  CollectTransport setup_tx;  // no delegated pings yet: nothing is sent here
  while (group->poll(0, *ws[0]->server, setup_tx, 0, true) > 0) {
  }
  for (std::uint32_t k = 1; k < n; ++k) {
    (void)group->poll(k, *ws[k]->server, setup_tx, 0);
  }

  static std::vector<Lane> made;  // ports live for the process (DPDK ports are not reopened)
  for (std::uint32_t k = 0; k < n; ++k) {
    if (k >= made.size()) {
      Lane lane;
      if (!make_lane(k, lane)) {
        std::fprintf(stderr, "discbench: cannot make worker lane %u\n", k);
        std::exit(1);
      }
      made.push_back(std::move(lane));
    }
  }
  std::vector<disc::DiscoveryServer*> servers(n);
  for (std::uint32_t k = 0; k < n; ++k) {
    servers[k] = ws[k]->server.get();
  }

  // Inputs per shard: workload k's inputs whose source steers to k.
  std::vector<std::vector<const Input*>> mine(n);
  for (std::uint32_t k = 0; k < n; ++k) {
    for (const Input& in : ws[k]->inputs) {
      if (control::steer(identity_endpoint(in.identity), n) == k) {
        mine[k].push_back(&in);
      }
    }
    res.per_worker.push_back(mine[k].size());
  }
  std::vector<std::unique_ptr<Responses>> resp;
  for (std::uint32_t k = 0; k < n; ++k) {
    const std::size_t ids = std::max<std::size_t>(ws[k]->ids.size(), 1024);
    resp.push_back(
        std::make_unique<Responses>(ids, 256, std::max<std::size_t>(1, mine[k].size() / 128)));
    resp[k]->inputs = &ws[k]->inputs;
    resp[k]->kept.resize(round);
    for (auto& kept : resp[k]->kept) {
      kept.second.reserve(disc::kMaxPacketSize);
    }
  }

  std::vector<Lane> lanes_view;  // Workers takes lanes by reference: move in, move back out
  for (std::uint32_t k = 0; k < n; ++k) {
    lanes_view.push_back(std::move(made[k]));
  }
  std::uint64_t wall_tsc = 0;
  {
    Workers workers(lanes_view, servers, *group);
    const bool handshake = ws[0]->closed_loop_handshake;
    std::uint64_t req = 1ULL << 50;
    // A round never carries two inputs of one identity: each answer is matched (and sampled)
    // against its identity's one request in flight.
    std::vector<std::size_t> pos(n, 0);
    std::vector<std::uint64_t> in_round;
    for (std::uint64_t round_no = 1;; ++round_no) {
      std::vector<std::size_t> target(n, 0);
      bool any = false;
      for (std::uint32_t k = 0; k < n; ++k) {
        resp[k]->kept_used = 0;  // a worker with no inputs left answers no stale WHOAREYOU
        if (pos[k] >= mine[k].size()) {
          continue;
        }
        std::size_t m = 0;
        while (pos[k] + m < mine[k].size() && m < round) {
          const std::uint32_t id = mine[k][pos[k] + m]->identity;
          if (id >= in_round.size()) {
            in_round.resize(id + 1, 0);
          }
          if (in_round[id] == round_no) {
            break;
          }
          in_round[id] = round_no;
          ++m;
        }
        std::span<const Input* const> batch(mine[k].data() + pos[k], m);
        pos[k] += m;
        for (const Input* in : batch) {
          resp[k]->pending[in->identity] = in - ws[k]->inputs.data();
        }
        enqueue(gen_pool, lanes_view[k], *ws[k], batch);
        target[k] = m;
        resp[k]->keep_all = handshake;
        resp[k]->kept_used = 0;
        any = true;
      }
      if (!any) {
        break;
      }
      wall_tsc += run_phase(workers, target, serial);
      for (std::uint32_t k = 0; k < n; ++k) {
        drain(lanes_view[k], *resp[k]);
        resp[k]->keep_all = false;
      }
      if (!handshake) {
        for (std::uint32_t k = 0; k < n; ++k) {
          res.units += target[k];
        }
        continue;
      }
      // Second phase: answer every WHOAREYOU (untimed), then time the handshakes.
      std::vector<std::vector<const Input*>> hs(n);
      for (std::uint32_t k = 0; k < n; ++k) {
        Workload& w = *ws[k];
        const std::size_t first = w.inputs.size();
        for (std::size_t i = 0; i < resp[k]->kept_used; ++i) {
          const std::uint32_t idx = resp[k]->kept[i].first;
          bool with_record = true;
          const Bytes p =
              answer_whoareyou(w, w.ids[idx], resp[k]->kept[i].second, ++req, &with_record);
          w.add(p, Expect::kV5Handshake, idx, req,
                with_record ? static_cast<std::uint16_t>(w.ids[idx].record.raw().size()) : 0);
        }
        // inputs may have reallocated: take pointers only now (earlier batches are done).
        for (std::size_t i = first; i < w.inputs.size(); ++i) {
          hs[k].push_back(&w.inputs[i]);
        }
        for (const Input* in : hs[k]) {
          resp[k]->pending[in->identity] = in - w.inputs.data();
        }
        enqueue(gen_pool, lanes_view[k], w, hs[k]);
        target[k] = hs[k].size();
        res.sent += hs[k].size();
      }
      wall_tsc += run_phase(workers, target, serial);
      // A handshake counts when it was answered (session + PONG): one whose challenge expired
      // meanwhile (handshake_timeout, 1 s: the generator's half can take that long on a loaded
      // machine) is dropped cheaply and must not inflate the rate.
      for (std::uint32_t k = 0; k < n; ++k) {
        const std::uint64_t before = resp[k]->count;
        drain(lanes_view[k], *resp[k]);
        res.units += resp[k]->count - before;
      }
      // mine[k] pointed into inputs, which may have moved: rebuild from indices.
      for (std::uint32_t k = 0; k < n; ++k) {
        std::vector<const Input*> again;
        for (const Input& in : ws[k]->inputs) {
          if (in.expect == Expect::kV5Whoareyou &&
              control::steer(identity_endpoint(in.identity), n) == k) {
            again.push_back(&in);
          }
        }
        mine[k].swap(again);
      }
    }
    for (std::uint32_t k = 0; k < n; ++k) {
      res.cpu_s.push_back(static_cast<double>(workers.cpu_ns(k)) / 1e9);
    }
  }
  for (std::uint32_t k = 0; k < n; ++k) {
    made[k] = std::move(lanes_view[k]);
    const CheckResult c = check_samples(*ws[k], *resp[k]);
    res.checked += c.checked;
    res.failed += c.failed + resp[k]->unmatched;
    if (res.first_failure.empty() && !c.first_failure.empty()) {
      res.first_failure = "worker " + std::to_string(k) + ": " + c.first_failure;
    }
    res.sessions.push_back(ws[k]->server->session_count());
  }
  (void)group->poll(0, *ws[0]->server, setup_tx, 0, true);
  res.group = group->counters();
  res.owner_table = ws[0]->server->table().size();
  res.wall_s = static_cast<double>(wall_tsc) / tsc_hz();
  double load[1] = {0};
  if (getloadavg(load, 1) == 1) {
    res.load = load[0];
  }
  return res;
}

}  // namespace

int run_workers(const std::vector<std::string>& scenarios, const std::vector<std::uint32_t>& ns,
                const Options& opt, std::size_t round, bool serial) {
  if (auto r = net::eal_init_once(eal_args()); !r) {
    std::fprintf(stderr, "discbench: %s\n", net::to_string(r.error()));
    return 1;
  }
  rte_mempool* pool = rte_pktmbuf_pool_create("mc_gen_pool", 16383, 256, 0,
                                              RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  if (pool == nullptr) {
    std::fprintf(stderr, "discbench: generator pool creation failed\n");
    return 1;
  }
  std::printf(
      "discbench --workers: net_ring, one queue pair per worker, rounds of %zu frames per "
      "worker pre-loaded, generator idle while timed; %u vCPUs online; worker k on the CPU of "
      "EAL lcore k (CPUs %s)\n",
      round, std::thread::hardware_concurrency(),
      net::cpu_list_string(net::eal_lcore_cpus()).c_str());
  std::printf("%-18s %7s %9s %9s %10s %7s %12s %7s  %-12s %s  %s\n", "scenario", "workers", "units",
              "wall ms", "wall /s", "speedup", "per-core /s", "scaling", "worker CPU s", "load",
              "checks / table sync");
  if (serial) {
    std::printf("(--serial: the workers of a phase run one after the other, each alone)\n");
  }
  int failures = 0;
  for (const std::string& s : scenarios) {
    double base = 0;
    double cpu_base = 0;
    for (const std::uint32_t n : ns) {
      const McResult r = run_sharded(s, n, opt, round, serial, pool);
      const double rate = static_cast<double>(r.units) / std::max(1e-9, r.wall_s);
      // What the run would do with one whole core per worker: units over the busiest
      // worker's CPU time (the machine's other load cannot lower it, only the wall rate).
      double busiest = 0;
      for (const double c : r.cpu_s) {
        busiest = std::max(busiest, c);
      }
      const double cpu_rate = static_cast<double>(r.units) / std::max(1e-9, busiest);
      if (n == ns.front()) {
        cpu_base = cpu_rate / n;
      }
      if (n == ns.front()) {
        base = rate / n;
      }
      std::string cpu;
      for (const double c : r.cpu_s) {
        char b[16];
        std::snprintf(b, sizeof b, cpu.empty() ? "%.2f" : "/%.2f", c);
        cpu += b;
      }
      std::printf(
          "%-18s %7u %9zu %9.1f %10.0f %6.2fx %12.0f %6.2fx  %-12s %.1f  ok %llu/%llu, "
          "applied %llu, suppressed %llu, published %llu, ring-full %llu, owner table %zu\n",
          s.c_str(), n, r.units, r.wall_s * 1e3, rate, rate / std::max(1e-9, base), cpu_rate,
          cpu_rate / std::max(1e-9, cpu_base), cpu.c_str(), r.load,
          static_cast<unsigned long long>(r.checked - r.failed),
          static_cast<unsigned long long>(r.checked),
          static_cast<unsigned long long>(r.group.applied),
          static_cast<unsigned long long>(r.group.suppressed),
          static_cast<unsigned long long>(r.group.published),
          static_cast<unsigned long long>(r.group.ring_full), r.owner_table);
      if (r.sent > r.units) {
        std::printf("%-18s %7s   %zu of %zu handshakes unanswered (challenge expired?)\n", "", "",
                    r.sent - r.units, r.sent);
      }
      if (r.checked == 0 && s != "garbage") {
        std::printf("%-18s %7s   WRONG: no answer was checked\n", "", "");
        ++failures;
      }
      if (r.failed > 0) {
        std::printf("%-18s %7s   WRONG: %s\n", "", "", r.first_failure.c_str());
        ++failures;
      }
      std::fflush(stdout);
    }
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace discbench
