// Node lists: the tree layout shared with go-ethereum (make_tree), signed tree directories
// (sign, signature check on load, tampering refused), zone file and dnsmasq output, a tree
// read back through TreeSync, and the nodeset filters with the networks' fork ids.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "discplane/control/dns_tree.h"
#include "discplane/control/enrtree.h"
#include "discplane/control/nodeset.h"
#include "discplane/discovery/peer_table.h"
#include "discplane/wire/base64.h"
#include "discplane/wire/enode.h"

#include "temp_dir.h"

using namespace discplane;
using namespace discplane::control;

namespace {

crypto::PrivateKey key_of(std::uint8_t n) {
  crypto::PrivateKey k{};
  k[0] = 0x31;
  k[31] = n;
  return k;
}

enr::Record node(std::uint8_t i, std::uint64_t seq = 1, IpAddress ip = IpAddress::v4(10, 0, 0, 1),
                 std::optional<enr::ForkId> eth = std::nullopt) {
  enr::Builder b;
  b.set_seq(seq).set_ip(ip).set_udp(static_cast<std::uint16_t>(30000 + i));
  if (eth) {
    b.set_eth(*eth);
  }
  auto r = b.sign(key_of(static_cast<std::uint8_t>(100 + i)));
  REQUIRE(r.has_value());
  return *r;
}

std::vector<enr::Record> nodes(std::uint8_t from, std::uint8_t count) {
  std::vector<enr::Record> out;
  for (std::uint8_t i = from; i < from + count; ++i) {
    out.push_back(node(i));
  }
  return out;
}

enr::ForkId fork_id(std::uint32_t hash, std::uint64_t next) {
  enr::ForkId f;
  f.hash = {static_cast<std::uint8_t>(hash >> 24), static_cast<std::uint8_t>(hash >> 16),
            static_cast<std::uint8_t>(hash >> 8), static_cast<std::uint8_t>(hash)};
  f.next = next;
  return f;
}

CrawlNode entry_of(const enr::Record& r, int score = 0, std::int64_t first = 0,
                   std::int64_t last = 0, std::uint8_t protocols = 0) {
  CrawlNode n;
  n.record = enr::to_text(r);
  n.seq = r.seq();
  n.has_enr = true;
  n.score = score;
  n.first_response = first;
  n.last_response = last;
  n.last_check = last;
  n.protocols = protocols;
  return n;
}

// A tree directory holding `records` as nodes.json.
void write_nodes(const test::TempDir& dir, const std::vector<enr::Record>& records) {
  CrawlDb db;
  for (const auto& r : records) {
    db.put(r.node_id(), entry_of(r, 1, 1000, 2000));
  }
  REQUIRE(db.save(dir / "nodes.json").has_value());
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    const auto end = text.find('\n', start);
    out.push_back(text.substr(start, end - start));
    start = end == std::string::npos ? text.size() : end + 1;
  }
  return out;
}

}  // namespace

TEST_CASE("make_tree: go-ethereum's layout", "[control][nodelists]") {
  using enrtree::entry_hash;
  SECTION("one record is its own subtree root; an empty link list is an empty branch") {
    const auto r = node(1);
    const auto t = enrtree::make_tree(3, {r}, {});
    CHECK(t.root.enr_root == entry_hash(enr::to_text(r)));
    CHECK(t.root.link_root == entry_hash("enrtree-branch:"));
    CHECK(t.entries.size() == 2);
    CHECK(t.root.seq == 3);
  }
  SECTION("records sorted by node id under one branch of up to 13") {
    auto list = nodes(0, 13);
    const auto t = enrtree::make_tree(1, list, {});
    std::sort(list.begin(), list.end(),
              [](const auto& a, const auto& b) { return a.node_id() < b.node_id(); });
    std::string want = "enrtree-branch:";
    for (std::size_t i = 0; i < list.size(); ++i) {
      want.append(i == 0 ? "" : ",").append(entry_hash(enr::to_text(list[i])));
    }
    REQUIRE(t.entries.count(t.root.enr_root) == 1);
    CHECK(t.entries.at(t.root.enr_root) == want);
    // Order of the input does not matter.
    std::reverse(list.begin(), list.end());
    CHECK(enrtree::make_tree(1, list, {}).root.enr_root == t.root.enr_root);
  }
  SECTION("14 records: a branch of 13 and the 14th leaf itself under the top branch") {
    auto list = nodes(0, 14);
    const auto t = enrtree::make_tree(1, list, {});
    std::sort(list.begin(), list.end(),
              [](const auto& a, const auto& b) { return a.node_id() < b.node_id(); });
    const std::string top = t.entries.at(t.root.enr_root);
    REQUIRE(top.starts_with("enrtree-branch:"));
    const std::string last_leaf = entry_hash(enr::to_text(list.back()));
    CHECK(top.ends_with("," + last_leaf));
    CHECK(std::count(top.begin(), top.end(), ',') == 1);
  }
}

TEST_CASE("dns sign: a tree directory signed, reloaded, checked", "[control][nodelists]") {
  test::TempDir dir;
  const auto list = nodes(0, 20);
  write_nodes(dir, list);
  const auto key = key_of(1);
  dnstree::SignOptions o;
  o.domain = "nodes.example.org";
  o.now_s = 1700000000;
  auto s = dnstree::sign_directory(dir.path(), key, o);
  REQUIRE(s.has_value());
  CHECK(s->seq == 1);  // a new directory starts at 1
  CHECK(s->records == 20);
  CHECK(s->url == enrtree::url_of(key, "nodes.example.org"));

  // enrtree-info.json as geth writes it, and txt.json = the published records.
  const auto meta = nlohmann::json::parse(test::read_file(dir / "enrtree-info.json"));
  CHECK(meta["url"] == s->url);
  CHECK(meta["seq"] == 1);
  CHECK(meta["signature"] == base64::encode(s->tree.root.signature));
  CHECK(meta["lastModified"] == "2023-11-14T22:13:20Z");
  const auto txt = nlohmann::json::parse(test::read_file(dir / "txt.json"));
  const auto want_txt = s->tree.txt("nodes.example.org");
  CHECK(txt.size() == want_txt.size());
  for (const auto& [name, text] : want_txt) {
    CHECK(txt[name] == text);
  }

  // Reloaded: the same tree, its signature verified against the URL's key.
  auto pub = dnstree::load_signed(dir.path());
  REQUIRE(pub.has_value());
  CHECK(pub->domain == "nodes.example.org");
  CHECK(pub->tree.root == s->tree.root);
  CHECK(pub->tree.entries == s->tree.entries);

  // Read back through the resolver-independent walk: every record, verified.
  const auto records = want_txt;
  enrtree::TreeSync sync(
      [&](const std::string& name) -> Result<std::vector<std::string>, std::string> {
        auto it = records.find(name);
        if (it == records.end()) {
          return fail(std::string("NXDOMAIN"));
        }
        return std::vector<std::string>{it->second};
      },
      enrtree::Limits{});
  auto out = sync.sync(*enrtree::parse_url(s->url));
  REQUIRE_FALSE(out.trees[0].error.has_value());
  CHECK(out.records.size() == 20);
  CHECK(dnstree::to_node_set(out.records).size() == 20);

  // Signing again: seq + 1 by default, or the one given.
  auto again = dnstree::sign_directory(dir.path(), key, o);
  REQUIRE(again.has_value());
  CHECK(again->seq == 2);
  o.seq = 40;
  auto given = dnstree::sign_directory(dir.path(), key, o);
  REQUIRE(given.has_value());
  CHECK(given->seq == 40);
  CHECK(nlohmann::json::parse(test::read_file(dir / "enrtree-info.json"))["seq"] == 40);

  SECTION("nodes.json edited after signing: refused") {
    write_nodes(dir, nodes(0, 19));
    auto stale = dnstree::load_signed(dir.path());
    REQUIRE_FALSE(stale.has_value());
    CHECK(stale.error().find("does not match the tree") != std::string::npos);
  }
  SECTION("a link added in enrtree-info.json after signing: refused, and signed with it") {
    auto m = nlohmann::json::parse(test::read_file(dir / "enrtree-info.json"));
    m["links"] = {enrtree::url_of(key_of(2), "other.example.org")};
    dir.write("enrtree-info.json", m.dump());
    CHECK_FALSE(dnstree::load_signed(dir.path()).has_value());
    auto linked = dnstree::sign_directory(dir.path(), key, o);
    REQUIRE(linked.has_value());
    auto reloaded = dnstree::load_signed(dir.path());
    REQUIRE(reloaded.has_value());
    const auto link_root = reloaded->tree.entries.at(reloaded->tree.root.link_root);
    CHECK(link_root == enrtree::url_of(key_of(2), "other.example.org"));
  }
}

TEST_CASE("dns sign: what cannot go into a tree", "[control][nodelists]") {
  test::TempDir dir;
  dnstree::SignOptions o;
  o.domain = "nodes.example.org";
  SECTION("no nodes.json") {
    auto s = dnstree::sign_directory(dir.path(), key_of(1), o);
    REQUIRE_FALSE(s.has_value());
    CHECK(s.error().find("nodes.json") != std::string::npos);
  }
  SECTION("an enode URL (no signed record)") {
    CrawlDb db;
    const auto pub = *crypto::derive_public_key(key_of(9));
    CrawlNode n;
    n.record = "enode://" + to_hex(pub) + "@10.0.0.9:30303";
    db.put(crypto::node_id_of(pub), n);
    REQUIRE(db.save(dir / "nodes.json").has_value());
    auto s = dnstree::sign_directory(dir.path(), key_of(1), o);
    REQUIRE_FALSE(s.has_value());
    CHECK(s.error().find("enode URL cannot go into a DNS tree") != std::string::npos);
  }
  SECTION("a bad domain, a bad link") {
    write_nodes(dir, nodes(0, 2));
    o.domain = "bad domain";
    CHECK_FALSE(dnstree::sign_directory(dir.path(), key_of(1), o).has_value());
    o.domain = "nodes.example.org";
    dir.write("enrtree-info.json", R"({"seq": 1, "links": ["enrtree://nope@x.org"]})");
    auto s = dnstree::sign_directory(dir.path(), key_of(1), o);
    REQUIRE_FALSE(s.has_value());
    CHECK(s.error().find("link \"enrtree://nope@x.org\"") != std::string::npos);
  }
  SECTION("unsigned directory: to-zone refuses it") {
    write_nodes(dir, nodes(0, 2));
    auto pub = dnstree::load_signed(dir.path());
    REQUIRE_FALSE(pub.has_value());
    CHECK(pub.error().find("not signed") != std::string::npos);
  }
}

TEST_CASE("dns to-zone: zone file and dnsmasq lines", "[control][nodelists]") {
  std::map<std::string, std::string> txt = {{"n.example", "enrtree-root:v1 e=A l=B seq=1 sig=C"},
                                            {"AAAA.n.example", std::string(300, 'x')},
                                            {"BBBB.n.example", "enrtree-branch:AAAA"}};
  dnstree::ZoneOptions o;
  o.ttl = 60;
  const auto zone = lines_of(dnstree::to_zone(txt, "n.example", o));
  CHECK(std::find(zone.begin(), zone.end(), "$ORIGIN n.example.") != zone.end());
  CHECK(std::find(zone.begin(), zone.end(), "$TTL 60") != zone.end());
  CHECK(std::find(zone.begin(), zone.end(),
                  "@\tIN\tTXT\t\"enrtree-root:v1 e=A l=B seq=1 sig=C\"") != zone.end());
  // 300 bytes: two character-strings, 255 + 45.
  CHECK(std::find(zone.begin(), zone.end(),
                  "AAAA\tIN\tTXT\t\"" + std::string(255, 'x') + "\" \"" + std::string(45, 'x') +
                      "\"") != zone.end());
  CHECK(std::none_of(zone.begin(), zone.end(),
                     [](const std::string& l) { return l.find("SOA") != std::string::npos; }));

  o.soa = true;
  o.serial = 7;
  const auto whole = lines_of(dnstree::to_zone(txt, "n.example", o));
  CHECK(std::find(whole.begin(), whole.end(),
                  "@\tIN\tSOA\tlocalhost. hostmaster.n.example. 7 3600 600 86400 60") !=
        whole.end());
  CHECK(std::find(whole.begin(), whole.end(), "@\tIN\tNS\tlocalhost.") != whole.end());

  o.format = dnstree::ZoneFormat::kDnsmasq;
  const auto dm = lines_of(dnstree::to_zone(txt, "n.example", o));
  REQUIRE(dm.size() == 3);
  CHECK(std::find(dm.begin(), dm.end(),
                  "txt-record=AAAA.n.example,\"" + std::string(255, 'x') + "\",\"" +
                      std::string(45, 'x') + "\"") != dm.end());
  CHECK(std::find(dm.begin(), dm.end(), "txt-record=BBBB.n.example,\"enrtree-branch:AAAA\"") !=
        dm.end());
}

TEST_CASE("nodeset filter: each filter and the limit", "[control][nodelists]") {
  const std::int64_t now = 1'800'000'000;
  CrawlDb db;
  const auto a = node(1, 1, IpAddress::v4(10, 1, 0, 1));
  const auto b = node(2, 1, IpAddress::v4(10, 2, 0, 1));
  const auto c = node(3, 1, IpAddress::v4(192, 168, 0, 1));
  db.put(a.node_id(), entry_of(a, 5, now - 7200, now - 60, disc::kFlagV4 | disc::kFlagV5));
  db.put(b.node_id(), entry_of(b, 9, now - 600, now - 10, disc::kFlagV5));
  db.put(c.node_id(), entry_of(c, 1, 0, 0, disc::kFlagV4));  // never answered
  const auto pub = *crypto::derive_public_key(key_of(50));
  CrawlNode e;  // an enode URL from another crawler's file: v4, protocols unknown
  e.record = "enode://" + to_hex(pub) + "@10.1.9.9:30303";
  e.first_response = now - 100;
  e.last_response = now - 100;
  db.put(crypto::node_id_of(pub), e);

  auto ids = [&](const NodeFilter& f) {
    std::set<NodeId> out;
    const CrawlDb kept = f.apply(db, now);
    for (const auto& [id, n] : kept.nodes()) {
      out.insert(id);
    }
    return out;
  };
  NodeFilter f;
  CHECK(ids(f).size() == 4);

  f.ip = disc::Cidr::parse("10.1.0.0/16");
  CHECK(ids(f) == std::set<NodeId>{a.node_id(), crypto::node_id_of(pub)});
  f = {};
  f.min_age_s = 3600;
  CHECK(ids(f) == std::set<NodeId>{a.node_id()});
  f = {};
  f.responded_within_s = 30;
  CHECK(ids(f) == std::set<NodeId>{b.node_id()});
  f = {};
  f.protocols = disc::kFlagV4;
  CHECK(ids(f) == std::set<NodeId>{a.node_id(), c.node_id(), crypto::node_id_of(pub)});
  f.protocols = disc::kFlagV5;
  CHECK(ids(f) == std::set<NodeId>{a.node_id(), b.node_id()});
  f = {};
  f.limit = 2;  // best scores: b (9), a (5)
  CHECK(ids(f) == std::set<NodeId>{a.node_id(), b.node_id()});
  f.min_age_s = 3600;  // the limit applies after the filters
  CHECK(ids(f) == std::set<NodeId>{a.node_id()});
  // The filtered set keeps every field.
  NodeFilter none;
  const auto kept = none.apply(db, now);
  CHECK(kept.to_json() == db.to_json());
  CHECK(kept.responded() == 3);
}

TEST_CASE("nodeset filter: --eth-network fork ids", "[control][nodelists]") {
  auto mainnet = EthFilter::parse("mainnet");
  REQUIRE(mainnet.has_value());
  CHECK(mainnet->accepts(fork_id(0x07c9462e, 0)));           // BPO2, current
  CHECK(mainnet->accepts(fork_id(0x07c9462e, 1900000000)));  // current, aware of a next fork
  CHECK(mainnet->accepts(fork_id(0xcba2a1c0, 1767747671)));  // BPO1, knows BPO2: syncing
  CHECK_FALSE(mainnet->accepts(fork_id(0xcba2a1c0, 0)));     // BPO1, not upgraded
  CHECK_FALSE(mainnet->accepts(fork_id(0xc376cf8b, 1234)));  // Prague, wrong next
  CHECK_FALSE(mainnet->accepts(fork_id(0x4463073b, 0)));     // sepolia's current
  for (const char* net : {"sepolia", "holesky", "hoodi"}) {
    auto f = EthFilter::parse(net);
    REQUIRE(f.has_value());
    CHECK(f->accepts(eth_network(net)->forks.back()));
    CHECK_FALSE(f->accepts(fork_id(0x07c9462e, 0)));
  }
  CHECK(EthFilter::parse("hoodi")->accepts(fork_id(0x23aa1351, 0)));
  CHECK(EthFilter::parse("sepolia")->accepts(fork_id(0x4463073b, 0)));

  auto exact = EthFilter::parse("0xcba2a1c0");
  REQUIRE(exact.has_value());
  CHECK(exact->accepts(fork_id(0xcba2a1c0, 0)));
  CHECK(exact->accepts(fork_id(0xcba2a1c0, 1767747671)));
  CHECK_FALSE(exact->accepts(fork_id(0x07c9462e, 0)));
  CHECK(EthFilter::parse("CBA2A1C0").has_value());
  for (const char* bad : {"goerli", "0x1234", "0xzzzzzzzz", "0x123456789", ""}) {
    INFO(bad);
    CHECK_FALSE(EthFilter::parse(bad).has_value());
  }

  // On records: with the entry, without it, and an enode URL.
  CrawlDb db;
  const auto on_main = node(1, 1, IpAddress::v4(10, 0, 0, 1), fork_id(0x07c9462e, 0));
  const auto on_hoodi = node(2, 1, IpAddress::v4(10, 0, 0, 2), fork_id(0x23aa1351, 0));
  const auto no_eth = node(3);
  for (const auto* r : {&on_main, &on_hoodi, &no_eth}) {
    db.put(r->node_id(), entry_of(*r));
  }
  NodeFilter f;
  f.eth = *mainnet;
  const auto kept = f.apply(db, 0);
  REQUIRE(kept.size() == 1);
  CHECK(kept.nodes().count(on_main.node_id()) == 1);
}

TEST_CASE("nodes.json: the protocols list round-trips and is checked", "[control][nodelists]") {
  CrawlDb db;
  const auto a = node(1);
  db.put(a.node_id(), entry_of(a, 1, 10, 20, disc::kFlagV4 | disc::kFlagV5));
  const std::string text = db.to_json();
  CHECK(nlohmann::json::parse(text)[to_hex(a.node_id())]["protocols"] ==
        nlohmann::json::array({"v4", "v5"}));
  CrawlDb back;
  REQUIRE(back.merge_json(text).has_value());
  CHECK(back.nodes().at(a.node_id()).protocols == (disc::kFlagV4 | disc::kFlagV5));
  auto j = nlohmann::json::parse(text);
  j[to_hex(a.node_id())]["protocols"] = {"v6"};
  CrawlDb bad;
  auto r = bad.merge_json(j.dump());
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().find("\"protocols\"") != std::string::npos);
}
