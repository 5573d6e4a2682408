// SocketPort: recvmmsg/sendmmsg batches over a nonblocking UDP socket per family (see
// socket_port.h). All buffers are allocated once in create(); polling allocates nothing. The
// thread sleeps in ppoll when the sockets are empty, so an idle node does not spin a core.
#include "discplane/net/socket_port.h"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

namespace discplane::net {

namespace {

constexpr std::size_t kSlot = disc::kMaxPacketSize;

// sockaddr <-> Endpoint, for the families we bind.
socklen_t to_sockaddr(const Endpoint& ep, sockaddr_storage& ss) {
  std::memset(&ss, 0, sizeof ss);
  if (ep.ip.is_v4()) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(ep.port);
    std::memcpy(&sin->sin_addr, ep.ip.bytes.data(), 4);
    return sizeof(sockaddr_in);
  }
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(ep.port);
  std::memcpy(&sin6->sin6_addr, ep.ip.bytes.data(), 16);
  return sizeof(sockaddr_in6);
}

Endpoint from_sockaddr(const sockaddr_storage& ss) {
  Endpoint ep;
  if (ss.ss_family == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
    ep.ip = IpAddress::v4(ByteView(reinterpret_cast<const std::uint8_t*>(&sin->sin_addr), 4));
    ep.port = ntohs(sin->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    ep.ip = IpAddress::v6(ByteView(reinterpret_cast<const std::uint8_t*>(&sin6->sin6_addr), 16));
    ep.port = ntohs(sin6->sin6_port);
  }
  return ep;
}

// One buffer size: the FORCE option first (passes rmem_max/wmem_max, needs CAP_NET_ADMIN),
// else the plain one (capped by the kernel, never an error for being large).
bool set_buffer(int fd, int force_option, int option, std::uint32_t bytes, bool& forced) {
  if (bytes == 0) {
    return true;
  }
  const int value = static_cast<int>(std::min<std::uint32_t>(bytes, INT32_MAX / 2));
  if (::setsockopt(fd, SOL_SOCKET, force_option, &value, sizeof value) == 0) {
    forced = true;
    return true;
  }
  forced = false;
  return ::setsockopt(fd, SOL_SOCKET, option, &value, sizeof value) == 0;
}

std::uint32_t get_buffer(int fd, int option) {
  int value = 0;
  socklen_t len = sizeof value;
  if (::getsockopt(fd, SOL_SOCKET, option, &value, &len) != 0 || value < 0) {
    return 0;
  }
  return static_cast<std::uint32_t>(value);
}

// Buffer sizes, and the kernel's drop counter on every received batch (SO_RXQ_OVFL).
Result<SocketBuffers, SocketError> apply_options(int fd, const SocketOptions& options) {
  SocketBuffers granted;
  bool rcv_forced = false;
  bool snd_forced = false;
  const int one = 1;
  if (!set_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, options.rcvbuf, rcv_forced) ||
      !set_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, options.sndbuf, snd_forced) ||
      ::setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one) != 0) {
    return fail(SocketError::kOption);
  }
  granted.rcvbuf = get_buffer(fd, SO_RCVBUF);
  granted.sndbuf = get_buffer(fd, SO_SNDBUF);
  granted.forced = rcv_forced && snd_forced;
  return granted;
}

// A nonblocking UDP socket of `local`'s family bound to `local` (IPv6: IPV6_V6ONLY; with
// `reuseport`, SO_REUSEPORT before the bind). On any failure the socket is closed.
Result<int, SocketError> open_bound_socket(const Endpoint& local, bool reuseport) {
  const int family = local.ip.is_v4() ? AF_INET : AF_INET6;
  const int fd = ::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return fail(SocketError::kSocket);
  }
  const int one = 1;
  if ((family == AF_INET6 && ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) ||
      (reuseport && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)) {
    ::close(fd);
    return fail(SocketError::kOption);
  }
  sockaddr_storage ss;
  const socklen_t len = to_sockaddr(local, ss);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    ::close(fd);
    return fail(SocketError::kBind);
  }
  return fd;
}

}  // namespace

const char* to_string(SocketError e) noexcept {
  switch (e) {
    case SocketError::kBadEndpoint:
      return "endpoint has no IP address family";
    case SocketError::kSocket:
      return "socket() failed";
    case SocketError::kBind:
      return "bind() failed";
    case SocketError::kOption:
      return "setsockopt/getsockname failed";
  }
  return "unknown";
}

// One batch per direction: slots, addresses and the iovec/mmsghdr arrays pointing at them.
struct SocketPort::Buffers {
  std::array<std::array<std::uint8_t, kSlot>, kBurst> rx_data;
  std::array<sockaddr_storage, kBurst> rx_addr;
  std::array<iovec, kBurst> rx_iov;
  std::array<mmsghdr, kBurst> rx_msg;
  // Room for one SO_RXQ_OVFL control message (a u32) per datagram.
  static constexpr std::size_t kControlSize = CMSG_SPACE(sizeof(std::uint32_t));
  std::array<std::array<std::uint64_t, (kControlSize + 7) / 8>, kBurst> rx_control;
  std::array<disc::Datagram, kBurst> rx_datagrams;

  std::array<std::array<std::uint8_t, kSlot>, kBurst> tx_data;
  std::array<sockaddr_storage, kBurst> tx_addr;
  std::array<iovec, kBurst> tx_iov;
  std::array<mmsghdr, kBurst> tx_msg;
  std::array<std::uint8_t, kBurst> tx_socket;  // which socket sends each one
};

// The Transport handed to the sink: slot `count_` is the buffer last acquired.
class SocketPort::Tx final : public disc::Transport {
 public:
  explicit Tx(SocketPort& port) : port_(port) {}
  MutableByteView acquire_tx_buffer() noexcept override {
    if (count_ == kBurst) {
      port_.flush();
    }
    return MutableByteView(port_.buffers_->tx_data[count_]);
  }
  void commit_tx(std::size_t length, const Endpoint& to) noexcept override {
    const int socket = port_.socket_for(to.ip);
    if (count_ == kBurst || length > kSlot || socket < 0 || to.port == 0) {
      ++port_.counters_.tx_dropped;
      return;
    }
    Buffers& b = *port_.buffers_;
    b.tx_socket[count_] = static_cast<std::uint8_t>(socket);
    b.tx_iov[count_].iov_len = length;
    b.tx_msg[count_].msg_hdr.msg_namelen = to_sockaddr(to, b.tx_addr[count_]);
    ++count_;
  }
  std::size_t count_ = 0;

 private:
  SocketPort& port_;
};

SocketPort::SocketPort() : buffers_(std::make_unique<Buffers>()), tx_(std::make_unique<Tx>(*this)) {
  Buffers& b = *buffers_;
  std::memset(b.rx_msg.data(), 0, sizeof b.rx_msg);
  std::memset(b.tx_msg.data(), 0, sizeof b.tx_msg);
  for (std::size_t i = 0; i < kBurst; ++i) {
    b.rx_iov[i] = iovec{b.rx_data[i].data(), kSlot};
    b.rx_msg[i].msg_hdr.msg_iov = &b.rx_iov[i];
    b.rx_msg[i].msg_hdr.msg_iovlen = 1;
    b.rx_msg[i].msg_hdr.msg_name = &b.rx_addr[i];
    b.rx_msg[i].msg_hdr.msg_control = b.rx_control[i].data();
    b.tx_iov[i] = iovec{b.tx_data[i].data(), 0};
    b.tx_msg[i].msg_hdr.msg_iov = &b.tx_iov[i];
    b.tx_msg[i].msg_hdr.msg_iovlen = 1;
    b.tx_msg[i].msg_hdr.msg_name = &b.tx_addr[i];
  }
}

SocketPort::~SocketPort() {
  for (std::size_t s = 0; s < sockets_; ++s) {
    ::close(fds_[s]);
  }
}

// The port owns `fd` from here on (the destructor closes it).
void SocketPort::add_socket(int fd, const Endpoint& local, const SocketBuffers& granted) noexcept {
  if (sockets_ == 0) {
    granted_ = granted;
  }
  fds_[sockets_] = fd;
  locals_[sockets_] = local;
  ++sockets_;
}

int SocketPort::socket_for(const IpAddress& to) const noexcept {
  for (std::size_t s = 0; s < sockets_; ++s) {
    if (locals_[s].ip.family == to.family) {
      return static_cast<int>(s);
    }
  }
  return -1;
}

const Endpoint* SocketPort::local_endpoint_of(IpAddress::Family family) const noexcept {
  for (std::size_t s = 0; s < sockets_; ++s) {
    if (locals_[s].ip.family == family) {
      return &locals_[s];
    }
  }
  return nullptr;
}

namespace {

// One endpoint, or one per family: anything else is not a port's set of sockets.
bool valid_locals(std::span<const Endpoint> locals) {
  if (locals.empty() || locals.size() > SocketPort::kMaxSockets) {
    return false;
  }
  for (std::size_t i = 0; i < locals.size(); ++i) {
    if (!locals[i].ip.valid() || (i > 0 && locals[i].ip.family == locals[0].ip.family)) {
      return false;
    }
  }
  return true;
}

}  // namespace

Result<std::unique_ptr<SocketPort>, SocketError> SocketPort::create(
    std::span<const Endpoint> locals, const SocketOptions& options) {
  if (!valid_locals(locals)) {
    return fail(SocketError::kBadEndpoint);
  }
  auto port = std::unique_ptr<SocketPort>(new SocketPort());
  for (const Endpoint& local : locals) {
    auto fd = open_bound_socket(local, /*reuseport=*/false);
    if (!fd) {
      return fail(fd.error());
    }
    auto granted = apply_options(*fd, options);
    sockaddr_storage ss;
    socklen_t got = sizeof ss;
    if (!granted || ::getsockname(*fd, reinterpret_cast<sockaddr*>(&ss), &got) != 0) {
      ::close(*fd);
      return fail(SocketError::kOption);
    }
    port->add_socket(*fd, from_sockaddr(ss), *granted);
  }
  return port;
}

namespace {

constexpr std::uint32_t kMix1 = 0x9E3779B1u;
constexpr std::uint32_t kMix2 = 0x85EBCA6Bu;
constexpr std::uint32_t kMix3 = 0xC2B2AE35u;

// The BPF twin of reuseport_steer(). The program sees the skb with data at the UDP payload;
// SKF_NET_OFF-relative loads read the IP header. Families are fixed per socket.
std::vector<sock_filter> steer_program(bool v4, std::uint32_t n, std::uint32_t seed) {
  const auto net = [](std::uint32_t off) { return static_cast<std::uint32_t>(SKF_NET_OFF) + off; };
  std::vector<sock_filter> p;
  p.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, net(v4 ? 12 : 20)));  // (last) address word
  p.push_back(BPF_STMT(BPF_ALU | BPF_XOR | BPF_K, seed));
  p.push_back(BPF_STMT(BPF_ALU | BPF_MUL | BPF_K, kMix1));
  p.push_back(BPF_STMT(BPF_ST, 0));
  if (v4) {  // IHL 5 (no options): the UDP header is at 20
    p.push_back(BPF_STMT(BPF_LD | BPF_B | BPF_ABS, net(0)));
    p.push_back(BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0x0f));
    p.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 5, 0, 2));
    p.push_back(BPF_STMT(BPF_LD | BPF_H | BPF_ABS, net(20)));
  } else {  // next header UDP (no extension headers): the UDP header is at 40
    p.push_back(BPF_STMT(BPF_LD | BPF_B | BPF_ABS, net(6)));
    p.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 17, 0, 2));
    p.push_back(BPF_STMT(BPF_LD | BPF_H | BPF_ABS, net(40)));
  }
  p.push_back(BPF_JUMP(BPF_JMP | BPF_JA, 1, 0, 0));
  p.push_back(BPF_STMT(BPF_LD | BPF_IMM, 0));  // unknown layout: port 0
  p.push_back(BPF_STMT(BPF_MISC | BPF_TAX, 0));
  p.push_back(BPF_STMT(BPF_LD | BPF_MEM, 0));
  p.push_back(BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0));
  p.push_back(BPF_STMT(BPF_ALU | BPF_MUL | BPF_K, kMix2));
  p.push_back(BPF_STMT(BPF_MISC | BPF_TAX, 0));
  p.push_back(BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 16));
  p.push_back(BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0));
  p.push_back(BPF_STMT(BPF_ALU | BPF_MUL | BPF_K, kMix3));
  p.push_back(BPF_STMT(BPF_MISC | BPF_TAX, 0));
  p.push_back(BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 16));
  p.push_back(BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0));
  p.push_back(BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, n));
  p.push_back(BPF_STMT(BPF_RET | BPF_A, 0));
  return p;
}

}  // namespace

std::uint32_t reuseport_steer(const Endpoint& from, std::uint32_t n, std::uint32_t seed) noexcept {
  if (n <= 1) {
    return 0;
  }
  const std::size_t at = from.ip.is_v4() ? 0 : 12;
  const std::uint32_t ip = (std::uint32_t{from.ip.bytes[at]} << 24) |
                           (std::uint32_t{from.ip.bytes[at + 1]} << 16) |
                           (std::uint32_t{from.ip.bytes[at + 2]} << 8) | from.ip.bytes[at + 3];
  std::uint32_t h = (ip ^ seed) * kMix1;
  h ^= from.port;
  h *= kMix2;
  h ^= h >> 16;
  h *= kMix3;
  h ^= h >> 16;
  return h % n;
}

Result<std::vector<std::unique_ptr<SocketPort>>, SocketError> SocketPort::create_group(
    std::span<const Endpoint> locals, std::uint32_t n, std::uint32_t seed,
    const SocketOptions& options) {
  std::vector<std::unique_ptr<SocketPort>> out;
  if (n <= 1) {
    auto one = create(locals, options);
    if (!one) {
      return fail(one.error());
    }
    out.push_back(std::move(*one));
    return out;
  }
  if (!valid_locals(locals) ||
      std::any_of(locals.begin(), locals.end(), [](const Endpoint& l) { return l.port == 0; })) {
    return fail(SocketError::kBadEndpoint);
  }
  for (std::uint32_t k = 0; k < n; ++k) {
    out.push_back(std::unique_ptr<SocketPort>(new SocketPort()));
  }
  // Per family, a reuseport group of n sockets, socket k in port k.
  for (std::size_t s = 0; s < locals.size(); ++s) {
    const Endpoint& local = locals[s];
    std::vector<sock_filter> program = steer_program(local.ip.is_v4(), n, seed);
    for (std::uint32_t k = 0; k < n; ++k) {
      auto fd = open_bound_socket(local, /*reuseport=*/true);
      if (!fd) {
        return fail(fd.error());
      }
      auto granted = apply_options(*fd, options);
      if (!granted) {
        ::close(*fd);
        return fail(granted.error());
      }
      // The group's sockets are indexed in bind order; the program is attached once all are
      // bound (it returns an index into the group).
      out[k]->add_socket(*fd, local, *granted);
    }
    sock_fprog prog{static_cast<unsigned short>(program.size()), program.data()};
    if (::setsockopt(out[0]->fds_[s], SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog) !=
        0) {
      return fail(SocketError::kOption);
    }
  }
  return out;
}

void SocketPort::flush() noexcept {
  Buffers& b = *buffers_;
  std::size_t sent = 0;
  // Each pass sends at least one datagram or drops one, so this ends after <= kBurst passes
  // (plus EINTR retries, bounded too).
  int interrupts = 0;
  while (sent < tx_->count_) {
    // A run of datagrams for one socket (one family) per call.
    const std::uint8_t socket = b.tx_socket[sent];
    std::size_t end = sent + 1;
    while (end < tx_->count_ && b.tx_socket[end] == socket) {
      ++end;
    }
    const int r = ::sendmmsg(fds_[socket], &b.tx_msg[sent], static_cast<unsigned>(end - sent), 0);
    if (r > 0) {
      sent += static_cast<std::size_t>(r);
      counters_.tx += static_cast<std::uint64_t>(r);
    } else if (r < 0 && errno == EINTR && ++interrupts < 8) {
      continue;
    } else {
      ++counters_.tx_dropped;  // the kernel refused this one (buffer full, unreachable)
      ++sent;
    }
  }
  tx_->count_ = 0;
}

int SocketPort::receive(std::size_t socket) noexcept {
  Buffers& b = *buffers_;
  for (std::size_t i = 0; i < kBurst; ++i) {
    b.rx_msg[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
    b.rx_msg[i].msg_hdr.msg_controllen = Buffers::kControlSize;
    b.rx_msg[i].msg_hdr.msg_flags = 0;
  }
  const int r = ::recvmmsg(fds_[socket], b.rx_msg.data(), kBurst, MSG_DONTWAIT, nullptr);
  if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
    ++counters_.errors;
  }
  return r;
}

std::size_t SocketPort::poll_once(disc::DatagramSink& sink,
                                  std::chrono::microseconds timeout) noexcept {
  Buffers& b = *buffers_;
  // The sockets take turns at being read first, so a flood on one family cannot starve the
  // other: one burst per poll, from the first socket that has datagrams.
  std::size_t socket = turn_;
  turn_ = (turn_ + 1) % sockets_;
  int n = receive(socket);
  for (std::size_t k = 1; n <= 0 && k < sockets_; ++k) {
    socket = (socket + 1) % sockets_;
    n = receive(socket);
  }
  if (n <= 0 && timeout.count() > 0) {
    std::array<pollfd, kMaxSockets> pfd{};
    for (std::size_t s = 0; s < sockets_; ++s) {
      pfd[s] = pollfd{fds_[s], POLLIN, 0};
    }
    const timespec ts{static_cast<time_t>(timeout.count() / 1'000'000),
                      static_cast<long>(timeout.count() % 1'000'000) * 1000};
    const int ready = ::ppoll(pfd.data(), sockets_, &ts, nullptr);
    if (ready > 0) {
      for (std::size_t s = 0; s < sockets_; ++s) {
        if ((pfd[s].revents & POLLIN) != 0) {
          socket = s;
          n = receive(s);
          break;
        }
      }
    } else if (ready < 0 && errno != EINTR) {
      ++counters_.errors;
    }
  }
  std::size_t count = 0;
  if (n > 0) {
    read_kernel_drops(b.rx_msg[static_cast<std::size_t>(n - 1)].msg_hdr, socket);
  }
  for (int i = 0; i < n; ++i) {
    const mmsghdr& m = b.rx_msg[static_cast<std::size_t>(i)];
    if ((m.msg_hdr.msg_flags & MSG_TRUNC) != 0) {
      ++counters_.rx_oversize;
      continue;
    }
    b.rx_datagrams[count++] =
        disc::Datagram{ByteView(b.rx_data[static_cast<std::size_t>(i)].data(), m.msg_len),
                       from_sockaddr(b.rx_addr[static_cast<std::size_t>(i)])};
  }
  if (count > 0) {
    counters_.rx += count;
    ++counters_.bursts;
    sink.on_burst(std::span<const disc::Datagram>(b.rx_datagrams.data(), count), *tx_);
  } else if (n <= 0) {
    ++counters_.idle;
    sink.on_idle(*tx_);
  }
  if (tx_->count_ > 0) {
    flush();
  }
  return count;
}

// The socket's drop counter rides on each datagram (SO_RXQ_OVFL): the batch's last datagram
// carries the latest figure. It is a 32-bit counter that wraps; the total is kept in 64 bits.
void SocketPort::read_kernel_drops(const msghdr& h, std::size_t socket) noexcept {
  for (const cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr;
       c = CMSG_NXTHDR(const_cast<msghdr*>(&h), const_cast<cmsghdr*>(c))) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL &&
        c->cmsg_len >= CMSG_LEN(sizeof(std::uint32_t))) {
      std::uint32_t drops = 0;
      std::memcpy(&drops, CMSG_DATA(c), sizeof drops);
      counters_.kernel_rx_dropped += static_cast<std::uint32_t>(drops - last_kernel_drops_[socket]);
      last_kernel_drops_[socket] = drops;
    }
  }
}

void SocketPort::run(disc::DatagramSink& sink, const std::atomic<bool>& stop,
                     std::chrono::microseconds timeout) noexcept {
  while (!stop.load(std::memory_order_relaxed)) {
    (void)poll_once(sink, timeout);
  }
}

}  // namespace discplane::net
