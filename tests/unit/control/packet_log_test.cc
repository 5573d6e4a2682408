// PacketLog: the core-side token bucket, the ring, and the control-side lines, including the
// "N lines suppressed" report, written into an in-memory spdlog sink.
#include "discplane/control/packet_log.h"

#include <spdlog/sinks/ostream_sink.h>

#include <sstream>

#include <catch2/catch.hpp>

using namespace discplane;
using namespace discplane::control;

namespace {

struct Capture {
  std::ostringstream out;
  std::shared_ptr<spdlog::logger> log;
  Capture() {
    log = std::make_shared<spdlog::logger>("test",
                                           std::make_shared<spdlog::sinks::ostream_sink_st>(out));
    log->set_pattern("%l %v");
    log->set_level(spdlog::level::debug);
  }
  std::vector<std::string> lines() const {
    std::vector<std::string> v;
    std::istringstream in(out.str());
    for (std::string l; std::getline(in, l);) {
      v.push_back(l);
    }
    return v;
  }
};

disc::Event drop_at(std::int64_t ns, std::uint8_t protocol = 4) {
  disc::Event e;
  e.mono_ns = ns;
  e.kind = disc::EventKind::kDrop;
  e.level = disc::EventLevel::kDebug;
  e.protocol = protocol;
  e.drop = disc::Drop::kPolicyBanned;
  e.endpoint = *Endpoint::parse("127.0.0.5:30303");
  return e;
}

constexpr std::int64_t kSec = 1'000'000'000;

}  // namespace

TEST_CASE("packet log: a flood is cut to the rate and the rest reported as suppressed",
          "[control][packet_log]") {
  PacketLog pl;
  pl.configure(LogLevel::kDebug, 10);  // 10 lines/s, bursts of 10
  REQUIRE(pl.wants(disc::EventLevel::kDebug));
  // 1000 events within one second: the burst (10) plus ~10 refilled pass.
  for (int i = 0; i < 1000; ++i) {
    pl.push(drop_at(kSec + i * (kSec / 1000)));
  }
  Capture c;
  const std::size_t written = pl.drain(*c.log);
  const auto lines = c.lines();
  REQUIRE(lines.size() == written);
  const std::size_t passed = lines.size() - 1;
  CHECK(passed >= 10);
  CHECK(passed <= 21);
  CHECK(pl.suppressed_total() == 1000 - passed);
  CHECK(lines.front() == "debug [v4] drop policy_banned from 127.0.0.5:30303");
  CHECK(lines.back() == "info " + std::to_string(1000 - passed) + " lines suppressed");

  // Nothing new: no lines, and the suppressed count is not repeated.
  CHECK(pl.drain(*c.log) == 0);
  // After a quiet second the bucket is full again.
  for (int i = 0; i < 10; ++i) {
    pl.push(drop_at(3 * kSec + i, 5));
  }
  Capture c2;
  CHECK(pl.drain(*c2.log) == 10);
  CHECK(c2.lines().front() == "debug [v5] drop policy_banned from 127.0.0.5:30303");
}

TEST_CASE("packet log: level and rate 0 gate the engine's check", "[control][packet_log]") {
  PacketLog pl;
  pl.configure(LogLevel::kInfo, 10);
  CHECK(pl.wants(disc::EventLevel::kInfo));
  CHECK_FALSE(pl.wants(disc::EventLevel::kDebug));
  pl.configure(LogLevel::kDebug, 0);
  CHECK_FALSE(pl.wants(disc::EventLevel::kError));
}

TEST_CASE("packet log: a full ring counts as suppressed, never blocks", "[control][packet_log]") {
  PacketLog pl(8);
  pl.configure(LogLevel::kDebug, 1000);
  for (int i = 0; i < 100; ++i) {
    pl.push(drop_at(kSec));
  }
  CHECK(pl.suppressed_total() == 92);
  Capture c;
  CHECK(pl.drain(*c.log) == 9);
  CHECK(c.lines().back() == "info 92 lines suppressed");
}

TEST_CASE("packet log: event lines carry protocol tag, id prefix and endpoint",
          "[control][packet_log]") {
  disc::Event e;
  e.kind = disc::EventKind::kHandshakeAccepted;
  e.protocol = 5;
  e.endpoint = *Endpoint::parse("[::1]:9000");
  e.id_prefix = {0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3};
  CHECK(PacketLog::format(e) == "[v5] handshake-accepted deadbeef00010203 [::1]:9000");
  e.kind = disc::EventKind::kPolicyApplied;
  e.protocol = 0;
  e.value = 3;
  CHECK(PacketLog::format(e) == "[v4/v5] policy-applied: 3 table entries evicted");
}
