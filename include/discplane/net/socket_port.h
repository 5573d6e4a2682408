// The kernel-socket backend: one nonblocking UDP socket per family (IPv4, IPv6 or both: a
// dual-stack node) feeding one DatagramSink. Each poll receives up to 32 datagrams from one
// socket with recvmmsg (the sockets take turns), hands them to the sink in one burst and sends
// what the sink committed with sendmmsg from a preallocated 32 x 1280 batch, each datagram
// through the socket of its destination's family. Used where DPDK is not wanted (laptops, CI,
// small nodes). Not thread-safe: one thread polls it.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "discplane/common/endpoint.h"
#include "discplane/common/result.h"
#include "discplane/discovery/io.h"

struct msghdr;  // <sys/socket.h>

namespace discplane::net {

enum class SocketError : std::uint8_t {
  kBadEndpoint,  // no IP family
  kSocket,       // socket() failed
  kBind,         // bind() failed (address in use, not local)
  kOption,       // setsockopt/getsockname failed
};
const char* to_string(SocketError e) noexcept;

// Kernel buffer sizes asked for at creation. The kernel doubles what it is given (for its
// bookkeeping) and caps SO_RCVBUF/SO_SNDBUF at net.core.rmem_max/wmem_max; with CAP_NET_ADMIN
// SO_RCVBUFFORCE/SO_SNDBUFFORCE pass the cap. The default 212 KB loses datagrams under a
// burst of a few thousand PINGs, hence several MB. 0 leaves the kernel's default.
struct SocketOptions {
  std::uint32_t rcvbuf = 8u << 20;  // bytes. Default 8 MiB.
  std::uint32_t sndbuf = 8u << 20;  // bytes. Default 8 MiB.
};

// What the kernel granted (getsockopt after setting: the doubled figure it accounts with).
struct SocketBuffers {
  std::uint32_t rcvbuf = 0;
  std::uint32_t sndbuf = 0;
  bool forced = false;  // the *FORCE options were permitted (else capped at rmem/wmem_max)
};

struct SocketCounters {
  std::uint64_t rx = 0;           // datagrams received
  std::uint64_t tx = 0;           // datagrams sent
  std::uint64_t tx_dropped = 0;   // refused by the kernel or committed with a bad length/family
  std::uint64_t rx_oversize = 0;  // datagrams over kMaxPacketSize, dropped
  std::uint64_t errors = 0;       // recvmmsg/poll errors other than "nothing there"
  // Datagrams the kernel dropped on this socket because its receive buffer was full (the
  // socket's drop counter, read from the SO_RXQ_OVFL control message of each received batch;
  // so it is as recent as the last datagram received).
  std::uint64_t kernel_rx_dropped = 0;
  std::uint64_t bursts = 0;  // on_burst calls
  std::uint64_t idle = 0;    // on_idle calls
};

class SocketPort {
 public:
  static constexpr std::size_t kBurst = 32;
  static constexpr std::size_t kMaxSockets = 2;  // one per family

  // Binds each of `locals` (one endpoint, or one per family; port 0 picks one, see
  // local_endpoints()). IPv6 sockets are IPv6-only. Two endpoints of one family: kBadEndpoint.
  [[nodiscard]] static Result<std::unique_ptr<SocketPort>, SocketError> create(
      std::span<const Endpoint> locals, const SocketOptions& options = {});
  [[nodiscard]] static Result<std::unique_ptr<SocketPort>, SocketError> create(
      const Endpoint& local, const SocketOptions& options = {}) {
    return create(std::span<const Endpoint>(&local, 1), options);
  }
  // N ports, each with a socket per endpoint of `locals`, bound with SO_REUSEPORT, plus per
  // family a classic BPF program that steers each datagram to port reuseport_steer(source, n,
  // seed): the same function the sharded runtime uses to pick the shard that sends to a peer,
  // so answers come back to the socket (worker) that asked. Each endpoint must name a port
  // (not 0) when n > 1.
  [[nodiscard]] static Result<std::vector<std::unique_ptr<SocketPort>>, SocketError> create_group(
      std::span<const Endpoint> locals, std::uint32_t n, std::uint32_t seed,
      const SocketOptions& options = {});
  [[nodiscard]] static Result<std::vector<std::unique_ptr<SocketPort>>, SocketError> create_group(
      const Endpoint& local, std::uint32_t n, std::uint32_t seed,
      const SocketOptions& options = {}) {
    return create_group(std::span<const Endpoint>(&local, 1), n, seed, options);
  }
  ~SocketPort();
  SocketPort(const SocketPort&) = delete;
  SocketPort& operator=(const SocketPort&) = delete;

  // Waits up to `timeout` for datagrams, then either hands one burst to sink.on_burst or calls
  // sink.on_idle. Sends whatever the sink committed before returning. Returns the number of
  // datagrams received.
  std::size_t poll_once(disc::DatagramSink& sink, std::chrono::microseconds timeout) noexcept;
  // Polls until `stop` is set (checked at least every `timeout`).
  void run(disc::DatagramSink& sink, const std::atomic<bool>& stop,
           std::chrono::microseconds timeout = std::chrono::milliseconds(10)) noexcept;

  // The first socket's endpoint (the first of `locals`), and every socket's.
  Endpoint local_endpoint() const noexcept { return locals_[0]; }
  std::span<const Endpoint> local_endpoints() const noexcept { return {locals_.data(), sockets_}; }
  // The bound endpoint of one family, if the port has a socket of it.
  [[nodiscard]] const Endpoint* local_endpoint_of(IpAddress::Family family) const noexcept;
  // Counters of all sockets together.
  const SocketCounters& counters() const noexcept { return counters_; }
  // What the kernel granted the first socket (each gets the same options).
  const SocketBuffers& buffers() const noexcept { return granted_; }
  int fd() const noexcept { return fds_[0]; }

 private:
  struct Buffers;
  class Tx;
  SocketPort();
  void add_socket(int fd, const Endpoint& local, const SocketBuffers& granted) noexcept;
  [[nodiscard]] int socket_for(const IpAddress& to) const noexcept;  // index, or -1
  int receive(std::size_t socket) noexcept;
  void flush() noexcept;
  void read_kernel_drops(const msghdr& h, std::size_t socket) noexcept;

  std::array<int, kMaxSockets> fds_{-1, -1};
  std::array<Endpoint, kMaxSockets> locals_{};
  std::size_t sockets_ = 0;
  std::size_t turn_ = 0;  // the socket read first on the next poll
  SocketCounters counters_;
  SocketBuffers granted_;
  // Each socket's kernel 32-bit drop counter, last seen.
  std::array<std::uint32_t, kMaxSockets> last_kernel_drops_{};
  std::unique_ptr<Buffers> buffers_;
  std::unique_ptr<Tx> tx_;
};

// The socket of a create_group() group that receives datagrams from `from`: a 32-bit mix of the
// source address's last 4 bytes (IPv4: all of it), the seed and the source port, mod n. The
// kernel runs the same arithmetic in BPF. A datagram with IPv4 options or IPv6 extension
// headers is steered as if its source port were 0 (the program reads fixed offsets).
[[nodiscard]] std::uint32_t reuseport_steer(const Endpoint& from, std::uint32_t n,
                                            std::uint32_t seed) noexcept;

}  // namespace discplane::net
