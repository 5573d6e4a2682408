// DpdkPortGroup: one port, N workers (see dpdk_queues.h). Setup picks RSS or the software
// distributor; the per-burst parts are DpdkPort::Impl::mq_rx / mq_tx, called from run_once /
// flush (dpdk_port.cc) only when the handle belongs to a group.
#include "discplane/net/dpdk_queues.h"

#include <algorithm>
#include <cstring>
#include <string>

#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "dpdk_internal.h"

namespace discplane::net {

const char* to_string(DpdkSteering s) noexcept {
  switch (s) {
    case DpdkSteering::kAuto:
      return "auto";
    case DpdkSteering::kRss:
      return "rss";
    case DpdkSteering::kSoftware:
      return "software";
  }
  return "unknown";
}

int register_worker_thread() noexcept {
  if (rte_thread_register() != 0) {
    return -1;
  }
  return static_cast<int>(rte_lcore_id());
}

void unregister_worker_thread() noexcept {
  if (rte_lcore_id() != LCORE_ID_ANY) {
    rte_thread_unregister();
  }
}

// ---- the per-burst side ----------------------------------------------------------------------
namespace {

enum class FrameClass : std::uint8_t { kOther, kUdp, kNeighbor };

// Fixed offsets only: Ethernet, at most one VLAN tag, IPv4 (IHL honoured, fragments are
// kOther) or IPv6 without extension headers. ARP and ICMPv6 NS/NA are kNeighbor.
FrameClass classify(const rte_mbuf* m, Endpoint& from) noexcept {
  const auto* p = rte_pktmbuf_mtod(m, const std::uint8_t*);
  const std::size_t len = m->data_len;
  if (len < 14) {
    return FrameClass::kOther;
  }
  std::size_t off = 12;
  std::uint16_t type = static_cast<std::uint16_t>(p[off] << 8 | p[off + 1]);
  if (type == 0x8100 && len >= 18) {
    off += 4;
    type = static_cast<std::uint16_t>(p[off] << 8 | p[off + 1]);
  }
  off += 2;
  if (type == 0x0806) {
    return FrameClass::kNeighbor;
  }
  if (type == 0x0800 && len >= off + 20) {
    const std::size_t ihl = (p[off] & 0x0fu) * 4u;
    const bool fragment = (p[off + 6] & 0x3fu) != 0 || p[off + 7] != 0;  // MF or offset
    if (p[off + 9] != 17 || fragment || ihl < 20 || len < off + ihl + 4) {
      return FrameClass::kOther;
    }
    from.ip.family = IpAddress::Family::kV4;
    std::memcpy(from.ip.bytes.data(), p + off + 12, 4);
    from.port = static_cast<std::uint16_t>(p[off + ihl] << 8 | p[off + ihl + 1]);
    return FrameClass::kUdp;
  }
  if (type == 0x86dd && len >= off + 41) {
    const std::uint8_t next = p[off + 6];
    if (next == 58) {
      const std::uint8_t icmp = p[off + 40];
      return icmp == 135 || icmp == 136 ? FrameClass::kNeighbor : FrameClass::kOther;
    }
    if (next != 17 || len < off + 44) {
      return FrameClass::kOther;
    }
    from.ip.family = IpAddress::Family::kV6;
    std::memcpy(from.ip.bytes.data(), p + off + 8, 16);
    from.port = static_cast<std::uint16_t>(p[off + 40] << 8 | p[off + 41]);
    return FrameClass::kUdp;
  }
  return FrameClass::kOther;
}

}  // namespace

void DpdkPort::Impl::learn_from(ParseResult kind, const ParsedFrame& f) noexcept {
  if (kind == ParseResult::kArp) {
    learn(f.src_ip, f.link_addr);
  } else if (kind == ParseResult::kNeighborSolicit && f.has_link_addr &&
             !f.src_ip.is_unspecified()) {
    learn(f.src_ip, f.link_addr);
  } else if (kind == ParseResult::kNeighborAdvert && f.has_link_addr) {
    learn(f.target, f.link_addr);
  }
}

// Worker 0 when the port has fewer TX queues than workers: sends what the others queued
// (every poll, bounded to 4 bursts per ring).
void DpdkPort::Impl::drain_tx_rings() noexcept {
  MultiQueue& q = *mq;
  for (std::uint32_t k = 0; k < q.workers; ++k) {
    if (q.tx_in[k] == nullptr) {
      continue;
    }
    std::array<rte_mbuf*, kBurst> out{};
    for (int round = 0; round < 4; ++round) {
      const unsigned got = rte_ring_sc_dequeue_burst(
          q.tx_in[k], reinterpret_cast<void**>(out.data()), kBurst, nullptr);
      if (got == 0) {
        break;
      }
      const std::uint16_t ok =
          rte_eth_tx_burst(port_id, q.tx_queue, out.data(), static_cast<std::uint16_t>(got));
      counters.tx_packets += ok;
      if (ok < got) {
        counters.tx_refused += got - ok;
        rte_pktmbuf_free_bulk(out.data() + ok, got - ok);
      }
    }
  }
}

std::uint16_t DpdkPort::Impl::mq_rx(std::uint16_t& copies) noexcept {
  MultiQueue& q = *mq;
  if (q.has_tx_in) {
    drain_tx_rings();
  }
  std::uint16_t n = 0;
  copies = 0;
  if (q.in != nullptr) {
    n = static_cast<std::uint16_t>(
        rte_ring_sc_dequeue_burst(q.in, reinterpret_cast<void**>(rx.data()), kBurst, nullptr));
    counters.from_ring += n;
    // ARP/NDP copies first (stable: the steered datagrams keep their order): the receiving
    // worker counted and answered them, this one only learns from them.
    std::array<rte_mbuf*, kBurst> steered;
    std::uint16_t n_steered = 0;
    for (std::uint16_t i = 0; i < n; ++i) {
      Endpoint unused;
      if (classify(rx[i], unused) == FrameClass::kNeighbor) {
        rx[copies++] = rx[i];
      } else {
        steered[n_steered++] = rx[i];
      }
    }
    std::copy_n(steered.data(), n_steered, rx.data() + copies);
  }
  if (!q.poll_port || n == kBurst) {
    return n;
  }
  std::uint16_t got = 0;
  if (q.rx_queues == 1) {
    got = rte_eth_rx_burst(port_id, q.rx_queue, rx.data() + n,
                           static_cast<std::uint16_t>(kBurst - n));
  } else {  // the distributor on a port that spreads over several RX queues: read them all
    for (std::uint16_t j = 0; j < q.rx_queues && n + got < kBurst; ++j) {
      const std::uint16_t queue = static_cast<std::uint16_t>((q.next_rx + j) % q.rx_queues);
      got += rte_eth_rx_burst(port_id, queue, rx.data() + n + got,
                              static_cast<std::uint16_t>(kBurst - n - got));
    }
    q.next_rx = static_cast<std::uint16_t>((q.next_rx + 1) % q.rx_queues);
  }
  // Port frames: keep ours in rx[] (compacted after the ring's), stage the others per worker,
  // share ARP/NDP with everyone (one mbuf, one reference per receiver).
  std::uint16_t kept = n;
  for (std::uint16_t i = n; i < n + got; ++i) {
    rte_mbuf* m = rx[i];
    Endpoint from;
    const FrameClass c = classify(m, from);
    if (c == FrameClass::kUdp && q.distribute) {
      const std::uint32_t k = q.steer(from, q.workers, q.seed);
      if (k != q.index && k < q.workers) {
        q.stage[k][q.staged[k]++] = m;
        continue;
      }
    } else if (c == FrameClass::kNeighbor) {
      for (std::uint32_t k = 0; k < q.workers; ++k) {
        if (q.peers[k] == nullptr) {
          continue;
        }
        rte_mbuf_refcnt_update(m, 1);
        if (rte_ring_enqueue(q.peers[k], m) == 0) {
          ++counters.neighbor_copies;
        } else {
          rte_mbuf_refcnt_update(m, -1);
          ++counters.steer_dropped;
        }
      }
    }
    rx[kept++] = m;
  }
  if (q.distribute) {
    for (std::uint32_t k = 0; k < q.workers; ++k) {
      const unsigned staged = q.staged[k];
      if (staged == 0) {
        continue;
      }
      q.staged[k] = 0;
      void** objs = reinterpret_cast<void**>(q.stage[k].data());
      const unsigned moved =
          q.peers[k] == nullptr ? 0 : rte_ring_enqueue_burst(q.peers[k], objs, staged, nullptr);
      counters.steered_out += moved;
      if (moved < staged) {
        counters.steer_dropped += staged - moved;
        rte_pktmbuf_free_bulk(q.stage[k].data() + moved, staged - moved);
      }
    }
  }
  return kept;
}

std::uint16_t DpdkPort::Impl::mq_tx(rte_mbuf** pkts, std::uint16_t n) noexcept {
  MultiQueue& q = *mq;
  if (q.tx_out != nullptr) {  // no TX queue of our own: worker 0 sends these
    const unsigned moved =
        rte_ring_sp_enqueue_burst(q.tx_out, reinterpret_cast<void**>(pkts), n, nullptr);
    counters.tx_ring_dropped += n - moved;
    counters.tx_to_ring += moved;  // not tx_packets: worker 0 counts them when it sends them
    return static_cast<std::uint16_t>(moved);
  }
  return rte_eth_tx_burst(port_id, q.tx_queue, pkts, n);
}

// ---- setup -----------------------------------------------------------------------------------
struct DpdkPortGroup::Rings {
  std::array<MultiQueue, MultiQueue::kMax> mq{};
  std::array<rte_ring*, MultiQueue::kMax> in{};
  std::array<rte_ring*, MultiQueue::kMax> tx{};

  void drain_and_free() noexcept {
    for (auto* list : {&in, &tx}) {
      for (rte_ring*& r : *list) {
        if (r == nullptr) {
          continue;
        }
        void* obj = nullptr;
        while (rte_ring_dequeue(r, &obj) == 0) {
          rte_pktmbuf_free(static_cast<rte_mbuf*>(obj));
        }
        rte_ring_free(r);
        r = nullptr;
      }
    }
  }
};

DpdkPortGroup::~DpdkPortGroup() {
  if (started_) {
    (void)rte_eth_dev_stop(port_id_);
  }
  if (rings_) {
    rings_->drain_and_free();  // the rings hold mbufs of the queues' pools
  }
  if (configured_) {
    (void)rte_eth_dev_close(port_id_);
  }
  queues_.clear();  // frees each queue's pending mbufs, then its pool
}

SteerFn DpdkPortGroup::steer_fn() const noexcept {
  return info_.mode == DpdkSteering::kRss ? &rss_steer : steer_;
}

std::uint64_t DpdkPortGroup::steer_seed() const noexcept {
  return info_.mode == DpdkSteering::kRss ? port_id_ : seed_;
}

namespace {

// The RETA as the port reports it now, into state (entries taken % n). Its size is read again
// here: some PMDs size it at configure (mlx5: by the RX queue count) or program it only at
// start (ixgbe, i40e, mlx5), so a size or table read earlier may not be the one in use. False
// when it cannot be read, or when its size is not a power of two (the NIC indexes it with the
// hash's low bits; queue_of's hash % size only matches that for a power of two).
bool read_reta(std::uint16_t port, std::uint32_t n, RssState& state) noexcept {
  rte_eth_dev_info now{};
  if (rte_eth_dev_info_get(port, &now) != 0) {
    return false;
  }
  const std::uint16_t size = now.reta_size;
  if (size == 0 || size > state.reta.size() || (size & (size - 1)) != 0) {
    return false;
  }
  std::array<rte_eth_rss_reta_entry64, 512 / RTE_ETH_RETA_GROUP_SIZE> reta{};
  for (auto& e : reta) {
    e.mask = ~0ULL;
  }
  if (rte_eth_dev_rss_reta_query(port, reta.data(), size) != 0) {
    return false;
  }
  state.reta_size = size;
  for (std::uint16_t i = 0; i < size; ++i) {
    state.reta[i] = reta[i / RTE_ETH_RETA_GROUP_SIZE].reta[i % RTE_ETH_RETA_GROUP_SIZE] % n;
  }
  return true;
}

}  // namespace

Result<std::unique_ptr<DpdkPortGroup>, DpdkError> DpdkPortGroup::create(
    const DpdkGroupConfig& config) {
  const DpdkConfig& pc = config.port;
  const std::uint32_t n = config.workers;
  if ((!pc.ipv4.is_v4() && !pc.ipv6.is_v6()) || pc.udp_port == 0 || pc.vlan_id > 4095 ||
      pc.mempool_size < 2 * DpdkPort::kBurst || n == 0 || n > kMaxWorkers ||
      (config.steer == nullptr && config.steering != DpdkSteering::kRss) ||
      (pc.gateway_mac && !pc.gateway4.valid() && !pc.gateway6.valid()) || config.ring_size < 64 ||
      (config.ring_size & (config.ring_size - 1)) != 0) {
    return fail(DpdkError::kBadConfig);
  }
  if (auto r = eal_init_once(pc.eal_args); !r) {
    return fail(r.error());
  }
  // Declared before the group: on a failed setup the group (port close) goes first, then the
  // pools its RX queues point into.
  std::vector<std::unique_ptr<DpdkPort::Impl>> impls;
  std::unique_ptr<DpdkPortGroup> g(new DpdkPortGroup());
  g->config_ = pc;
  g->seed_ = config.steer_seed;
  g->steer_ = config.steer;
  g->rings_ = std::make_unique<Rings>();
  auto queried = query_port(pc);
  if (!queried) {
    return fail(queried.error());
  }
  const rte_eth_dev_info& info = queried->info;
  g->port_id_ = queried->port;
  const std::uint16_t port = g->port_id_;
  const int socket = static_cast<int>(queried->socket);
  DpdkGroupInfo& gi = g->info_;
  gi.max_rx_queues = info.max_rx_queues;
  gi.max_tx_queues = info.max_tx_queues;

  rte_eth_conf conf{};
  DpdkOffloads off;
  choose_offloads(pc, info, off, conf);

  // RSS: N RX queues, UDP (or IP) hash, our key, a RETA we can read back.
  const std::uint64_t wanted = RTE_ETH_RSS_NONFRAG_IPV4_UDP | RTE_ETH_RSS_NONFRAG_IPV6_UDP |
                               RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_IPV6;
  const std::uint64_t hf = wanted & info.flow_type_rss_offloads;
  std::array<std::uint8_t, 52> key{};
  const bool rss_capable =
      info.max_rx_queues >= n && info.max_tx_queues >= n && hf != 0 && info.reta_size > 0 &&
      (info.hash_key_size == 0 ||
       (info.hash_key_size >= kRssKey.size() && info.hash_key_size <= key.size()));
  bool rss = config.steering != DpdkSteering::kSoftware && rss_capable;
  if (config.steering == DpdkSteering::kRss && !rss_capable) {
    return fail(DpdkError::kConfigure);
  }
  // Our 40 bytes, zero-padded to the port's key size (ethdev and PMDs such as i40e refuse any
  // other length; the bytes after 40 never enter a hash over our tuples).
  std::memcpy(key.data(), kRssKey.data(), kRssKey.size());
  RssState state;
  if (rss) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_key = key.data();
    conf.rx_adv_conf.rss_conf.rss_key_len =
        static_cast<std::uint8_t>(info.hash_key_size != 0 ? info.hash_key_size : kRssKey.size());
    conf.rx_adv_conf.rss_conf.rss_hf = hf;
    if (rte_eth_dev_configure(port, static_cast<std::uint16_t>(n), static_cast<std::uint16_t>(n),
                              &conf) != 0) {
      if (config.steering == DpdkSteering::kRss) {
        return fail(DpdkError::kConfigure);
      }
      rss = false;  // kAuto: the port refused this RSS setup; distribute in software
    } else {
      g->configured_ = true;
      // A probe: a readable RETA of a usable size. The table in use is read again after start.
      if (!read_reta(port, n, state)) {
        if (config.steering == DpdkSteering::kRss) {
          return fail(DpdkError::kConfigure);
        }
        rss = false;  // no readable RETA: we could not predict the queue; distribute in software
      }
    }
  }
  std::uint16_t n_rx = 1;
  std::uint16_t n_tx = 1;
  if (rss) {
    n_rx = n_tx = static_cast<std::uint16_t>(n);
  } else {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_NONE;
    conf.rx_adv_conf.rss_conf = {};
    n_tx = static_cast<std::uint16_t>(
        std::min<std::uint32_t>(n, std::max<std::uint16_t>(info.max_tx_queues, 1)));
    if (rte_eth_dev_configure(port, 1, n_tx, &conf) != 0) {
      // Some PMDs (net_tap) want as many RX as TX queues: take them, the distributor reads all.
      n_rx = n_tx;
      if (n_tx == 1 || info.max_rx_queues < n_tx ||
          rte_eth_dev_configure(port, n_rx, n_tx, &conf) != 0) {
        return fail(DpdkError::kConfigure);
      }
    }
    g->configured_ = true;
  }
  gi.mode = rss ? DpdkSteering::kRss : DpdkSteering::kSoftware;
  gi.rx_queues = n_rx;
  gi.tx_queues = n_tx;
  gi.tx_rings = n_tx < n;
  gi.rss_hf = rss ? hf : 0;
  gi.reta_size = rss ? state.reta_size : 0;

  // One pool per worker (its RX queue, when it has one, and its TX). The distributor's pool
  // also backs the frames it has steered into the other workers' rings, up to (N-1) rings
  // full: without that headroom, rings filled by a burst left worker 0 without RX mbufs, and
  // the port dropped everything, its own share included.
  for (std::uint32_t k = 0; k < n; ++k) {
    auto impl = std::make_unique<DpdkPort::Impl>(pc);
    impl->port_id = port;
    impl->iface.mac = queried->mac;
    const std::string name = "dp_pool_" + std::to_string(port) + "_" + std::to_string(k);
    const std::uint32_t size = pc.mempool_size + (k == 0 && !rss ? (n - 1) * config.ring_size : 0);
    const unsigned cache = std::min<unsigned>(256, size / 4);
    impl->pool =
        rte_pktmbuf_pool_create(name.c_str(), size, cache, 0, RTE_MBUF_DEFAULT_BUF_SIZE, socket);
    if (impl->pool == nullptr) {
      return fail(DpdkError::kMempool);
    }
    impls.push_back(std::move(impl));
  }

  std::array<rte_mempool*, kMaxWorkers> rx_pools{};
  for (std::uint16_t q = 0; q < n_rx; ++q) {
    rx_pools[q] = impls[q]->pool;
  }
  if (auto qs = setup_queues(*queried, pc, conf, std::span(rx_pools.data(), n_rx), n_tx); !qs) {
    return fail(qs.error());
  }

  // Rings: worker k's inbound ring (every worker: ARP/NDP copies; with the distributor also
  // its UDP frames) and, when TX queues are short, its TX ring to worker 0.
  Rings& r = *g->rings_;
  for (std::uint32_t k = 0; k < n; ++k) {
    const bool needs_in = rss || k != 0;  // the distributor itself reads the port
    if (needs_in) {
      const std::string name = "dp_in_" + std::to_string(port) + "_" + std::to_string(k);
      r.in[k] = rte_ring_create(name.c_str(), config.ring_size, socket,
                                // ARP/NDP copies may come from any RSS worker: MP enqueue.
                                rss ? RING_F_SC_DEQ : RING_F_SP_ENQ | RING_F_SC_DEQ);
      if (r.in[k] == nullptr) {
        return fail(DpdkError::kMempool);
      }
    }
    if (k >= n_tx) {
      const std::string name = "dp_tx_" + std::to_string(port) + "_" + std::to_string(k);
      r.tx[k] =
          rte_ring_create(name.c_str(), config.ring_size, socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
      if (r.tx[k] == nullptr) {
        return fail(DpdkError::kMempool);
      }
    }
  }
  for (std::uint32_t k = 0; k < n; ++k) {
    MultiQueue& q = r.mq[k];
    q.index = k;
    q.workers = n;
    q.poll_port = rss || k == 0;
    q.distribute = !rss && k == 0;
    q.rx_queue = static_cast<std::uint16_t>(rss ? k : 0);
    q.rx_queues = rss ? 1 : n_rx;
    q.tx_queue = static_cast<std::uint16_t>(k < n_tx ? k : 0);
    q.in = r.in[k];
    q.tx_out = r.tx[k];
    q.steer = config.steer;
    q.seed = config.steer_seed;
    for (std::uint32_t j = 0; j < n; ++j) {
      if (j != k) {
        q.peers[j] = r.in[j];
      }
      if (k == 0 && r.tx[j] != nullptr) {
        q.tx_in[j] = r.tx[j];
        q.has_tx_in = true;
      }
    }
    impls[k]->mq = &q;
    impls[k]->offloads = off;
  }

  if (rte_eth_dev_start(port) != 0) {
    return fail(DpdkError::kStart);
  }
  g->started_ = true;
  (void)rte_eth_allmulticast_enable(port);
  if (rss) {
    // Read the key back: a PMD may keep its own. Predict with the key the port really uses.
    rte_eth_rss_conf back{};
    std::array<std::uint8_t, 52> got{};
    back.rss_key = got.data();
    back.rss_key_len = static_cast<std::uint8_t>(got.size());
    if (rte_eth_dev_rss_hash_conf_get(port, &back) == 0 && back.rss_key_len >= 40) {
      state.key = got;
      state.key_len = back.rss_key_len;
      if (back.rss_hf != 0) {
        gi.rss_hf = back.rss_hf;
      }
    } else {
      state.key = key;
      state.key_len = kRssKey.size();
    }
    // The RETA in use: PMDs such as ixgbe, i40e and mlx5 program it at start, so the probe
    // above may have read a reset or stale table. Kept when it cannot be read again.
    RssState started = state;
    if (read_reta(port, n, started)) {
      state.reta = started.reta;
      state.reta_size = started.reta_size;
      gi.reta_size = started.reta_size;
    }
    state.l4_v4 = (gi.rss_hf & RTE_ETH_RSS_NONFRAG_IPV4_UDP) != 0;
    state.l4_v6 = (gi.rss_hf & RTE_ETH_RSS_NONFRAG_IPV6_UDP) != 0;
    state.local_v4 = Endpoint{pc.ipv4, pc.udp_port};
    state.local_v6 = Endpoint{pc.ipv6, pc.udp_port};
    set_rss_state(port, state);
  }
  for (auto& impl : impls) {
    if (pc.gateway_mac) {
      for (const IpAddress& gw : {pc.gateway4, pc.gateway6}) {
        if (gw.valid() && !impl->neighbors.set_static(gw, *pc.gateway_mac)) {
          return fail(DpdkError::kBadConfig);
        }
      }
    }
    g->queues_.push_back(std::unique_ptr<DpdkPort>(new DpdkPort(std::move(impl))));
  }
  return g;
}

}  // namespace discplane::net
