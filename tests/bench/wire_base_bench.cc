// Microbenchmarks of the base wire codecs: RLP decode of a ~100-byte list, ENR decode
// (verified, unverified), ENR text parse, enode parse, and ENR signing for reference.
#include <string>

#include <benchmark/benchmark.h>

#include "discplane/common/bytes.h"
#include "discplane/wire/enode.h"
#include "discplane/wire/enr.h"
#include "discplane/wire/rlp.h"

namespace {

using namespace discplane;

// The EIP-778 example record (134 bytes).
constexpr std::string_view kEnrText =
    "enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj499SZuOh8R33Ls8RRcy5"
    "wBgmlkgnY0gmlwhH8AAAGJc2VjcDI1NmsxoQPKY0yuDUmstAHYpMa2_oxVtw0RW_QAdpzBQA8yWM0xOIN1ZHCCdl8";

Bytes example_rlp() {
  const auto rec = enr::parse_text(kEnrText);
  return Bytes(rec->raw().begin(), rec->raw().end());
}

// A discv4-Ping-shaped list: [4, [ip, udp, tcp], [ip, udp, tcp], expiration, seq], padded with
// a hash and a key-sized string so the whole is 100 bytes.
Bytes list_100() {
  std::uint8_t buf[256];
  rlp::Encoder enc(buf);
  const auto top = enc.begin_list();
  enc.add_uint(4);
  for (int i = 0; i < 2; ++i) {
    const auto ep = enc.begin_list();
    enc.add_string(hex_or_die("7f000001"));
    enc.add_uint(30303);
    enc.add_uint(30303);
    enc.end_list(ep);
  }
  enc.add_string(Bytes(32, 0xab));
  enc.add_string(Bytes(33, 0xcd));
  enc.add_uint(1136239445);
  enc.add_uint(1);
  enc.end_list(top);
  return Bytes(enc.view().begin(), enc.view().end());
}

void BM_RlpDecodeList100(benchmark::State& state) {
  const Bytes in = list_100();
  for (auto _ : state) {
    auto item = rlp::decode_exact_deep(in);
    rlp::ListReader r(item->payload);
    std::uint64_t sum = 0;
    while (!r.at_end()) {
      auto e = r.next();
      sum += e->payload.size();
    }
    benchmark::DoNotOptimize(sum);
  }
  state.SetLabel(std::to_string(in.size()) + " bytes");
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * in.size()));
}
BENCHMARK(BM_RlpDecodeList100);

void BM_RlpEncodeList100(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(list_100());
  }
}
BENCHMARK(BM_RlpEncodeList100);

void BM_EnrDecodeVerified(benchmark::State& state) {
  const Bytes in = example_rlp();
  for (auto _ : state) {
    auto rec = enr::decode(in);
    benchmark::DoNotOptimize(rec->node_id());
  }
}
BENCHMARK(BM_EnrDecodeVerified);

void BM_EnrDecodeUnverified(benchmark::State& state) {
  const Bytes in = example_rlp();
  for (auto _ : state) {
    auto rec = enr::decode_unverified(in);
    benchmark::DoNotOptimize(rec->node_id());
  }
}
BENCHMARK(BM_EnrDecodeUnverified);

// What a discv4 Neighbors entry costs to fill its TCP port from a table record: the
// key/value pairs of a record with ip, udp and tcp (the pairs only; no key parse).
void BM_EnrTcpPortOf(benchmark::State& state) {
  const auto key =
      to_array<32>(hex_or_die("b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291"));
  enr::Builder b = enr::Builder::from(*enr::parse_text(kEnrText));
  b.set_tcp(30303);
  const auto rec = b.sign(key);
  const Bytes in(rec->raw().begin(), rec->raw().end());
  for (auto _ : state) {
    auto port = enr::tcp_port_of(in, false);
    benchmark::DoNotOptimize(port);
  }
}
BENCHMARK(BM_EnrTcpPortOf);

void BM_EnrParseText(benchmark::State& state) {
  for (auto _ : state) {
    auto rec = enr::parse_text(kEnrText);
    benchmark::DoNotOptimize(rec->seq());
  }
}
BENCHMARK(BM_EnrParseText);

void BM_EnrSign(benchmark::State& state) {
  const auto key =
      to_array<32>(hex_or_die("b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291"));
  const auto base = enr::Builder::from(*enr::parse_text(kEnrText));
  for (auto _ : state) {
    auto rec = base.sign(key);
    benchmark::DoNotOptimize(rec->seq());
  }
}
BENCHMARK(BM_EnrSign);

void BM_EnodeParse(benchmark::State& state) {
  const std::string url =
      "enode://ca634cae0d49acb401d8a4c6b6fe8c55b70d115bf400769cc1400f3258cd3138"
      "7574077f301b421bc84df7266c44e9e6d569fc56be00812904767bf5ccd1fc7f@10.3.58.6:30303"
      "?discport=30301";
  for (auto _ : state) {
    auto u = enode::parse(url);
    benchmark::DoNotOptimize(u->udp_port);
  }
}
BENCHMARK(BM_EnodeParse);

}  // namespace
