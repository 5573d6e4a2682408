// Engine events for the packet log: compact fixed-size records the engine hands to an
// EventSink on the dataplane thread (drops with their reason, bonds, handshakes, nodes added,
// policy swaps). The engine never formats or writes anything: it checks the sink's level
// first (one relaxed byte load), fills an Event and calls push(). The sink (the control
// plane's PacketLog) rate-limits and queues the record for the control thread, which formats
// and writes it. Tests can implement the sink directly.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>

#include "discplane/common/bytes.h"
#include "discplane/common/endpoint.h"
#include "discplane/discovery/counters.h"

namespace discplane::disc {

// Lower is more severe; a sink's threshold admits every level <= it (0: nothing).
enum class EventLevel : std::uint8_t { kOff = 0, kError = 1, kWarn = 2, kInfo = 3, kDebug = 4 };

enum class EventKind : std::uint8_t {
  kDrop,                // a datagram was dropped; `drop` says why
  kBond,                // discv4 endpoint proof completed with a peer
  kHandshakeInitiated,  // discv5: we answered a WHOAREYOU (new session, our side)
  kHandshakeAccepted,   // discv5: a peer's handshake verified (new session, its side)
  kNodeAdded,           // a node entered the table
  kPolicyApplied,       // a new NetPolicy was swapped in; `value` = table entries evicted
};
std::string_view to_string(EventKind k);

struct Event {
  std::int64_t mono_ns = 0;                 // the engine's time of the burst
  Endpoint endpoint;                        // the source (drops) or the peer
  std::array<std::uint8_t, 8> id_prefix{};  // first 8 bytes of the peer's node id (0: unknown)
  std::uint32_t value = 0;
  EventKind kind = EventKind::kDrop;
  EventLevel level = EventLevel::kDebug;
  std::uint8_t protocol = 0;  // 4, 5, or 0 (not classified yet)
  Drop drop = Drop::kCount;
};

class EventSink {
 public:
  virtual ~EventSink() = default;
  // Dataplane thread. Must not block, allocate or lock.
  virtual void push(const Event& event) noexcept = 0;

  bool wants(EventLevel level) const noexcept {
    return static_cast<std::uint8_t>(level) <= threshold_.load(std::memory_order_relaxed);
  }
  // Any thread (the control thread on a reload).
  void set_threshold(EventLevel level) noexcept {
    threshold_.store(static_cast<std::uint8_t>(level), std::memory_order_relaxed);
  }

 private:
  std::atomic<std::uint8_t> threshold_{0};
};

}  // namespace discplane::disc
