// discbench: discplane's load generator. Drives the engine in-process with pre-built traffic
// from synthetic identities and reports packets/s, cycles per packet, latency percentiles,
// allocations in the measured phase and the ratio to the crypto floor measured in the same
// run.
//
//   discbench [SCENARIO|all ...] [--path=direct,ring,ring+csum,socket] [--count=N] [--ids=N]
//             [--json[=FILE]] [--smoke]
//   discbench floor [--json]   (the floor's primitives, then every scenario on the direct
//                               path with its ratio to the floor)
//
// Scenarios: v4-ping, v4-ping-unbonded, v4-findnode, v5-ping, v5-findnode, v5-handshake,
// v5-handshake-known, garbage, mixed. --smoke: tiny counts, exits non-zero when an answer is
// wrong or missing (the CI entry); it never checks a speed.
//
//   discbench --target=NAME,URL[,PID] ... [SCENARIO...]   (external nodes over loopback UDP:
//                                                           target.cc, scripts/side-by-side.sh)
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "discplane/discovery/peer_table.h"
#include "discplane/wire/v5wire.h"

#include "bench.h"

using namespace discbench;

namespace {

struct Percentiles {
  double p50 = 0, p99 = 0, p999 = 0;  // microseconds
};
Percentiles percentiles(std::vector<std::uint64_t> tsc) {
  Percentiles p;
  if (tsc.empty()) {
    return p;
  }
  std::sort(tsc.begin(), tsc.end());
  auto at = [&](double q) {
    const auto i = static_cast<std::size_t>(q * static_cast<double>(tsc.size() - 1));
    return static_cast<double>(tsc[i]) * 1e6 / tsc_hz();
  };
  p.p50 = at(0.5);
  p.p99 = at(0.99);
  p.p999 = at(0.999);
  return p;
}

struct RunResult {
  std::string scenario;
  std::string path;
  std::string unit = "pkt";   // pkt, or handshake
  std::size_t units = 0;      // packets (or handshakes) measured
  std::size_t responses = 0;  // datagrams the engine sent
  double cpu_s = 0;
  double rate = 0;         // units per CPU second, whole run
  double rate_median = 0;  // median of 5 chunks
  // The fastest chunk: on a shared machine other tenants only ever slow a chunk down, so
  // this is the steadiest estimate of the code's own cost (as the minimum in microbenchmarks).
  double rate_best = 0;
  double cycles_per_unit = 0;
  Percentiles burst;  // per burst of 32 at peak
  Percentiles half;   // ring path, offered at half the measured rate
  std::size_t half_samples = 0;
  double half_rate = 0;
  std::uint64_t allocations = 0;
  double floor_ns = 0;  // crypto floor per unit
  CheckResult check;
  std::size_t table_size = 0;
  std::size_t sessions = 0;
  double rss_per_session = 0;
  std::size_t session_slot_bytes = 0;
  std::uint64_t engine_drops = 0;
  std::string drops_text;
};

// ns of unavoidable crypto for one input and for the answers counted in `r`.
double input_floor(const FloorOps& f, const Input& in) {
  const std::size_t len = in.length;
  switch (in.expect) {
    case Expect::kV4Pong:
      return f.keccak(len - 32) + f.recover;
    case Expect::kV4Neighbors:
      return f.keccak(len - 32) + f.recover + f.keccak(64);
    case Expect::kV5Pong:
    case Expect::kV5Nodes:
      return f.ctr(55) + f.gcm_open(len - 71 - 16);
    case Expect::kV5Whoareyou:
      return f.ctr(55) + f.ctr_key + f.random16;
    case Expect::kV5Handshake: {
      const std::size_t header = 23 + v5wire::kHandshakeAuthdataMinSize + in.record_len;
      double ns = f.ctr(header - 16 + 16) + f.parse33 + f.ecdh + f.sha256_155 + f.parse64 +
                  f.verify + f.hkdf + 2 * f.gcm_key + f.ctr_key +
                  f.gcm_open(len > header + 16 + 16 ? len - header - 16 - 16 : 1);
      if (in.record_len > 0) {  // ENR: keccak of the content, compressed key, signature
        ns += f.keccak(in.record_len - 67) + f.parse33 + f.verify;
      }
      return ns;
    }
    case Expect::kNothing:
      return len >= 63 ? f.ctr(23) : 0.0;
  }
  return 0;
}
double response_floor(const FloorOps& f, const Responses& r) {
  double ns = 0;
  if (r.v4_count > 0) {
    const double mean = static_cast<double>(r.v4_bytes) / static_cast<double>(r.v4_count);
    ns +=
        static_cast<double>(r.v4_count) * (f.sign + f.keccak(static_cast<std::size_t>(mean) - 32));
  }
  if (r.v5_count > 0) {
    const double mean = static_cast<double>(r.v5_bytes) / static_cast<double>(r.v5_count);
    ns += static_cast<double>(r.v5_count) *
          (f.gcm_seal(static_cast<std::size_t>(std::max(1.0, mean - 71 - 16))) + f.ctr(55));
  }
  ns += static_cast<double>(r.whoareyou_count) * f.ctr(47);
  return ns;
}

std::string drops_of(const disc::Counters& c, std::uint64_t& total) {
  std::string s;
  total = 0;
  for (std::size_t i = 0; i < c.drops.size(); ++i) {
    if (c.drops[i] != 0) {
      total += c.drops[i];
      s += std::string(disc::to_string(static_cast<disc::Drop>(i))) + "=" +
           std::to_string(c.drops[i]) + " ";
    }
  }
  return s;
}

RunResult run(const std::string& scenario, Path& path, const Options& opt, const FloorOps& floor) {
  auto w = make_workload(scenario, opt);
  const disc::Counters before = w->server->counters();
  RunResult res;
  res.scenario = scenario;
  res.path = path.name();
  res.table_size = w->table_size;
  res.sessions = w->sessions_setup;
  res.rss_per_session = w->rss_per_session;
  res.session_slot_bytes = w->session_slot_bytes;

  const std::size_t n_in = w->inputs.size();
  const std::size_t identities = std::max<std::size_t>(w->ids.size(), 1024);
  Responses resp(identities, 512, std::max<std::size_t>(1, n_in / 256));
  resp.inputs = &w->inputs;
  std::vector<std::uint64_t> burst_tsc;
  std::vector<double> chunk_rate;
  double floor_total = 0;
  std::int64_t cpu_total = 0;
  const std::uint64_t alloc0 = allocations();

  if (w->closed_loop_handshake) {
    res.unit = "handshake";
    std::uint64_t req = 1ULL << 50;
    std::size_t done = 0;
    std::int64_t chunk_cpu = 0;
    std::size_t chunk_units = 0;
    const std::size_t chunk = std::max<std::size_t>(32, n_in / 5);
    for (std::size_t start = 0; start < n_in; start += 32) {
      std::array<const Input*, 32> a{};
      const std::size_t n = std::min<std::size_t>(32, n_in - start);
      for (std::size_t i = 0; i < n; ++i) {
        a[i] = &w->inputs[start + i];
        floor_total += input_floor(floor, *a[i]);
      }
      resp.keep_all = true;
      resp.kept_used = 0;
      const BurstTiming ta = path.exchange(*w, std::span<const Input* const>(a.data(), n), resp);
      resp.keep_all = false;
      // The generator's half (untimed): answer each WHOAREYOU.
      const std::size_t first = w->inputs.size();
      for (std::size_t k = 0; k < resp.kept_used; ++k) {
        const std::uint32_t idx = resp.kept[k].first;
        Identity& id = w->ids[idx];
        bool with_record = true;
        const Bytes hs = answer_whoareyou(*w, id, resp.kept[k].second, ++req, &with_record);
        w->add(hs, Expect::kV5Handshake, idx, req,
               with_record ? static_cast<std::uint16_t>(id.record.raw().size()) : 0);
      }
      std::array<const Input*, 32> b{};
      const std::size_t m = w->inputs.size() - first;
      for (std::size_t i = 0; i < m; ++i) {
        b[i] = &w->inputs[first + i];
        floor_total += input_floor(floor, *b[i]);
      }
      const BurstTiming tb = path.exchange(*w, std::span<const Input* const>(b.data(), m), resp);
      burst_tsc.push_back(ta.tsc + tb.tsc);
      cpu_total += ta.cpu_ns + tb.cpu_ns;
      chunk_cpu += ta.cpu_ns + tb.cpu_ns;
      chunk_units += m;
      done += m;
      if (chunk_units >= chunk) {
        chunk_rate.push_back(static_cast<double>(chunk_units) * 1e9 /
                             static_cast<double>(chunk_cpu));
        chunk_cpu = 0;
        chunk_units = 0;
      }
    }
    res.units = done;
  } else {
    // Peak: the first 70 % of the inputs back to back in bursts of 32; the ring path then
    // offers the rest at half the measured rate for latency.
    const std::size_t peak_n =
        path.name() == std::string("direct") || std::string(path.name()) == "socket"
            ? n_in
            : std::max<std::size_t>(32, n_in * 7 / 10);
    const std::size_t chunk = std::max<std::size_t>(32, peak_n / 5);
    std::int64_t chunk_cpu = 0;
    std::size_t chunk_units = 0;
    const std::uint64_t loop_start = rdtsc();
    for (std::size_t start = 0; start < peak_n; start += 32) {
      std::array<const Input*, 32> a{};
      const std::size_t n = std::min<std::size_t>(32, peak_n - start);
      for (std::size_t i = 0; i < n; ++i) {
        a[i] = &w->inputs[start + i];
      }
      const BurstTiming t = path.exchange(*w, std::span<const Input* const>(a.data(), n), resp);
      burst_tsc.push_back(t.tsc);
      cpu_total += t.cpu_ns;
      chunk_cpu += t.cpu_ns;
      chunk_units += n;
      if (chunk_units >= chunk) {
        chunk_rate.push_back(static_cast<double>(chunk_units) * 1e9 /
                             static_cast<double>(std::max<std::int64_t>(1, chunk_cpu)));
        chunk_cpu = 0;
        chunk_units = 0;
      }
    }
    const std::uint64_t loop_tsc = rdtsc() - loop_start;
    res.units = peak_n;
    for (std::size_t i = 0; i < peak_n; ++i) {
      floor_total += input_floor(floor, w->inputs[i]);
    }
    res.allocations = allocations() - alloc0;
    if (peak_n < n_in) {
      // Half of the peak of the whole single-threaded loop (generator + engine) in wall
      // time: on a shared machine the thread gets less than a core, and the generator's
      // frame building shares it, so half of the engine's CPU-time rate would overload it.
      const double rate = 0.5 * static_cast<double>(peak_n) * tsc_hz() /
                          static_cast<double>(std::max<std::uint64_t>(1, loop_tsc));
      res.half_rate = rate;
      std::vector<std::uint64_t> lat;
      Responses half(identities, 0, 1);
      half.inputs = &w->inputs;
      if (path.paced(*w, std::span<const Input>(w->inputs).subspan(peak_n), rate, half, lat)) {
        res.half = percentiles(lat);
        res.half_samples = lat.size();
      }
    }
  }
  if (res.allocations == 0) {
    res.allocations = allocations() - alloc0;
  }
  floor_total += response_floor(floor, resp);
  res.responses = resp.count;
  res.cpu_s = static_cast<double>(cpu_total) / 1e9;
  res.rate = static_cast<double>(res.units) / std::max(1e-9, res.cpu_s);
  if (!chunk_rate.empty()) {
    std::sort(chunk_rate.begin(), chunk_rate.end());
    res.rate_median = chunk_rate[chunk_rate.size() / 2];
    res.rate_best = chunk_rate.back();
  } else {
    res.rate_median = res.rate;
    res.rate_best = res.rate;
  }
  res.cycles_per_unit = tsc_hz() / res.rate;
  res.burst = percentiles(burst_tsc);
  res.floor_ns = floor_total / static_cast<double>(std::max<std::size_t>(1, res.units));
  res.check = check_samples(*w, resp);
  if (resp.unmatched > 0) {
    ++res.check.failed;
    res.check.first_failure = std::to_string(resp.unmatched) + " answers to unknown addresses";
  }
  disc::Counters delta = w->server->counters();
  for (std::size_t i = 0; i < delta.drops.size(); ++i) {
    delta.drops[i] -= before.drops[i];
  }
  res.drops_text = drops_of(delta, res.engine_drops);
  return res;
}

// What a scenario must answer, checked in --smoke (and reported otherwise).
std::string expectation_failure(const RunResult& r) {
  if (r.check.failed > 0) {
    return r.check.first_failure;
  }
  const double per_input =
      static_cast<double>(r.responses) / static_cast<double>(std::max<std::size_t>(1, r.units));
  if (r.scenario == "garbage") {
    return r.responses == 0 ? "" : "garbage answered";
  }
  if (r.scenario == "v4-ping" || r.scenario == "v5-ping") {
    return per_input == 1.0 ? "" : "not exactly one answer per ping";
  }
  if (r.scenario.find("handshake") != std::string::npos) {
    return r.responses == 2 * r.units && r.units > 0 ? "" : "handshake answers missing";
  }
  if (r.check.checked == 0) {
    return "no answer sampled";
  }
  return per_input >= 1.0 || r.scenario == "mixed" ? "" : "answers missing";
}

void print_header() {
  std::printf("%-19s %-9s %9s %8s %9s %9s %7s %8s %8s %8s %7s %9s %6s %s\n", "scenario", "path",
              "units", "ans/in", "rate/s", "best/s", "Mcyc/u", "p50us", "p99us", "p99.9us",
              "alloc/u", "floor/s", "ratio", "check");
}
void print_row(const RunResult& r) {
  const double floor_rate = r.floor_ns > 0 ? 1e9 / r.floor_ns : 0;
  std::printf(
      "%-19s %-9s %9zu %8.2f %9.0f %9.0f %7.4f %8.1f %8.1f %8.1f %7.3f %9.0f %6.3f %s\n",
      r.scenario.c_str(), r.path.c_str(), r.units,
      static_cast<double>(r.responses) / static_cast<double>(std::max<std::size_t>(1, r.units)),
      r.rate_median, r.rate_best, r.cycles_per_unit / 1e6, r.burst.p50, r.burst.p99, r.burst.p999,
      static_cast<double>(r.allocations) / static_cast<double>(std::max<std::size_t>(1, r.units)),
      floor_rate, floor_rate > 0 ? r.rate_median / floor_rate : 0.0,
      r.check.failed == 0 ? ("ok " + std::to_string(r.check.checked)).c_str()
                          : ("FAIL: " + r.check.first_failure).c_str());
  if (r.half_samples > 0) {
    std::printf(
        "%-19s %-9s   latency at half load (%zu pkts): p50 %.1f us  p99 %.1f us  p99.9 %.1f us\n",
        "", "", r.half_samples, r.half.p50, r.half.p99, r.half.p999);
  }
  if (!r.drops_text.empty()) {
    std::printf("%-19s %-9s   engine drops: %s\n", "", "", r.drops_text.c_str());
  }
}

nlohmann::json to_json(const RunResult& r) {
  return {
      {"scenario", r.scenario},
      {"path", r.path},
      {"unit", r.unit},
      {"units", r.units},
      {"responses", r.responses},
      {"cpu_s", r.cpu_s},
      {"rate_per_s", r.rate},
      {"rate_median_per_s", r.rate_median},
      {"rate_best_chunk_per_s", r.rate_best},
      {"cycles_per_unit", r.cycles_per_unit},
      {"burst_latency_us", {{"p50", r.burst.p50}, {"p99", r.burst.p99}, {"p999", r.burst.p999}}},
      {"half_load_latency_us",
       {{"samples", r.half_samples},
        {"p50", r.half.p50},
        {"p99", r.half.p99},
        {"p999", r.half.p999}}},
      {"allocations", r.allocations},
      {"floor_ns_per_unit", r.floor_ns},
      {"ratio_to_floor", r.floor_ns > 0 ? r.rate_median * r.floor_ns / 1e9 : 0.0},
      {"checked", r.check.checked},
      {"check_failed", r.check.failed},
      {"first_failure", r.check.first_failure},
      {"table_size", r.table_size},
      {"sessions", r.sessions},
      {"heap_per_session_bytes", r.rss_per_session},
      {"session_slot_bytes", r.session_slot_bytes},
      {"engine_drops", r.engine_drops}};
}

int usage() {
  std::fprintf(
      stderr,
      "usage: discbench [floor|all|SCENARIO...] [--path=direct,ring,ring+csum,socket]\n"
      "                 [--count=N] [--ids=N] [--json[=FILE]] [--smoke]\n"
      "       discbench SCENARIO... --workers=1,2 [--round=512] [--serial] [--count=N] [--ids=N]\n"
      "                 (the sharded runtime over net_ring, see BENCHMARKS.md)\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--target=", 9) == 0) {
      return target_main(argc, argv);
    }
  }
  Options opt;
  std::vector<std::string> scenarios;
  std::vector<std::string> paths{"direct", "ring"};
  bool json = false;
  bool floor_only = false;
  std::string json_file;
  std::vector<std::uint32_t> workers;  // --workers=1,2: the sharded runtime (multicore.cc)
  std::size_t round = 512;
  bool serial = false;  // --workers diagnostic: the workers of a phase run one at a time
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--smoke") {
      opt.smoke = true;
    } else if (a.rfind("--count=", 0) == 0) {
      opt.count = std::strtoull(a.c_str() + 8, nullptr, 10);
    } else if (a.rfind("--ids=", 0) == 0) {
      opt.ids = static_cast<std::uint32_t>(std::strtoul(a.c_str() + 6, nullptr, 10));
    } else if (a.rfind("--path=", 0) == 0) {
      paths.clear();
      std::string list = a.substr(7);
      for (std::size_t p = 0; p != std::string::npos;) {
        const std::size_t q = list.find(',', p);
        paths.push_back(list.substr(p, q == std::string::npos ? q : q - p));
        p = q == std::string::npos ? q : q + 1;
      }
    } else if (a.rfind("--workers=", 0) == 0) {
      for (std::size_t p = 10; p != std::string::npos && p < a.size();) {
        const std::size_t q = a.find(',', p);
        workers.push_back(static_cast<std::uint32_t>(
            std::strtoul(a.substr(p, q == std::string::npos ? q : q - p).c_str(), nullptr, 10)));
        p = q == std::string::npos ? q : q + 1;
      }
    } else if (a == "--serial") {
      serial = true;
    } else if (a.rfind("--round=", 0) == 0) {
      round = std::strtoull(a.c_str() + 8, nullptr, 10);
    } else if (a == "--json") {
      json = true;
    } else if (a.rfind("--json=", 0) == 0) {
      json = true;
      json_file = a.substr(7);
    } else if (a == "floor") {
      floor_only = true;
    } else if (a == "all") {
      scenarios = scenario_names();
    } else if (std::find(scenario_names().begin(), scenario_names().end(), a) !=
               scenario_names().end()) {
      scenarios.push_back(a);
    } else {
      return usage();
    }
  }
  if (scenarios.empty()) {
    scenarios = scenario_names();
  }
  if (floor_only) {
    paths = {"direct"};
  }
  if (opt.smoke) {
    opt.count = opt.count != 0 ? opt.count : 96;
    opt.ids = std::min<std::uint32_t>(opt.ids, 64);
  }
  if (opt.ids == 0 || opt.ids > 8192) {
    std::fprintf(stderr, "discbench: --ids must be 1..8192 (the engine keeps 8192 sessions)\n");
    return 2;
  }

  if (!workers.empty()) {
    for (const std::uint32_t n : workers) {
      if (n == 0 || n > 16) {
        std::fprintf(stderr, "discbench: --workers takes counts 1..16\n");
        return 2;
      }
    }
    if (round == 0 || round > 4096) {
      std::fprintf(stderr, "discbench: --round must be 1..4096\n");
      return 2;
    }
    return run_workers(scenarios, workers, opt, round, serial);
  }

  std::printf("discbench: tsc %.2f GHz, %u identities, sizeof(PeerEntry) = %zu bytes\n",
              tsc_hz() / 1e9, opt.ids, sizeof(disc::PeerEntry));
  const FloorOps f = measure_floor(opt.smoke);
  std::printf(
      "crypto floor (ns, thread CPU, median of 5): recover %.0f  sign %.0f  verify %.0f  ecdh %.0f"
      "  parse33 %.0f  keccak(100B) %.0f  keccak(1200B) %.0f  hkdf %.0f  sha256(155B) %.0f\n"
      "  gcm seal 20B %.0f / 1000B %.0f  open 20B %.0f  ctr 55B %.0f  gcm key %.0f  ctr key %.0f"
      "  random16 %.0f\n",
      f.recover, f.sign, f.verify, f.ecdh, f.parse33, f.keccak(100), f.keccak(1200), f.hkdf,
      f.sha256_155, f.gcm_seal(20), f.gcm_seal(1000), f.gcm_open(20), f.ctr(55), f.gcm_key,
      f.ctr_key, f.random16);

  std::vector<std::unique_ptr<Path>> made;
  for (const std::string& p : paths) {
    std::unique_ptr<Path> path;
    if (p == "direct") {
      path = make_direct_path();
    } else if (p == "ring" || p == "ring+csum") {
      path = make_ring_path(p == "ring+csum");
    } else if (p == "socket") {
      path = make_socket_path();
    } else {
      return usage();
    }
    if (!path) {
      return 1;
    }
    made.push_back(std::move(path));
  }

  nlohmann::json out = nlohmann::json::object();
  out["tsc_hz"] = tsc_hz();
  out["identities"] = opt.ids;
  out["sizeof_peer_entry"] = sizeof(disc::PeerEntry);
  out["floor_ns"] = {{"recover", f.recover},
                     {"sign", f.sign},
                     {"verify", f.verify},
                     {"ecdh", f.ecdh},
                     {"parse33", f.parse33},
                     {"keccak_100", f.keccak(100)},
                     {"hkdf", f.hkdf},
                     {"gcm_seal_20", f.gcm_seal(20)},
                     {"gcm_open_20", f.gcm_open(20)},
                     {"ctr_55", f.ctr(55)}};
  out["runs"] = nlohmann::json::array();
  print_header();
  int failures = 0;
  for (const std::string& s : scenarios) {
    for (auto& path : made) {
      const RunResult r = run(s, *path, opt, f);
      print_row(r);
      std::fflush(stdout);
      if (r.sessions > 0 && path.get() == made.front().get()) {
        std::printf(
            "%-19s %-9s   %zu sessions set up: %zu bytes per session slot (keys inline), heap "
            "%.0f bytes per session, table %zu\n",
            "", "", r.sessions, r.session_slot_bytes, r.rss_per_session, r.table_size);
      }
      const std::string why = expectation_failure(r);
      if (!why.empty()) {
        std::printf("%-19s %-9s   WRONG: %s\n", "", "", why.c_str());
        ++failures;
      }
      out["runs"].push_back(to_json(r));
    }
  }
  if (json) {
    const std::string text = out.dump(2);
    if (json_file.empty()) {
      std::cout << text << "\n";
    } else {
      std::ofstream(json_file) << text << "\n";
    }
  }
  return failures == 0 ? 0 : 1;
}
