// Crawl mode, control side: nodes.json format (go-ethereum devp2p), atomic write, reload and
// merge, the event ring's drop counting, crawl targets, and the crawl/bootnode/fork_filter
// config keys.
#include "discplane/control/crawl.h"

#include <filesystem>
#include <set>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "discplane/crypto/keccak.h"
#include "discplane/wire/enode.h"
#include "discplane/wire/enr.h"

#include "temp_dir.h"

using namespace discplane;
using namespace discplane::control;

namespace {

crypto::PrivateKey key_of(std::uint8_t seed) {
  crypto::PrivateKey k{};
  k.fill(seed);
  k[0] = 0x01;  // well inside the curve order
  return k;
}

enr::Record record_of(const crypto::PrivateKey& key, std::uint64_t seq, std::uint16_t port) {
  enr::Builder b;
  b.set_seq(seq).set_ip(IpAddress::v4(127, 0, 0, 1)).set_udp(port);
  auto r = b.sign(key);
  REQUIRE(r);
  return *r;
}

CrawlEvent event_of(disc::NodeEvent::Kind kind, const crypto::PrivateKey& key,
                    const enr::Record* record, std::uint16_t port = 30303) {
  disc::NodeEvent e;
  e.kind = kind;
  e.protocol = disc::Protocol::kV5;
  e.public_key = *crypto::derive_public_key(key);
  e.id = crypto::node_id_of(e.public_key);
  e.endpoint = Endpoint{IpAddress::v4(127, 0, 0, 1), port};
  e.record = record;
  return CrawlEvent::of(e);
}

using Kind = disc::NodeEvent::Kind;
constexpr std::int64_t kT0 = 1'714'564'800;  // 2024-05-01T12:00:00Z

}  // namespace

TEST_CASE("crawl times are RFC 3339 UTC seconds, Go's zero time for never", "[control][crawl]") {
  CHECK(format_crawl_time(kT0) == "2024-05-01T12:00:00Z");
  CHECK(format_crawl_time(0) == "0001-01-01T00:00:00Z");
  CHECK(parse_crawl_time("2024-05-01T12:00:00Z") == kT0);
  CHECK(parse_crawl_time("0001-01-01T00:00:00Z") == 0);
  // As Go may write it: fraction and offset.
  CHECK(parse_crawl_time("2024-05-01T12:00:00.123456789Z") == kT0);
  CHECK(parse_crawl_time("2024-05-01T14:00:00+02:00") == kT0);
  CHECK(parse_crawl_time("1970-01-01T00:00:00Z") == 0);  // the epoch reads as "never" too
  CHECK_FALSE(parse_crawl_time("2024-05-01 12:00:00"));
  CHECK_FALSE(parse_crawl_time("2024-13-01T12:00:00Z"));
  CHECK_FALSE(parse_crawl_time("2024-05-01T12:00:00"));
  for (std::int64_t t : {kT0, std::int64_t{951'782'400} /* 2000-02-29 */, std::int64_t{1}}) {
    CHECK(parse_crawl_time(format_crawl_time(t)) == t);
  }
}

TEST_CASE("nodes.json: devp2p nodeset layout, sorted ids, omitted zero score", "[control][crawl]") {
  CrawlDb db(60);
  const auto ka = key_of(0x11);
  const auto kb = key_of(0x22);
  const enr::Record ra = record_of(ka, 7, 30301);
  // A responded, with its record; B only named in an answer, without a record (discv4).
  CHECK(db.apply(event_of(Kind::kResponded, ka, &ra), kT0));
  CHECK_FALSE(db.apply(event_of(Kind::kResponded, ka, nullptr), kT0 + 30));  // same window
  CHECK_FALSE(db.apply(event_of(Kind::kResponded, ka, nullptr), kT0 + 61));  // next window
  CHECK(db.apply(event_of(Kind::kLearned, kb, nullptr, 30302), kT0 + 5));
  REQUIRE(db.size() == 2);
  CHECK(db.responded() == 1);

  const std::string text = db.to_json();
  const auto j = nlohmann::ordered_json::parse(text);
  REQUIRE(j.is_object());
  REQUIRE(j.size() == 2);
  const std::string ida = to_hex(ra.node_id());
  const std::string idb = to_hex(crypto::node_id_of(*crypto::derive_public_key(kb)));
  // Keys: 64 lowercase hex, sorted (Go's encoding/json sorts map keys).
  std::vector<std::string> keys;
  for (const auto& [k, v] : j.items()) {
    keys.push_back(k);
  }
  CHECK(std::is_sorted(keys.begin(), keys.end()));
  REQUIRE(j.contains(ida));
  REQUIRE(j.contains(idb));

  const auto& a = j[ida];
  std::vector<std::string> fields;
  for (const auto& [k, v] : a.items()) {
    fields.push_back(k);
  }
  CHECK(fields == std::vector<std::string>{"seq", "record", "score", "firstResponse",
                                           "lastResponse", "lastCheck", "protocols"});
  CHECK(a["seq"] == 7);
  CHECK(a["record"] == enr::to_text(ra));
  CHECK(a["score"] == 2);
  CHECK(a["firstResponse"] == "2024-05-01T12:00:00Z");
  CHECK(a["lastResponse"] == "2024-05-01T12:01:01Z");
  CHECK(a["lastCheck"] == "2024-05-01T12:01:01Z");

  const auto& b = j[idb];
  CHECK_FALSE(b.contains("score"));  // omitempty
  CHECK(b["seq"] == 0);
  CHECK(b["record"].get<std::string>().starts_with("enode://"));
  CHECK(b["firstResponse"] == "0001-01-01T00:00:00Z");
  CHECK(b["lastResponse"] == "0001-01-01T00:00:00Z");
  CHECK(b["lastCheck"] == "2024-05-01T12:00:05Z");
  auto url = enode::parse(b["record"].get<std::string>());
  REQUIRE(url);
  CHECK(url->udp_port == 30302);
  // Indented by 4 spaces, as geth's MarshalIndent(..., "", "    ").
  CHECK(text.find("\n    \"") != std::string::npos);
  CHECK(text.find("\n        \"seq\": ") != std::string::npos);
}

TEST_CASE("nodes.json: a newer record replaces an older one and an enode URL", "[control][crawl]") {
  CrawlDb db;
  const auto k = key_of(0x33);
  const enr::Record r2 = record_of(k, 2, 30302);
  const enr::Record r1 = record_of(k, 1, 30301);
  CHECK(db.apply(event_of(Kind::kLearned, k, nullptr), kT0));
  CHECK(db.nodes().begin()->second.record.starts_with("enode://"));
  (void)db.apply(event_of(Kind::kLearned, k, &r2), kT0 + 1);
  CHECK(db.nodes().begin()->second.record == enr::to_text(r2));
  (void)db.apply(event_of(Kind::kLearned, k, &r1), kT0 + 2);  // older: ignored
  CHECK(db.nodes().begin()->second.seq == 2);
  (void)db.apply(event_of(Kind::kLearned, k, nullptr, 40000), kT0 + 3);  // no downgrade to enode
  CHECK(db.nodes().begin()->second.record == enr::to_text(r2));
}

TEST_CASE("nodes.json: atomic save, reload and merge", "[control][crawl]") {
  test::TempDir dir;
  const auto path = dir / "sub" / "nodes.json";  // the directory is created
  const auto ka = key_of(0x44);
  const auto kb = key_of(0x55);
  const enr::Record ra = record_of(ka, 3, 30301);
  const enr::Record rb = record_of(kb, 1, 30302);

  CrawlDb first;
  (void)first.apply(event_of(Kind::kResponded, ka, &ra), kT0);
  (void)first.apply(event_of(Kind::kLearned, kb, &rb), kT0 + 10);
  REQUIRE(first.save(path));
  // Only the file: no temp file left beside it.
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(path.parent_path())) {
    CHECK(entry.path().filename() == "nodes.json");
    ++files;
  }
  CHECK(files == 1);

  // Reload: the same text comes out again.
  CrawlDb reloaded;
  auto n = reloaded.load(path);
  REQUIRE(n);
  CHECK(*n == 2);
  CHECK(reloaded.responded() == 1);
  CHECK(reloaded.to_json() == first.to_json());

  // Merge into a database that saw A later and B respond: wider time range, kept records.
  CrawlDb later;
  (void)later.apply(event_of(Kind::kResponded, ka, nullptr), kT0 + 100);
  (void)later.apply(event_of(Kind::kResponded, kb, &rb), kT0 + 200);
  auto merged = later.load(path);
  REQUIRE(merged);
  CHECK(*merged == 0);  // no new node
  const CrawlNode& a = later.nodes().at(ra.node_id());
  CHECK(a.first_response == kT0);
  CHECK(a.last_response == kT0 + 100);
  CHECK(a.record == enr::to_text(ra));  // the file's ENR beats our enode URL
  CHECK(later.nodes().at(rb.node_id()).first_response == kT0 + 200);
  CHECK(later.responded() == 2);

  // Overwrite in place: the file is replaced whole.
  REQUIRE(later.save(path));
  CrawlDb again;
  REQUIRE(again.load(path));
  CHECK(again.to_json() == later.to_json());
}

TEST_CASE("nodes.json: a bad file fails the load and names the node", "[control][crawl]") {
  const auto k = key_of(0x66);
  const enr::Record r = record_of(k, 1, 30301);
  const std::string other_id(64, 'a');
  CrawlDb db;
  CHECK_FALSE(db.merge_json("[]"));
  CHECK_FALSE(db.merge_json("{"));
  auto mismatch = db.merge_json("{\"" + other_id + "\": {\"seq\": 1, \"record\": \"" +
                                enr::to_text(r) + "\"}}");
  REQUIRE_FALSE(mismatch);
  CHECK(mismatch.error().find("aaaaaaaaaaaaaaaa") != std::string::npos);
  CHECK(mismatch.error().find("does not match") != std::string::npos);
  auto bad_seq = db.merge_json("{\"" + to_hex(r.node_id()) + "\": {\"seq\": 9, \"record\": \"" +
                               enr::to_text(r) + "\"}}");
  REQUIRE_FALSE(bad_seq);
  auto bad_time = db.merge_json("{\"" + to_hex(r.node_id()) + "\": {\"seq\": 1, \"record\": \"" +
                                enr::to_text(r) + "\", \"lastCheck\": \"yesterday\"}}");
  REQUIRE_FALSE(bad_time);
  CHECK(db.size() == 0);  // nothing half loaded
  // geth's own output: no score, zero times.
  auto ok = db.merge_json("{\"" + to_hex(r.node_id()) + "\": {\"seq\": 1, \"record\": \"" +
                          enr::to_text(r) +
                          "\", \"firstResponse\": \"0001-01-01T00:00:00Z\", \"lastResponse\": "
                          "\"0001-01-01T00:00:00Z\", \"lastCheck\": \"2024-05-01T12:00:00Z\"}}");
  REQUIRE(ok);
  CHECK(*ok == 1);
  CHECK(db.nodes().begin()->second.last_check == kT0);
}

TEST_CASE("crawl session: a full event ring drops and counts, the rest reach nodes.json",
          "[control][crawl]") {
  test::TempDir dir;
  Config::Crawl c;
  c.output = (dir / "nodes.json").string();
  c.event_ring = 64;
  c.resume = false;
  std::FILE* sink = std::fopen("/dev/null", "w");
  REQUIRE(sink != nullptr);
  CrawlSession s(c, sink);
  s.start(kT0);
  std::vector<enr::Record> records;
  for (int i = 0; i < 100; ++i) {
    records.push_back(record_of(key_of(static_cast<std::uint8_t>(i + 1)), 1, 30000 + i));
  }
  for (int i = 0; i < 100; ++i) {
    disc::NodeEvent e;
    e.kind = Kind::kResponded;
    e.id = records[i].node_id();
    e.public_key = records[i].public_key();
    e.endpoint = *records[i].udp_endpoint_v4();
    e.record = &records[i];
    s.on_node_event(e);
  }
  s.finish(kT0 + 1);
  std::fclose(sink);
  const CrawlStats st = s.stats();
  CHECK(st.events == 64);
  CHECK(st.events_dropped == 36);
  CHECK(st.nodes == 64);
  CHECK(st.writes == 1);
  CrawlDb back;
  auto n = back.load(c.output);
  REQUIRE(n);
  CHECK(*n == 64);
}

TEST_CASE("crawl targets: discv5 targets sweep every 16-bit prefix", "[control][crawl]") {
  crypto::DeterministicRandom rng(5);
  CrawlTargets t(rng);
  std::set<std::uint16_t> prefixes;
  std::set<std::uint8_t> first_bytes_of_16;
  for (int i = 0; i < 65536; ++i) {
    const NodeId id = t.next_v5();
    const auto p = static_cast<std::uint16_t>((id[0] << 8) | id[1]);
    prefixes.insert(p);
    if (i < 16) {
      first_bytes_of_16.insert(static_cast<std::uint8_t>(id[0] >> 4));
    }
  }
  CHECK(prefixes.size() == 65536);
  CHECK(first_bytes_of_16.size() == 16);  // the first 16 targets hit every top nibble
}

TEST_CASE("config: crawl, bootnode and fork_filter keys", "[control][crawl][config]") {
  auto c = parse_config(
      "mode: crawl\n"
      "crawl:\n"
      "  lookup_interval: 250ms\n"
      "  output: /tmp/x/nodes.json\n"
      "  write_interval: 5s\n"
      "  progress_interval: 2s\n"
      "  resume: false\n"
      "  event_ring: 1024\n"
      "bootnode:\n"
      "  refresh_interval: 1m\n"
      "fork_filter:\n"
      "  accept:\n"
      "    - {hash: \"0x9f3d2254\", next: 1710338135}\n"
      "    - {hash: dce96c2d}\n"
      "  require_eth: true\n");
  INFO((c ? "" : c.error().to_string()));
  REQUIRE(c);
  CHECK(c->mode == Mode::kCrawl);
  CHECK(c->crawl.lookup_interval == std::chrono::milliseconds(250));
  CHECK(c->crawl.output == "/tmp/x/nodes.json");
  CHECK(c->crawl.write_interval == std::chrono::seconds(5));
  CHECK(c->crawl.progress_interval == std::chrono::seconds(2));
  CHECK_FALSE(c->crawl.resume);
  CHECK(c->crawl.event_ring == 1024);
  CHECK(c->bootnode.refresh_interval == std::chrono::minutes(1));
  REQUIRE(c->fork_filter.accept.size() == 2);
  CHECK(c->fork_filter.accept[0].hash == ByteArray<4>{0x9f, 0x3d, 0x22, 0x54});
  CHECK(c->fork_filter.accept[0].next == 1710338135);
  CHECK(c->fork_filter.accept[1].hash == ByteArray<4>{0xdc, 0xe9, 0x6c, 0x2d});
  CHECK(c->fork_filter.accept[1].next == 0);
  CHECK(c->fork_filter.require_eth);

  auto bad_hash = parse_config("fork_filter:\n  accept:\n    - {hash: 0x9f3d22}\n", "f.yaml");
  REQUIRE_FALSE(bad_hash);
  CHECK(bad_hash.error().key == "fork_filter.accept[0].hash");
  CHECK(bad_hash.error().line == 3);
  CHECK(bad_hash.error().message.find("4 bytes of hex") != std::string::npos);

  auto no_hash = parse_config("fork_filter:\n  accept:\n    - {next: 5}\n");
  REQUIRE_FALSE(no_hash);
  CHECK(no_hash.error().key == "fork_filter.accept[0]");

  auto lonely = parse_config("fork_filter:\n  require_eth: true\n");
  REQUIRE_FALSE(lonely);
  CHECK(lonely.error().key == "fork_filter.require_eth");
  CHECK(lonely.error().line == 2);

  auto bad_bool = parse_config("crawl:\n  resume: maybe\n");
  REQUIRE_FALSE(bad_bool);
  CHECK(bad_bool.error().key == "crawl.resume");

  auto small_ring = parse_config("crawl:\n  event_ring: 8\n");
  REQUIRE_FALSE(small_ring);
  CHECK(small_ring.error().key == "crawl.event_ring");

  auto fast_write = parse_config("crawl:\n  write_interval: 100ms\n");
  REQUIRE_FALSE(fast_write);
  CHECK(fast_write.error().key == "crawl.write_interval");

  auto unknown = parse_config("crawl:\n  rate: 5\n");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().key == "crawl.rate");
}
