// PacketLog: token bucket and ring on the core, formatting on the control thread.
#include "discplane/control/packet_log.h"

#include <algorithm>

#include "discplane/discovery/counters.h"

namespace discplane::control {

namespace {

disc::EventLevel event_level(LogLevel l) {
  switch (l) {
    case LogLevel::kError:
      return disc::EventLevel::kError;
    case LogLevel::kWarn:
      return disc::EventLevel::kWarn;
    case LogLevel::kInfo:
      return disc::EventLevel::kInfo;
    case LogLevel::kDebug:
      return disc::EventLevel::kDebug;
  }
  return disc::EventLevel::kInfo;
}

spdlog::level::level_enum spd(disc::EventLevel l) {
  switch (l) {
    case disc::EventLevel::kError:
      return spdlog::level::err;
    case disc::EventLevel::kWarn:
      return spdlog::level::warn;
    case disc::EventLevel::kInfo:
      return spdlog::level::info;
    default:
      return spdlog::level::debug;
  }
}

}  // namespace

PacketLog::PacketLog(std::size_t ring_capacity) : ring_(ring_capacity) {}

void PacketLog::configure(LogLevel level, std::uint32_t rate_per_s) noexcept {
  rate_.store(rate_per_s, std::memory_order_relaxed);
  set_threshold(rate_per_s == 0 ? disc::EventLevel::kOff : event_level(level));
}

void PacketLog::push(const disc::Event& e) noexcept {
  const std::uint32_t rate = rate_.load(std::memory_order_relaxed);
  const double burst = rate;
  if (!started_) {
    started_ = true;
    tokens_ = burst;
    last_ns_ = e.mono_ns;
  }
  if (e.mono_ns > last_ns_) {
    tokens_ = std::min(burst, tokens_ + static_cast<double>(e.mono_ns - last_ns_) * rate / 1e9);
    last_ns_ = e.mono_ns;
  }
  if (tokens_ < 1.0 || !ring_.try_push(e)) {
    suppressed_.store(suppressed_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return;
  }
  tokens_ -= 1.0;
}

std::string PacketLog::format(const disc::Event& e) {
  std::string s = e.protocol == 4 ? "[v4] " : e.protocol == 5 ? "[v5] " : "[v4/v5] ";
  s += disc::to_string(e.kind);
  if (e.kind == disc::EventKind::kDrop) {
    s += " ";
    s += disc::to_string(e.drop);
    s += " from ";
    s += e.endpoint.to_string();
    return s;
  }
  if (e.kind == disc::EventKind::kPolicyApplied) {
    return s + ": " + std::to_string(e.value) + " table entries evicted";
  }
  if (e.id_prefix != decltype(e.id_prefix){}) {
    s += " ";
    s += to_hex(ByteView(e.id_prefix.data(), e.id_prefix.size()));
  }
  s += " ";
  s += e.endpoint.to_string();
  return s;
}

std::size_t PacketLog::drain(spdlog::logger& log) {
  std::size_t lines = 0;
  disc::Event e;
  while (ring_.try_pop(e)) {
    log.log(spd(e.level), "{}", format(e));
    ++lines;
  }
  const std::uint64_t suppressed = suppressed_.load(std::memory_order_relaxed);
  if (suppressed != reported_) {
    log.info("{} lines suppressed", suppressed - reported_);
    reported_ = suppressed;
    ++lines;
  }
  return lines;
}

}  // namespace discplane::control
