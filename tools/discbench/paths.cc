// The paths discbench drives the engine through: (a) direct DiscoveryServer::on_burst with a
// transport that counts and samples; (b) a DpdkPort over net_ring (rte_eth_from_rings): the
// generator enqueues Ethernet/IPv4/UDP frames into the RX ring and dequeues the TX ring, no
// kernel in the path; (c) net::SocketPort on 127.0.0.1 with the generator on per-identity
// sockets (bounded: one socket per identity).
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include <rte_eth_ring.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "discplane/net/dpdk_port.h"
#include "discplane/net/frames.h"
#include "discplane/net/socket_port.h"

#include "bench.h"
#include "generator_frames.h"

namespace discbench {

namespace {
constexpr std::size_t kBurst = 32;

// Records the identity each input comes from, so that answers can be matched to requests.
void mark_pending(const Workload& w, std::span<const Input* const> burst, Responses& out) {
  for (const Input* in : burst) {
    out.pending[in->identity] = in - w.inputs.data();
  }
}

// ---- (a) direct --------------------------------------------------------------------------------
class CountingTransport final : public disc::Transport {
 public:
  MutableByteView acquire_tx_buffer() noexcept override { return buffer_; }
  void commit_tx(std::size_t length, const Endpoint& to) noexcept override {
    out_->on_response(ByteView(buffer_.data(), length), to);
  }
  Responses* out_ = nullptr;

 private:
  std::array<std::uint8_t, disc::kMaxPacketSize> buffer_{};
};

class DirectPath final : public Path {
 public:
  const char* name() const override { return "direct"; }
  BurstTiming exchange(Workload& w, std::span<const Input* const> burst, Responses& out) override {
    std::array<disc::Datagram, kBurst> d{};
    for (std::size_t i = 0; i < burst.size(); ++i) {
      d[i] = disc::Datagram{w.payload(*burst[i]), identity_endpoint(burst[i]->identity)};
    }
    mark_pending(w, burst, out);
    tx_.out_ = &out;
    const std::int64_t c0 = thread_cpu_ns();
    const std::uint64_t t0 = rdtsc();
    set_alloc_counting(true);
    w.server->on_burst(std::span<const disc::Datagram>(d.data(), burst.size()), tx_);
    set_alloc_counting(false);
    const std::uint64_t t1 = rdtsc();
    const std::int64_t c1 = thread_cpu_ns();
    return BurstTiming{c1 - c0 - cpu_clock_overhead_ns(), t1 - t0};
  }

 private:
  CountingTransport tx_;
};

// ---- (b) DPDK net_ring --------------------------------------------------------------------------
const net::MacAddress kGeneratorMac{2, 0, 0, 0, 0, 1};

class RingPath final : public Path {
 public:
  static std::unique_ptr<RingPath> create(bool nic_offload) {
    static rte_ring* rx = nullptr;
    static rte_ring* tx = nullptr;
    static rte_mempool* pool = nullptr;
    static std::unique_ptr<net::DpdkPort> port;  // one port for the whole run
    if (!port) {
      const std::vector<std::string> eal{"discbench",
                                         "--no-huge",
                                         "--no-pci",
                                         "-m",
                                         "512",
                                         "--log-level=lib.eal:warning",
                                         "--file-prefix=discbench_" + std::to_string(::getpid())};
      if (auto r = net::eal_init_once(eal); !r) {
        std::fprintf(stderr, "discbench: ring path: %s\n", net::to_string(r.error()));
        return nullptr;
      }
      // As a dataplane lcore: this thread stays on the main lcore's CPU (eal_init_once gives
      // the caller its whole mask back; a migrating benchmark thread is a noisier one).
      (void)net::pin_thread({net::eal_lcore_cpus().front()});
      rx = rte_ring_create("db_rx", 4096, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
      tx = rte_ring_create("db_tx", 4096, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
      pool = rte_pktmbuf_pool_create("db_pool", 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                     SOCKET_ID_ANY);
      if (rx == nullptr || tx == nullptr || pool == nullptr) {
        std::fprintf(stderr, "discbench: ring path: ring/pool creation failed\n");
        return nullptr;
      }
      const int port_id = rte_eth_from_rings("db_ring", &rx, 1, &tx, 1, 0);
      if (port_id < 0) {
        std::fprintf(stderr, "discbench: ring path: rte_eth_from_rings failed\n");
        return nullptr;
      }
      net::DpdkConfig config;
      config.eal_args = eal;
      config.port_id = static_cast<std::uint16_t>(port_id);
      config.mempool_size = 4095;
      config.ipv4 = IpAddress::v4(10, 0, 0, 2);
      config.udp_port = 30303;
      config.prefix4 = 24;
      // Peers sit at 127.1.x.y (off-link): replies go to a gateway with a static MAC.
      config.gateway4 = IpAddress::v4(10, 0, 0, 1);
      config.gateway_mac = kGeneratorMac;
      // The synthetic peers' 127.1.x.y sources are martians on a DPDK port: allow them, so
      // every frame still pays the martian check and the allow-list look-up (its worst case).
      config.allow_martian = {*disc::Cidr::parse("127.0.0.0/8")};
      auto p = net::DpdkPort::create(config);
      if (!p) {
        std::fprintf(stderr, "discbench: ring path: %s\n", net::to_string(p.error()));
        return nullptr;
      }
      port = std::move(*p);
    }
    auto path = std::unique_ptr<RingPath>(new RingPath());
    path->rx_ = rx;
    path->tx_ = tx;
    path->pool_ = pool;
    path->port_ = port.get();
    path->nic_offload_ = nic_offload;
    return path;
  }

  const char* name() const override { return nic_offload_ ? "ring+csum" : "ring"; }

  BurstTiming exchange(Workload& w, std::span<const Input* const> burst, Responses& out) override {
    mark_pending(w, burst, out);
    enqueue(w, burst);
    const std::uint64_t t0 = rdtsc();
    const std::int64_t c0 = thread_cpu_ns();
    set_alloc_counting(true);
    const std::size_t got = port_->run_once(*w.server);
    set_alloc_counting(false);
    const std::int64_t c1 = thread_cpu_ns();
    drain(out, nullptr, nullptr);
    const std::uint64_t t1 = rdtsc();
    if (got != burst.size()) {
      std::fprintf(stderr, "discbench: ring path: run_once took %zu of %zu\n", got, burst.size());
    }
    return BurstTiming{c1 - c0 - cpu_clock_overhead_ns(), t1 - t0};
  }

  bool paced(Workload& w, std::span<const Input> inputs, double rate, Responses& out,
             std::vector<std::uint64_t>& latency) override {
    const double period = tsc_hz() / rate;
    std::vector<std::uint64_t> stamp(out.pending.size(), 0);
    latency.clear();
    latency.reserve(inputs.size());
    const std::uint64_t start = rdtsc();
    const std::uint64_t give_up =
        start +
        static_cast<std::uint64_t>((static_cast<double>(inputs.size()) * period) + 5 * tsc_hz());
    std::size_t next = 0;
    std::array<const Input*, kBurst> burst{};
    while (next < inputs.size() || latency.size() < next) {
      const std::uint64_t now = rdtsc();
      if (now > give_up) {
        break;
      }
      std::size_t n = 0;
      while (next < inputs.size() && n < kBurst &&
             start + static_cast<std::uint64_t>(static_cast<double>(next) * period) <= now) {
        const Input* in = &inputs[next];
        burst[n++] = in;
        // Latency counts from the scheduled arrival (no coordinated omission).
        stamp[in->identity] =
            start + static_cast<std::uint64_t>(static_cast<double>(next) * period);
        ++next;
      }
      if (n > 0) {
        mark_pending(w, std::span<const Input* const>(burst.data(), n), out);
        enqueue(w, std::span<const Input* const>(burst.data(), n));
      }
      (void)port_->run_once(*w.server);
      drain(out, &stamp, &latency);
      if (n == 0 && next < inputs.size()) {
        continue;  // poll again: the port sees an empty ring, as a real loop would
      }
      if (next == inputs.size() && latency.size() < next &&
          rdtsc() > start + static_cast<std::uint64_t>(static_cast<double>(next) * period +
                                                       tsc_hz() * 0.5)) {
        break;  // some inputs are answered by nothing (garbage, drops)
      }
    }
    return true;
  }

 private:
  RingPath() = default;

  void enqueue(const Workload& w, std::span<const Input* const> burst) {
    std::array<rte_mbuf*, kBurst> m{};
    build_generator_frames(pool_, m.data(), w, burst, kGeneratorMac, port_->interface());
    for (std::size_t i = 0; i < burst.size(); ++i) {
      if (nic_offload_) {  // as a NIC that verified both checksums would mark it
        m[i]->ol_flags = RTE_MBUF_F_RX_IP_CKSUM_GOOD | RTE_MBUF_F_RX_L4_CKSUM_GOOD;
      }
    }
    if (rte_ring_enqueue_bulk(rx_, reinterpret_cast<void**>(m.data()),
                              static_cast<unsigned>(burst.size()), nullptr) != burst.size()) {
      std::fprintf(stderr, "discbench: RX ring full\n");
      std::exit(1);
    }
  }

  // Takes every frame the port sent, hands its UDP payload to `out`, frees it.
  void drain(Responses& out, std::vector<std::uint64_t>* stamp,
             std::vector<std::uint64_t>* latency) {
    std::array<rte_mbuf*, 64> m{};
    for (;;) {
      const unsigned n = rte_ring_dequeue_burst(tx_, reinterpret_cast<void**>(m.data()),
                                                static_cast<unsigned>(m.size()), nullptr);
      if (n == 0) {
        return;
      }
      const std::uint64_t now = rdtsc();
      for (unsigned i = 0; i < n; ++i) {
        const auto* f = rte_pktmbuf_mtod(m[i], const std::uint8_t*);
        const std::size_t len = m[i]->data_len;
        if (len < 42 || f[12] != 0x08 || f[13] != 0x00 || f[23] != 17) {
          ++out.unmatched;  // not a UDP/IPv4 frame (ARP would be: none expected)
          continue;
        }
        const Endpoint to{IpAddress::v4(ByteView(f + 30, 4)),
                          static_cast<std::uint16_t>((f[36] << 8) | f[37])};
        const std::size_t udp_len = static_cast<std::size_t>((f[38] << 8) | f[39]);
        out.on_response(ByteView(f + 42, std::min(udp_len - 8, len - 42)), to);
        if (stamp != nullptr) {
          const std::int64_t idx = identity_index(to);
          if (idx >= 0 && static_cast<std::size_t>(idx) < stamp->size() &&
              (*stamp)[static_cast<std::size_t>(idx)] != 0) {
            latency->push_back(now - (*stamp)[static_cast<std::size_t>(idx)]);
            (*stamp)[static_cast<std::size_t>(idx)] = 0;  // first answer only
          }
        }
      }
      rte_pktmbuf_free_bulk(m.data(), n);
    }
  }

  rte_ring* rx_ = nullptr;
  rte_ring* tx_ = nullptr;
  rte_mempool* pool_ = nullptr;
  net::DpdkPort* port_ = nullptr;
  bool nic_offload_ = false;
};

// ---- (c) kernel sockets on loopback ------------------------------------------------------------
class SocketPath final : public Path {
 public:
  const char* name() const override { return "socket"; }
  BurstTiming exchange(Workload& w, std::span<const Input* const> burst, Responses& out) override {
    if (!port_) {
      auto p = net::SocketPort::create(Endpoint{IpAddress::v4(127, 0, 0, 1), 0});
      if (!p) {
        std::fprintf(stderr, "discbench: socket path: %s\n", net::to_string(p.error()));
        std::exit(1);
      }
      port_ = std::move(*p);
    }
    mark_pending(w, burst, out);
    const Endpoint engine = port_->local_endpoint();
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(engine.port);
    std::memcpy(&dst.sin_addr, engine.ip.bytes.data(), 4);
    for (const Input* in : burst) {
      const int fd = socket_of(in->identity);
      const ByteView p = w.payload(*in);
      (void)::sendto(fd, p.data(), p.size(), 0, reinterpret_cast<const sockaddr*>(&dst),
                     sizeof dst);
    }
    // The engine's side: poll until the whole burst was taken (the kernel may split it).
    BurstTiming t;
    std::size_t got = 0;
    const std::uint64_t t0 = rdtsc();
    for (int tries = 0; got < burst.size() && tries < 100; ++tries) {
      const std::int64_t c0 = thread_cpu_ns();
      set_alloc_counting(true);
      got += port_->poll_once(*w.server, std::chrono::microseconds(1000));
      set_alloc_counting(false);
      t.cpu_ns += thread_cpu_ns() - c0 - cpu_clock_overhead_ns();
    }
    // Collect the answers on the identities' sockets (non-blocking; loopback is immediate).
    std::array<std::uint8_t, 1500> buf{};
    for (const Input* in : burst) {
      const int fd = socket_of(in->identity);
      for (;;) {
        const ssize_t n = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
        if (n <= 0) {
          break;
        }
        out.on_response(ByteView(buf.data(), static_cast<std::size_t>(n)),
                        identity_endpoint(in->identity));
      }
    }
    t.tsc = rdtsc() - t0;
    return t;
  }
  ~SocketPath() override {
    for (const int fd : fds_) {
      if (fd >= 0) {
        ::close(fd);
      }
    }
  }

 private:
  int socket_of(std::uint32_t identity) {
    if (identity >= fds_.size()) {
      fds_.resize(identity + 1, -1);
    }
    if (fds_[identity] < 0) {
      const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
      const Endpoint ep = identity_endpoint(identity);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(ep.port);
      std::memcpy(&a.sin_addr, ep.ip.bytes.data(), 4);
      if (fd < 0 || ::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
        std::fprintf(stderr, "discbench: socket path: cannot bind %s (use fewer --ids)\n",
                     ep.to_string().c_str());
        std::exit(1);
      }
      fds_[identity] = fd;
    }
    return fds_[identity];
  }
  std::unique_ptr<net::SocketPort> port_;
  std::vector<int> fds_;
};
}  // namespace

void build_generator_frames(rte_mempool* pool, rte_mbuf** m, const Workload& w,
                            std::span<const Input* const> inputs, const net::MacAddress& src_mac,
                            const net::Interface& self) {
  if (rte_pktmbuf_alloc_bulk(pool, m, static_cast<unsigned>(inputs.size())) != 0) {
    std::fprintf(stderr, "discbench: generator pool exhausted\n");
    std::exit(1);
  }
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const ByteView payload = w.payload(*inputs[i]);
    constexpr std::size_t kHeaders = 14 + 20 + 8;
    auto* data = reinterpret_cast<std::uint8_t*>(
        rte_pktmbuf_append(m[i], static_cast<std::uint16_t>(kHeaders + payload.size())));
    std::memcpy(data + kHeaders, payload.data(), payload.size());
    net::UdpFrameSpec spec;
    spec.src_mac = src_mac;
    spec.dst_mac = self.mac;
    spec.src = identity_endpoint(inputs[i]->identity);
    spec.dst = Endpoint{self.ipv4, self.udp_port};
    auto layout = net::build_udp_headers(MutableByteView(data, kHeaders + payload.size()), kHeaders,
                                         payload.size(), spec);
    if (!layout || layout->offset != 0) {
      std::fprintf(stderr, "discbench: frame build failed\n");
      std::exit(1);
    }
  }
}

std::unique_ptr<Path> make_direct_path() {
  return std::make_unique<DirectPath>();
}
std::unique_ptr<Path> make_ring_path(bool nic_checksum_offload) {
  return RingPath::create(nic_checksum_offload);
}
std::unique_ptr<Path> make_socket_path() {
  return std::make_unique<SocketPath>();
}

}  // namespace discbench
