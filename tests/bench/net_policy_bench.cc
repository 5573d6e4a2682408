// NetPolicy lookups, the per-packet cost of the ban/allow lists: check_ip on an empty policy
// (the default), and on large ones (10k IPv4 prefixes, 1k IPv6 prefixes, an allow list), with
// addresses that mostly miss (the common case: honest traffic) and ones that hit.
#include <vector>

#include <benchmark/benchmark.h>

#include "discplane/crypto/random.h"
#include "discplane/discovery/net_policy.h"

using namespace discplane;
using namespace discplane::disc;

namespace {

std::vector<IpAddress> random_v4(std::size_t n, std::uint64_t seed) {
  crypto::DeterministicRandom rng(seed);
  std::vector<IpAddress> out(n);
  for (auto& ip : out) {
    std::array<std::uint8_t, 4> b{};
    rng.fill(b);
    ip = IpAddress::v4(b[0], b[1], b[2], b[3]);
  }
  return out;
}

NetPolicy big_policy(bool allow) {
  NetPolicySpec spec;
  crypto::DeterministicRandom rng(7);
  for (std::size_t i = 0; i < 10000; ++i) {
    std::array<std::uint8_t, 5> b{};
    rng.fill(b);
    spec.banned.push_back(
        Cidr{IpAddress::v4(b[0], b[1], b[2], b[3]), static_cast<std::uint8_t>(16 + b[4] % 17)});
  }
  for (std::size_t i = 0; i < 1000; ++i) {
    std::array<std::uint8_t, 16> b{};
    rng.fill(b);
    spec.banned.push_back(Cidr{IpAddress::v6(ByteView(b.data(), b.size())), 48});
  }
  if (allow) {
    spec.allow = {*Cidr::parse("0.0.0.0/1"), *Cidr::parse("2000::/3")};
  }
  return NetPolicy(spec);
}

void run(benchmark::State& state, const NetPolicy& policy) {
  const auto ips = random_v4(4096, 99);
  std::size_t i = 0;
  std::size_t refused = 0;
  for (auto _ : state) {
    refused += policy.check_ip(ips[i++ & 4095]) != Verdict::kAllowed;
  }
  benchmark::DoNotOptimize(refused);
  state.counters["refused_share"] =
      static_cast<double>(refused) / static_cast<double>(state.iterations());
}

void BM_NetPolicyEmpty(benchmark::State& state) {
  run(state, NetPolicy{});
}
BENCHMARK(BM_NetPolicyEmpty);

void BM_NetPolicy10kPrefixes(benchmark::State& state) {
  run(state, big_policy(false));
}
BENCHMARK(BM_NetPolicy10kPrefixes);

void BM_NetPolicy10kPrefixesAndAllowList(benchmark::State& state) {
  run(state, big_policy(true));
}
BENCHMARK(BM_NetPolicy10kPrefixesAndAllowList);

}  // namespace
