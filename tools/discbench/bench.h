// discbench: the load generator. Shared pieces: synthetic identities, pre-built inputs, the
// paths that carry them into the engine (direct on_burst, DPDK net_ring, kernel socket),
// response sampling, the crypto floor and the allocation counter. See BENCHMARKS.md
// ("discbench") for the method and tools/discbench/main.cc for the command line.
// Not part of the product: this code may allocate and log; only the measured calls may not.
#pragma once

#include <time.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "discplane/common/bytes.h"
#include "discplane/common/endpoint.h"
#include "discplane/crypto/aes.h"
#include "discplane/crypto/secp256k1.h"
#include "discplane/discovery/server.h"
#include "discplane/wire/enr.h"

#include "common/alloc_count.h"

namespace discbench {

using namespace discplane;

// ---- allocation counter (tools/common/alloc_count.cc replaces the global operator new) -------
// Counts every thread's allocations while on. DISCBENCH_TRACE_ALLOC=N prints the call stacks of
// the first N counted allocations (to find where the engine allocates per packet).
inline void set_alloc_counting(bool on) noexcept {
  using discplane::alloc_count::Scope;
  if (on) {
    static const bool kTraceSet = [] {
      const char* env = std::getenv("DISCBENCH_TRACE_ALLOC");
      discplane::alloc_count::trace_next(env != nullptr ? std::atoi(env) : 0);
      return true;
    }();
    (void)kTraceSet;
    discplane::alloc_count::start(Scope::kAllThreads);
  } else {
    discplane::alloc_count::stop(Scope::kAllThreads);
  }
}
inline std::uint64_t allocations() noexcept {
  return discplane::alloc_count::total();
}

// ---- clocks ----------------------------------------------------------------------------------
inline std::uint64_t rdtsc() noexcept {
  return __builtin_ia32_rdtsc();
}
inline std::int64_t thread_cpu_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}
double tsc_hz();                       // calibrated once against CLOCK_MONOTONIC
std::int64_t cpu_clock_overhead_ns();  // cost of one thread_cpu_ns() pair, calibrated once
std::size_t rss_bytes();

// The engine's clock: real time (monotonic + wall), read once per burst by the engine.
class RealClock final : public disc::Clock {
 public:
  disc::Time now() const noexcept override;
};

// ---- identities --------------------------------------------------------------------------------
// A synthetic peer: deterministic key (seed = index), its own loopback address
// 127.1.x.y:40000 (loopback bypasses the table's IP limits; distinct IPs keep the per-IP
// WHOAREYOU limiter out of the way), a signed ENR and, once handshaken, its session keys.
inline constexpr std::uint16_t kPeerPort = 40000;
struct Identity {
  crypto::PrivateKey key{};
  crypto::PublicKey pub{};
  NodeId id{};
  Endpoint ep;
  enr::Record record;
  std::optional<crypto::AesGcm128> write;  // initiator key: what we send with
  std::optional<crypto::AesGcm128> read;   // recipient key: what the engine answers with
  std::uint32_t nonce_counter = 0;
  Bytes random_packet;  // undecryptable message packet: provokes a WHOAREYOU
};
// The deterministic key of seed `seed` (workload identities, the engine's key, targets).
crypto::PrivateKey key_from_seed(std::uint64_t seed);
// Big-endian u64 into out[0..8) / from `in` (request ids).
inline void put_u64(MutableByteView out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v);
    v >>= 8;
  }
}
inline std::uint64_t get_u64(ByteView in) {
  std::uint64_t v = 0;
  for (const std::uint8_t b : in) {
    v = (v << 8) | b;
  }
  return v;
}
Endpoint identity_endpoint(std::uint32_t index);
// Index of the identity at `ep`, or -1.
std::int64_t identity_index(const Endpoint& ep);
std::vector<Identity> make_identities(std::uint32_t first_seed, std::uint32_t count);

// ---- inputs -----------------------------------------------------------------------------------
enum class Expect : std::uint8_t {
  kV4Pong,       // PONG echoing the ping's hash (unbonded: + a PING of ours)
  kV4Neighbors,  // NEIGHBORS signed by the engine
  kV5Pong,       // PONG on the session echoing the req-id, reporting our address
  kV5Nodes,      // NODES on the session echoing the req-id
  kV5Whoareyou,  // a WHOAREYOU (the first half of a handshake)
  kV5Handshake,  // handshake packet carrying a PING: session + PONG
  kNothing,      // garbage: must be dropped silently
};
struct Input {
  std::uint32_t offset = 0;  // into Workload::arena
  std::uint16_t length = 0;
  Expect expect = Expect::kNothing;
  std::uint32_t identity = 0;
  std::uint64_t req_id = 0;      // discv5 requests
  std::uint16_t record_len = 0;  // handshake: ENR bytes carried (0: none)
};

// One scenario's prepared engine and inputs.
struct Workload {
  std::string name;
  std::unique_ptr<RealClock> clock;
  std::unique_ptr<crypto::RandomSource> rng;
  std::unique_ptr<disc::DiscoveryServer> server;
  std::vector<Identity> ids;
  Bytes arena;
  std::vector<Input> inputs;
  bool closed_loop_handshake = false;  // v5-handshake: the generator answers WHOAREYOUs
  bool omit_record = false;            // handshake: send no ENR when the engine knows ours
  std::size_t sessions_setup = 0;      // handshakes done before the measured phase
  double rss_per_session = 0;          // heap bytes per session (mallinfo2 delta over the set-up)
  std::size_t session_slot_bytes = 0;  // reserved per session slot (keys inline), see lru_map.h
  std::size_t table_size = 0;
  ByteView payload(const Input& in) const { return ByteView(arena).subspan(in.offset, in.length); }
  void add(ByteView bytes, Expect expect, std::uint32_t identity, std::uint64_t req_id = 0,
           std::uint16_t record_len = 0);
  std::unique_ptr<crypto::RandomSource> gen_rng;  // the generator's own randomness
  std::optional<crypto::AesCtr128> to_engine;     // masks headers of packets to the engine
  crypto::PublicKey engine_pub{};
  NodeId engine_id{};
};

struct Options {
  std::size_t count = 0;  // 0: scenario default
  std::uint32_t ids = 2048;
  bool smoke = false;
  disc::TableObserver* table_observer = nullptr;  // --workers: a non-owner shard's update ring
  disc::ShardRouter* shard_router = nullptr;      // --workers: the owner's
};

// Transport for the engine's own set-up traffic: collects what it sends.
struct Sent {
  Bytes payload;
  Endpoint to;
};
class CollectTransport final : public disc::Transport {
 public:
  MutableByteView acquire_tx_buffer() noexcept override { return buffer_; }
  void commit_tx(std::size_t length, const Endpoint& to) noexcept override {
    sent.push_back(Sent{Bytes(buffer_.begin(), buffer_.begin() + static_cast<long>(length)), to});
  }
  std::vector<Sent> take() {
    std::vector<Sent> out;
    out.swap(sent);
    return out;
  }
  std::vector<Sent> sent;

 private:
  std::array<std::uint8_t, disc::kMaxPacketSize> buffer_{};
};

// Builds the scenario: engine, identities, set-up (bonds, handshakes, table), inputs.
// Scenarios: v4-ping, v4-ping-unbonded, v4-findnode, v5-ping, v5-findnode, v5-handshake,
// v5-handshake-known, garbage, mixed.
std::unique_ptr<Workload> make_workload(const std::string& scenario, const Options& opt);
const std::vector<std::string>& scenario_names();

// Handshake generator half: answers a WHOAREYOU for identity `id` with a handshake packet
// carrying a PING (req-id `req_id`). Keys go into the identity.
Bytes answer_whoareyou(Workload& w, Identity& id, ByteView whoareyou, std::uint64_t req_id,
                       bool* with_record = nullptr);

// ---- responses
// ----------------------------------------------------------------------------------- Counts what
// the engine sent and keeps a sample (copied, no allocation) for checking after the measured phase.
// `pending` maps identity -> input index of its last request in flight.
struct Sample {
  std::array<std::uint8_t, disc::kMaxPacketSize> bytes{};
  std::uint16_t length = 0;
  std::uint32_t input = 0;
};
class Responses {
 public:
  Responses(std::size_t identities, std::size_t sample_capacity, std::size_t sample_every);
  void on_response(ByteView payload, const Endpoint& to) noexcept;
  std::uint64_t count = 0;
  std::uint64_t unmatched = 0;  // to an address that is no identity
  // By the kind of request answered (for the floor): discv4 answers (signed), discv5
  // session messages (sealed), WHOAREYOUs (masked only).
  std::uint64_t v4_count = 0, v4_bytes = 0, v5_count = 0, v5_bytes = 0, whoareyou_count = 0;
  const std::vector<Input>* inputs = nullptr;
  std::vector<std::int64_t> pending;
  std::vector<Sample> samples;
  std::size_t sample_used = 0;
  // Handshake rounds: every WHOAREYOU of the current burst is kept (by identity).
  bool keep_all = false;
  std::vector<std::pair<std::uint32_t, Bytes>> kept;
  std::size_t kept_used = 0;

 private:
  std::size_t every_;
};

struct CheckResult {
  std::uint64_t checked = 0;
  std::uint64_t failed = 0;
  std::string first_failure;
  std::uint64_t nodes_total_seen = 0;  // v5 NODES 'total' of the sampled responses (max)
  std::uint64_t records_seen = 0;
};
CheckResult check_samples(const Workload& w, const Responses& r);

// ---- paths -----------------------------------------------------------------------------------
// A path delivers one burst (<= 32 inputs) to the engine and hands every datagram the
// engine sent back to `out`. Timing covers only the engine's side (on_burst, or
// DpdkPort::run_once): CPU time of this thread plus rdtsc for latency.
struct BurstTiming {
  std::int64_t cpu_ns = 0;
  std::uint64_t tsc = 0;  // wall cycles of the burst (latency)
};
class Path {
 public:
  virtual ~Path() = default;
  virtual const char* name() const = 0;
  virtual BurstTiming exchange(Workload& w, std::span<const Input* const> burst,
                               Responses& out) = 0;
  // Half-load latency: inputs offered at `rate` per second (open loop, one thread); fills
  // per-packet latencies in tsc cycles (scheduled arrival to response out). False: no support.
  virtual bool paced(Workload&, std::span<const Input>, double /*rate*/, Responses&,
                     std::vector<std::uint64_t>& /*latency*/) {
    return false;
  }
};
std::unique_ptr<Path> make_direct_path();
// nullptr (with a message on stderr) when DPDK cannot start.
std::unique_ptr<Path> make_ring_path(bool nic_checksum_offload);
std::unique_ptr<Path> make_socket_path();

// ---- the crypto floor
// ------------------------------------------------------------------------------
struct FloorOps {
  // ns per operation (median of 5 repetitions, thread CPU time)
  double recover = 0, sign = 0, verify = 0, ecdh = 0, parse33 = 0, parse64 = 0, hkdf = 0;
  double sha256_155 = 0, random16 = 0, gcm_key = 0, ctr_key = 0;
  double keccak(std::size_t len) const;    // interpolated per 136-byte block
  double gcm_seal(std::size_t len) const;  // 71-byte AD
  double gcm_open(std::size_t len) const;
  double ctr(std::size_t len) const;
  double keccak_base = 0, keccak_block = 0;  // ns = base + block * blocks
  double seal_base = 0, seal_per_byte = 0, open_base = 0, open_per_byte = 0;
  double ctr_base = 0, ctr_per_byte = 0;
};
FloorOps measure_floor(bool quick);

// ---- target mode (target.cc): drives external nodes over loopback UDP ---------------------
// `discbench --target=NAME,URL[,PID] ...`; see target.cc for the options and the method.
int target_main(int argc, char** argv);
// ---- --workers (multicore.cc) ---------------------------------------------------------------
// The sharded runtime over net_ring, one queue pair per worker, for each worker count in `ns`.
int run_workers(const std::vector<std::string>& scenarios, const std::vector<std::uint32_t>& ns,
                const Options& opt, std::size_t round, bool serial);

}  // namespace discbench
