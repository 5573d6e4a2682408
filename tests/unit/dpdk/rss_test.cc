// RSS prediction: toeplitz_hash must equal what a NIC computes. The vectors are the Microsoft
// RSS verification suite ("Verifying the RSS Hash Calculation", also in the 82599 datasheet
// 7.1.2.8.3 and DPDK's app/test/test_thash.c), with the Microsoft key we program (kRssKey).
// "with ports" is the TCP column; Toeplitz over UDP ports is the same computation.
#include <catch2/catch.hpp>

#include "discplane/net/dpdk_queues.h"

using namespace discplane;
using namespace discplane::net;

namespace {

Endpoint ep(const char* ip, std::uint16_t port) {
  return Endpoint{*IpAddress::parse(ip), port};
}

struct Vector {
  const char* dst;
  std::uint16_t dst_port;
  const char* src;
  std::uint16_t src_port;
  std::uint32_t hash_l3;
  std::uint32_t hash_l3l4;
};

const Vector kV4[] = {
    {"161.142.100.80", 1766, "66.9.149.187", 2794, 0x323e8fc2, 0x51ccc178},
    {"65.69.140.83", 4739, "199.92.111.2", 14230, 0xd718262a, 0xc626b0ea},
    {"12.22.207.184", 38024, "24.19.198.95", 12898, 0xd2d0a5de, 0x5c2b394a},
    {"209.142.163.6", 2217, "38.27.205.30", 48228, 0x82989176, 0xafc7327f},
    {"202.188.127.2", 1303, "153.39.163.191", 44251, 0x5d1809c5, 0x10e828a2},
};

const Vector kV6[] = {
    {"3ffe:2501:200:3::1", 1766, "3ffe:2501:200:1fff::7", 2794, 0x2cc18cd5, 0x40207d3d},
    {"ff02::1", 4739, "3ffe:501:8::260:97ff:fe40:efab", 14230, 0x0f0c461c, 0xdde51bbf},
    {"fe80::200:f8ff:fe21:67cf", 38024, "3ffe:1900:4545:3:200:f8ff:fe21:67cf", 44251, 0x4b61e985,
     0x02d1feef},
};

}  // namespace

TEST_CASE("rss: Toeplitz matches the Microsoft verification suite (IPv4, IPv6)", "[dpdk][rss]") {
  const ByteView key(kRssKey.data(), kRssKey.size());
  for (const Vector& v : kV4) {
    INFO(v.src << " -> " << v.dst);
    CHECK(toeplitz_hash(key, ep(v.src, v.src_port), ep(v.dst, v.dst_port), false) == v.hash_l3);
    CHECK(toeplitz_hash(key, ep(v.src, v.src_port), ep(v.dst, v.dst_port), true) == v.hash_l3l4);
  }
  for (const Vector& v : kV6) {
    INFO(v.src << " -> " << v.dst);
    CHECK(toeplitz_hash(key, ep(v.src, v.src_port), ep(v.dst, v.dst_port), false) == v.hash_l3);
    CHECK(toeplitz_hash(key, ep(v.src, v.src_port), ep(v.dst, v.dst_port), true) == v.hash_l3l4);
  }
  // Mixed families or a short key give 0, never a read past the key.
  CHECK(toeplitz_hash(key, ep("1.2.3.4", 1), ep("::1", 2), true) == 0);
  CHECK(toeplitz_hash(ByteView(kRssKey.data(), 36), ep(kV6[0].src, 1), ep(kV6[0].dst, 2), true) ==
        0);
}

TEST_CASE("rss: the predicted queue is reta[hash % reta_size] with our address as destination",
          "[dpdk][rss]") {
  RssState s;
  std::copy(kRssKey.begin(), kRssKey.end(), s.key.begin());
  s.key_len = kRssKey.size();
  s.reta_size = 128;
  for (std::uint16_t i = 0; i < s.reta_size; ++i) {
    s.reta[i] = static_cast<std::uint16_t>(i % 3);
  }
  s.l4_v4 = true;
  s.l4_v6 = false;  // addresses only for IPv6 (a PMD without NONFRAG_IPV6_UDP)
  s.local_v4 = ep(kV4[0].dst, kV4[0].dst_port);
  s.local_v6 = ep(kV6[0].dst, 30303);
  CHECK(s.queue_of(ep(kV4[0].src, kV4[0].src_port)) == (kV4[0].hash_l3l4 % 128) % 3);
  // IPv6 without ports: any source port gives the same queue.
  const std::uint32_t q6 = (kV6[0].hash_l3 % 128) % 3;
  CHECK(s.queue_of(ep(kV6[0].src, 1)) == q6);
  CHECK(s.queue_of(ep(kV6[0].src, 65000)) == q6);
  // rss_steer reads the state of the port named by its seed.
  set_rss_state(7, s);
  CHECK(rss_steer(ep(kV4[0].src, kV4[0].src_port), 3, 7) == (kV4[0].hash_l3l4 % 128) % 3);
  // Spread: 3000 ports of one peer land on all three queues.
  std::array<int, 3> seen{};
  for (std::uint16_t port = 1000; port < 4000; ++port) {
    ++seen[rss_steer(ep("198.51.100.7", port), 3, 7)];
  }
  for (int c : seen) {
    CHECK(c > 800);
  }
}
