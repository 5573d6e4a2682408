// PacketLog: the engine's EventSink on the appliance side, and the way its records reach the
// log. Two halves on two threads, joined by an SPSC ring of fixed-size disc::Event records:
//   core thread:    push() - a token bucket (rate lines/s, burst as many; time from the event,
//                   no clock read), then try_push into the ring; over the rate or ring full,
//                   the line is only counted as suppressed. No lock, no allocation, no format.
//   control thread: drain() - formats each record ("[v4] drop policy_banned from
//                   1.2.3.4:30303") into the spdlog logger, then one "N lines suppressed"
//                   line for what the core counted since the last drain.
// configure() may be called from any thread (reload): the threshold and the rate are atomics.
#pragma once

#include <spdlog/logger.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "discplane/control/config.h"
#include "discplane/control/spsc_ring.h"
#include "discplane/discovery/events.h"

namespace discplane::control {

class PacketLog final : public disc::EventSink {
 public:
  explicit PacketLog(std::size_t ring_capacity = 4096);

  // Level: which events pass (debug: per-packet lines); rate 0 turns the packet log off.
  void configure(LogLevel level, std::uint32_t rate_per_s) noexcept;

  void push(const disc::Event& event) noexcept override;  // core thread
  // Control thread. Returns the lines written (records plus the suppressed line, if any).
  std::size_t drain(spdlog::logger& log);

  static std::string format(const disc::Event& event);
  std::uint64_t suppressed_total() const noexcept {
    return suppressed_.load(std::memory_order_relaxed);
  }

 private:
  SpscRing<disc::Event> ring_;
  std::atomic<std::uint32_t> rate_{0};
  // Core side: the bucket.
  double tokens_ = 0;
  std::int64_t last_ns_ = 0;
  bool started_ = false;
  std::atomic<std::uint64_t> suppressed_{0};  // written by the core only
  // Control side.
  std::uint64_t reported_ = 0;
};

}  // namespace discplane::control
