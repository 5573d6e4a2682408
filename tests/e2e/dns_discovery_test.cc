// End to end: EIP-1459 DNS discovery against a real DNS server. Each test builds and signs a
// tree, serves it with dnsmasq on a free loopback port (TXT records over UDP, strings over 255
// bytes split as DNS requires), and resolves it with our c-ares client: the sync verifies it,
// refuses a tree signed by another key, and a running discplane seeded only from the tree
// contacts the listed nodes. dnsmasq (Debian dnsmasq-base) is required: without it the tests
// fail, naming scripts/install-deps.sh.
#include "discplane/control/dns_discovery.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include <catch2/catch.hpp>

#include "discplane/control/dns_client.h"
#include "discplane/control/enrtree.h"
#include "discplane/control/metrics.h"

#include "e2e/process.h"

using namespace e2e;
using namespace discplane;
using namespace discplane::control;
using namespace std::chrono_literals;

namespace {

constexpr const char* kDnsmasq = "/usr/sbin/dnsmasq";

// dnsmasq serving `records` (full name -> TXT text) on 127.0.0.1:<port>.
struct Dnsmasq {
  std::unique_ptr<Process> proc;
  std::uint16_t port = 0;
  std::string server() const { return "127.0.0.1:" + std::to_string(port); }

  // port 0: a free one.
  static std::unique_ptr<Dnsmasq> start(const TempDir& dir,
                                        const std::map<std::string, std::string>& records,
                                        std::uint16_t port = 0) {
    INFO(
        "dnsmasq is needed for the DNS discovery tests: run scripts/install-deps.sh "
        "(Debian package dnsmasq-base)");
    REQUIRE(std::filesystem::exists(kDnsmasq));
    std::ostringstream conf;
    for (const auto& [name, text] : records) {
      // A DNS character-string holds 255 bytes: longer texts go as several, which resolvers
      // join. Quoted, so the commas of a branch stay inside one string.
      conf << "txt-record=" << name;
      for (std::size_t i = 0; i < text.size(); i += 255) {
        conf << ",\"" << text.substr(i, 255) << "\"";
      }
      conf << "\n";
    }
    auto d = std::make_unique<Dnsmasq>();
    d->port = port != 0 ? port : free_port();
    REQUIRE(d->port != 0);
    const std::string conf_path = dir.write("dnsmasq.conf", conf.str());
    d->proc = Process::spawn({kDnsmasq, "--keep-in-foreground", "--conf-file=" + conf_path,
                              "--port=" + std::to_string(d->port), "--listen-address=127.0.0.1",
                              "--bind-interfaces", "--no-resolv", "--no-hosts",
                              // Names under dns.test that are not listed: NXDOMAIN, not REFUSED.
                              "--local=/dns.test/", "--pid-file=" + dir.file("dnsmasq.pid"),
                              "--log-facility=-"});
    REQUIRE(d->proc);
    return d;
  }
};

// Full names -> text for a tree served under `domain`.
void add_tree(std::map<std::string, std::string>& out, const enrtree::BuiltTree& tree,
              const std::string& domain) {
  for (const auto& [name, text] : tree.records) {
    out[name.empty() ? domain : name + "." + domain] = text;
  }
}

crypto::PrivateKey key_of(std::uint8_t n) {
  crypto::PrivateKey k{};
  k[0] = 0x24;
  k[31] = n;
  return k;
}

enr::Record record(std::uint8_t i, std::size_t padding = 0) {
  enr::Builder b;
  b.set_seq(1).set_ip(IpAddress::v4(127, 0, 0, 1)).set_udp(static_cast<std::uint16_t>(40000 + i));
  if (padding > 0) {
    // An unknown key with a long string value: the record's text goes over 255 bytes.
    Bytes value{static_cast<std::uint8_t>(0xb8), static_cast<std::uint8_t>(padding)};
    value.resize(2 + padding, 'x');
    REQUIRE(b.set("zz", value).has_value());
  }
  auto r = b.sign(key_of(static_cast<std::uint8_t>(100 + i)));
  REQUIRE(r.has_value());
  return *r;
}

// Waits (bounded) until the server answers for `name`.
void wait_ready(DnsClient& client, const std::string& name, Dnsmasq& dns) {
  const auto until = Clock::now() + 10s;
  while (Clock::now() < until) {
    if (client.lookup_txt(name).has_value()) {
      return;
    }
    std::this_thread::sleep_for(50ms);
  }
  INFO("dnsmasq stderr:\n" << dns.proc->err_text());
  FAIL("dnsmasq did not answer for " << name);
}

std::unique_ptr<DnsClient> client_for(const Dnsmasq& dns) {
  DnsClient::Options o;
  o.server = dns.server();
  o.timeout = 500ms;
  auto c = DnsClient::create(o);
  REQUIRE(c.has_value());
  return std::move(*c);
}

}  // namespace

TEST_CASE("dnsmasq serves a signed tree; c-ares resolves it and the sync verifies it",
          "[e2e][dns]") {
  TempDir dir;
  REQUIRE(dir.ok());
  std::vector<enr::Record> list_a;
  for (std::uint8_t i = 0; i < 30; ++i) {
    list_a.push_back(record(i, i == 7 ? 150 : 0));
  }
  REQUIRE(enr::to_text(list_a[7]).size() > 255);
  std::vector<enr::Record> list_b = {record(50), record(51)};
  auto b = enrtree::build_tree(key_of(2), "b.dns.test", 4, list_b, {});
  auto a = enrtree::build_tree(key_of(1), "a.dns.test", 9, list_a, {*enrtree::parse_url(b.url)});
  std::map<std::string, std::string> zone;
  add_tree(zone, a, "a.dns.test");
  add_tree(zone, b, "b.dns.test");
  auto dns = Dnsmasq::start(dir, zone);
  auto client = client_for(*dns);
  wait_ready(*client, "a.dns.test", *dns);

  // Raw client: the root, a branch with commas, the long record joined from its strings.
  auto root = client->lookup_txt("a.dns.test");
  REQUIRE(root.has_value());
  REQUIRE(root->size() == 1);
  CHECK(root->front() == a.records.at(""));
  const std::string long_hash = enrtree::entry_hash(enr::to_text(list_a[7]));
  auto long_txt = client->lookup_txt(long_hash + ".a.dns.test");
  REQUIRE(long_txt.has_value());
  CHECK(long_txt->front() == enr::to_text(list_a[7]));
  // DNS names are case-insensitive: a lower-case hash label finds the same entry.
  std::string lower_name = enrtree::entry_hash(enr::to_text(list_a[0])) + ".a.dns.test";
  for (char& ch : lower_name) {
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  auto lower = client->lookup_txt(lower_name);
  REQUIRE(lower.has_value());
  CHECK(lower->front() == enr::to_text(list_a[0]));
  auto missing = client->lookup_txt("nothing.dns.test");
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error() == DnsError::kNotFound);

  // The discovery object over the real server: both trees, every record, as seeds.
  Config::DnsDiscovery cfg;
  cfg.urls = {a.url};
  cfg.server = dns->server();
  cfg.query_timeout = 500ms;
  auto disc = DnsDiscovery::create(cfg, nullptr);
  REQUIRE(disc.has_value());
  const auto t0 = Clock::now();
  auto outcomes = (*disc)->sync_once();
  const auto took = Clock::now() - t0;
  REQUIRE(outcomes.size() == 1);
  REQUIRE(outcomes[0].trees.size() == 2);
  for (const auto& t : outcomes[0].trees) {
    INFO(t.domain << ": " << t.detail);
    CHECK_FALSE(t.error.has_value());
  }
  CHECK(outcomes[0].trees[0].seq == 9);
  CHECK(outcomes[0].trees[1].seq == 4);
  CHECK(outcomes[0].records.size() == 32);
  std::set<std::uint16_t> ports;
  auto take = [&](disc::NodeSeed& s) {
    REQUIRE(s.endpoint4.has_value());
    ports.insert(s.endpoint4->port);
    return true;
  };
  CHECK((*disc)->drain(take, 20) == 20);  // bounded per call
  CHECK((*disc)->drain(take) == 12);
  CHECK(ports.size() == 32);
  CHECK(ports.count(40007) == 1);
  CHECK(ports.count(40051) == 1);
  WARN("full sync of 2 trees, "
       << a.records.size() + b.records.size() << " TXT lookups over "
       << "UDP to dnsmasq: " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
       << " ms");

  // A second pass: roots unchanged, one query per tree, nothing new queued.
  auto again = (*disc)->sync_once();
  CHECK_FALSE(again[0].trees[0].changed);
  CHECK(again[0].trees[0].fetched == 1);
  CHECK((*disc)->drain([](disc::NodeSeed&) { return true; }) == 0);
  // Counters: two passes over two trees = 4 roots read; every lookup counted; 32 records.
  const auto s2 = (*disc)->stats();
  CHECK(s2.syncs == 2);
  CHECK(s2.roots_read == 4);
  CHECK(s2.entries_fetched == a.records.size() + b.records.size() + 2);
  CHECK(s2.seeds_queued == 32);
  CHECK(
      std::all_of(s2.failures.begin(), s2.failures.end(), [](std::uint64_t f) { return f == 0; }));

  // The operator publishes seq 10: one node re-signed with a new seq, one node added. The
  // restarted server answers on the same port; the resync fetches only the new entries and
  // queues exactly the two changed records.
  enr::Builder changed = enr::Builder::from(list_a[3]);
  changed.set_seq(2).set_udp(41003);
  list_a[3] = *changed.sign(key_of(103));
  list_a.push_back(record(60));
  auto a2 = enrtree::build_tree(key_of(1), "a.dns.test", 10, list_a, {*enrtree::parse_url(b.url)});
  std::map<std::string, std::string> zone2;
  add_tree(zone2, a2, "a.dns.test");
  add_tree(zone2, b, "b.dns.test");
  REQUIRE(dns->proc->signal_and_wait(SIGTERM, 5s).has_value());
  dns = Dnsmasq::start(dir, zone2, dns->port);
  wait_ready(*client, "a.dns.test", *dns);
  auto updated = (*disc)->sync_once();
  REQUIRE(updated[0].trees.size() == 2);
  CHECK_FALSE(updated[0].trees[0].error.has_value());
  CHECK(updated[0].trees[0].changed);
  CHECK(updated[0].trees[0].seq == 10);
  CHECK(updated[0].trees[0].records == 31);
  // Root + the branches above the two leaves + the two leaves: far below a full walk.
  CHECK(updated[0].trees[0].fetched < a2.records.size() / 2);
  std::set<std::uint16_t> fresh;
  (*disc)->drain([&](disc::NodeSeed& s) {
    fresh.insert(s.endpoint4->port);
    return true;
  });
  CHECK(fresh == std::set<std::uint16_t>{41003, 40060});
}

TEST_CASE("dnsmasq serves a tree signed by another key: refused, no seeds", "[e2e][dns]") {
  TempDir dir;
  REQUIRE(dir.ok());
  std::vector<enr::Record> list = {record(1), record(2)};
  auto real = enrtree::build_tree(key_of(1), "t.dns.test", 1, list, {});
  auto forged = enrtree::build_tree(key_of(66), "t.dns.test", 2, list, {});
  std::map<std::string, std::string> zone;
  add_tree(zone, forged, "t.dns.test");
  auto dns = Dnsmasq::start(dir, zone);
  auto client = client_for(*dns);
  wait_ready(*client, "t.dns.test", *dns);

  Config::DnsDiscovery cfg;
  cfg.urls = {real.url};  // the key the operator trusts
  cfg.server = dns->server();
  auto disc = DnsDiscovery::create(cfg, nullptr);
  REQUIRE(disc.has_value());
  auto outcomes = (*disc)->sync_once();
  REQUIRE(outcomes[0].trees.size() == 1);
  CHECK(outcomes[0].trees[0].error == enrtree::TreeError::kBadSignature);
  CHECK(outcomes[0].records.empty());
  CHECK((*disc)->drain([](disc::NodeSeed&) { return true; }) == 0);
  const auto stats = (*disc)->stats();
  CHECK(stats.tree_errors == 1);
  // The metrics' view: the root was fetched (one lookup) but not read, one signature failure.
  CHECK(stats.roots_read == 0);
  CHECK(stats.entries_fetched == 1);
  CHECK(stats.seeds_queued == 0);
  CHECK(stats.failures[static_cast<std::size_t>(enrtree::TreeError::kBadSignature)] == 1);
  const std::string text = render_dns_metrics(stats);
  CHECK(text.find("discplane_dns_failures_total{reason=\"bad_signature\"} 1\n") !=
        std::string::npos);
  CHECK(text.find("discplane_dns_failures_total{reason=\"lookup_failed\"} 0\n") !=
        std::string::npos);
  CHECK(text.find("discplane_dns_roots_read_total 0\n") != std::string::npos);
}

TEST_CASE("a DNS server that does not answer: bounded timeout", "[e2e][dns]") {
  // A UDP socket that never replies.
  const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(s >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  REQUIRE(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  DnsClient::Options o;
  o.server = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  o.timeout = 200ms;
  o.tries = 2;
  auto client = DnsClient::create(o);
  REQUIRE(client.has_value());
  const auto t0 = Clock::now();
  auto r = (*client)->lookup_txt("x.dns.test");
  const auto took = Clock::now() - t0;
  ::close(s);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error() == DnsError::kTimeout);
  CHECK(took < 2s);
}

TEST_CASE("discplane seeded only from a DNS tree contacts the listed nodes", "[e2e][dns]") {
  TempDir dir;
  REQUIRE(dir.ok());
  auto a = Node::start(dir, {.name = "a", .ip = "127.0.0.1"});
  auto b = Node::start(dir, {.name = "b", .ip = "127.0.0.2"});
  std::vector<enr::Record> list = {*enr::parse_text(a->enr), *enr::parse_text(b->enr)};
  auto tree = enrtree::build_tree(key_of(1), "nodes.dns.test", 1, list, {});
  std::map<std::string, std::string> zone;
  add_tree(zone, tree, "nodes.dns.test");
  auto dns = Dnsmasq::start(dir, zone);
  auto client = client_for(*dns);
  wait_ready(*client, "nodes.dns.test", *dns);

  NodeOptions c_opt{.name = "c", .ip = "127.0.0.3"};
  c_opt.extra_yaml = "dns_discovery:\n  urls:\n    - " + tree.url + "\n  server: " + dns->server() +
                     "\n  query_timeout: 500ms\n";
  auto c = Node::start(dir, c_opt);
  const bool both = c->wait_for_table(
      [&](const PeerState& t) { return t.has(a->id16, "v4,v5") && t.has(b->id16, "v4,v5"); }, 20s);
  INFO("C stdout:\n" << c->proc->out_text() << "C stderr:\n" << c->proc->err_text());
  CHECK(both);
  // The sync was logged, and A heard from C (C contacted it).
  CHECK(c->proc->err_text().find("dns: nodes.dns.test seq 1: 2 records") != std::string::npos);
  CHECK(a->wait_peer(c->id16, "v4,v5", 10s));
  for (Node* n : {c.get(), b.get(), a.get()}) {
    const auto took = n->proc->signal_and_wait(SIGTERM, 5s);
    CHECK(took.has_value());
    CHECK(n->proc->exit_code() == 0);
  }
}
