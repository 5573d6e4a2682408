// What the engine sees of the outside world: datagrams in, datagrams out, a clock.
// Backends (kernel socket, DPDK port, the simulator, tests) implement Transport and
// Clock; the engine never includes DPDK or socket headers and never reads a clock
// itself, so it runs unchanged in simulation.
#pragma once

#include <cstdint>
#include <span>

#include "discplane/common/bytes.h"
#include "discplane/common/endpoint.h"

namespace discplane::disc {

enum class Protocol : std::uint8_t { kV4 = 4, kV5 = 5 };
inline const char* name(Protocol p) {
  return p == Protocol::kV4 ? "v4" : "v5";
}

// Largest datagram either protocol sends or accepts.
inline constexpr std::size_t kMaxPacketSize = 1280;

// One received UDP payload. `payload` points into the backend's buffer (an mbuf, a
// recvmmsg slot) and is valid only during the engine call that receives it.
struct Datagram {
  ByteView payload;
  Endpoint from;
};

// Outgoing datagrams are encoded straight into the backend's buffers: the engine
// asks for a buffer, writes the payload and commits it with its destination. The
// DPDK backend hands out the payload area of an mbuf (headers go in the headroom),
// the socket backend a slot of its sendmmsg batch.
class Transport {
 public:
  virtual ~Transport() = default;
  // A buffer of at least kMaxPacketSize bytes, or an empty span when the TX side is
  // full (the engine then counts a drop and moves on).
  virtual MutableByteView acquire_tx_buffer() noexcept = 0;
  // Sends the first `length` bytes of the buffer last acquired to `to`.
  virtual void commit_tx(std::size_t length, const Endpoint& to) noexcept = 0;
};

// Both clocks the protocols need: monotonic time for timeouts and wall time for
// discv4 expirations. Backends use the real clocks; tests and simulations step it.
struct Time {
  std::int64_t mono_ns = 0;  // monotonic, nanoseconds
  std::int64_t unix_s = 0;   // wall clock, seconds since the Unix epoch
  std::int64_t mono_ms() const { return mono_ns / 1'000'000; }
};

class Clock {
 public:
  virtual ~Clock() = default;
  virtual Time now() const noexcept = 0;
};

// The receiving side of a backend: the engine implements this. A backend calls
// on_burst once per rx burst (up to 32 datagrams); the engine may send through `tx`
// during the call. on_idle is called when a poll found nothing, so the engine can
// run its deadlines (timeouts, retries) without a packet to carry them.
class DatagramSink {
 public:
  virtual ~DatagramSink() = default;
  virtual void on_burst(std::span<const Datagram> burst, Transport& tx) noexcept = 0;
  virtual void on_idle(Transport& tx) noexcept = 0;
};

}  // namespace discplane::disc
