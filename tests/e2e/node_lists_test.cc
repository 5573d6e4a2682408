// End to end: the node-list pipeline an operator runs, every step a real process.
//   discctl crawl (a local network of discplane processes on 127.0.0.x)
//   -> discctl nodeset filter -> discctl dns sign -> discctl dns to-zone --format dnsmasq
//   -> dnsmasq (Debian dnsmasq-base) serving the tree on 127.0.0.1
//   -> read back by discctl dns sync, by @ethereumjs/devp2p's DNS client (tests/interop/
//      dns_client.mjs: root signature, seq, every leaf) and by a discplane whose only seed is
//      the tree (dns_discovery), which must then find the crawled nodes.
// Also: a crawl whose only peer is its bootnode writes that node's own signed record (fetched
// from it), not an enode URL. Needs dnsmasq, node and `npm ci` in tests/interop.
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "discplane/control/crawl.h"
#include "discplane/wire/enr.h"

#include "e2e/process.h"

using namespace e2e;
using namespace std::chrono_literals;

namespace {

constexpr const char* kDnsmasq = "/usr/sbin/dnsmasq";
constexpr const char* kNsd = "/usr/sbin/nsd";

struct Ran {
  int code = -1;
  std::string out;
  std::string err;
};

// Runs a program to completion (bounded), capturing its output.
Ran run(const std::vector<std::string>& argv, Clock::duration timeout) {
  auto p = Process::spawn(argv);
  REQUIRE(p);
  const bool exited = p->wait_exit(timeout);
  if (!exited) {
    (void)p->signal_and_wait(SIGKILL, 5s);
  }
  (void)p->wait_eof(5s);
  Ran r{exited ? p->exit_code().value_or(-1) : -1, p->out_text(), p->err_text()};
  INFO(argv[0] << " " << (argv.size() > 1 ? argv[1] : "") << "\nstdout:\n"
               << r.out << "\nstderr:\n"
               << r.err);
  CHECK(exited);
  return r;
}

std::string discctl() {
  return DP_BINARY_DIR "/discctl";
}

std::string id_of(const std::string& enr_text) {
  return discplane::to_hex(discplane::enr::parse_text(enr_text)->node_id());
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in);
  return nlohmann::json::parse(in);
}

}  // namespace

TEST_CASE("discctl crawl: a lone bootnode is written with its own record", "[e2e][nodelists]") {
  TempDir dir;
  REQUIRE(dir.ok());
  // No one else lists A: its record can only come from A itself (ENRRequest / FINDNODE 0).
  // Seeded with A's record the engine already holds that record, so only the crawl's fetch
  // on A's PONG reports it (before, A was written as an enode URL with seq 0).
  auto a = Node::start(dir, {.name = "a", .ip = "127.0.0.1"});
  const std::string out = dir.file("nodes.json");
  auto r = run({discctl(), "crawl", "--timeout", "4s", "--bootnodes", a->enr, "--listen",
                "127.0.0.9:0", "--progress", "1s", "-o", out},
               30s);
  REQUIRE(r.code == 0);
  CHECK(r.err.find("discplane: crawl: ") != std::string::npos);  // the appliance's line
  CHECK(r.err.find("wrote " + out) != std::string::npos);
  const auto j = read_json(out);
  const std::string id = id_of(a->enr);
  REQUIRE(j.contains(id));
  CHECK(j[id]["record"] == a->enr);
  CHECK(j[id]["seq"] == discplane::enr::parse_text(a->enr)->seq());
  CHECK(j[id]["score"].get<int>() >= 1);
  CHECK(j[id]["protocols"] == nlohmann::json::array({"v4", "v5"}));

  // A re-crawl seeded from that file (--nodes) into a new one revalidates A.
  const std::string again = dir.file("again.json");
  auto r2 = run({discctl(), "crawl", "--timeout", "3s", "--nodes", out, "--listen", "127.0.0.9:0",
                 "-o", again},
                30s);
  REQUIRE(r2.code == 0);
  CHECK(r2.err.find("(1 seeds)") != std::string::npos);
  const auto j2 = read_json(again);
  REQUIRE(j2.contains(id));
  CHECK(j2[id]["record"] == a->enr);
  CHECK(j2[id]["firstResponse"] != "0001-01-01T00:00:00Z");
}

TEST_CASE("crawl -> filter -> sign -> dnsmasq -> ethereumjs, dns sync, dns_discovery",
          "[e2e][nodelists][dns]") {
  INFO("needs dnsmasq and nsd (scripts/install-deps.sh), node and npm ci in tests/interop");
  REQUIRE(std::filesystem::exists(kDnsmasq));
  REQUIRE(std::filesystem::exists(kNsd));
  REQUIRE(std::filesystem::exists(DP_SOURCE_DIR "/tests/interop/node_modules/@ethereumjs/devp2p"));
  TempDir dir;
  REQUIRE(dir.ok());
  auto a = Node::start(dir, {.name = "a", .ip = "127.0.0.1"});
  const std::vector<std::string> boot = {a->enode, a->enr};
  auto b = Node::start(dir, {.name = "b", .ip = "127.0.0.2", .bootnodes = boot});
  auto c = Node::start(dir, {.name = "c", .ip = "127.0.0.3", .bootnodes = boot});
  CHECK(a->wait_peer(b->id16, "v4,v5", 20s));
  CHECK(a->wait_peer(c->id16, "v4,v5", 20s));
  const std::set<std::string> want = {id_of(a->enr), id_of(b->enr), id_of(c->enr)};

  // 1. Crawl.
  const std::string all = dir.file("all.json");
  auto crawl = run({discctl(), "crawl", "--timeout", "6s", "--bootnodes", a->enr, "--listen",
                    "127.0.0.9:0", "--progress", "2s", "-o", all},
                   40s);
  REQUIRE(crawl.code == 0);
  const auto crawled = read_json(all);
  for (const auto& id : want) {
    INFO(id);
    REQUIRE(crawled.contains(id));
    CHECK(crawled[id]["record"].get<std::string>().starts_with("enr:"));
  }

  // 2. Filter: the 127.0.0.0/30 nodes that answered on discv5.
  std::filesystem::create_directories(dir.file("tree"));
  const std::string tree = dir.file("tree");
  auto filter = run({discctl(), "nodeset", "filter", all, "--ip", "127.0.0.0/30", "--proto", "v5",
                     "--responded-within", "10m", "-o", tree + "/nodes.json"},
                    10s);
  REQUIRE(filter.code == 0);
  auto listed = read_json(tree + "/nodes.json");
  std::set<std::string> filtered;
  for (const auto& item : listed.items()) {
    filtered.insert(item.key());
  }
  CHECK(filtered == want);
  // One more record, with a tcp port: ethereumjs' client returns only records that have one
  // (discplane's records gain `tcp` with the "record you announce" work of issue 16).
  const std::string extra_key = dir.file("extra.key");
  REQUIRE(run({discctl(), "key", "generate", "--out", extra_key}, 10s).code == 0);
  auto extra = run({discctl(), "enr", "encode", "--key", extra_key, "--ip", "127.0.0.8", "--udp",
                    "30303", "--tcp", "30303"},
                   10s);
  REQUIRE(extra.code == 0);
  const std::string extra_enr = extra.out.substr(0, extra.out.find('\n'));
  listed[id_of(extra_enr)] = {{"seq", 1}, {"record", extra_enr}};
  {
    std::ofstream f(tree + "/nodes.json", std::ios::trunc);
    f << listed.dump(4);
  }

  // 3. Sign.
  const std::string sign_key = dir.file("list.key");
  REQUIRE(run({discctl(), "key", "generate", "--out", sign_key}, 10s).code == 0);
  auto sign = run(
      {discctl(), "dns", "sign", tree, sign_key, "--domain", "nodes.dns.test", "--seq", "7"}, 10s);
  REQUIRE(sign.code == 0);
  const std::string url = sign.out.substr(0, sign.out.find('\n'));
  REQUIRE(url.starts_with("enrtree://"));

  // 4. Serve what to-zone prints with dnsmasq.
  auto zone = run({discctl(), "dns", "to-zone", tree, "--format", "dnsmasq"}, 10s);
  REQUIRE(zone.code == 0);
  const std::string conf = dir.write("dnsmasq.conf", zone.out + "\n");
  const std::uint16_t port = free_port();
  REQUIRE(port != 0);
  const std::string server = "127.0.0.1:" + std::to_string(port);
  auto dns = Process::spawn({kDnsmasq, "--keep-in-foreground", "--conf-file=" + conf,
                             "--port=" + std::to_string(port), "--listen-address=127.0.0.1",
                             "--bind-interfaces", "--no-resolv", "--no-hosts", "--local=/dns.test/",
                             "--pid-file=" + dir.file("dnsmasq.pid"), "--log-facility=-"});
  REQUIRE(dns);

  // 5a. discctl dns sync reads it back (retried while dnsmasq starts).
  Ran sync;
  for (int i = 0; i < 40; ++i) {
    sync = run({discctl(), "dns", "sync", url, "--server", server, "--timeout", "500ms", "-o",
                dir.file("synced")},
               20s);
    if (sync.code == 0) {
      break;
    }
    std::this_thread::sleep_for(250ms);
  }
  INFO("dnsmasq stderr:\n" << dns->err_text());
  REQUIRE(sync.code == 0);
  CHECK(sync.err.find("nodes.dns.test seq 7: 4 records") != std::string::npos);
  const auto synced = read_json(dir.file("synced/nodes.json"));
  for (const auto& item : listed.items()) {
    CHECK(synced[item.key()]["record"] == item.value()["record"]);
  }
  CHECK(read_json(dir.file("synced/enrtree-info.json"))["url"] == url);

  // 5b. The third-party client: root signature and seq accepted, every leaf walked.
  auto js = run({"node", DP_SOURCE_DIR "/tests/interop/dns_client.mjs", "--url", url, "--server",
                 server, "--want", "1", "--max-seconds", "30"},
                40s);
  REQUIRE(js.code == 0);
  const auto report = nlohmann::json::parse(js.out.substr(0, js.out.find('\n')));
  CHECK(report["root_verified"] == true);
  CHECK(report["seq"] == 7);
  CHECK(report["wrong_key_rejected"] == true);
  std::set<std::string> leaves;
  for (const auto& leaf : report["leaves"]) {
    const std::string id = leaf["id"];
    leaves.insert(id);
    // The library verifies every record that has a tcp port; it refuses the others only for
    // the missing port (it reads tcp unconditionally).
    const auto rec = discplane::enr::parse_text(listed[id]["record"].get<std::string>());
    REQUIRE(rec.has_value());
    INFO(id << ": " << leaf.dump());
    CHECK(leaf["accepted"] == rec->tcp().has_value());
  }
  std::set<std::string> all_listed;
  for (const auto& item : listed.items()) {
    all_listed.insert(item.key());
  }
  CHECK(leaves == all_listed);
  REQUIRE(report["peers"].size() == 1);
  CHECK(report["peers"][0]["address"] == "127.0.0.8");

  // 5c. The zone file of to-zone --soa, served by NSD (an authoritative server that reads zone
  // files, as BIND and Knot do), reads back the same.
  auto zonefile = run({discctl(), "dns", "to-zone", tree, "--soa"}, 10s);
  REQUIRE(zonefile.code == 0);
  dir.write("nodes.zone", zonefile.out + "\n");
  std::filesystem::create_directories(dir.file("nsd"));
  const std::uint16_t nsd_port = free_port();
  const std::string nsd_server = "127.0.0.1:" + std::to_string(nsd_port);
  const std::string nsd_conf = dir.write(
      "nsd.conf", "server:\n  ip-address: 127.0.0.1@" + std::to_string(nsd_port) +
                      "\n  port: " + std::to_string(nsd_port) +
                      "\n  username: \"\"\n  chroot: \"\"\n  database: \"\"\n  zonesdir: \"" +
                      dir.file("") + "\"\n  zonelistfile: \"" + dir.file("nsd/zone.list") +
                      "\"\n  xfrdfile: \"" + dir.file("nsd/xfrd.state") + "\"\n  xfrdir: \"" +
                      dir.file("nsd") + "\"\n  pidfile: \"" + dir.file("nsd/nsd.pid") +
                      "\"\n  server-count: 1\nremote-control:\n  control-enable: no\nzone:\n"
                      "  name: nodes.dns.test\n  zonefile: nodes.zone\n");
  auto nsd = Process::spawn({kNsd, "-d", "-c", nsd_conf});
  REQUIRE(nsd);
  Ran from_nsd;
  for (int i = 0; i < 40; ++i) {
    from_nsd =
        run({discctl(), "dns", "sync", url, "--server", nsd_server, "--timeout", "500ms"}, 20s);
    if (from_nsd.code == 0) {
      break;
    }
    std::this_thread::sleep_for(250ms);
  }
  INFO("nsd stderr:\n" << nsd->err_text());
  REQUIRE(from_nsd.code == 0);
  CHECK(from_nsd.err.find("nodes.dns.test seq 7: 4 records") != std::string::npos);
  CHECK(nlohmann::json::parse(from_nsd.out).size() == 4);
  (void)nsd->signal_and_wait(SIGTERM, 5s);

  // 5d. A discplane whose only seed is the tree finds the crawled nodes.
  NodeOptions d_opt{.name = "d", .ip = "127.0.0.4"};
  d_opt.api_listen = "127.0.0.4:" + std::to_string(free_port("127.0.0.4"));
  d_opt.extra_yaml = "dns_discovery:\n  urls:\n    - " + url + "\n  server: " + server +
                     "\n  query_timeout: 500ms\n";
  auto d = Node::start(dir, d_opt);
  const bool found = d->wait_for_table(
      [&](const PeerState& t) {
        return t.has(a->id16, "v4,v5") && t.has(b->id16, "v4,v5") && t.has(c->id16, "v4,v5");
      },
      30s);
  INFO("D stderr:\n" << d->proc->err_text());
  CHECK(found);
  CHECK(d->proc->err_text().find("dns: nodes.dns.test seq 7: 4 records") != std::string::npos);
  // The sync's counters in /metrics.
  auto metrics = run({discctl(), "--api", d_opt.api_listen, "metrics"}, 10s);
  REQUIRE(metrics.code == 0);
  CHECK(metrics.out.find("discplane_dns_roots_read_total 1") != std::string::npos);
  CHECK(metrics.out.find("discplane_dns_records_added_total 4") != std::string::npos);
  CHECK(metrics.out.find("discplane_dns_entries_fetched_total ") != std::string::npos);
  CHECK(metrics.out.find("discplane_dns_failures_total{reason=\"bad_signature\"} 0") !=
        std::string::npos);
  for (Node* n : {d.get(), c.get(), b.get(), a.get()}) {
    const auto took = n->proc->signal_and_wait(SIGTERM, 5s);
    CHECK(took.has_value());
  }
}
