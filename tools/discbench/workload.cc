// discbench scenarios: synthetic identities, the engine's set-up (bonds, handshakes, a
// filled table) and the pre-built inputs of each scenario; response sampling and the
// checks run on the samples after the measured phase.
#include <malloc.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "discplane/crypto/keccak.h"
#include "discplane/crypto/random.h"
#include "discplane/wire/v4wire.h"
#include "discplane/wire/v5wire.h"

#include "bench.h"

namespace discbench {

crypto::PrivateKey key_from_seed(std::uint64_t seed) {
  crypto::DeterministicRandom rng(seed);
  crypto::PrivateKey k{};
  do {
    rng.fill(k);
  } while (!crypto::is_valid_private_key(k));
  return k;
}

namespace {
[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "discbench: %s\n", what.c_str());
  std::exit(1);
}

const Endpoint kEngine{IpAddress::v4(10, 0, 0, 2), 30303};

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::vector<Sent> deliver(Workload& w, ByteView payload, const Endpoint& from) {
  CollectTransport tx;
  const disc::Datagram d{payload, from};
  w.server->on_burst(std::span<const disc::Datagram>(&d, 1), tx);
  return tx.take();
}

// ---- discv4 ----
Bytes v4_ping(const Identity& id, std::uint64_t expiration) {
  v4wire::Ping p;
  p.from = {id.ep.ip, id.ep.port, id.ep.port};
  p.to = {kEngine.ip, kEngine.port, 0};
  p.expiration = expiration;
  Bytes out(1280);
  auto enc = v4wire::encode_ping(id.key, p, out);
  if (!enc) {
    die("encode_ping failed");
  }
  out.resize(enc->size);
  return out;
}

// Ping, then answer the engine's ping with a pong: an endpoint proof both ways.
void bond(Workload& w, const Identity& id, std::uint64_t expiration) {
  Hash256 engine_ping{};
  for (const Sent& s : deliver(w, v4_ping(id, expiration), id.ep)) {
    auto p = v4wire::decode(s.payload);
    if (p && p->type == v4wire::PacketType::kPing) {
      engine_ping = p->hash;
    }
  }
  v4wire::Pong pong;
  pong.to = {kEngine.ip, kEngine.port, 0};
  pong.ping_hash = engine_ping;
  pong.expiration = expiration;
  Bytes out(1280);
  auto enc = v4wire::encode_pong(id.key, pong, out);
  if (!enc) {
    die("encode_pong failed");
  }
  out.resize(enc->size);
  (void)deliver(w, out, id.ep);
}

// ---- discv5 ----
v5wire::Nonce nonce_for(Identity& id, std::uint32_t index) {
  v5wire::Nonce n{};
  const std::uint32_t c = ++id.nonce_counter;
  std::memcpy(n.data(), &c, 4);
  std::memcpy(n.data() + 4, &index, 4);
  return n;
}
v5wire::MaskingIv iv_of(Workload& w) {
  v5wire::MaskingIv iv{};
  w.gen_rng->fill(iv);
  return iv;
}
Bytes random_packet(Workload& w, Identity& id, std::uint32_t index) {
  crypto::AesKey k{};
  w.gen_rng->fill(k);
  const crypto::AesGcm128 junk(k);
  const Bytes pt(20, 0x42);
  Bytes out(1280);
  auto p = v5wire::encode_message_packet(out, *w.to_engine, id.id, nonce_for(id, index), iv_of(w),
                                         junk, pt);
  if (!p) {
    die("encode random packet failed");
  }
  out.resize(p->size());
  return out;
}
Bytes ping_plaintext(std::uint64_t req_id) {
  std::array<std::uint8_t, 8> rid{};
  put_u64(rid, req_id);
  Bytes out(64);
  auto m = v5wire::encode_ping(out, rid, 1);
  if (!m) {
    die("encode_ping/v5 failed");
  }
  out.resize(m->size());
  return out;
}
Bytes session_packet(Workload& w, Identity& id, std::uint32_t index, ByteView plaintext) {
  Bytes out(1280);
  auto p = v5wire::encode_message_packet(out, *w.to_engine, id.id, nonce_for(id, index), iv_of(w),
                                         *id.write, plaintext);
  if (!p) {
    die("encode message packet failed");
  }
  out.resize(p->size());
  return out;
}

// Handshakes every identity with the engine (random packet, WHOAREYOU, handshake + PING).
void handshake_all(Workload& w) {
  std::uint64_t req = 1ULL << 40;
  const std::size_t heap_before = mallinfo2().uordblks;
  for (std::uint32_t i = 0; i < w.ids.size(); ++i) {
    Identity& id = w.ids[i];
    auto sent = deliver(w, id.random_packet, id.ep);
    if (sent.size() != 1) {
      die("set-up: no WHOAREYOU for identity " + std::to_string(i));
    }
    const Bytes hs = answer_whoareyou(w, id, sent[0].payload, ++req);
    if (deliver(w, hs, id.ep).size() != 1) {
      die("set-up: handshake not answered for identity " + std::to_string(i));
    }
  }
  w.sessions_setup = w.server->session_count();
  w.session_slot_bytes = w.server->bytes_per_session();
  if (w.sessions_setup > 0) {
    w.rss_per_session = static_cast<double>(mallinfo2().uordblks - heap_before) /
                        static_cast<double>(w.sessions_setup);
  }
}

Bytes findnode_plaintext(std::uint64_t req_id) {
  std::array<std::uint8_t, 8> rid{};
  put_u64(rid, req_id);
  const std::array<std::uint16_t, 3> distances{256, 255, 254};
  Bytes out(256);
  auto m = v5wire::encode_findnode(out, rid, distances);
  if (!m) {
    die("encode_findnode/v5 failed");
  }
  out.resize(m->size());
  return out;
}

Bytes v4_findnode(const Identity& id, std::uint64_t expiration, crypto::RandomSource& rng) {
  v4wire::FindNode f;
  rng.fill(f.target);
  f.expiration = expiration;
  Bytes out(1280);
  auto enc = v4wire::encode_findnode(id.key, f, out);
  if (!enc) {
    die("encode_findnode failed");
  }
  out.resize(enc->size);
  return out;
}

std::size_t default_count(const std::string& s) {
  if (s == "v4-ping" || s == "v4-ping-unbonded") {
    return 8192;
  }
  if (s == "v4-findnode") {
    return 4096;
  }
  if (s == "v5-ping") {
    return 262144;
  }
  if (s == "v5-findnode") {
    return 65536;
  }
  if (s == "garbage") {
    return 524288;
  }
  if (s == "mixed") {
    return 32768;
  }
  return 0;  // handshakes: one per identity
}
}  // namespace

// ---- clocks ----------------------------------------------------------------------------------
disc::Time RealClock::now() const noexcept {
  timespec m{};
  timespec r{};
  clock_gettime(CLOCK_MONOTONIC, &m);
  clock_gettime(CLOCK_REALTIME_COARSE, &r);
  return disc::Time{m.tv_sec * 1'000'000'000LL + m.tv_nsec, r.tv_sec};
}

double tsc_hz() {
  static const double hz = [] {
    const auto t0 = std::chrono::steady_clock::now();
    const std::uint64_t c0 = rdtsc();
    while (std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(50)) {
    }
    const std::uint64_t c1 = rdtsc();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return static_cast<double>(c1 - c0) / s;
  }();
  return hz;
}

std::int64_t cpu_clock_overhead_ns() {
  static const std::int64_t overhead = [] {
    std::int64_t best = 1'000'000;
    for (int i = 0; i < 2000; ++i) {
      const std::int64_t a = thread_cpu_ns();
      const std::int64_t b = thread_cpu_ns();
      best = std::min(best, b - a);
    }
    return best;
  }();
  return overhead;
}

std::size_t rss_bytes() {
  std::ifstream f("/proc/self/statm");
  std::size_t pages = 0;
  std::size_t resident = 0;
  f >> pages >> resident;
  return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

// ---- identities --------------------------------------------------------------------------------
Endpoint identity_endpoint(std::uint32_t i) {
  return Endpoint{IpAddress::v4(127, static_cast<std::uint8_t>(1 + (i >> 16)),
                                static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)),
                  kPeerPort};
}

std::int64_t identity_index(const Endpoint& ep) {
  if (!ep.ip.is_v4() || ep.port != kPeerPort || ep.ip.bytes[0] != 127 || ep.ip.bytes[1] == 0) {
    return -1;
  }
  return (static_cast<std::int64_t>(ep.ip.bytes[1] - 1) << 16) | (ep.ip.bytes[2] << 8) |
         ep.ip.bytes[3];
}

std::vector<Identity> make_identities(std::uint32_t first_seed, std::uint32_t count) {
  std::vector<Identity> ids(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    Identity& id = ids[i];
    id.key = key_from_seed(first_seed + i);
    id.pub = *crypto::derive_public_key(id.key);
    id.id = crypto::node_id_of(id.pub);
    id.ep = identity_endpoint(i);
    enr::Builder b;
    b.set_seq(1).set_ip(id.ep.ip).set_udp(id.ep.port);
    auto r = b.sign(id.key);
    if (!r) {
      die("ENR signing failed");
    }
    id.record = *r;
  }
  return ids;
}

void Workload::add(ByteView bytes, Expect expect, std::uint32_t identity, std::uint64_t req_id,
                   std::uint16_t record_len) {
  Input in;
  in.offset = static_cast<std::uint32_t>(arena.size());
  in.length = static_cast<std::uint16_t>(bytes.size());
  in.expect = expect;
  in.identity = identity;
  in.req_id = req_id;
  in.record_len = record_len;
  arena.insert(arena.end(), bytes.begin(), bytes.end());
  inputs.push_back(in);
}

Bytes answer_whoareyou(Workload& w, Identity& id, ByteView whoareyou, std::uint64_t req_id,
                       bool* with_record_out) {
  const crypto::AesCtr128 own(v5wire::masking_key(id.id));
  std::array<std::uint8_t, 1280> scratch{};
  auto h = v5wire::decode_header(whoareyou, own, scratch);
  if (!h || h->flag != v5wire::Flag::kWhoareyou) {
    die("expected a WHOAREYOU");
  }
  crypto::PrivateKey eph{};
  do {
    w.gen_rng->fill(eph);
  } while (!crypto::is_valid_private_key(eph));
  auto hs = v5wire::make_initiator_handshake(id.key, eph, w.engine_pub, id.id, w.engine_id,
                                             h->header_data);
  if (!hs) {
    die("make_initiator_handshake failed");
  }
  id.write.emplace(hs->keys.initiator_key);
  id.read.emplace(hs->keys.recipient_key);
  // The engine tells (enr-seq) whether it holds our record: then we send none.
  const bool with_record = !(w.omit_record && h->enr_seq == id.record.seq());
  if (with_record_out != nullptr) {
    *with_record_out = with_record;
  }
  const Bytes pt = ping_plaintext(req_id);
  Bytes out(1280);
  auto p = v5wire::encode_handshake(out, *w.to_engine, id.id, nonce_for(id, 0), iv_of(w),
                                    hs->id_signature, hs->eph_pubkey,
                                    with_record ? id.record.raw() : ByteView{}, *id.write, pt);
  if (!p) {
    die("encode_handshake failed");
  }
  out.resize(p->size());
  return out;
}

const std::vector<std::string>& scenario_names() {
  static const std::vector<std::string> names{
      "v4-ping",      "v4-ping-unbonded",   "v4-findnode", "v5-ping", "v5-findnode",
      "v5-handshake", "v5-handshake-known", "garbage",     "mixed"};
  return names;
}

std::unique_ptr<Workload> make_workload(const std::string& scenario, const Options& opt) {
  auto w = std::make_unique<Workload>();
  w->name = scenario;
  w->clock = std::make_unique<RealClock>();
  w->rng = std::make_unique<crypto::BulkRandom>();
  w->gen_rng = std::make_unique<crypto::DeterministicRandom>(0xd15cbe4c);
  disc::ServerConfig config;
  config.private_key = key_from_seed(1);
  config.udp_port = kEngine.port;
  config.ipv4 = kEngine.ip;
  config.table_observer = opt.table_observer;
  config.shard_router = opt.shard_router;
  // Sized for the benchmark, not the product defaults (1024 sessions, WHOAREYOU 2000/s and
  // 5/s per IP): every identity keeps its session, and the session map and WHOAREYOU limits
  // stay those the figures in BENCHMARKS.md were taken with.
  config.max_sessions = 8192;  // --ids is at most 8192 (main.cc)
  config.whoareyou_per_ip_rate = 4;
  config.whoareyou_per_ip_burst = disc::whoareyou_per_ip_burst_of(4);
  config.whoareyou_global_rate = 20000;
  config.whoareyou_global_burst = disc::whoareyou_global_burst_of(20000);
  // The synthetic identities sit in 127.1.0.0/16: exempt it from the table's IP limits, as
  // every loopback source was before the exemption became an explicit list.
  config.table.ip_limit_exempt = {*disc::Cidr::parse("127.0.0.0/8")};
  // Request limits so high they never refuse: the findnode scenarios measure the engine at
  // full rate, and still pay the limiter's two bucket look-ups per request.
  for (disc::RequestLimits* l : {&config.v4_request_limits, &config.v5_request_limits}) {
    l->per_ip_rate = l->per_ip_burst = l->per_node_rate = l->per_node_burst = 1u << 30;
  }
  w->server = std::make_unique<disc::DiscoveryServer>(config, *w->clock, *w->rng);
  w->engine_pub = w->server->local_public_key();
  w->engine_id = w->server->local_id();
  w->to_engine.emplace(v5wire::masking_key(w->engine_id));

  const std::size_t count = opt.count != 0 ? opt.count : default_count(scenario);
  const std::uint32_t n = opt.ids;
  const bool v4 = scenario.rfind("v4-", 0) == 0 || scenario == "mixed";
  const bool v5_sessions = scenario == "v5-ping" || scenario == "v5-findnode" ||
                           scenario == "v5-handshake-known" || scenario == "mixed";
  if (scenario != "garbage") {
    // Distinct seed ranges per scenario kind: no scenario meets another's keys.
    w->ids = make_identities(scenario == "v4-ping-unbonded" ? 200'000 : 100'000, n);
    for (std::uint32_t i = 0; i < n; ++i) {
      w->ids[i].random_packet = random_packet(*w, w->ids[i], i);
    }
  }
  const std::uint64_t base_exp = static_cast<std::uint64_t>(unix_now() + 3600);
  if (v4 && scenario != "v4-ping-unbonded") {
    for (std::uint32_t i = 0; i < n; ++i) {
      bond(*w, w->ids[i], base_exp - 1);
    }
  }
  if (v5_sessions) {
    handshake_all(*w);
  }
  w->arena.reserve(std::min<std::size_t>(count, 1 << 20) * 160 + 64 * 1024);
  w->inputs.reserve(count + 2 * n + 64);

  std::uint64_t req = 0;
  if (scenario == "v4-ping" || scenario == "v4-ping-unbonded") {
    for (std::size_t k = 0; k < count; ++k) {
      const auto i = static_cast<std::uint32_t>(k % n);
      // A distinct expiration per ping of a sender: distinct hashes, no replay drop.
      w->add(v4_ping(w->ids[i], base_exp + k / n), Expect::kV4Pong, i);
    }
  } else if (scenario == "v4-findnode") {
    for (std::size_t k = 0; k < count; ++k) {
      const auto i = static_cast<std::uint32_t>(k % n);
      w->add(v4_findnode(w->ids[i], base_exp + k / n, *w->gen_rng), Expect::kV4Neighbors, i);
    }
  } else if (scenario == "v5-ping" || scenario == "v5-findnode") {
    const bool ping = scenario == "v5-ping";
    for (std::size_t k = 0; k < count; ++k) {
      const auto i = static_cast<std::uint32_t>(k % n);
      ++req;
      const Bytes pt = ping ? ping_plaintext(req) : findnode_plaintext(req);
      w->add(session_packet(*w, w->ids[i], i, pt), ping ? Expect::kV5Pong : Expect::kV5Nodes, i,
             req);
    }
  } else if (scenario == "v5-handshake" || scenario == "v5-handshake-known") {
    // Closed loop: the random packets are the inputs; the driver answers each WHOAREYOU.
    w->closed_loop_handshake = true;
    w->omit_record = scenario == "v5-handshake-known";
    for (std::uint32_t i = 0; i < n; ++i) {
      w->add(w->ids[i].random_packet, Expect::kV5Whoareyou, i);
    }
  } else if (scenario == "garbage") {
    // Random bytes of every length 1..1280, 8 different buffers per length, from 1024
    // sources; the inputs cycle over them.
    crypto::DeterministicRandom rng(77);
    std::vector<std::pair<std::uint32_t, std::uint16_t>> bufs;
    for (int copy = 0; copy < 8; ++copy) {
      for (std::size_t len = 1; len <= disc::kMaxPacketSize; ++len) {
        Bytes b(len);
        rng.fill(b);
        bufs.emplace_back(static_cast<std::uint32_t>(w->arena.size()),
                          static_cast<std::uint16_t>(len));
        w->arena.insert(w->arena.end(), b.begin(), b.end());
      }
    }
    for (std::size_t k = 0; k < count; ++k) {
      Input in;
      const auto& [off, len] = bufs[(k * 7919) % bufs.size()];
      in.offset = off;
      in.length = len;
      in.expect = Expect::kNothing;
      in.identity = static_cast<std::uint32_t>(k % 1024);
      w->inputs.push_back(in);
    }
  } else if (scenario == "mixed") {
    // Per 10 packets: 2 discv4 pings (bonded), 5 discv5 pings, 1 discv5 FINDNODE,
    // 2 garbage.
    crypto::DeterministicRandom rng(78);
    for (std::size_t k = 0; k < count; ++k) {
      const auto i = static_cast<std::uint32_t>(k % n);
      switch (k % 10) {
        case 0:
        case 5:
          w->add(v4_ping(w->ids[i], base_exp + k / n), Expect::kV4Pong, i);
          break;
        case 3:
          ++req;
          w->add(session_packet(*w, w->ids[i], i, findnode_plaintext(req)), Expect::kV5Nodes, i,
                 req);
          break;
        case 4:
        case 8: {
          Bytes b(1 + (k * 131) % disc::kMaxPacketSize);
          rng.fill(b);
          w->add(b, Expect::kNothing, i);
          break;
        }
        default:
          ++req;
          w->add(session_packet(*w, w->ids[i], i, ping_plaintext(req)), Expect::kV5Pong, i, req);
      }
    }
  } else {
    die("unknown scenario " + scenario);
  }
  w->table_size = w->server->table().size();
  return w;
}

// ---- responses
// -----------------------------------------------------------------------------------
Responses::Responses(std::size_t identities, std::size_t sample_capacity, std::size_t sample_every)
    : pending(identities, -1),
      samples(sample_capacity),
      every_(std::max<std::size_t>(1, sample_every)) {
  kept.resize(64);
  for (auto& k : kept) {
    k.second.reserve(disc::kMaxPacketSize);
  }
}

void Responses::on_response(ByteView payload, const Endpoint& to) noexcept {
  ++count;
  const std::int64_t idx = identity_index(to);
  if (idx < 0 || static_cast<std::size_t>(idx) >= pending.size()) {
    ++unmatched;
    return;
  }
  const std::int64_t input = pending[static_cast<std::size_t>(idx)];
  if (input >= 0 && inputs != nullptr) {
    switch ((*inputs)[static_cast<std::size_t>(input)].expect) {
      case Expect::kV4Pong:
      case Expect::kV4Neighbors:
        ++v4_count;
        v4_bytes += payload.size();
        break;
      case Expect::kV5Whoareyou:
        ++whoareyou_count;
        break;
      default:
        ++v5_count;
        v5_bytes += payload.size();
    }
  }
  if (keep_all && kept_used < kept.size()) {
    kept[kept_used].first = static_cast<std::uint32_t>(idx);
    kept[kept_used].second.assign(payload.begin(), payload.end());
    ++kept_used;
  }
  if (count % every_ == 0 && sample_used < samples.size() && input >= 0) {
    Sample& s = samples[sample_used++];
    std::memcpy(s.bytes.data(), payload.data(), payload.size());
    s.length = static_cast<std::uint16_t>(payload.size());
    s.input = static_cast<std::uint32_t>(input);
  }
}

CheckResult check_samples(const Workload& w, const Responses& r) {
  CheckResult out;
  auto fail = [&](const std::string& why) {
    ++out.failed;
    if (out.first_failure.empty()) {
      out.first_failure = why;
    }
  };
  std::array<std::uint8_t, 1280> scratch{};
  std::array<std::uint8_t, 1280> plain{};
  for (std::size_t i = 0; i < r.sample_used; ++i) {
    const Sample& s = r.samples[i];
    const ByteView bytes(s.bytes.data(), s.length);
    const Input& in = w.inputs[s.input];
    const Identity* id = in.identity < w.ids.size() ? &w.ids[in.identity] : nullptr;
    ++out.checked;
    switch (in.expect) {
      case Expect::kNothing:
        fail("garbage was answered");
        break;
      case Expect::kV4Pong:
      case Expect::kV4Neighbors: {
        auto p = v4wire::decode(bytes);
        if (!p || p->sender != w.engine_pub) {
          fail("discv4 answer does not decode or is not signed by the engine");
          break;
        }
        if (in.expect == Expect::kV4Pong) {
          if (p->type == v4wire::PacketType::kPing) {
            break;  // unbonded sender: our ping back
          }
          const auto* pong = std::get_if<v4wire::Pong>(&p->message);
          const Hash256 want = to_array<32>(w.payload(in).first(32));
          if (pong == nullptr || pong->ping_hash != want || pong->to.ip != id->ep.ip ||
              pong->to.udp != id->ep.port) {
            fail("PONG/v4 does not echo the ping hash or the sender's endpoint");
          }
        } else {
          const auto* nb = std::get_if<v4wire::Neighbors>(&p->message);
          if (nb == nullptr || nb->nodes.empty() ||
              nb->nodes.size() > v4wire::kMaxNeighborsPerPacket) {
            fail("NEIGHBORS missing or empty");
          } else {
            out.records_seen += nb->nodes.size();
          }
        }
        break;
      }
      case Expect::kV5Whoareyou: {
        const crypto::AesCtr128 own(v5wire::masking_key(id->id));
        auto h = v5wire::decode_header(bytes, own, scratch);
        if (!h || h->flag != v5wire::Flag::kWhoareyou) {
          fail("no WHOAREYOU for an undecryptable packet");
        }
        break;
      }
      case Expect::kV5Pong:
      case Expect::kV5Handshake:
      case Expect::kV5Nodes: {
        const crypto::AesCtr128 own(v5wire::masking_key(id->id));
        auto h = v5wire::decode_header(bytes, own, scratch);
        if (!h || h->flag != v5wire::Flag::kMessage || h->src_id != w.engine_id || !id->read) {
          fail("discv5 answer is not a message packet from the engine");
          break;
        }
        auto pt = v5wire::open_message(*h, *id->read, plain);
        auto m = pt ? v5wire::decode_message(*pt) : decltype(v5wire::decode_message(*pt)){};
        if (!pt || !m) {
          fail("discv5 answer does not decrypt with the session keys");
          break;
        }
        if (in.expect == Expect::kV5Nodes) {
          const auto* nodes = std::get_if<v5wire::Nodes>(&*m);
          if (nodes == nullptr || get_u64(nodes->req_id) != in.req_id || nodes->total < 1 ||
              nodes->records.size() > 16) {
            fail("NODES/v5 does not echo the req-id or has a bad total");
          } else {
            out.nodes_total_seen = std::max(out.nodes_total_seen, nodes->total);
            out.records_seen += nodes->records.size();
          }
        } else {
          const auto* pong = std::get_if<v5wire::Pong>(&*m);
          if (pong == nullptr || get_u64(pong->req_id) != in.req_id ||
              pong->recipient_ip != id->ep.ip || pong->recipient_port != id->ep.port) {
            fail("PONG/v5 does not echo the req-id or the sender's endpoint");
          }
        }
        break;
      }
    }
  }
  return out;
}

}  // namespace discbench
