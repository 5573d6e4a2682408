// Interoperability with real third-party clients: the discplane binary against ChainSafe's
// @chainsafe/discv5 (discv5.1) and ethereumjs' @ethereumjs/devp2p DPT (discv4), run by
// tests/interop/peers.mjs (see tests/interop/README.md). Scenarios:
//   1. discplane as the only bootnode of 12 discv5 + 14 discv4 JS nodes: they find each other.
//   2. discplane bootstraps from one JS node per protocol and its lookups find the others.
//   3. every request type in both directions where the libraries allow; handshakes both ways;
//      sessions re-established after a JS node restarts with the same key.
//   4. a JS node's new ENR (higher seq) reaches discplane, via PING and via PONG.
// Cores of 1 and 3 run again on the DPDK backend (net_tap inside a test-made namespace).
// Results for the README: tests/interop/RESULTS.md.
#include <catch2/catch.hpp>

#include "e2e/interop_harness.h"

namespace {

using namespace discplane::interop;

// peers.mjs and its node_modules must be there (the CI test command runs npm ci first).
bool js_harness_available() {
  const std::filesystem::path base = std::filesystem::path(DP_SOURCE_DIR) / "tests/interop";
  return std::filesystem::exists(base / "node_modules/@chainsafe/discv5") &&
         std::filesystem::exists(base / "node_modules/@ethereumjs/devp2p") &&
         run_command({"node", "--version"}) == 0;
}

#define REQUIRE_JS_HARNESS()                                                                   \
  do {                                                                                         \
    if (!js_harness_available()) {                                                             \
      FAIL("node or tests/interop/node_modules missing: run 'npm ci' in tests/interop first"); \
    }                                                                                          \
  } while (0)

std::string hexdump_ids(const std::vector<std::string>& ids) {
  std::string s;
  for (const auto& id : ids) {
    s += id.substr(0, 8) + " ";
  }
  return s;
}

// Where the JS nodes and discplane run.
struct Site {
  std::string name;  // log directory name
  std::string js_host = "127.0.0.1";
  std::optional<std::string> netns;
  DiscplaneOptions dp;  // backend, listen
  // Called after discplane printed its lines (DPDK: moves the tap into the namespace).
  std::function<void()> after_discplane_start;
};

// ---- Scenario 1: discplane as bootnode --------------------------------------------------
void bootnode_scenario(Site site, int v5, int v4) {
  const auto dir = log_dir(site.name);
  INFO("logs in " << dir.string());
  site.dp.mode = "bootnode";
  Discplane dp(site.dp, dir);
  if (site.after_discplane_start) {
    site.after_discplane_start();
  }
  JsOptions jo;
  jo.v5 = v5;
  jo.v4 = v4;
  jo.host = site.js_host;
  jo.netns = site.netns;
  jo.bootnodes = {dp.enr(), dp.enode()};
  jo.lookup_interval_ms = 1000;
  jo.v4_refresh_ms = 2000;
  JsPeers js(jo, dir);

  // Every JS node's table gains >= 3 nodes of its protocol other than discplane: all of them
  // came through discplane (the only bootnode). discplane's table holds every JS node.
  constexpr std::size_t kMinOthers = 3;
  std::string why;
  const bool converged = eventually(
      [&] {
        why.clear();
        Json t = js.tables();
        if (!t.value("ok", false)) {
          why = "table command failed";
          return false;
        }
        for (const auto& tab : t["tables"]) {
          std::size_t others = 0;
          for (const auto& id : tab["peers"]) {
            others += id != dp.id();
          }
          if (others < kMinOthers) {
            why += "node " + std::to_string(tab["node"].get<int>()) + " (" +
                   tab["proto"].get<std::string>() + ") knows " + std::to_string(others) +
                   " others; ";
          }
        }
        // discplane holds every JS node, up to the bucket size (16) per log-distance: the
        // rest wait in the replacement cache (often more than 16 sit at distance 256).
        auto peers = dp.peers();
        std::map<int, int> wanted;
        std::map<int, int> held;
        std::map<int, std::string> lacking;
        for (int k = 0; k < v5 + v4; ++k) {
          const int d = log_distance(dp.id(), js.id(k));
          ++wanted[d];
          if (Discplane::has(peers, js.id(k), k < v5 ? "v5" : "v4")) {
            ++held[d];
          } else {
            lacking[d] += std::to_string(k) + " ";
          }
        }
        for (const auto& [d, n] : wanted) {
          if (held[d] < std::min(n, 16)) {
            why += "discplane holds " + std::to_string(held[d]) + "/" + std::to_string(n) +
                   " at distance " + std::to_string(d) + " (lacks " + lacking[d] + "); ";
          }
        }
        return why.empty();
      },
      seconds(60));
  INFO("not converged: " << why);
  CHECK(converged);

  // Every JS node learned discplane too (it is in each table).
  Json t = js.tables();
  for (const auto& tab : t["tables"]) {
    bool has_dp = false;
    for (const auto& id : tab["peers"]) {
      has_dp = has_dp || id == dp.id();
    }
    INFO("JS node " << tab["node"] << " table lacks discplane");
    CHECK(has_dp);
  }

  // discv4 NEIGHBORS from discplane to an ethereumjs node: only discv4 nodes, and more than 12
  // of them when the table has that many (so the answer came in two packets).
  const int a = js.v4_index(0);
  Json r =
      js.cmd(Json{{"cmd", "findnode"}, {"node", a}, {"target", dp.enode()}, {"timeout_ms", 1500}});
  REQUIRE(r.value("ok", false));
  std::set<std::string> v4_ids;
  for (int i = 0; i < v4; ++i) {
    v4_ids.insert(js.id(js.v4_index(i)));
  }
  std::set<std::string> got;
  std::vector<std::string> not_v4;
  for (const auto& n : r["nodes"]) {
    got.insert(n.value("id", ""));
    if (v4_ids.count(n.value("id", "")) == 0) {
      not_v4.push_back(n.value("id", ""));
    }
  }
  INFO("NEIGHBORS to node " << a << ": " << got.size()
                            << " nodes; not discv4: " << hexdump_ids(not_v4));
  CHECK(not_v4.empty());
  if (v4 >= 14) {
    CHECK(got.size() > 12);
  }
  CHECK(dp.alive());
}

// ---- Scenario 3: every request type, both directions ------------------------------------
void requests_scenario(Site site, int v5, int v4) {
  const auto dir = log_dir(site.name);
  INFO("logs in " << dir.string());
  site.dp.mode = "node";
  site.dp.lookup = "1h";  // lookups only when the test asks (POST /v1/lookup)
  site.dp.revalidate = "500ms";
  Discplane dp(site.dp, dir);
  if (site.after_discplane_start) {
    site.after_discplane_start();
  }
  const std::string dp_enode = dp.enode();
  JsOptions jo;
  jo.v5 = v5;
  jo.v4 = v4;
  jo.host = site.js_host;
  jo.netns = site.netns;
  jo.bootnodes = {dp_enode};  // discv4 nodes bootstrap; discv5 nodes ping below
  jo.lookup_interval_ms = 0;  // JS nodes send only what the test asks for
  jo.v4_refresh_ms = 600000;
  JsPeers js(jo, dir);
  const std::uint64_t dp_seq = dp.seq();
  REQUIRE(dp_seq >= 1);

  if (v4 > 0) {
    {  // discv4: PING/PONG, FINDNODE/NEIGHBORS, ENRRequest/ENRResponse from ethereumjs
      const int a = js.v4_index(0);
      const bool bonded = eventually(
          [&] {
            auto peers = dp.peers();
            for (int i = 0; i < v4; ++i) {
              if (!Discplane::has(peers, js.id(js.v4_index(i)), "v4")) {
                return false;
              }
            }
            return true;
          },
          seconds(20));
      REQUIRE(bonded);
      Json r = js.cmd(Json{{"cmd", "ping"}, {"node", a}, {"target", dp_enode}});
      INFO("v4 ping: " << r.dump());
      REQUIRE(r.value("ok", false));
      CHECK(r["id"] == dp.id());

      r = js.cmd(
          Json{{"cmd", "findnode"}, {"node", a}, {"target", dp_enode}, {"timeout_ms", 1500}});
      INFO("v4 findnode: " << r.dump().substr(0, 600));
      REQUIRE(r.value("ok", false));
      auto peers = dp.peers();
      CHECK(r["nodes"].size() >= static_cast<std::size_t>(std::min(v4 - 1, 1)));
      for (const auto& n : r["nodes"]) {
        CHECK(peers.count(n["id"].get<std::string>()) == 1);
      }

      r = js.cmd(Json{{"cmd", "enr_request"}, {"node", a}, {"target", dp_enode}});
      INFO("v4 enr_request: " << r.dump());
      REQUIRE(r.value("ok", false));
      CHECK(r["request_hash_ok"] == true);
      CHECK(r["id"] == dp.id());
      CHECK(r["seq"].get<std::uint64_t>() == dp_seq);

      // discplane -> ethereumjs: PING answered (checks_passed), FINDNODE answered (lookup).
      const bool pinged = eventually(
          [&] {
            auto p = dp.peers();
            auto it = p.find(js.id(a));
            return it != p.end() && it->second["checks_passed"].get<int>() >= 1;
          },
          seconds(20));
      CHECK(pinged);
      Json l4 = dp.post("/v1/lookup", Json{{"protocol", "v4"}});
      INFO("v4 lookup: " << l4.dump().substr(0, 400));
      CHECK(l4.value("count", 0) >= 1);
    }
  }
  {  // discv5: PING/PONG with a handshake started by each JS node, then the rest
    for (int k = 0; k < v5; ++k) {
      Json r = js.cmd(Json{{"cmd", "ping"}, {"node", k}, {"target", dp.enr()}});
      INFO("ping from v5 node " << k << ": " << r.dump());
      REQUIRE(r.value("ok", false));
      CHECK(r["enr_seq"].get<std::uint64_t>() == dp_seq);
      CHECK(r["addr"] == js.node(k)["host"].get<std::string>() + ":" +
                             std::to_string(js.node(k)["port"].get<int>()));
    }
    std::string missing;
    const bool all_in = eventually(
        [&] {
          missing.clear();
          auto peers = dp.peers();
          for (int k = 0; k < v5 + v4; ++k) {
            if (!Discplane::has(peers, js.id(k), k < v5 ? "v5" : "v4")) {
              missing += std::to_string(k) + " ";
            }
          }
          return missing.empty();
        },
        seconds(20));
    INFO("JS nodes missing from discplane's table: " << missing);
    REQUIRE(all_in);
    auto peers = dp.peers();

    // FINDNODE [0] -> discplane's own record.
    Json r =
        js.cmd(Json{{"cmd", "findnode"}, {"node", 1}, {"target", dp.enr()}, {"distances", {0}}});
    INFO("findnode [0]: " << r.dump().substr(0, 600));
    REQUIRE(r.value("ok", false));
    REQUIRE(r["nodes"].size() == 1);
    CHECK(r["nodes"][0]["id"] == dp.id());
    CHECK(r["nodes"][0]["seq"].get<std::uint64_t>() == dp_seq);

    // FINDNODE [256..253]: every v5 record discplane has there (<= 16), in several NODES.
    const std::vector<int> dists{256, 255, 254, 253};
    std::size_t expected = 0;
    for (const auto& [id, p] : peers) {
      if (Discplane::has(peers, id, "v5") &&
          std::find(dists.begin(), dists.end(), p["distance"].get<int>()) != dists.end()) {
        ++expected;
      }
    }
    expected = std::min<std::size_t>(expected, 16);
    r = js.cmd(Json{{"cmd", "findnode"}, {"node", 1}, {"target", dp.enr()}, {"distances", dists}});
    INFO("findnode [256..253]: expected " << expected << ": " << r.dump().substr(0, 400));
    REQUIRE(r.value("ok", false));
    std::size_t bytes = 0;
    std::set<std::string> ids;
    for (const auto& n : r["nodes"]) {
      bytes += enr_size(n["enr"].get<std::string>());
      ids.insert(n["id"].get<std::string>());
      const int d = log_distance(dp.id(), n["id"].get<std::string>());
      CHECK(std::find(dists.begin(), dists.end(), d) != dists.end());
    }
    CHECK(ids.size() == r["nodes"].size());
    CHECK(ids.size() + 1 >= expected);  // the requester itself may be left out
    INFO("record bytes " << bytes << " (one NODES message carries <= 1000)");
    CHECK(bytes > 1000);

    // FINDNODE at one exact distance returns the node we know sits there.
    const std::string probe = js.id(2);
    const int d2 = log_distance(dp.id(), probe);
    r = js.cmd(Json{{"cmd", "findnode"}, {"node", 3}, {"target", dp.enr()}, {"distances", {d2}}});
    REQUIRE(r.value("ok", false));
    bool found = false;
    for (const auto& n : r["nodes"]) {
      found = found || n["id"] == probe;
      CHECK(log_distance(dp.id(), n["id"].get<std::string>()) == d2);
    }
    CHECK(found);

    // TALKREQ to discplane: an unknown protocol gets an empty TALKRESP.
    r = js.cmd(Json{{"cmd", "talkreq"},
                    {"node", 2},
                    {"target", dp.enr()},
                    {"protocol", "discplane-interop"},
                    {"payload", "0102ff"}});
    INFO("talkreq: " << r.dump());
    REQUIRE(r.value("ok", false));
    CHECK(r["response"] == "");

    // discplane -> JS: revalidation PINGs answered (discv5 and discv4), lookups (FINDNODE
    // to JS nodes, NODES/NEIGHBORS back).
    const bool revalidated = eventually(
        [&] {
          bool v4_ok = v4 == 0;
          bool v5_ok = false;
          for (const auto& [id, p] : dp.peers()) {
            if (p["checks_passed"].get<int>() >= 1) {
              v5_ok = v5_ok || Discplane::has(peers, id, "v5");
              v4_ok = v4_ok || Discplane::has(peers, id, "v4");
            }
          }
          return v4_ok && v5_ok;
        },
        seconds(20));
    CHECK(revalidated);
    Json l5 = dp.post("/v1/lookup", Json{{"protocol", "v5"}});
    INFO("v5 lookup: " << l5.dump().substr(0, 400));
    CHECK(l5.value("count", 0) >= 1);
    if (v4 > 0) {
      Json l4 = dp.post("/v1/lookup", Json{{"protocol", "v4"}});
      INFO("v4 lookup: " << l4.dump().substr(0, 400));
      CHECK(l4.value("count", 0) >= 1);
    }

    // Session re-established after a JS node restarts (same key, new session keys):
    // (a) the JS node speaks first: discplane still holds the old session and must answer
    //     the undecryptable packet with WHOAREYOU.
    r = js.cmd(Json{{"cmd", "restart"}, {"node", 4}, {"down_ms", 300}});
    REQUIRE(r.value("ok", false));
    r = js.cmd(Json{{"cmd", "ping"}, {"node", 4}, {"target", dp.enr()}});
    INFO("ping after restart: " << r.dump());
    CHECK(r.value("ok", false));
    // (b) discplane speaks first: its packet under the old keys draws a WHOAREYOU, it
    //     redoes the handshake; the restarted node (empty table, silent) then adds discplane.
    r = js.cmd(Json{{"cmd", "restart"}, {"node", 5}, {"down_ms", 300}});
    REQUIRE(r.value("ok", false));
    const std::size_t mark = js.events().size();
    Json l = dp.post("/v1/lookup", Json{{"protocol", "v5"}, {"target", js.id(5)}});
    INFO("lookup of the restarted node: " << l.dump().substr(0, 400));
    const bool readded = js.wait_event(
        [&](const Json& e) {
          return e.value("event", "") == "peer_added" && e.value("node", -1) == 5 &&
                 e.value("id", "") == dp.id();
        },
        seconds(15), mark);
    CHECK(readded);
  }

  CHECK(dp.alive());
}

Site socket_site(const std::string& name) {
  Site s;
  s.name = name;
  return s;
}

// ---- DPDK site: net_tap moved into a namespace where the JS peers run ---------------------
struct DpdkEnv {
  std::unique_ptr<NetNs> ns;
  std::string tap;
  std::string file_prefix;
  Site site;
  ~DpdkEnv() {  // discplane has exited by now: drop the EAL's runtime directory
    std::error_code ec;
    std::filesystem::remove_all(std::filesystem::path("/var/run/dpdk") / file_prefix, ec);
  }
};

std::unique_ptr<DpdkEnv> dpdk_site(const std::string& name) {
  auto env = std::make_unique<DpdkEnv>();
  const std::string tag = std::to_string(::getpid());
  env->ns = std::make_unique<NetNs>("dpio" + tag);
  env->tap = "dpio" + tag;  // <= 15 chars
  env->file_prefix = "dpio" + tag;
  const std::string net = "169.254.77.";  // inside our own namespace only
  env->site.name = name;
  env->site.js_host = net + "1";
  env->site.netns = env->ns->name();
  env->site.dp.listen = net + "2:30303";
  env->site.dp.dpdk_ipv4 = net + "2/24";
  env->site.dp.eal_args = {"--no-huge",
                           "--no-pci",
                           "-m",
                           "1024",
                           "--vdev=net_tap0,iface=" + env->tap,
                           "--file-prefix=" + env->file_prefix,
                           "--log-level=lib.eal:warning"};
  const std::string ns = env->ns->name();
  const std::string tap = env->tap;
  env->site.after_discplane_start = [ns, tap, net] {
    const std::vector<std::vector<std::string>> steps = {
        {"ip", "link", "set", tap, "netns", ns},
        {"ip", "-n", ns, "addr", "add", net + "1/24", "dev", tap},
        {"ip", "-n", ns, "link", "set", tap, "up"},
        {"ip", "-n", ns, "link", "set", "lo", "up"}};
    for (const auto& s : steps) {
      if (run_command(s) != 0) {
        throw std::runtime_error("setup step failed: " + s[0] + " " + s[1] + " " + s[2] + " " +
                                 s[3]);
      }
    }
  };
  return env;
}

// ---- AF_XDP site: DPDK drives one end of a veth pair through net_af_xdp ------------------
// The other end sits in our namespace with the JS peers; DPDK's end has no address (the kernel
// keeps the interface, the XDP program hands its frames to DPDK: docs/af-xdp.md).
std::unique_ptr<DpdkEnv> af_xdp_site(const std::string& name) {
  auto env = std::make_unique<DpdkEnv>();
  const std::string tag = std::to_string(::getpid());
  env->ns = std::make_unique<NetNs>("dpxo" + tag);
  env->tap = "dpxo" + tag + "a";  // <= 15 chars; DPDK's end
  env->file_prefix = "dpxo" + tag;
  const std::string theirs = "dpxo" + tag + "b";
  const std::string net = "169.254.78.";  // inside our own namespace only
  const std::string ns = env->ns->name();
  run_command({"ip", "link", "del", env->tap});  // a leftover of a crashed run with our pid
  const std::vector<std::vector<std::string>> steps = {
      {"ip", "link", "add", env->tap, "type", "veth", "peer", "name", theirs, "netns", ns},
      {"ip", "-n", ns, "addr", "add", net + "1/24", "dev", theirs},
      {"ip", "-n", ns, "link", "set", theirs, "up"},
      {"ip", "-n", ns, "link", "set", "lo", "up"},
      // veth passes CHECKSUM_PARTIAL frames (UDP checksum left to a NIC); XDP sees them
      // before it is filled in: let the namespace's stack checksum in software.
      {"ip", "netns", "exec", ns, "ethtool", "-K", theirs, "tx", "off"},
      {"ip", "link", "set", env->tap, "up"}};
  for (const auto& s : steps) {
    if (run_command(s) != 0) {
      throw std::runtime_error("AF_XDP setup step failed: ip " + s[1] + " " + s[2] + " " + s[3]);
    }
  }
  env->site.name = name;
  env->site.js_host = net + "1";
  env->site.netns = ns;
  env->site.dp.listen = net + "2:30303";
  env->site.dp.dpdk_ipv4 = net + "2/24";
  env->site.dp.eal_args = {"--no-huge",
                           "--no-pci",
                           "-m",
                           "1024",
                           "--vdev=net_af_xdp0,iface=" + env->tap + ",start_queue=0,queue_count=1",
                           "--file-prefix=" + env->file_prefix,
                           "--log-level=lib.eal:warning"};
  return env;
}

#define REQUIRE_NETNS_AND_TAP()                                          \
  do {                                                                   \
    if (!can_use_netns_and_tap()) {                                      \
      FAIL("not root or no /dev/net/tun: the DPDK scenario needs both"); \
    }                                                                    \
  } while (0)

}  // namespace

TEST_CASE("interop socket: discplane is the bootnode of discv5 and discv4 JS nodes",
          "[interop][socket]") {
  REQUIRE_JS_HARNESS();
  bootnode_scenario(socket_site("bootnode-socket"), 12, 14);
}

TEST_CASE("interop socket: discplane bootstraps from one JS node per protocol",
          "[interop][socket]") {
  REQUIRE_JS_HARNESS();
  const auto dir = log_dir("bootstrap-socket");
  INFO("logs in " << dir.string());
  constexpr int kV5 = 10;
  constexpr int kV4 = 10;
  JsOptions jo;
  jo.v5 = kV5;
  jo.v4 = kV4;
  jo.boot_first = true;       // node 0 (v5) and node kV5 (v4) know all others of their kind
  jo.lookup_interval_ms = 0;  // otherwise silent: only discplane's lookups can reach them
  jo.v4_refresh_ms = 600000;
  JsPeers js(jo, dir);
  for (int k = 1; k < kV5; ++k) {  // v5 nodes 1.. make themselves known to node 0 only
    Json r = js.cmd(Json{{"cmd", "ping"}, {"node", k}, {"target", 0}});
    REQUIRE(r.value("ok", false));
  }
  const int v4_boot = js.v4_index(0);
  REQUIRE(eventually(
      [&] { return js.table(0).size() >= kV5 - 1 && js.table(v4_boot).size() >= kV4 - 1; },
      seconds(20)));

  DiscplaneOptions o;
  o.mode = "node";
  o.lookup = "1s";
  o.bootnodes = {js.node(0)["enr"].get<std::string>(),
                 js.node(v4_boot)["enode"].get<std::string>()};
  Discplane dp(o, dir);

  // discplane's table fills with nodes it was not told about (all but the two bootnodes).
  std::size_t v5_found = 0;
  std::size_t v4_found = 0;
  const bool filled = eventually(
      [&] {
        auto peers = dp.peers();
        v5_found = v4_found = 0;
        for (int k = 1; k < kV5; ++k) {
          v5_found += Discplane::has(peers, js.id(k), "v5");
        }
        for (int i = 1; i < kV4; ++i) {
          v4_found += Discplane::has(peers, js.id(js.v4_index(i)), "v4");
        }
        // Not all: a JS node at log-distance 249 from node 0 is returned only to a FINDNODE
        // for that exact distance, which a random-target lookup rarely asks for.
        return v5_found >= kV5 - 3 && v4_found >= kV4 - 3;
      },
      seconds(45));
  INFO("discplane found " << v5_found << "/" << kV5 - 1 << " discv5 and " << v4_found << "/"
                          << kV4 - 1 << " discv4 nodes it was not told about");
  CHECK(filled);

  // Those nodes never sent a packet to discplane first. Each one in discplane's table must
  // become live (seen, no failed check): discplane started that handshake (discv5) / bond
  // (discv4), and the node then has discplane in its own table.
  std::string lacking;
  const bool contacted = eventually(
      [&] {
        lacking.clear();
        auto peers = dp.peers();
        Json t = js.tables();
        for (const auto& tab : t["tables"]) {
          const int k = tab["node"].get<int>();
          auto it = peers.find(js.id(k));
          if (k == 0 || k == v4_boot || it == peers.end()) {
            continue;
          }
          if (!it->second.value("live", false) || it->second["last_seen"].is_null()) {
            lacking += std::to_string(k) + "(not live) ";
            continue;
          }
          bool has_dp = false;
          for (const auto& id : tab["peers"]) {
            has_dp = has_dp || id == dp.id();
          }
          if (!has_dp) {
            lacking += std::to_string(k) + " ";
          }
        }
        return lacking.empty();
      },
      seconds(20));
  INFO("JS nodes live in discplane's table without discplane in their own: " << lacking);
  CHECK(contacted);
  CHECK(dp.alive());
}

TEST_CASE(
    "interop socket: every request type both ways with handshakes and re-established sessions",
    "[interop][socket]") {
  REQUIRE_JS_HARNESS();
  requests_scenario(socket_site("requests-socket"), 16, 4);
}

TEST_CASE("interop socket: discplane picks up a JS node's new ENR", "[interop][socket]") {
  REQUIRE_JS_HARNESS();
  const auto dir = log_dir("enr-update-socket");
  INFO("logs in " << dir.string());
  DiscplaneOptions o;
  o.mode = "node";
  o.lookup = "1h";
  o.revalidate = "500ms";
  Discplane dp(o, dir);
  JsOptions jo;
  jo.v5 = 4;
  jo.lookup_interval_ms = 0;
  JsPeers js(jo, dir);
  for (int k = 0; k < 4; ++k) {
    REQUIRE(js.cmd(Json{{"cmd", "ping"}, {"node", k}, {"target", dp.enr()}}).value("ok", false));
  }
  auto enr_seq_at_discplane = [&](const std::string& id) -> std::uint64_t {
    Json p = dp.get("/v1/peers/" + id);
    return p.is_object() && p.contains("enr_seq") ? p["enr_seq"].get<std::uint64_t>() : 0;
  };
  const std::string a = js.id(0);
  REQUIRE(eventually([&] { return enr_seq_at_discplane(a) >= 1; }, seconds(10)));

  // (a) New record, then a PING from it (enr-seq in the PING is higher): discplane fetches it.
  Json u = js.cmd(Json{{"cmd", "update_enr"}, {"node", 0}, {"key", "dpx"}, {"value", "01"}});
  REQUIRE(u.value("ok", false));
  const std::uint64_t s1 = u["seq"].get<std::uint64_t>();
  REQUIRE(js.cmd(Json{{"cmd", "ping"}, {"node", 0}, {"target", dp.enr()}}).value("ok", false));
  CHECK(eventually([&] { return enr_seq_at_discplane(a) == s1; }, seconds(10)));
  // ... and hands it on: FINDNODE from another JS node at a's distance.
  Json r = js.cmd(Json{{"cmd", "findnode"},
                       {"node", 1},
                       {"target", dp.enr()},
                       {"distances", {log_distance(dp.id(), a)}}});
  REQUIRE(r.value("ok", false));
  bool seen = false;
  for (const auto& n : r["nodes"]) {
    if (n["id"] == a) {
      seen = true;
      CHECK(n["seq"].get<std::uint64_t>() == s1);
    }
  }
  CHECK(seen);

  // (b) New record, node silent: discplane's revalidation PING gets a PONG with the new seq.
  u = js.cmd(Json{{"cmd", "update_enr"}, {"node", 0}, {"key", "dpx"}, {"value", "02"}});
  REQUIRE(u.value("ok", false));
  const std::uint64_t s2 = u["seq"].get<std::uint64_t>();
  REQUIRE(s2 > s1);
  INFO("seq at discplane: " << enr_seq_at_discplane(a) << ", want " << s2);
  CHECK(eventually([&] { return enr_seq_at_discplane(a) == s2; }, seconds(20)));
  CHECK(dp.alive());
}

TEST_CASE("interop socket: ethereumjs bootstraps from the enode URL discplane prints",
          "[interop][socket]") {
  REQUIRE_JS_HARNESS();
  const auto dir = log_dir("printed-enode-socket");
  INFO("logs in " << dir.string());
  DiscplaneOptions o;
  o.mode = "bootnode";
  Discplane dp(o, dir);
  JsOptions jo;
  jo.v4 = 2;
  jo.bootnodes = {dp.enode()};  // verbatim, e.g. enode://...@127.0.0.1:0?discport=N
  jo.v4_refresh_ms = 1000;
  JsPeers js(jo, dir);
  INFO("discplane's enode URL: " << dp.enode());
  const bool bonded = eventually(
      [&] {
        auto peers = dp.peers();
        return Discplane::has(peers, js.id(0), "v4") && Discplane::has(peers, js.id(1), "v4");
      },
      seconds(15));
  CHECK(bonded);
}

TEST_CASE("interop dpdk: discplane is the bootnode of discv5 and discv4 JS nodes",
          "[interop][dpdk]") {
  REQUIRE_JS_HARNESS();
  REQUIRE_NETNS_AND_TAP();
  auto env = dpdk_site("bootnode-dpdk");
  bootnode_scenario(env->site, 10, 14);
}

TEST_CASE("interop af_xdp: discplane on net_af_xdp is the bootnode of discv5 and discv4 JS nodes",
          "[interop][dpdk][af_xdp]") {
  REQUIRE_JS_HARNESS();
  if (::geteuid() != 0) {
    FAIL("not root: the AF_XDP scenario needs a veth pair, an XDP program and an AF_XDP socket");
  }
  auto env = af_xdp_site("bootnode-af-xdp");
  bootnode_scenario(env->site, 10, 14);
}

TEST_CASE("interop dpdk: every request type both ways with handshakes and re-established sessions",
          "[interop][dpdk]") {
  REQUIRE_JS_HARNESS();
  REQUIRE_NETNS_AND_TAP();
  auto env = dpdk_site("requests-dpdk");
  requests_scenario(env->site, 16, 4);
}

// ---- Dual-stack: one discplane on 127.0.0.1 and ::1 ---------------------------------------
// An IPv4-only and an IPv6-only JS process (each a discv5 and a discv4 node) bootstrap from
// the one discplane, each over its own family, and find each other through it: FINDNODE /
// FindNode sent to discplane return the other family's node.
TEST_CASE(
    "interop socket: an IPv4-only and an IPv6-only peer find each other through one "
    "dual-stack discplane",
    "[interop][socket][dual-stack]") {
  REQUIRE_JS_HARNESS();
  const auto dir = log_dir("dual-stack-socket");
  INFO("logs in " << dir.string());
  const std::string port = std::to_string(free_port());
  DiscplaneOptions o;
  o.mode = "bootnode";
  o.listen = "[127.0.0.1:" + port + ", \"[::1]:" + port + "\"]";
  o.external_ip = "[127.0.0.1, \"::1\"]";
  Discplane dp(o, dir);

  // The record carries both families from the start.
  const Json node = dp.get("/v1/node");
  INFO("GET /v1/node: " << node.dump());
  CHECK(node["external_address"]["ip"] == "127.0.0.1");
  CHECK(node["external_address"]["ip6"] == "::1");
  CHECK(node["external_address"]["udp"] == std::stoi(port));
  CHECK(node["external_address"]["udp6"] == std::stoi(port));
  CHECK(node["listen_all"] == Json::array({"127.0.0.1:" + port, "[::1]:" + port}));

  const std::string pubkey = dp.enode().substr(8, 128);
  JsOptions j4;
  j4.v5 = 1;
  j4.v4 = 1;
  j4.bootnodes = {dp.enr(), dp.enode()};
  j4.lookup_interval_ms = 1000;
  j4.v4_refresh_ms = 1000;
  std::filesystem::create_directories(dir / "js4");
  std::filesystem::create_directories(dir / "js6");
  JsPeers four(j4, dir / "js4");
  JsOptions j6 = j4;
  j6.host = "::1";
  const std::string enode6 = "enode://" + pubkey + "@[::1]:0?discport=" + port;
  j6.bootnodes = {dp.enr(), enode6};
  JsPeers six(j6, dir / "js6");
  INFO("v4-only: v5 " << four.id(0) << ", v4 " << four.id(1) << "; v6-only: v5 " << six.id(0)
                      << ", v4 " << six.id(1));

  // discplane tables all four, each reached over its own family.
  const bool tabled = eventually(
      [&] {
        auto t = dp.peers();
        return Discplane::has(t, four.id(0), "v5") && Discplane::has(t, six.id(0), "v5") &&
               Discplane::has(t, four.id(1), "v4") && Discplane::has(t, six.id(1), "v4");
      },
      seconds(30));
  REQUIRE(tabled);
  auto t = dp.peers();
  CHECK(t[four.id(0)]["endpoint"].get<std::string>().rfind("127.0.0.1:", 0) == 0);
  CHECK(t[six.id(0)]["endpoint"].get<std::string>().rfind("[::1]:", 0) == 0);
  CHECK(t[six.id(1)]["endpoint"].get<std::string>().rfind("[::1]:", 0) == 0);

  // discv5: each asks discplane for the bucket the other sits in.
  auto v5_finds = [&](JsPeers& asker, const std::string& other) {
    const int d = log_distance(dp.id(), other);
    Json r = asker.cmd(Json{
        {"cmd", "findnode"}, {"node", 0}, {"target", dp.enr()}, {"distances", Json::array({d})}});
    INFO("findnode reply: " << r.dump());
    for (const auto& n : r.value("nodes", Json::array())) {
      if (n.value("id", "") == other) {
        return true;
      }
    }
    return false;
  };
  CHECK(v5_finds(four, six.id(0)));
  CHECK(v5_finds(six, four.id(0)));

  // discv4: FindNode for the other's key; the Neighbors entry has the other's family.
  auto v4_finds = [&](JsPeers& asker, const std::string& target, JsPeers& other) {
    Json r = asker.cmd(Json{{"cmd", "findnode"},
                            {"node", 1},
                            {"target", target},
                            {"target_id", other.node(1)["pubkey"]},
                            {"timeout_ms", 2000}});
    INFO("findnode reply: " << r.dump());
    for (const auto& n : r.value("nodes", Json::array())) {
      if (n.value("id", "") == other.id(1)) {
        return n.value("enode", "");
      }
    }
    return std::string();
  };
  bool v4_done = false;
  std::string six_seen_by_four;
  std::string four_seen_by_six;
  // The JS nodes must have bonded with discplane first (their FindNode needs the bond).
  v4_done = eventually(
      [&] {
        six_seen_by_four = v4_finds(four, dp.enode(), six);
        four_seen_by_six = v4_finds(six, enode6, four);
        return !six_seen_by_four.empty() && !four_seen_by_six.empty();
      },
      seconds(20));
  CHECK(v4_done);
  CHECK(six_seen_by_four.find("@[::1]:") != std::string::npos);
  CHECK(four_seen_by_six.find("@127.0.0.1:") != std::string::npos);
}
