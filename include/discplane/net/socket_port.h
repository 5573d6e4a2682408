// The kernel-socket backend: one nonblocking UDP socket (IPv4 or IPv6) feeding a DatagramSink.
// Each poll receives up to 32 datagrams with recvmmsg, hands them to the sink in one burst and
// sends what the sink committed with sendmmsg from a preallocated 32 x 1280 batch. Used where
// DPDK is not wanted (laptops, CI, small nodes). Not thread-safe: one thread polls it.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
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

  // Binds `local` (port 0 picks one; see local_endpoint()). IPv6 sockets are IPv6-only.
  [[nodiscard]] static Result<std::unique_ptr<SocketPort>, SocketError> create(
      const Endpoint& local, const SocketOptions& options = {});
  // N sockets bound to the same `local` with SO_REUSEPORT, plus a classic BPF program that
  // steers each datagram to socket reuseport_steer(source, n, seed): the same function the
  // sharded runtime uses to pick the shard that sends to a peer, so answers come back to the
  // socket (worker) that asked. `local` must name a port (not 0) when n > 1.
  [[nodiscard]] static Result<std::vector<std::unique_ptr<SocketPort>>, SocketError> create_group(
      const Endpoint& local, std::uint32_t n, std::uint32_t seed,
      const SocketOptions& options = {});
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

  Endpoint local_endpoint() const noexcept { return local_; }
  const SocketCounters& counters() const noexcept { return counters_; }
  const SocketBuffers& buffers() const noexcept { return granted_; }
  int fd() const noexcept { return fd_; }

 private:
  struct Buffers;
  class Tx;
  SocketPort(int fd, const Endpoint& local);
  void flush() noexcept;
  void read_kernel_drops(const msghdr& h) noexcept;

  int fd_ = -1;
  Endpoint local_;
  SocketCounters counters_;
  SocketBuffers granted_;
  std::uint32_t last_kernel_drops_ = 0;  // the kernel's 32-bit counter, last seen
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
