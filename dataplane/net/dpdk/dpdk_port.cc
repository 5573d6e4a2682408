// DpdkPort: ethdev setup (every return code checked), the per-burst RX path (parse, answer
// ARP/ICMP/NDP, hand UDP payloads to the sink) and the TX path (mbufs from the pool, headers
// into the headroom, next-hop MAC from the neighbor cache). The poll loop is in lcore_loop.cc.
// Each mbuf has one owner at each step: the RX burst, the sink call, the pending queue of an
// unresolved next hop, or the TX array; whatever TX refuses is freed.
#include "discplane/net/dpdk_port.h"

#include <algorithm>
#include <cstring>
#include <mutex>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "dpdk_internal.h"

namespace discplane::net {

static_assert(RTE_PKTMBUF_HEADROOM >= kMaxUdpHeadersSize,
              "mbuf headroom must hold Ethernet+VLAN+IPv6+UDP headers");

const char* to_string(DpdkError e) noexcept {
  switch (e) {
    case DpdkError::kEalInit:
      return "rte_eal_init failed";
    case DpdkError::kEalArgs:
      return "EAL already initialised with other arguments";
    case DpdkError::kNoSuchPort:
      return "no such DPDK port";
    case DpdkError::kBadConfig:
      return "invalid port configuration";
    case DpdkError::kMempool:
      return "mbuf pool creation failed (is -m large enough?)";
    case DpdkError::kDeviceInfo:
      return "cannot read device info or MAC address";
    case DpdkError::kConfigure:
      return "rte_eth_dev_configure failed";
    case DpdkError::kRxQueue:
      return "rx queue setup failed";
    case DpdkError::kTxQueue:
      return "tx queue setup failed";
    case DpdkError::kStart:
      return "rte_eth_dev_start failed";
  }
  return "unknown";
}

namespace {
std::mutex eal_mutex;
CpuList eal_caller_cpus;  // guarded by eal_mutex; set once the EAL is up
bool eal_up = false;
}  // namespace

CpuList cpus_before_eal() {
  std::lock_guard<std::mutex> lock(eal_mutex);
  return eal_up ? eal_caller_cpus : CpuList{};
}

std::vector<unsigned> eal_lcore_cpus() {
  std::vector<unsigned> out;
  {
    std::lock_guard<std::mutex> lock(eal_mutex);
    if (!eal_up) {
      return out;
    }
  }
  const auto cpu_of = [](unsigned lcore) {
    return static_cast<unsigned>(rte_lcore_to_cpu_id(static_cast<int>(lcore)));
  };
  out.push_back(cpu_of(rte_get_main_lcore()));
  unsigned lcore = 0;
  RTE_LCORE_FOREACH_WORKER(lcore) {
    out.push_back(cpu_of(lcore));
  }
  return out;
}

Result<void, DpdkError> eal_init_once(const std::vector<std::string>& args) {
  // The EAL can start once per process; keep argv alive for it (it may keep pointers).
  std::mutex& mutex = eal_mutex;
  static std::vector<std::string> first_args;
  static std::vector<char*> argv;
  static int state = 0;  // 0: not tried, 1: up, 2: failed
  std::lock_guard<std::mutex> lock(mutex);
  if (state != 0) {
    if (state == 2) {
      return fail(DpdkError::kEalInit);
    }
    return args == first_args ? Result<void, DpdkError>{} : fail(DpdkError::kEalArgs);
  }
  first_args = args;
  for (auto& a : first_args) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  const CpuList before = thread_cpus();
  const int r = rte_eal_init(static_cast<int>(first_args.size()), argv.data());
  state = r < 0 ? 2 : 1;
  if (r < 0) {
    return fail(DpdkError::kEalInit);
  }
  (void)pin_thread(before);  // undo the EAL's pinning of this thread to the main lcore
  eal_caller_cpus = before;
  eal_up = true;
  return {};
}

// ---- Transport over mbufs ------------------------------------------------------------------
MutableByteView DpdkPort::Impl::Tx::acquire_tx_buffer() noexcept {
  if (acquired_ == nullptr) {
    if (spare_n_ == 0 && rte_pktmbuf_alloc_bulk(impl_.pool, spare_.data(), kBurst) == 0) {
      spare_n_ = kBurst;
    }
    if (spare_n_ == 0) {  // the pool is nearly empty: one at a time
      acquired_ = rte_pktmbuf_alloc(impl_.pool);
      if (acquired_ == nullptr) {
        ++impl_.counters.tx_no_mbuf;
        return {};
      }
    } else {
      acquired_ = spare_[--spare_n_];
    }
  }
  // Payload starts after the full headroom; headers are prepended on commit.
  return MutableByteView(rte_pktmbuf_mtod(acquired_, std::uint8_t*),
                         rte_pktmbuf_tailroom(acquired_));
}

void DpdkPort::Impl::Tx::commit_tx(std::size_t length, const Endpoint& to) noexcept {
  rte_mbuf* m = acquired_;
  acquired_ = nullptr;
  if (m == nullptr) {
    ++impl_.counters.tx_bad_commit;
    return;
  }
  impl_.send_datagram(m, length, to);
}

void DpdkPort::Impl::Tx::release() noexcept {
  if (acquired_ != nullptr) {
    if (spare_n_ < spare_.size()) {
      spare_[spare_n_++] = acquired_;  // untouched but for payload bytes: reusable as is
    } else {
      rte_pktmbuf_free(acquired_);
    }
    acquired_ = nullptr;
  }
}

void DpdkPort::Impl::Tx::free_spares() noexcept {
  if (spare_n_ != 0) {
    rte_pktmbuf_free_bulk(spare_.data(), spare_n_);
    spare_n_ = 0;
  }
}

// ---- Setup -----------------------------------------------------------------------------------
Result<PortInfo, DpdkError> query_port(const DpdkConfig& config) noexcept {
  PortInfo pi;
  if (!config.port_name.empty()) {
    if (rte_eth_dev_get_port_by_name(config.port_name.c_str(), &pi.port) != 0) {
      return fail(DpdkError::kNoSuchPort);
    }
  } else {
    pi.port = config.port_id;
  }
  if (!rte_eth_dev_is_valid_port(pi.port)) {
    return fail(DpdkError::kNoSuchPort);
  }
  const int socket = rte_eth_dev_socket_id(pi.port);
  pi.socket = socket < 0 ? 0u : static_cast<unsigned>(socket);
  rte_ether_addr mac{};
  if (rte_eth_dev_info_get(pi.port, &pi.info) != 0 || rte_eth_macaddr_get(pi.port, &mac) != 0) {
    return fail(DpdkError::kDeviceInfo);
  }
  std::memcpy(pi.mac.data(), mac.addr_bytes, 6);
  return pi;
}

void choose_offloads(const DpdkConfig& config, const rte_eth_dev_info& info, DpdkOffloads& o,
                     rte_eth_conf& conf) noexcept {
  o = DpdkOffloads{};
  if (!config.use_offloads) {
    return;
  }
  o.rx_ipv4 = (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM) != 0;
  o.rx_udp = (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_UDP_CKSUM) != 0;
  o.tx_ipv4 = (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM) != 0;
  o.tx_udp = (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_UDP_CKSUM) != 0;
  conf.rxmode.offloads = (o.rx_ipv4 ? RTE_ETH_RX_OFFLOAD_IPV4_CKSUM : 0) |
                         (o.rx_udp ? RTE_ETH_RX_OFFLOAD_UDP_CKSUM : 0);
  conf.txmode.offloads = (o.tx_ipv4 ? RTE_ETH_TX_OFFLOAD_IPV4_CKSUM : 0) |
                         (o.tx_udp ? RTE_ETH_TX_OFFLOAD_UDP_CKSUM : 0);
}

Result<void, DpdkError> setup_queues(const PortInfo& pi, const DpdkConfig& config,
                                     const rte_eth_conf& conf,
                                     std::span<rte_mempool* const> rx_pools,
                                     std::uint16_t n_tx) noexcept {
  std::uint16_t nb_rxd = config.rx_ring_size;
  std::uint16_t nb_txd = config.tx_ring_size;
  if (rte_eth_dev_adjust_nb_rx_tx_desc(pi.port, &nb_rxd, &nb_txd) != 0) {
    return fail(DpdkError::kConfigure);
  }
  rte_eth_rxconf rxconf = pi.info.default_rxconf;
  rxconf.offloads = conf.rxmode.offloads;
  for (std::size_t q = 0; q < rx_pools.size(); ++q) {
    if (rte_eth_rx_queue_setup(pi.port, static_cast<std::uint16_t>(q), nb_rxd, pi.socket, &rxconf,
                               rx_pools[q]) != 0) {
      return fail(DpdkError::kRxQueue);
    }
  }
  rte_eth_txconf txconf = pi.info.default_txconf;
  txconf.offloads = conf.txmode.offloads;
  for (std::uint16_t q = 0; q < n_tx; ++q) {
    if (rte_eth_tx_queue_setup(pi.port, q, nb_txd, pi.socket, &txconf) != 0) {
      return fail(DpdkError::kTxQueue);
    }
  }
  return {};
}

DpdkPort::DpdkPort(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

DpdkPort::Impl::~Impl() {
  tx.release();
  tx.free_spares();
  for (std::size_t i = 0; i < tx_count; ++i) {
    rte_pktmbuf_free(tx_queue[i]);
  }
  neighbors.clear([](rte_mbuf* m) { rte_pktmbuf_free(m); });
  if (started) {
    (void)rte_eth_dev_stop(port_id);
  }
  if (configured) {
    (void)rte_eth_dev_close(port_id);
  }
  if (pool != nullptr) {
    rte_mempool_free(pool);
  }
}

DpdkPort::~DpdkPort() = default;

Result<std::unique_ptr<DpdkPort>, DpdkError> DpdkPort::create(const DpdkConfig& config) {
  if ((!config.ipv4.is_v4() && !config.ipv6.is_v6()) || config.udp_port == 0 ||
      config.vlan_id > 4095 || config.mempool_size < 2 * kBurst ||
      (config.gateway_mac && !config.gateway4.valid() && !config.gateway6.valid())) {
    return fail(DpdkError::kBadConfig);
  }
  if (auto r = eal_init_once(config.eal_args); !r) {
    return fail(r.error());
  }
  auto queried = query_port(config);
  if (!queried) {
    return fail(queried.error());
  }
  const PortInfo& pi = *queried;
  const rte_eth_dev_info& info = pi.info;
  const std::uint16_t port = pi.port;
  const unsigned socket = pi.socket;
  auto impl = std::make_unique<Impl>(config);
  impl->port_id = port;
  impl->iface.mac = pi.mac;

  const std::string pool_name = "dp_pool_" + std::to_string(port);
  const unsigned cache = std::min<unsigned>(256, config.mempool_size / 4);
  impl->pool = rte_pktmbuf_pool_create(pool_name.c_str(), config.mempool_size, cache, 0,
                                       RTE_MBUF_DEFAULT_BUF_SIZE, static_cast<int>(socket));
  if (impl->pool == nullptr) {
    return fail(DpdkError::kMempool);
  }

  rte_eth_conf conf{};
  choose_offloads(config, info, impl->offloads, conf);
  if (rte_eth_dev_configure(port, 1, 1, &conf) != 0) {
    return fail(DpdkError::kConfigure);
  }
  impl->configured = true;
  rte_mempool* const pools[1] = {impl->pool};
  if (auto q = setup_queues(pi, config, conf, pools, 1); !q) {
    return fail(q.error());
  }
  if (rte_eth_dev_start(port) != 0) {
    return fail(DpdkError::kStart);
  }
  impl->started = true;
  // NDP solicitations go to multicast groups; without this some PMDs filter them.
  (void)rte_eth_allmulticast_enable(port);

  if (config.gateway_mac) {
    for (const IpAddress& gw : {config.gateway4, config.gateway6}) {
      if (gw.valid() && !impl->neighbors.set_static(gw, *config.gateway_mac)) {
        return fail(DpdkError::kBadConfig);
      }
    }
  }
  return std::unique_ptr<DpdkPort>(new DpdkPort(std::move(impl)));
}

DpdkPort::Impl::Impl(const DpdkConfig& c)
    : config(c),
      tx(*this),
      tsc_hz(rte_get_tsc_hz()),
      ns_per_tsc_q32(
          static_cast<std::uint64_t>((static_cast<unsigned __int128>(1'000'000'000) << 32) /
                                     std::max<std::uint64_t>(tsc_hz, 1))) {
  iface.ipv4 = c.ipv4;
  iface.ipv6 = c.ipv6;
  iface.udp_port = c.udp_port;
  iface.vlan_id = c.vlan_id;
  if (c.ipv4.is_v4() && c.prefix4 < 31) {
    IpAddress broadcast = c.ipv4;
    const std::uint32_t host_bits = 32u - c.prefix4;
    for (std::uint32_t bit = 0; bit < host_bits; ++bit) {
      broadcast.bytes[3 - bit / 8] |= static_cast<std::uint8_t>(1u << (bit % 8));
    }
    iface.ipv4_broadcast = broadcast;
  }
  iface.allow_martian = config.allow_martian;  // the Impl's own copy: it lives as long
}

// Called per datagram sent (neighbor lookup): a multiply and a shift, not two 64-bit divisions.
std::int64_t DpdkPort::Impl::now_ns() const noexcept {
  const std::uint64_t t = rte_get_tsc_cycles();
  return static_cast<std::int64_t>((static_cast<unsigned __int128>(t) * ns_per_tsc_q32) >> 32);
}

// ---- TX --------------------------------------------------------------------------------------
void DpdkPort::Impl::enqueue_tx(rte_mbuf* m) noexcept {
  if (tx_count == tx_queue.size()) {
    flush();
  }
  tx_queue[tx_count++] = m;
}

void DpdkPort::Impl::flush() noexcept {
  if (tx_count == 0) {
    return;
  }
  const std::uint16_t sent =
      mq == nullptr
          ? rte_eth_tx_burst(port_id, 0, tx_queue.data(), static_cast<std::uint16_t>(tx_count))
          : mq_tx(tx_queue.data(), static_cast<std::uint16_t>(tx_count));
  if (mq == nullptr || mq->tx_out == nullptr) {
    counters.tx_packets += sent;  // a TX ring's frames count at worker 0 (mq_tx: tx_to_ring)
  }
  if (sent < tx_count) {
    counters.tx_refused += tx_count - sent;
    rte_pktmbuf_free_bulk(tx_queue.data() + sent, static_cast<unsigned>(tx_count - sent));
  }
  tx_count = 0;
}

bool DpdkPort::Impl::on_link(const IpAddress& dst) const noexcept {
  const IpAddress& self = dst.is_v4() ? iface.ipv4 : iface.ipv6;
  const unsigned prefix = dst.is_v4() ? config.prefix4 : config.prefix6;
  for (unsigned bit = 0; bit < prefix; ++bit) {
    const unsigned mask = 0x80u >> (bit % 8);
    if ((self.bytes[bit / 8] & mask) != (dst.bytes[bit / 8] & mask)) {
      return false;
    }
  }
  return true;
}

IpAddress DpdkPort::Impl::next_hop(const IpAddress& dst) const noexcept {
  const IpAddress& gw = dst.is_v4() ? config.gateway4 : config.gateway6;
  return gw.valid() && !on_link(dst) ? gw : dst;
}

void DpdkPort::Impl::send_resolution(const IpAddress& target) noexcept {
  rte_mbuf* m = rte_pktmbuf_alloc(pool);
  if (m == nullptr) {
    ++counters.tx_no_mbuf;
    return;
  }
  const MutableByteView out(rte_pktmbuf_mtod(m, std::uint8_t*), rte_pktmbuf_tailroom(m));
  auto n = target.is_v4() ? build_arp_request(out, target, iface)
                          : build_neighbor_solicit(out, target, iface);
  if (!n) {
    rte_pktmbuf_free(m);
    return;
  }
  m->data_len = static_cast<std::uint16_t>(*n);
  m->pkt_len = static_cast<std::uint32_t>(*n);
  ++counters.resolutions_sent;
  enqueue_tx(m);
}

void DpdkPort::Impl::send_datagram(rte_mbuf* m, std::size_t length, const Endpoint& to) noexcept {
  const IpAddress& src_ip = to.ip.is_v4() ? iface.ipv4 : iface.ipv6;
  if (length > disc::kMaxPacketSize || length > rte_pktmbuf_tailroom(m) || !src_ip.valid() ||
      src_ip.family != to.ip.family || to.port == 0) {
    ++counters.tx_bad_commit;
    rte_pktmbuf_free(m);
    return;
  }
  UdpFrameSpec spec;
  spec.src_mac = iface.mac;
  spec.vlan_id = iface.vlan_id;
  spec.src = Endpoint{src_ip, iface.udp_port};
  spec.dst = to;
  const bool v4 = to.ip.is_v4();
  const bool l4_offload = offloads.tx_udp;
  const bool ip_offload = v4 && offloads.tx_ipv4;
  spec.checksum = !l4_offload  ? ChecksumMode::kSoftware
                  : ip_offload ? ChecksumMode::kOffloadAll
                               : ChecksumMode::kOffloadL4;
  // Headers are written with a zero destination MAC; it is patched in once resolved.
  std::uint8_t* base = static_cast<std::uint8_t*>(m->buf_addr);
  auto layout =
      build_udp_headers(MutableByteView(base, m->data_off + length), m->data_off, length, spec);
  if (!layout) {
    ++counters.tx_bad_commit;
    rte_pktmbuf_free(m);
    return;
  }
  m->data_off = static_cast<std::uint16_t>(layout->offset);
  m->data_len = static_cast<std::uint16_t>(layout->length);
  m->pkt_len = static_cast<std::uint32_t>(layout->length);
  m->l2_len = layout->l2_len;
  m->l3_len = layout->l3_len;
  m->ol_flags = 0;
  if (l4_offload) {
    m->ol_flags |= (v4 ? RTE_MBUF_F_TX_IPV4 : RTE_MBUF_F_TX_IPV6) | RTE_MBUF_F_TX_UDP_CKSUM;
  }
  if (ip_offload) {
    m->ol_flags |= RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_IPV4;
  }
  ++counters.datagrams_out;
  MacAddress mac{};
  const IpAddress hop = next_hop(to.ip);
  switch (neighbors.resolve(hop, now_ns(), m, mac)) {
    case NeighborLookup::kResolved:
      std::memcpy(rte_pktmbuf_mtod(m, std::uint8_t*), mac.data(), 6);
      enqueue_tx(m);
      return;
    case NeighborLookup::kSendRequest:
      send_resolution(hop);
      return;
    case NeighborLookup::kQueued:
      return;
    case NeighborLookup::kQueueFull:
    case NeighborLookup::kCacheFull:
      ++counters.pending_dropped;
      rte_pktmbuf_free(m);
      return;
  }
}

void DpdkPort::Impl::learn(const IpAddress& ip, const MacAddress& mac) noexcept {
  (void)neighbors.learn(ip, mac, now_ns(), [this](rte_mbuf* m, const MacAddress& resolved) {
    std::memcpy(rte_pktmbuf_mtod(m, std::uint8_t*), resolved.data(), 6);
    enqueue_tx(m);
  });
}

void DpdkPort::Impl::tick() noexcept {
  neighbors.tick(
      now_ns(), [this](const IpAddress& ip) { send_resolution(ip); },
      [this](rte_mbuf* m) {
        ++counters.pending_dropped;
        rte_pktmbuf_free(m);
      });
}

// ---- RX --------------------------------------------------------------------------------------
// Answers ARP/ICMP/NDP. The request mbuf stays with the caller.
void DpdkPort::Impl::answer(ParseResult kind, const ParsedFrame& f) noexcept {
  if (kind == ParseResult::kArp) {
    learn(f.src_ip, f.link_addr);
    if (f.arp_op != 1) {
      return;
    }
  } else if (kind == ParseResult::kNeighborSolicit && f.has_link_addr &&
             !f.src_ip.is_unspecified()) {
    learn(f.src_ip, f.link_addr);
  } else if (kind == ParseResult::kNeighborAdvert) {
    if (f.has_link_addr) {
      learn(f.target, f.link_addr);
    }
    return;
  }
  rte_mbuf* m = rte_pktmbuf_alloc(pool);
  if (m == nullptr) {
    ++counters.tx_no_mbuf;
    return;
  }
  const MutableByteView out(rte_pktmbuf_mtod(m, std::uint8_t*), rte_pktmbuf_tailroom(m));
  auto n = kind == ParseResult::kArp               ? build_arp_reply(out, f, iface)
           : kind == ParseResult::kNeighborSolicit ? build_neighbor_advert(out, f, iface)
                                                   : build_echo_reply(out, f, iface);
  if (!n) {
    rte_pktmbuf_free(m);
    return;
  }
  m->data_len = static_cast<std::uint16_t>(*n);
  m->pkt_len = static_cast<std::uint32_t>(*n);
  ++counters.replies;
  enqueue_tx(m);
}

std::size_t DpdkPort::Impl::run_once(disc::DatagramSink& sink) noexcept {
  std::uint16_t copies = 0;  // rx[0, copies): ARP/NDP frames another worker received
  const std::uint16_t n =
      mq == nullptr ? rte_eth_rx_burst(port_id, 0, rx.data(), kBurst) : mq_rx(copies);
  if (n == 0) {
    ++counters.empty_polls;
    sink.on_idle(tx);
    tx.release();
    flush();
    return 0;
  }
  ++counters.bursts;
  counters.rx_packets += n - copies;  // a copy is counted (and answered) by its receiver
  std::size_t held = 0;
  ParsedFrame f;
  for (std::uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = rx[i];
    if (i + 3 < n) {
      rte_prefetch0(rte_pktmbuf_mtod(rx[i + 3], void*));
    }
    ParseResult r;
    const std::uint64_t ip_flags = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
    const std::uint64_t l4_flags = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
    if (m->nb_segs != 1) {
      r = ParseResult::kTruncated;  // no scatter configured: a chained mbuf is not ours
    } else if (ip_flags == RTE_MBUF_F_RX_IP_CKSUM_BAD || l4_flags == RTE_MBUF_F_RX_L4_CKSUM_BAD) {
      r = ParseResult::kBadChecksum;
    } else {
      const RxChecksumState state{ip_flags == RTE_MBUF_F_RX_IP_CKSUM_GOOD,
                                  l4_flags == RTE_MBUF_F_RX_L4_CKSUM_GOOD};
      r = parse_frame(ByteView(rte_pktmbuf_mtod(m, const std::uint8_t*), m->data_len), iface, f,
                      state);
    }
    if (i >= copies) {
      ++counters.frames[static_cast<std::size_t>(r)];
    }
    if (r == ParseResult::kUdp) {
      datagrams[held] = disc::Datagram{f.payload, f.source()};
      rx[held++] = m;  // compact: rx[0, held) are the mbufs the sink's views point into
      continue;
    }
    if (!is_drop(r)) {
      if (i >= copies) {
        answer(r, f);
      } else {
        learn_from(r, f);  // another worker received (and answered) this ARP/NDP frame
      }
    }
    rte_pktmbuf_free(m);
  }
  if (held > 0) {
    counters.datagrams_in += held;
    sink.on_burst(std::span<const disc::Datagram>(datagrams.data(), held), tx);
    tx.release();
    rte_pktmbuf_free_bulk(rx.data(), static_cast<unsigned>(held));
  } else {
    // A burst with nothing for the engine (ARP, foreign traffic, junk) must still let the
    // sink run its timers, commands and snapshots: a steady stream of such frames would
    // otherwise starve them.
    sink.on_idle(tx);
    tx.release();
  }
  flush();
  return n;
}

// ---- Public forwarding -------------------------------------------------------------------------
std::size_t DpdkPort::run_once(disc::DatagramSink& sink) noexcept {
  return impl_->run_once(sink);
}
void DpdkPort::flush_tx() noexcept {
  impl_->flush();
}
void DpdkPort::tick() noexcept {
  impl_->tick();
}
const DpdkCounters& DpdkPort::counters() const noexcept {
  return impl_->counters;
}
const Interface& DpdkPort::interface() const noexcept {
  return impl_->iface;
}
DpdkOffloads DpdkPort::offloads() const noexcept {
  return impl_->offloads;
}
std::uint16_t DpdkPort::port_id() const noexcept {
  return impl_->port_id;
}

}  // namespace discplane::net
