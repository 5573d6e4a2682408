// discv4 codec microbenchmarks: decoding a Ping (signer recovery included), the cheap
// rejection of a datagram whose hash does not match, signing a Pong, and a full Neighbors.
#include <array>
#include <vector>

#include <benchmark/benchmark.h>

#include "discplane/common/bytes.h"
#include "discplane/crypto/secp256k1.h"
#include "discplane/wire/v4wire.h"

using namespace discplane;
using namespace discplane::v4wire;

namespace {

// go-ethereum's plain Ping from tests/data/discv4.json (geth_ping_v4_plain).
const Bytes kPing = hex_or_die(
    "71dbda3a79554728d4f94411e42ee1f8b0d561c10e1e5f5893367948c6a7d70bb87b235fa28a77070271b6c1"
    "64a2dce8c7e13a5739b53b5e96f2e5acb0e458a02902f5965d55ecbeb2ebb6cabb8b2b232896a36b737666c5"
    "5265ad0a68412f250001ea04cb847f000001820cfa8215a8d790000000000000000000000000000000018208"
    "ae820d058443b9a355");

crypto::PrivateKey bench_key() {
  crypto::PrivateKey k{};
  k.fill(0x42);
  return k;
}

void BM_V4DecodePing(benchmark::State& state) {
  for (auto _ : state) {
    auto p = decode(kPing);
    if (!p) {
      state.SkipWithError("decode failed");
      break;
    }
    benchmark::DoNotOptimize(p->sender);
  }
}
BENCHMARK(BM_V4DecodePing);

void BM_V4DecodeBadHash(benchmark::State& state) {
  Bytes bad = kPing;
  bad[0] ^= 1;
  for (auto _ : state) {
    auto p = decode(bad);
    benchmark::DoNotOptimize(p);
  }
}
BENCHMARK(BM_V4DecodeBadHash);

void BM_V4EncodePong(benchmark::State& state) {
  const auto key = bench_key();
  Pong pong;
  pong.to = {IpAddress::v4(10, 0, 0, 1), 30303, 30303};
  pong.ping_hash.fill(0xab);
  pong.expiration = 1700000020;
  pong.enr_seq = 7;
  std::array<std::uint8_t, kMaxPacketSize> out;
  for (auto _ : state) {
    auto enc = encode_pong(key, pong, out);
    benchmark::DoNotOptimize(enc);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_V4EncodePong);

void BM_V4EncodeNeighbors12(benchmark::State& state) {
  const auto key = bench_key();
  std::vector<NeighborNode> nodes(kMaxNeighborsPerPacket);
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    nodes[i].endpoint.ip.family = IpAddress::Family::kV6;
    nodes[i].endpoint.ip.bytes.fill(static_cast<std::uint8_t>(i + 1));
    nodes[i].endpoint.udp = 30303;
    nodes[i].endpoint.tcp = 30303;
    nodes[i].pubkey.fill(static_cast<std::uint8_t>(i + 7));
  }
  std::array<std::uint8_t, kMaxPacketSize> out;
  for (auto _ : state) {
    auto enc = encode_neighbors(key, nodes, 1700000020, out);
    benchmark::DoNotOptimize(enc);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_V4EncodeNeighbors12);

}  // namespace
