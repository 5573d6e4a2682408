// PeerTable microbenchmarks: closest(16) on a ~4000-entry table (what every FINDNODE answer
// and lookup seed costs), updates of known entries, insert+remove of new ones, find().
// Reports the entry size and the preallocated table size as counters.
#include <vector>

#include <benchmark/benchmark.h>

#include "discplane/crypto/random.h"
#include "discplane/discovery/node_id.h"
#include "discplane/discovery/peer_table.h"

using namespace discplane;
using namespace discplane::disc;

namespace {

NodeId random_node_id(crypto::RandomSource& rng) {
  NodeId id;
  rng.fill(id);
  return id;
}

PeerInfo bench_node(const NodeId& id, std::uint32_t n) {
  PeerInfo p;
  p.id = id;
  p.endpoint4 =
      Endpoint{IpAddress::v4(static_cast<std::uint8_t>(20 + (n >> 16)),
                             static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n), 1),
               30303};
  p.protocols = n % 2 == 0 ? kFlagV4 : kFlagV4 | kFlagV5;
  return p;
}

// 250 full buckets (distances 7..256) x 16 = 4000 live entries.
struct BenchTable {
  crypto::DeterministicRandom rng{2024};
  NodeId self = random_node_id(rng);
  PeerTable table{self};
  std::vector<NodeId> ids;
  std::vector<NodeId> targets;

  BenchTable() {
    std::uint32_t n = 0;
    for (int d = 7; d <= 256; ++d) {
      for (int i = 0; i < 16; ++i) {
        const PeerInfo p = bench_node(random_id_at_distance(self, d, rng), n++);
        if (table.add_seen(p, 1) == AddOutcome::kInserted) {
          ids.push_back(p.id);
        }
      }
    }
    for (int i = 0; i < 1024; ++i) {
      targets.push_back(random_node_id(rng));
    }
  }
};

BenchTable& bench_table() {
  static BenchTable t;
  return t;
}

void add_size_counters(benchmark::State& state, const PeerTable& t) {
  state.counters["entries"] = static_cast<double>(t.size());
  state.counters["entry_bytes"] = sizeof(PeerEntry);
  state.counters["table_bytes"] = static_cast<double>(
      sizeof(PeerEntry) * kNumBuckets * (t.config().bucket_size + t.config().replacements));
}

void BM_PeerTableClosest16(benchmark::State& state) {
  BenchTable& b = bench_table();
  const std::uint8_t flags = static_cast<std::uint8_t>(state.range(0));
  std::array<const PeerEntry*, 16> out{};
  std::size_t i = 0;
  for (auto _ : state) {
    const std::size_t n = b.table.closest(b.targets[i++ & 1023], 16, out, flags);
    benchmark::DoNotOptimize(n);
    benchmark::DoNotOptimize(out.data());
  }
  add_size_counters(state, b.table);
}
BENCHMARK(BM_PeerTableClosest16)->Arg(0)->Arg(kFlagV5);

void BM_PeerTableFind(benchmark::State& state) {
  BenchTable& b = bench_table();
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(b.table.find(b.ids[i++ % b.ids.size()]));
  }
}
BENCHMARK(BM_PeerTableFind);

// add_seen of a known node: the path taken for every verified packet from a table member.
void BM_PeerTableUpdateSeen(benchmark::State& state) {
  BenchTable& b = bench_table();
  std::vector<PeerInfo> infos;
  for (std::size_t i = 0; i < b.ids.size(); ++i) {
    infos.push_back(bench_node(b.ids[i], static_cast<std::uint32_t>(i)));
  }
  std::size_t i = 0;
  std::int64_t now = 2;
  for (auto _ : state) {
    const AddOutcome o = b.table.add_seen(infos[i++ % infos.size()], ++now);
    benchmark::DoNotOptimize(o);
  }
}
BENCHMARK(BM_PeerTableUpdateSeen);

// Insert of a new node (IP-limit checks, bucket placement) then its removal.
void BM_PeerTableInsertRemove(benchmark::State& state) {
  crypto::DeterministicRandom rng(7);
  const NodeId self = random_node_id(rng);
  PeerTable table(self);
  std::vector<PeerInfo> infos;
  for (std::uint32_t i = 0; i < 4096; ++i) {
    infos.push_back(
        bench_node(random_id_at_distance(self, 200 + static_cast<int>(i % 57), rng), 100000 + i));
  }
  std::size_t i = 0;
  for (auto _ : state) {
    const PeerInfo& p = infos[i++ & 4095];
    const AddOutcome a = table.add_seen(p, 1);
    const RemoveOutcome r = table.remove(p.id);
    benchmark::DoNotOptimize(a);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_PeerTableInsertRemove);

void BM_LogDistance(benchmark::State& state) {
  BenchTable& b = bench_table();
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(log_distance(b.self, b.targets[i++ & 1023]));
  }
}
BENCHMARK(BM_LogDistance);

}  // namespace
