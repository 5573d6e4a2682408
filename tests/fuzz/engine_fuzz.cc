// libFuzzer target for the whole engine: a DiscoveryServer (node B of the discv5 vectors, so
// the vector packets are addressed to it) on a stepped clock with DeterministicRandom, fed
// arbitrary datagrams from arbitrary endpoints and, between them, clock steps, idle calls
// and control commands. Asserts no crash/UB (the sanitizers) and that every bounded
// structure stays within its configured bound and every datagram out within 1280 bytes.
//
// The input is a sequence of records; the first byte `op` of a record selects:
//   op % 8 in 0..2  datagram as is           [op][ep][len lo][len hi][bytes...]
//   op % 8 == 3     discv4 with fixed hash   (the harness writes keccak256(rest) in front,
//                                              so mutated discv4 packets reach the decoder)
//   op % 8 == 4     discv5 with header masked by us (iv = first 16 bytes; the fuzzer writes
//                                              the unmasked static header and authdata)
//   op % 8 == 5     clock step               [op][n]: n * 10 ms, or n s when op & 0x80
//   op % 8 == 6     on_idle
//   op % 8 == 7     command                  [op][c]: revalidate, lookup, prune (by c)
// The endpoint byte picks one of 16 sources (IPv4 and IPv6, shared IPs, distinct ports).
#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "discplane/crypto/aes.h"
#include "discplane/crypto/keccak.h"
#include "discplane/crypto/random.h"
#include "discplane/discovery/server.h"
#include "discplane/wire/v5wire.h"

using namespace discplane;
using namespace discplane::disc;

namespace {

// Node B of the discv5 wire test vectors.
constexpr crypto::PrivateKey kNodeB = {
    0x66, 0xfb, 0x62, 0xbf, 0xbd, 0x66, 0xb9, 0x17, 0x7a, 0x13, 0x8c, 0x1e, 0x5c, 0xdd, 0xbe, 0x4f,
    0x7c, 0x30, 0xc3, 0x43, 0xe9, 0x4e, 0x68, 0xdf, 0x87, 0x69, 0x45, 0x9c, 0xb1, 0xcd, 0xe6, 0x28};

// Node A: the sender of the vector packets; seeded as a bootnode, so lookups have a peer.
constexpr crypto::PrivateKey kNodeA = {
    0xee, 0xf7, 0x7a, 0xcb, 0x6c, 0x6a, 0x6e, 0xeb, 0xc5, 0xb3, 0x63, 0xa4, 0x75, 0xac, 0x58, 0x3e,
    0xc7, 0xec, 0xcd, 0xb4, 0x2b, 0x64, 0x81, 0x42, 0x4c, 0x60, 0xf5, 0x9a, 0xa3, 0x26, 0x54, 0x7f};

void check(bool ok) {
  if (!ok) {
    std::abort();
  }
}

class StepClock final : public Clock {
 public:
  Time now() const noexcept override { return t_; }
  void advance_ns(std::int64_t ns) {
    t_.mono_ns += ns;
    t_.unix_s = kEpoch + t_.mono_ns / kSecond;
  }
  // Before the discv4 vectors' expirations (2006), so they are not expired on arrival.
  static constexpr std::int64_t kEpoch = 1'100'000'000;

 private:
  Time t_{kSecond, kEpoch + 1};
};

class CheckingTransport final : public Transport {
 public:
  MutableByteView acquire_tx_buffer() noexcept override {
    // Now and then the TX side is full, so the engine's kTxFull paths run too.
    if (full_every_ != 0 && ++calls_ % full_every_ == 0) {
      return {};
    }
    return {buffer_.data(), buffer_.size()};
  }
  void commit_tx(std::size_t length, const Endpoint& to) noexcept override {
    check(length > 0 && length <= kMaxPacketSize);
    check(to.valid());
    ++sent;
  }
  void set_full_every(std::uint32_t n) { full_every_ = n; }
  std::uint64_t sent = 0;

 private:
  std::array<std::uint8_t, 1280> buffer_{};
  std::uint32_t full_every_ = 0;
  std::uint32_t calls_ = 0;
};

ServerConfig fuzz_config() {
  ServerConfig c;
  c.private_key = kNodeB;
  c.udp_port = 30303;
  c.ipv4 = IpAddress::v4(127, 0, 0, 1);
  // Small bounds, so that eviction and limit paths run within a few packets.
  c.max_sessions = 4;
  c.max_challenges = 8;
  c.v5_max_pending = 16;
  c.v4_max_pending = 16;
  c.v4_max_bonds = 16;
  c.whoareyou_rate_limit_ips = 4;
  c.whoareyou_per_ip_burst = 4;
  c.whoareyou_global_burst = 16;
  c.max_lookups = 2;
  c.table.ip_limit_exempt_local = false;
  // A small table: a fresh engine per input must be cheap (a full-size table is ~3 MB that
  // ASan maps, zeroes and unmaps per input, which capped the run at ~35 execs/s).
  c.table.bucket_size = 2;
  c.table.replacements = 1;
  return c;
}

Endpoint endpoint_of(std::uint8_t sel) {
  const std::uint16_t port = static_cast<std::uint16_t>(30000 + (sel & 0x3));
  switch ((sel >> 2) & 0x3) {
    case 0:
      return Endpoint{IpAddress::v4(127, 0, 0, 2), port};
    case 1:
      return Endpoint{IpAddress::v4(10, 1, 2, static_cast<std::uint8_t>(sel >> 4)), port};
    case 2: {
      std::array<std::uint8_t, 16> b{};
      b[0] = 0x20;
      b[1] = 0x01;
      b[2] = 0x0d;
      b[3] = 0xb8;
      b[15] = static_cast<std::uint8_t>(sel >> 4);
      return Endpoint{IpAddress::v6(ByteView(b)), port};
    }
    default:
      return Endpoint{IpAddress::v4(203, 0, 113, static_cast<std::uint8_t>(sel)), port};
  }
}

void check_bounds(const DiscoveryServer& s, const ServerConfig& c) {
  check(s.session_count() <= c.max_sessions);
  check(s.pending_challenges() <= c.max_challenges);
  check(s.active_lookups() <= c.max_lookups);
  check(s.table().size() <= 256 * c.table.bucket_size);
  check(s.table().replacements_size() <= 256 * c.table.replacements);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const ServerConfig config = fuzz_config();
  StepClock clock;
  crypto::DeterministicRandom rng(1);
  CheckingTransport tx;
  DiscoveryServer server(config, clock, rng);
  static const crypto::AesCtr128 own_masker(v5wire::masking_key(server.local_id()));
  static std::array<std::uint8_t, 1400> packet;
  static const crypto::PublicKey node_a = *crypto::derive_public_key(kNodeA);
  NodeSeed seed;
  seed.public_key = node_a;
  seed.endpoint4 = endpoint_of(0);
  seed.protocols = kFlagV4 | kFlagV5;
  server.handle(msg::AddSeed{seed}, tx);
  if (size > 0) {
    tx.set_full_every(data[0] % 16 == 15 ? 7 : 0);
  }

  std::size_t pos = 0;
  std::size_t steps = 0;
  while (pos < size && steps++ < 256) {
    const std::uint8_t op = data[pos++];
    const std::uint8_t kind = op % 8;
    if (kind <= 4) {
      if (size - pos < 3) {
        break;
      }
      const Endpoint from = endpoint_of(data[pos]);
      std::size_t len = data[pos + 1] | (static_cast<std::size_t>(data[pos + 2]) << 8);
      pos += 3;
      len = std::min({len % 1400, size - pos, packet.size()});
      std::memcpy(packet.data(), data + pos, len);
      pos += len;
      if (kind == 3 && len > 32) {
        const Hash256 h = crypto::keccak256(ByteView(packet.data() + 32, len - 32));
        std::memcpy(packet.data(), h.data(), 32);
      } else if (kind == 4 && len >= v5wire::kMaskingIvSize + v5wire::kStaticHeaderSize) {
        const std::size_t auth = (static_cast<std::size_t>(packet[16 + 21]) << 8) | packet[16 + 22];
        const std::size_t header =
            std::min(len - v5wire::kMaskingIvSize, v5wire::kStaticHeaderSize + auth);
        std::array<std::uint8_t, 1400> masked{};
        own_masker.apply(ByteView(packet.data(), v5wire::kMaskingIvSize),
                         ByteView(packet.data() + v5wire::kMaskingIvSize, header),
                         MutableByteView(masked.data(), header));
        std::memcpy(packet.data() + v5wire::kMaskingIvSize, masked.data(), header);
      }
      const Datagram d{ByteView(packet.data(), len), from};
      server.on_burst(std::span<const Datagram>(&d, 1), tx);
    } else if (kind == 5) {
      if (pos >= size) {
        break;
      }
      const std::int64_t n = data[pos++];
      clock.advance_ns((op & 0x80) != 0 ? n * kSecond : n * 10 * kMillisecond);
    } else if (kind == 6) {
      server.on_idle(tx);
    } else {
      if (pos >= size) {
        break;
      }
      const std::uint8_t c = data[pos++];
      const Protocol p = (c & 1) != 0 ? Protocol::kV5 : Protocol::kV4;
      switch ((c >> 1) % 3) {
        case 0:
          server.handle(msg::Revalidate{p}, tx);
          break;
        case 1:
          server.handle(msg::Lookup{p, std::nullopt, c}, tx);
          break;
        default:
          server.handle(msg::Prune{}, tx);
          break;
      }
    }
    check_bounds(server, config);
  }
  // Let every deadline run out: timeouts, retries, lookups finishing.
  for (int i = 0; i < 8; ++i) {
    clock.advance_ns(kSecond);
    server.on_idle(tx);
    check_bounds(server, config);
  }
  return 0;
}
