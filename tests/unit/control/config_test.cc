// Config loading: conf/discplane.yaml against the struct defaults, every conf/*.yaml, and each
// error kind pointing at the right file, line, column and key.
#include "discplane/control/config.h"

#include <algorithm>
#include <filesystem>
#include <string>

#include <catch2/catch.hpp>
#include <yaml-cpp/yaml.h>

#include "temp_dir.h"

using namespace discplane;
using namespace discplane::control;
using namespace std::chrono_literals;

namespace {

const std::filesystem::path kConfDir = std::filesystem::path(DP_SOURCE_DIR) / "conf";

// Writes `yaml` to a file and loads it; the load must fail. Returns the error.
ConfigError load_error(const test::TempDir& dir, const std::string& yaml) {
  const auto path = dir.write("bad.yaml", yaml);
  auto loaded = load_config(path);
  INFO("yaml:\n" << yaml);
  REQUIRE_FALSE(loaded.has_value());
  CHECK(loaded.error().file == path.string());
  return loaded.error();
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Every dotted leaf key in a YAML mapping tree.
void collect_keys(const YAML::Node& node, const std::string& prefix,
                  std::vector<std::string>& out) {
  for (const auto& kv : node) {
    const std::string key = prefix.empty() ? kv.first.Scalar() : prefix + "." + kv.first.Scalar();
    if (kv.second.IsMap()) {
      collect_keys(kv.second, key, out);
    } else {
      out.push_back(key);
    }
  }
}

}  // namespace

TEST_CASE("conf/discplane.yaml equals the defaults except its loopback listen and exemption",
          "[control][config]") {
  auto loaded = load_config(kConfDir / "discplane.yaml");
  INFO((loaded ? "" : loaded.error().to_string()));
  REQUIRE(loaded.has_value());

  Config expected;
  // The one deliberate difference: the example listens on loopback only.
  expected.network.listen = {*Endpoint::parse("127.0.0.1:30303")};
  CHECK(Config{}.network.listen != expected.network.listen);
  // ... and, being a local demo, it exempts loopback from the table's IP limits explicitly
  // (the default exempts nothing).
  CHECK(Config{}.table.ip_limit_exempt.empty());
  expected.table.ip_limit_exempt = {*disc::Cidr::parse("127.0.0.0/8"), *disc::Cidr::parse("::1")};
  // ... and announces a TCP port (the default announces none), for clients that skip records
  // without `tcp`.
  expected.network.tcp_port = 30303;
  CHECK(Config{}.network.tcp_port == 0);

  // Section by section first, so a mismatch names its section.
  CHECK(loaded->mode == expected.mode);
  CHECK(loaded->identity == expected.identity);
  CHECK(loaded->network == expected.network);
  CHECK(loaded->protocols == expected.protocols);
  CHECK(loaded->bootnodes == expected.bootnodes);
  CHECK(loaded->dataplane == expected.dataplane);
  CHECK(loaded->timers == expected.timers);
  CHECK(loaded->table == expected.table);
  CHECK(loaded->discv4 == expected.discv4);
  CHECK(loaded->discv5 == expected.discv5);
  CHECK(loaded->api == expected.api);
  CHECK(loaded->logging == expected.logging);
  CHECK(loaded->node_db == expected.node_db);
  CHECK(loaded->crawl == expected.crawl);
  CHECK(loaded->bootnode == expected.bootnode);
  CHECK(loaded->fork_filter == expected.fork_filter);
  CHECK(loaded->enr == expected.enr);
  CHECK(loaded->policy == expected.policy);
  CHECK(*loaded == expected);
}

TEST_CASE("conf/discplane.yaml lists every option", "[control][config]") {
  const YAML::Node root = YAML::LoadFile((kConfDir / "discplane.yaml").string());
  std::vector<std::string> keys;
  collect_keys(root, "", keys);
  const char* all[] = {"mode",
                       "identity.key_file",
                       "network.listen",
                       "network.external_ip",
                       "network.tcp_port",
                       "network.tcp6_port",
                       "enr.eth",
                       "enr.extra",
                       "protocols",
                       "bootnodes",
                       "dataplane.backend",
                       "dataplane.workers",
                       "dataplane.socket.rcvbuf",
                       "dataplane.socket.sndbuf",
                       "dataplane.dpdk.eal_args",
                       "dataplane.dpdk.port",
                       "dataplane.dpdk.rx_queue_size",
                       "dataplane.dpdk.tx_queue_size",
                       "dataplane.dpdk.mempool_size",
                       "dataplane.dpdk.ipv4",
                       "dataplane.dpdk.ipv6",
                       "dataplane.dpdk.gateway_mac",
                       "dataplane.dpdk.vlan",
                       "dataplane.dpdk.allow_martian",
                       "timers.revalidate_interval.discv4",
                       "timers.revalidate_interval.discv5",
                       "timers.lookup_interval.discv4",
                       "timers.lookup_interval.discv5",
                       "timers.prune_interval",
                       "timers.snapshot_interval",
                       "table.bucket_size",
                       "table.replacements",
                       "table.bucket_ip_limit",
                       "table.table_ip_limit",
                       "table.ip_limit_exempt",
                       "discv4.bond_lifetime",
                       "discv4.request_timeout",
                       "discv4.amplification_burst_per_ip",
                       "discv4.amplification_burst_global",
                       "discv4.request_rate_per_ip",
                       "discv4.request_rate_per_node",
                       "discv5.max_sessions",
                       "discv5.session_idle_timeout",
                       "discv5.whoareyou_rate_per_ip",
                       "discv5.whoareyou_rate_global",
                       "discv5.request_rate_per_ip",
                       "discv5.request_rate_per_node",
                       "discv5.request_timeout",
                       "api.listen",
                       "logging.level",
                       "node_db.path",
                       "node_db.save_interval",
                       "crawl.lookup_interval",
                       "crawl.output",
                       "crawl.write_interval",
                       "crawl.progress_interval",
                       "crawl.resume",
                       "crawl.event_ring",
                       "bootnode.refresh_interval",
                       "fork_filter.accept",
                       "fork_filter.require_eth",
                       "dns_discovery.urls",
                       "dns_discovery.server",
                       "dns_discovery.resync_interval",
                       "dns_discovery.query_timeout",
                       "dns_discovery.max_entries",
                       "logging.packet_log_rate",
                       "policy.ban.node_ids",
                       "policy.ban.ips",
                       "policy.ban.cidrs",
                       "policy.ban.file",
                       "policy.allow"};
  for (const char* key : all) {
    INFO(key);
    CHECK(std::count(keys.begin(), keys.end(), key) == 1);
  }
  CHECK(keys.size() == std::size(all));
}

TEST_CASE("every example config in conf/ loads and validates", "[control][config]") {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kConfDir)) {
    if (entry.path().extension() != ".yaml") {
      continue;
    }
    ++count;
    auto loaded = load_config(entry.path());
    INFO(entry.path().string() << ": " << (loaded ? "ok" : loaded.error().to_string()));
    REQUIRE(loaded.has_value());
    CHECK(loaded->validate().has_value());
  }
  CHECK(count >= 6);

  auto tap = load_config(kConfDir / "dpdk-tap.yaml");
  REQUIRE(tap);
  CHECK(tap->dataplane.backend == Backend::kDpdk);
  REQUIRE(tap->dataplane.dpdk.ipv4);
  CHECK(tap->dataplane.dpdk.ipv4->to_string() == "169.254.10.2/24");
  const auto& eal = tap->dataplane.dpdk.eal_args;
  for (const char* arg :
       {"--no-huge", "--no-pci", "-m", "1024", "--vdev=net_tap0,iface=dptap0", "--file-prefix"}) {
    INFO(arg);
    CHECK(std::count(eal.begin(), eal.end(), arg) == 1);
  }

  auto afp = load_config(kConfDir / "dpdk-af-packet.yaml");
  REQUIRE(afp);
  CHECK(std::any_of(afp->dataplane.dpdk.eal_args.begin(), afp->dataplane.dpdk.eal_args.end(),
                    [](const std::string& a) { return a.starts_with("--vdev=net_af_packet"); }));

  auto xdp = load_config(kConfDir / "dpdk-af-xdp.yaml");
  REQUIRE(xdp);
  CHECK(xdp->dataplane.backend == Backend::kDpdk);
  CHECK(std::any_of(xdp->dataplane.dpdk.eal_args.begin(), xdp->dataplane.dpdk.eal_args.end(),
                    [](const std::string& a) { return a.starts_with("--vdev=net_af_xdp0,"); }));
  REQUIRE(xdp->dataplane.dpdk.ipv4);
  CHECK(xdp->dataplane.dpdk.ipv4->to_string() == "169.254.40.2/24");

  auto pci = load_config(kConfDir / "dpdk-pci.yaml");
  REQUIRE(pci);
  const auto& pci_eal = pci->dataplane.dpdk.eal_args;
  CHECK(std::count(pci_eal.begin(), pci_eal.end(), "0000:01:00.0") == 1);
  CHECK(std::count(pci_eal.begin(), pci_eal.end(), "--no-huge") == 0);

  auto mainnet = load_config(kConfDir / "mainnet.yaml");
  REQUIRE(mainnet);
  CHECK(mainnet->dataplane.backend == Backend::kSocket);
  REQUIRE(mainnet->network.listen.size() == 1);
  CHECK(mainnet->network.listen[0].to_string() == "0.0.0.0:30303");
  CHECK(mainnet->bootnodes.size() == 4);
  for (const auto& b : mainnet->bootnodes) {
    CHECK(b.starts_with("enode://"));
    REQUIRE(b.size() > 8 + 128);
    Bytes pubkey;
    CHECK(from_hex(b.substr(8, 128), pubkey));  // 64-byte public key in hex
    CHECK(b[8 + 128] == '@');
    CHECK(b.ends_with(":30303"));
  }
}

TEST_CASE("values written in YAML reach the struct", "[control][config]") {
  auto c = parse_config(R"(
mode: crawl
network:
  listen: "[fd00::2]:9000"
  external_ip: 198.51.100.7
protocols: [discv5]
bootnodes: ["enr:-abc", "enode://00@1.2.3.4:1"]
dataplane:
  backend: dpdk
  dpdk:
    eal_args: [--no-huge]
    port: 2
    ipv4: 169.254.10.2/24
    ipv6: fd00::2/64
    gateway_mac: 02:aB:00:00:00:ff
    vlan: 42
timers:
  lookup_interval: {discv5: 1h30m}
  snapshot_interval: 250ms
discv4: {bond_lifetime: 6h}
logging: {level: debug}
)");
  INFO((c ? "" : c.error().to_string()));
  REQUIRE(c);
  CHECK(c->mode == Mode::kCrawl);
  REQUIRE(c->network.listen.size() == 1);
  CHECK(c->network.listen[0].to_string() == "[fd00::2]:9000");
  REQUIRE(c->network.external_ip.size() == 1);
  CHECK(c->network.external_ip[0].to_string() == "198.51.100.7");
  CHECK(c->protocols == std::vector<Protocol>{Protocol::kDiscv5});
  CHECK(c->runs(Protocol::kDiscv5));
  CHECK_FALSE(c->runs(Protocol::kDiscv4));
  CHECK(c->bootnodes.size() == 2);
  CHECK(c->dataplane.dpdk.port == 2);
  CHECK(c->dataplane.dpdk.ipv6->prefix_length == 64);
  CHECK(*c->dataplane.dpdk.gateway_mac == MacAddress{0x02, 0xab, 0x00, 0x00, 0x00, 0xff});
  CHECK(c->dataplane.dpdk.vlan == std::optional<std::uint16_t>(42));
  CHECK(c->timers.lookup_interval.discv5 == 90min);
  CHECK(c->timers.lookup_interval.discv4 == Config{}.timers.lookup_interval.discv4);
  CHECK(c->timers.snapshot_interval == 250ms);
  CHECK(c->discv4.bond_lifetime == 6h);
  CHECK(c->logging.level == LogLevel::kDebug);

  auto empty = parse_config("");
  REQUIRE(empty);
  CHECK(*empty == Config{});
}

TEST_CASE("durations parse and format", "[control][config]") {
  CHECK(parse_duration("500ms") == Duration(500));
  CHECK(parse_duration("10s") == Duration(10'000));
  CHECK(parse_duration("5m") == Duration(300'000));
  CHECK(parse_duration("12h") == Duration(43'200'000));
  CHECK(parse_duration("1h30m") == Duration(5'400'000));
  CHECK(parse_duration("1m500ms") == Duration(60'500));
  for (const char* bad : {"", "10", "s", "ms", "0s", "0ms", "-5s", "5 s", "5x", "1.5s", "10S",
                          "99999999999999999999h", "9223372036854775807h"}) {
    INFO(bad);
    CHECK_FALSE(parse_duration(bad).has_value());
  }
  for (auto d : {Duration(500), Duration(10'000), Duration(5'400'000), Duration(60'500)}) {
    CHECK(parse_duration(format_duration(d)) == d);
  }
  CHECK(format_duration(Duration(5'400'000)) == "1h30m");
}

TEST_CASE("error: unknown key names file, line, column and key", "[control][config]") {
  test::TempDir dir;
  auto e = load_error(dir, "network:\n  listen: 127.0.0.1:30303\n  lisen: 1.2.3.4:5\n");
  CHECK(e.line == 3);
  CHECK(e.column == 3);
  CHECK(e.key == "network.lisen");
  CHECK(contains(e.message, "unknown key"));
  CHECK(e.to_string() == (dir / "bad.yaml").string() + ":3:3: network.lisen: " + e.message);

  auto top = load_error(dir, "mode: node\nbogus: 1\n");
  CHECK(top.line == 2);
  CHECK(top.key == "bogus");

  auto deep = load_error(dir, "dataplane:\n  dpdk:\n    port: 0\n    queue: 5\n");
  CHECK(deep.line == 4);
  CHECK(deep.key == "dataplane.dpdk.queue");

  auto twice = load_error(dir, "mode: node\nmode: crawl\n");
  CHECK(twice.line == 2);
  CHECK(twice.key == "mode");
}

TEST_CASE("error: wrong type", "[control][config]") {
  test::TempDir dir;
  auto list = load_error(dir, "table:\n  bucket_size: [1, 2]\n");
  CHECK(list.line == 2);
  CHECK(list.column == 16);
  CHECK(list.key == "table.bucket_size");
  CHECK(contains(list.message, "expected an unsigned integer"));

  auto word = load_error(dir, "mode: node\ntable:\n  replacements: ten\n");
  CHECK(word.line == 3);
  CHECK(word.key == "table.replacements");

  auto negative = load_error(dir, "dataplane:\n  dpdk:\n    port: -1\n");
  CHECK(negative.line == 3);
  CHECK(negative.key == "dataplane.dpdk.port");

  auto scalar_list = load_error(dir, "protocols: discv4\n");
  CHECK(scalar_list.line == 1);
  CHECK(scalar_list.key == "protocols");
  CHECK(contains(scalar_list.message, "expected a list"));

  auto map_as_scalar = load_error(dir, "network: 127.0.0.1:30303\n");
  CHECK(map_as_scalar.key == "network");
  CHECK(contains(map_as_scalar.message, "expected a mapping"));

  auto amp = load_error(dir, "mode: node\ndiscv4:\n  amplification_burst_per_ip: 100\n");
  CHECK(amp.key == "discv4.amplification_burst_per_ip");
  CHECK(amp.line == 3);
  auto range = load_error(dir, "dataplane:\n  dpdk:\n    rx_queue_size: 1000\n");
  CHECK(range.key == "dataplane.dpdk.rx_queue_size");
  CHECK(contains(range.message, "power of two"));
}

TEST_CASE("network.listen and external_ip: one endpoint or one per family (dual-stack)",
          "[control][config]") {
  auto def = parse_config("mode: node\n");
  REQUIRE(def);
  CHECK(def->network.listen == std::vector<Endpoint>{*Endpoint::parse("0.0.0.0:30303")});
  CHECK(def->network.external_ip.empty());  // auto

  auto dual = parse_config(
      "network:\n  listen: [127.0.0.1:30303, \"[::1]:30304\"]\n"
      "  external_ip: [\"::1\", 127.0.0.1]\n");
  INFO((dual ? "" : dual.error().to_string()));
  REQUIRE(dual);
  REQUIRE(dual->network.listen.size() == 2);
  CHECK(dual->network.listen_of(IpAddress::Family::kV4)->to_string() == "127.0.0.1:30303");
  CHECK(dual->network.listen_of(IpAddress::Family::kV6)->to_string() == "[::1]:30304");
  CHECK(dual->network.external_ip_of(IpAddress::Family::kV4) == IpAddress::v4(127, 0, 0, 1));
  CHECK(dual->network.external_ip_of(IpAddress::Family::kV6) == IpAddress::parse("::1"));

  // One family static, the other learned from votes.
  auto half =
      parse_config("network:\n  listen: [0.0.0.0:1, \"[::]:1\"]\n  external_ip: 10.0.0.1\n");
  REQUIRE(half);
  CHECK(half->network.external_ip_of(IpAddress::Family::kV4).has_value());
  CHECK_FALSE(half->network.external_ip_of(IpAddress::Family::kV6).has_value());
  CHECK(parse_config("network:\n  external_ip: auto\n")->network.external_ip.empty());

  test::TempDir dir;
  auto two4 = load_error(dir, "network:\n  listen:\n    - 127.0.0.1:1\n    - 127.0.0.2:2\n");
  CHECK(two4.key == "network.listen[1]");
  CHECK(two4.line == 4);
  CHECK(contains(two4.message, "a second IPv4 endpoint"));
  auto empty = load_error(dir, "network:\n  listen: []\n");
  CHECK(empty.key == "network.listen");
  CHECK(contains(empty.message, "empty list"));
  auto two6 = load_error(dir,
                         "network:\n  listen: [\"[::1]:1\", 127.0.0.1:1]\n"
                         "  external_ip: [\"::1\", \"::2\"]\n");
  CHECK(two6.key == "network.external_ip[1]");
  CHECK(contains(two6.message, "a second IPv6 address"));
  auto auto_in_list = load_error(dir, "network:\n  external_ip: [auto]\n");
  CHECK(auto_in_list.key == "network.external_ip[0]");

  // --check-config's family check: an address we announce must be of a family we listen on.
  auto v6_on_v4 = load_error(dir, "network:\n  listen: 127.0.0.1:30303\n  external_ip: \"::1\"\n");
  CHECK(v6_on_v4.key == "network.external_ip");
  CHECK(v6_on_v4.line == 3);
  CHECK(contains(v6_on_v4.message, "is IPv6 but no network.listen endpoint is"));
  auto v4_on_v6 =
      load_error(dir, "network:\n  listen: \"[::]:30303\"\n  external_ip: 198.51.100.1\n");
  CHECK(v4_on_v6.key == "network.external_ip");
  CHECK(contains(v4_on_v6.message, "is IPv4 but"));
  // DPDK: the port serves the families it has an address for, on one UDP port.
  auto dpdk_v6 = load_error(dir,
                            "network:\n  listen: 0.0.0.0:30303\n  external_ip: \"fd00::1\"\n"
                            "dataplane:\n  backend: dpdk\n  dpdk:\n    eal_args: [--no-huge]\n"
                            "    ipv4: 169.254.1.1/24\n");
  CHECK(dpdk_v6.key == "network.external_ip");
  CHECK(contains(dpdk_v6.message, "needs dataplane.dpdk.ipv6"));
  auto dpdk_ports = load_error(dir,
                               "network:\n  listen: [0.0.0.0:30303, \"[::]:30304\"]\n"
                               "dataplane:\n  backend: dpdk\n  dpdk:\n    eal_args: [--no-huge]\n"
                               "    ipv4: 169.254.1.1/24\n    ipv6: fd00::1/64\n");
  CHECK(dpdk_ports.key == "network.listen");
  CHECK(contains(dpdk_ports.message, "one UDP port"));
}

TEST_CASE("error: bad addresses and names", "[control][config]") {
  test::TempDir dir;
  auto addr = load_error(dir, "mode: node\nnetwork:\n  listen: 300.1.2.3:30303\n");
  CHECK(addr.line == 3);
  CHECK(addr.column == 11);
  CHECK(addr.key == "network.listen");
  CHECK(contains(addr.message, "bad address"));

  auto port0 = load_error(dir, "network:\n  listen: 127.0.0.1:0\n");
  CHECK(port0.line == 2);
  CHECK(port0.key == "network.listen");
  CHECK(contains(port0.message, "port 0"));

  auto bare_v6 = load_error(dir, "api:\n  listen: ::1:30380\n");
  CHECK(bare_v6.key == "api.listen");

  auto external = load_error(dir, "network:\n  external_ip: example.com\n");
  CHECK(external.key == "network.external_ip");

  auto no_prefix = load_error(dir, "dataplane:\n  dpdk:\n    ipv4: 169.254.10.2\n");
  CHECK(no_prefix.line == 3);
  CHECK(no_prefix.key == "dataplane.dpdk.ipv4");

  auto wrong_family = load_error(dir, "dataplane:\n  dpdk:\n    ipv4: fd00::2/64\n");
  CHECK(wrong_family.key == "dataplane.dpdk.ipv4");

  auto mac = load_error(dir, "dataplane:\n  dpdk:\n    gateway_mac: 02:00:00:00:00\n");
  CHECK(mac.key == "dataplane.dpdk.gateway_mac");

  auto proto = load_error(dir, "protocols:\n  - discv4\n  - discv6\n");
  CHECK(proto.line == 3);
  CHECK(proto.key == "protocols[1]");
  CHECK(contains(proto.message, "unknown protocol \"discv6\""));

  auto dup = load_error(dir, "protocols: [discv5, discv5]\n");
  CHECK(dup.key == "protocols[1]");

  auto backend = load_error(dir, "dataplane:\n  backend: xdp\n");
  CHECK(backend.line == 2);
  CHECK(backend.key == "dataplane.backend");
  CHECK(contains(backend.message, "unknown backend"));

  auto level = load_error(dir, "logging:\n  level: trace\n");
  CHECK(level.key == "logging.level");

  auto boot = load_error(dir, "bootnodes:\n  - enode://ab@1.2.3.4:30303\n  - http://x\n");
  CHECK(boot.line == 3);
  CHECK(boot.key == "bootnodes[1]");
}

TEST_CASE("error: bad duration", "[control][config]") {
  test::TempDir dir;
  auto e = load_error(dir, "timers:\n  revalidate_interval:\n    discv5: 10 seconds\n");
  CHECK(e.line == 3);
  CHECK(e.column == 13);
  CHECK(e.key == "timers.revalidate_interval.discv5");
  CHECK(contains(e.message, "bad duration"));

  auto zero = load_error(dir, "discv4:\n  bond_lifetime: 0s\n");
  CHECK(zero.key == "discv4.bond_lifetime");
  auto unitless = load_error(dir, "timers:\n  prune_interval: 60\n");
  CHECK(unitless.key == "timers.prune_interval");
}

TEST_CASE("error: dpdk backend without eal_args or address", "[control][config]") {
  test::TempDir dir;
  auto e = load_error(
      dir, "mode: node\ndataplane:\n  backend: dpdk\n  dpdk:\n    ipv4: 169.254.10.2/24\n");
  CHECK(e.key == "dataplane.dpdk.eal_args");
  CHECK(e.line == 4);  // eal_args is missing: its nearest written parent, "dpdk:"
  CHECK(contains(e.message, "EAL"));

  auto no_dpdk = load_error(dir, "dataplane:\n  backend: dpdk\n");
  CHECK(no_dpdk.key == "dataplane.dpdk.eal_args");
  CHECK(no_dpdk.line == 1);

  auto no_addr =
      load_error(dir, "dataplane:\n  backend: dpdk\n  dpdk:\n    eal_args: [--no-huge]\n");
  CHECK(no_addr.key == "dataplane.dpdk.ipv4");

  auto mismatch = load_error(dir,
                             "network:\n  listen: 10.0.0.1:30303\ndataplane:\n  backend: dpdk\n"
                             "  dpdk:\n    eal_args: [--no-huge]\n    ipv4: 169.254.10.2/24\n");
  CHECK(mismatch.key == "network.listen");
  CHECK(mismatch.line == 2);

  auto pool = load_error(dir,
                         "dataplane:\n  backend: dpdk\n  dpdk:\n    eal_args: [--no-huge]\n"
                         "    ipv4: 169.254.10.2/24\n    mempool_size: 2048\n");
  CHECK(pool.key == "dataplane.dpdk.mempool_size");
  CHECK(pool.line == 6);

  // The same dpdk section is fine while the backend is socket.
  auto ok = parse_config("dataplane:\n  backend: socket\n  dpdk:\n    ipv4: 169.254.10.2/24\n");
  CHECK(ok.has_value());
}

TEST_CASE("dataplane.workers: default 1, 1..16, socket and dpdk backends", "[control][config]") {
  test::TempDir dir;
  auto def = parse_config("mode: node\n");
  REQUIRE(def.has_value());
  CHECK(def->dataplane.workers == 1);
  auto four = parse_config("dataplane:\n  workers: 4\n");
  REQUIRE(four.has_value());
  CHECK(four->dataplane.workers == 4);

  auto zero = load_error(dir, "mode: node\ndataplane:\n  workers: 0\n");
  CHECK(zero.key == "dataplane.workers");
  CHECK(zero.line == 3);
  auto many = load_error(dir, "dataplane:\n  workers: 17\n");
  CHECK(many.key == "dataplane.workers");
  CHECK(many.line == 2);
  auto text = load_error(dir, "dataplane:\n  workers: two\n");
  CHECK(text.key == "dataplane.workers");

  // The DPDK backend takes N workers too (DpdkPortGroup: RSS queues or the software
  // distributor); whether the port can is checked when it is set up.
  auto dpdk = parse_config(
      "dataplane:\n  backend: dpdk\n  workers: 2\n  dpdk:\n"
      "    eal_args: [--no-huge]\n    ipv4: 169.254.10.2/24\n");
  REQUIRE(dpdk.has_value());
  CHECK(dpdk->dataplane.workers == 2);
  CHECK(dpdk->dataplane.backend == Backend::kDpdk);
}

TEST_CASE("error: empty protocols and table limits", "[control][config]") {
  test::TempDir dir;
  auto e = load_error(dir, "mode: node\nprotocols: []\n");
  CHECK(e.key == "protocols");
  CHECK(e.line == 2);
  CHECK(e.column == 1);
  CHECK(contains(e.message, "at least one protocol"));

  auto limits = load_error(dir, "table:\n  bucket_size: 4\n  bucket_ip_limit: 5\n");
  CHECK(limits.key == "table.bucket_ip_limit");
  CHECK(limits.line == 3);

  Config c;
  c.protocols.clear();
  auto v = c.validate();
  REQUIRE_FALSE(v);
  CHECK(v.error().key == "protocols");
  CHECK(v.error().line == 0);
}

TEST_CASE("table.ip_limit_exempt: CIDR list, empty by default, errors name file, line and key",
          "[control][config]") {
  auto def = parse_config("mode: node\n");
  REQUIRE(def);
  CHECK(def->table.ip_limit_exempt.empty());
  auto two = parse_config("table:\n  ip_limit_exempt: [127.0.0.0/8, \"::1\", 10.1.2.3/16]\n");
  REQUIRE(two);
  REQUIRE(two->table.ip_limit_exempt.size() == 3);
  CHECK(two->table.ip_limit_exempt[0].contains(IpAddress::v4(127, 9, 9, 9)));
  CHECK(two->table.ip_limit_exempt[1].contains(*IpAddress::parse("::1")));
  CHECK(two->table.ip_limit_exempt[2].contains(IpAddress::v4(10, 1, 200, 1)));
  CHECK_FALSE(two->table.ip_limit_exempt[2].contains(IpAddress::v4(10, 2, 0, 1)));

  test::TempDir dir;
  auto bad = load_error(dir,
                        "mode: node\ntable:\n  ip_limit_exempt:\n    - 127.0.0.0/8\n    - "
                        "127.0.0.0/33\n");
  CHECK(bad.key == "table.ip_limit_exempt[1]");
  CHECK(bad.line == 5);
  CHECK(contains(bad.message, "bad CIDR"));
  auto scalar = load_error(dir, "table:\n  ip_limit_exempt: 127.0.0.0/8\n");
  CHECK(scalar.key == "table.ip_limit_exempt");
  CHECK(scalar.line == 2);
  CHECK(contains(scalar.message, "expected a list"));
  // The flags this list replaced are unknown keys now.
  auto old = load_error(dir, "table:\n  ip_limit_exempt_local: false\n");
  CHECK(old.key == "table.ip_limit_exempt_local");
  CHECK(old.line == 2);
}

TEST_CASE("dataplane.socket: buffer sizes in bytes, 8 MiB by default, 0 = kernel default",
          "[control][config]") {
  auto def = parse_config("mode: node\n");
  REQUIRE(def);
  CHECK(def->dataplane.socket.rcvbuf == 8u << 20);
  CHECK(def->dataplane.socket.sndbuf == 8u << 20);
  auto set = parse_config("dataplane:\n  socket:\n    rcvbuf: 0\n    sndbuf: 1048576\n");
  REQUIRE(set);
  CHECK(set->dataplane.socket.rcvbuf == 0);
  CHECK(set->dataplane.socket.sndbuf == 1u << 20);

  test::TempDir dir;
  auto big = load_error(dir, "dataplane:\n  socket:\n    rcvbuf: 4294967295\n");
  CHECK(big.key == "dataplane.socket.rcvbuf");
  CHECK(big.line == 3);
  auto word = load_error(dir, "dataplane:\n  socket:\n    sndbuf: 8MiB\n");
  CHECK(word.key == "dataplane.socket.sndbuf");
  CHECK(word.line == 3);
  auto unknown = load_error(dir, "dataplane:\n  socket:\n    rcvbuf_force: true\n");
  CHECK(unknown.key == "dataplane.socket.rcvbuf_force");
}

TEST_CASE("request rate limits and dataplane.dpdk.allow_martian: values and errors",
          "[control][config]") {
  auto def = parse_config("mode: node\n");
  REQUIRE(def);
  CHECK(def->discv4.request_rate_per_ip == 100);
  CHECK(def->discv4.request_rate_per_node == 10);
  CHECK(def->discv5.request_rate_per_ip == 100);
  CHECK(def->discv5.request_rate_per_node == 10);
  CHECK(def->dataplane.dpdk.allow_martian.empty());
  auto set = parse_config(
      "discv4:\n  request_rate_per_ip: 0\n  request_rate_per_node: 3\n"
      "discv5:\n  request_rate_per_ip: 7\n"
      "dataplane:\n  dpdk:\n    allow_martian: [127.0.0.0/8]\n");
  REQUIRE(set);
  CHECK(set->discv4.request_rate_per_ip == 0);
  CHECK(set->discv4.request_rate_per_node == 3);
  CHECK(set->discv5.request_rate_per_ip == 7);
  CHECK(set->discv5.request_rate_per_node == 10);
  REQUIRE(set->dataplane.dpdk.allow_martian.size() == 1);
  CHECK(set->dataplane.dpdk.allow_martian[0].contains(IpAddress::v4(127, 1, 2, 3)));

  test::TempDir dir;
  auto rate = load_error(dir, "mode: node\ndiscv5:\n  request_rate_per_node: fast\n");
  CHECK(rate.key == "discv5.request_rate_per_node");
  CHECK(rate.line == 3);
  auto huge = load_error(dir, "discv4:\n  request_rate_per_ip: 2000000\n");
  CHECK(huge.key == "discv4.request_rate_per_ip");
  CHECK(huge.line == 2);
  auto martian =
      load_error(dir, "dataplane:\n  dpdk:\n    allow_martian: [127.0.0.0/8, loopback]\n");
  CHECK(martian.key == "dataplane.dpdk.allow_martian[1]");
  CHECK(martian.line == 3);
  CHECK(contains(martian.message, "bad CIDR"));
}

TEST_CASE("error: malformed YAML and missing file", "[control][config]") {
  test::TempDir dir;
  auto e = load_error(dir, "mode: node\nnetwork:\n  listen: [127.0.0.1\n  external_ip: auto\n");
  CHECK(e.key.empty());
  CHECK(e.line >= 3);
  CHECK(e.column >= 1);
  CHECK_FALSE(e.message.empty());
  CHECK(
      e.to_string().starts_with((dir / "bad.yaml").string() + ":" + std::to_string(e.line) + ":"));

  auto tab = load_error(dir, "network:\n\tlisten: 127.0.0.1:1\n");
  CHECK(tab.line == 2);
  CHECK(tab.key.empty());

  const auto missing = dir / "nope.yaml";
  auto m = load_config(missing);
  REQUIRE_FALSE(m);
  CHECK(m.error().file == missing.string());
  CHECK(m.error().line == 0);
  CHECK(m.error().to_string() == missing.string() + ": cannot open file");
}

TEST_CASE("dns_discovery: values and errors with file, line and key", "[control][config]") {
  // The EIP-1459 example list.
  const std::string url =
      "enrtree://AM5FCQLWIZX2QFPNJAP7VUERCCRNGRHWZG3YYHIUV7BVDQ5FDPRT2@nodes.example.org";
  auto ok = parse_config("dns_discovery:\n  urls:\n    - " + url +
                         "\n  server: 127.0.0.1:5353\n  resync_interval: 5m\n"
                         "  query_timeout: 500ms\n  max_entries: 100\n");
  REQUIRE(ok.has_value());
  CHECK(ok->dns_discovery.urls == std::vector<std::string>{url});
  CHECK(ok->dns_discovery.server == "127.0.0.1:5353");
  CHECK(ok->dns_discovery.resync_interval == 5min);
  CHECK(ok->dns_discovery.query_timeout == 500ms);
  CHECK(ok->dns_discovery.max_entries == 100);
  CHECK(parse_config("dns_discovery:\n  server: \"10.0.0.1\"\n").has_value());
  CHECK(parse_config("dns_discovery:\n  server: \"[::1]:53\"\n").has_value());
  CHECK(Config{}.dns_discovery.urls.empty());

  test::TempDir dir;
  auto scheme = load_error(dir, "dns_discovery:\n  urls:\n    - https://nodes.example.org\n");
  CHECK(scheme.line == 3);
  CHECK(scheme.key == "dns_discovery.urls[0]");
  CHECK(contains(scheme.message, "bad enrtree URL"));

  // One base32 character changed: no longer a point on the curve.
  auto key =
      load_error(dir, "dns_discovery:\n  urls:\n    - " + url + "\n    - " +
                          "enrtree://AM5FCQLWIZX2QFPNJAP7VUERCCRNGRHWZG3YYHIUV7BVDQ5FDPRT3@x.org"
                          "\n");
  CHECK(key.line == 4);
  CHECK(key.key == "dns_discovery.urls[1]");
  CHECK(contains(key.message, "public key"));

  auto server = load_error(dir, "dns_discovery:\n  server: dns.example.org\n");
  CHECK(server.line == 2);
  CHECK(server.key == "dns_discovery.server");
  CHECK(contains(server.message, "bad DNS server"));

  auto interval = load_error(dir, "dns_discovery:\n  resync_interval: often\n");
  CHECK(interval.key == "dns_discovery.resync_interval");
  auto entries = load_error(dir, "dns_discovery:\n  max_entries: 0\n");
  CHECK(entries.key == "dns_discovery.max_entries");
  auto unknown = load_error(dir, "dns_discovery:\n  url: []\n");
  CHECK(unknown.key == "dns_discovery.url");
}

TEST_CASE("network.tcp_port and enr: values reach the struct", "[control][config]") {
  auto ok = parse_config(
      "network:\n  tcp_port: 30304\n  tcp6_port: 30305\n"
      "enr:\n  eth: {hash: \"0x9f3d2254\", next: 1710338135}\n"
      "  extra:\n    - {key: foo, value: \"0x83626172\"}\n    - {key: \"les\", value: \"c180\"}\n");
  REQUIRE(ok.has_value());
  CHECK(ok->network.tcp_port == 30304);
  CHECK(ok->network.tcp6_port == 30305);
  REQUIRE(ok->enr.eth);
  CHECK(ok->enr.eth->hash == ByteArray<4>{0x9f, 0x3d, 0x22, 0x54});
  CHECK(ok->enr.eth->next == 1710338135);
  REQUIRE(ok->enr.extra.size() == 2);
  CHECK(ok->enr.extra[0].key == "foo");
  CHECK(ok->enr.extra[0].value == Bytes{0x83, 'b', 'a', 'r'});
  CHECK(ok->enr.extra[1].key == "les");
  CHECK(ok->enr.extra[1].value == Bytes{0xc1, 0x80});
  // "eth:" with nothing is no entry, as is the default.
  auto none = parse_config("enr:\n  eth:\n  extra: []\n");
  REQUIRE(none.has_value());
  CHECK_FALSE(none->enr.eth);
  CHECK(none->enr == Config{}.enr);
  CHECK(Config{}.network.tcp_port == 0);
  CHECK(Config{}.network.tcp6_port == 0);
}

TEST_CASE("error: bad tcp ports and ENR entries name file, line and key", "[control][config]") {
  test::TempDir dir;
  auto port = load_error(dir, "network:\n  tcp_port: 70000\n");
  CHECK(port.line == 2);
  CHECK(port.key == "network.tcp_port");
  auto port6 = load_error(dir, "network:\n  tcp6_port: -1\n");
  CHECK(port6.key == "network.tcp6_port");

  auto hash = load_error(dir, "enr:\n  eth: {hash: \"0x9f3d22\"}\n");
  CHECK(hash.line == 2);
  CHECK(hash.key == "enr.eth.hash");
  auto no_hash = load_error(dir, "enr:\n  eth: {next: 5}\n");
  CHECK(no_hash.key == "enr.eth");

  // Keys the appliance writes itself.
  for (const std::string reserved :
       {"id", "secp256k1", "ip", "ip6", "udp", "udp6", "tcp", "tcp6", "eth"}) {
    INFO(reserved);
    auto e = load_error(dir, "enr:\n  extra:\n    - {key: foo, value: \"0x80\"}\n    - {key: " +
                                 reserved + ", value: \"0x80\"}\n");
    CHECK(e.line == 4);
    CHECK(e.key == "enr.extra[1].key");
    CHECK(contains(e.message, "written by discplane itself"));
  }
  auto eth = load_error(dir, "enr:\n  extra:\n    - {key: eth, value: \"0xc0\"}\n");
  CHECK(contains(eth.message, "use enr.eth"));

  auto dup = load_error(dir,
                        "enr:\n  extra:\n    - {key: foo, value: \"0x80\"}\n"
                        "    - {key: foo, value: \"0x01\"}\n");
  CHECK(dup.line == 4);
  CHECK(dup.key == "enr.extra[1]");
  CHECK(contains(dup.message, "duplicate ENR key"));

  auto spaced = load_error(dir, "enr:\n  extra:\n    - {key: \"a b\", value: \"0x80\"}\n");
  CHECK(spaced.key == "enr.extra[0].key");
  CHECK(contains(spaced.message, "printable"));

  // Not hex; an RLP string whose length prefix overruns; two items; empty.
  for (const std::string value : {"\"zz\"", "\"0x83ab\"", "\"0x8080\"", "\"0x\""}) {
    INFO(value);
    auto e = load_error(dir, "enr:\n  extra:\n    - {key: foo, value: " + value + "}\n");
    CHECK(e.line == 3);
    CHECK(e.key == "enr.extra[0].value");
    CHECK(contains(e.message, "bad ENR value"));
  }
  auto no_value = load_error(dir, "enr:\n  extra:\n    - {key: foo}\n");
  CHECK(no_value.key == "enr.extra[0]");
  CHECK(contains(no_value.message, "needs \"key\" and \"value\""));
  auto unknown = load_error(dir, "enr:\n  extras: []\n");
  CHECK(unknown.key == "enr.extras");
}

TEST_CASE("error: ENR entries that could make our record exceed 300 bytes", "[control][config]") {
  // A 60-byte value fits beside both addresses and all four ports; a 120-byte one does not.
  auto entry = [](std::size_t n) {
    std::string hex = "0xb8" + std::string(1, "0123456789abcdef"[n >> 4]) +
                      std::string(1, "0123456789abcdef"[n & 15]);
    for (std::size_t i = 0; i < n; ++i) {
      hex += "61";
    }
    return hex;
  };
  REQUIRE(parse_config("enr:\n  extra:\n    - {key: a, value: \"" + entry(60) + "\"}\n"));
  test::TempDir dir;
  auto big = load_error(dir,
                        "enr:\n  eth: {hash: \"0x9f3d2254\"}\n  extra:\n"
                        "    - {key: a, value: \"" +
                            entry(120) + "\"}\n");
  CHECK(big.line == 3);
  CHECK(big.key == "enr.extra");
  CHECK(contains(big.message, "300"));
}
