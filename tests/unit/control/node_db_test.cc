// The node database: round trip, detection and set-aside of every kind of bad file, atomic
// saves under kill -9, and the appliance's start/stop behaviour with a database.
#include "discplane/control/node_db.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <thread>

#include <catch2/catch.hpp>

#include "discplane/control/appliance.h"
#include "discplane/crypto/secp256k1.h"
#include "discplane/crypto/sha256.h"
#include "discplane/discovery/peer_table.h"
#include "discplane/wire/enr.h"

#include "temp_dir.h"

using namespace discplane;
using namespace discplane::control;
namespace fs = std::filesystem;
using Kind = NodeDbError::Kind;

namespace {

NodeRecord make_record(std::uint8_t n, bool with_enr) {
  crypto::PrivateKey key{};
  key.fill(n);
  key[0] = 0x11;
  auto pub = crypto::derive_public_key(key);
  REQUIRE(pub);
  NodeRecord r;
  r.public_key = *pub;
  r.id = crypto::node_id_of(*pub);
  r.endpoint4 = Endpoint{IpAddress::v4(10, 0, 0, n), static_cast<std::uint16_t>(30300 + n)};
  r.protocols = disc::kFlagV4;
  r.last_seen_unix = 1'700'000'000 + n;
  r.checks_passed = n;
  r.checks_failed = static_cast<std::uint16_t>(n % 2);
  if (with_enr) {
    auto record =
        enr::Builder().set_seq(7).set_ip(r.endpoint4.ip).set_udp(r.endpoint4.port).sign(key);
    REQUIRE(record);
    r.enr.assign(record->raw().begin(), record->raw().end());
    r.enr_seq = 7;
    r.protocols |= disc::kFlagV5;
    r.endpoint6 = Endpoint{*IpAddress::parse("fd00::1"), 9000};
  }
  return r;
}

NodeDb make_db(std::size_t count, std::int64_t saved_at = 1'700'000'123) {
  NodeDb db;
  db.saved_at_unix = saved_at;
  for (std::size_t i = 0; i < count; ++i) {
    db.nodes.push_back(make_record(static_cast<std::uint8_t>(i + 1), i % 2 == 0));
  }
  return db;
}

std::vector<fs::path> set_aside_files(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().find(".corrupt-") != std::string::npos) {
      out.push_back(e.path());
    }
  }
  return out;
}

}  // namespace

TEST_CASE("node db: encode/decode and save/load round trip", "[control][node_db]") {
  const NodeDb db = make_db(5);
  const std::string text = encode_node_db(db);
  CHECK(text.starts_with("discplane-nodedb v1\nsha256 "));
  CHECK(encode_node_db(db) == text);  // deterministic

  auto decoded = decode_node_db(text);
  REQUIRE(decoded);
  CHECK(decoded->saved_at_unix == db.saved_at_unix);
  CHECK(decoded->nodes == db.nodes);

  test::TempDir dir;
  const fs::path path = dir / "sub/dir/nodes.db";  // parent directories are created
  REQUIRE(save_node_db(path, db));
  auto loaded = load_node_db(path);
  REQUIRE(loaded);
  CHECK(loaded->nodes == db.nodes);
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  // Saving again replaces the file and leaves no temp file behind.
  const NodeDb smaller = make_db(2);
  REQUIRE(save_node_db(path, smaller));
  CHECK(load_node_db(path)->nodes == smaller.nodes);
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(path.parent_path())) {
    ++files;
  }
  CHECK(files == 1);

  // Seeds carry the key, the endpoints and the record.
  const disc::NodeSeed seed = seed_of(db.nodes[0]);
  CHECK(seed.public_key == db.nodes[0].public_key);
  REQUIRE(seed.endpoint4);
  CHECK(*seed.endpoint4 == db.nodes[0].endpoint4);
  REQUIRE(seed.record);
  CHECK(seed.record->node_id() == db.nodes[0].id);
  CHECK(seed.protocols == (disc::kFlagV4 | disc::kFlagV5));
  CHECK_FALSE(seed_of(db.nodes[1]).record);

  CHECK(load_node_db(dir / "missing.db").error().kind == Kind::kNotFound);
}

TEST_CASE("node db: snapshot to records", "[control][node_db]") {
  CoreSnapshot s;
  s.taken_mono_ns = 500'000'000'000;
  s.taken_unix_s = 1'800'000'000;
  const NodeRecord r = make_record(9, true);
  PeerView p;
  p.id = r.id;
  p.public_key = r.public_key;
  p.endpoint4 = r.endpoint4;
  p.enr = r.enr;
  p.enr_seq = r.enr_seq;
  p.protocols = r.protocols;
  p.last_seen_ns = 440'000'000'000;  // 60 s before the snapshot
  p.checks_passed = 4;
  s.peers.push_back(p);
  p.id[0] ^= 1;
  p.last_seen_ns = 0;
  s.peers.push_back(p);
  const NodeDb db = node_db_of(s);
  REQUIRE(db.nodes.size() == 2);
  CHECK(db.saved_at_unix == 1'800'000'000);
  CHECK(db.nodes[0].last_seen_unix == 1'800'000'000 - 60);
  CHECK(db.nodes[0].enr == r.enr);
  CHECK(db.nodes[0].checks_passed == 4);
  CHECK(db.nodes[1].last_seen_unix == 0);
}

TEST_CASE("node db: every kind of bad file is detected", "[control][node_db]") {
  const std::string good = encode_node_db(make_db(3));
  REQUIRE(decode_node_db(good));

  CHECK(decode_node_db("").error().kind == Kind::kEmpty);
  CHECK(decode_node_db("discplane-nodedb v2\nsha256 00 1\n{").error().kind == Kind::kWrongVersion);
  CHECK(decode_node_db("discplane-nodedb v10\n").error().kind == Kind::kWrongVersion);
  std::string v0 = good;
  v0[18] = '0';  // "v1" -> "v0"
  CHECK(decode_node_db(v0).error().kind == Kind::kWrongVersion);
  CHECK(decode_node_db("{\"nodes\": []}\n").error().kind == Kind::kForeign);
  CHECK(decode_node_db("\x89PNG\r\n\x1a\n").error().kind == Kind::kForeign);
  CHECK(decode_node_db(std::string(100, '\0')).error().kind == Kind::kForeign);

  // Every strict prefix is reported truncated (never loaded, never another kind).
  for (std::size_t len = 1; len < good.size(); ++len) {
    auto r = decode_node_db(std::string_view(good).substr(0, len));
    INFO("prefix of " << len << " bytes");
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == Kind::kTruncated);
  }
  // Trailing bytes after the announced body.
  CHECK(decode_node_db(good + "x").error().kind == Kind::kMalformed);

  // A flipped bit anywhere is caught: in the body by the checksum, in the header by the exact
  // header syntax (the hex digits are compared case-sensitively, so 'a' -> 'A' is caught too).
  const std::size_t header_end = good.find('\n', good.find('\n') + 1) + 1;
  for (std::size_t i = 0; i < good.size(); ++i) {
    for (int bit : {static_cast<int>(i % 8), 5}) {
      std::string flipped = good;
      flipped[i] = static_cast<char>(flipped[i] ^ (1 << bit));
      auto r = decode_node_db(flipped);
      INFO("byte " << i << " bit " << bit);
      REQUIRE_FALSE(r);
      if (i >= header_end) {
        CHECK(r.error().kind == Kind::kChecksum);
      }
    }
  }

  // A body with a right checksum but wrong content (our writer never makes one).
  auto with_body = [](const std::string& body) {
    const Hash256 sum = crypto::sha256(as_bytes(body));
    return "discplane-nodedb v1\nsha256 " + to_hex(sum) + " " + std::to_string(body.size()) + "\n" +
           body;
  };
  CHECK(decode_node_db(with_body("not json")).error().kind == Kind::kMalformed);
  CHECK(decode_node_db(with_body("{\"saved_at\": 1}")).error().kind == Kind::kMalformed);
  NodeRecord wrong_id = make_record(3, false);
  wrong_id.id[0] ^= 0xff;  // id no longer the key's
  NodeDb bad;
  bad.nodes.push_back(wrong_id);
  auto r = decode_node_db(encode_node_db(bad));
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == Kind::kMalformed);
  CHECK(r.error().to_string().find("public_key") != std::string::npos);
}

TEST_CASE("node db: bad files are set aside and give no seeds", "[control][node_db]") {
  const std::string good = encode_node_db(make_db(3));
  std::string flipped = good;
  flipped[good.size() / 2] ^= 0x04;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"truncated", good.substr(0, good.size() * 2 / 3)},
      {"bit flip", flipped},
      {"wrong version", "discplane-nodedb v9" + good.substr(19)},
      {"not ours", "[Unit]\nDescription=some other file\n"},
      {"empty", ""},
  };
  for (const auto& [name, content] : cases) {
    SECTION(name) {
      test::TempDir dir;
      const fs::path path = dir.write("nodes.db", content);
      std::FILE* log = std::tmpfile();
      REQUIRE(log != nullptr);
      const auto seeds = load_node_db_seeds(path, log);
      CHECK(seeds.empty());
      CHECK_FALSE(fs::exists(path));
      const auto aside = set_aside_files(dir.path());
      REQUIRE(aside.size() == 1);
      CHECK(aside[0].string().starts_with(path.string() + ".corrupt-"));
      CHECK(test::read_file(aside[0]) == content);  // kept byte for byte for a post-mortem
      std::rewind(log);
      char buf[512] = {};
      const std::size_t n = std::fread(buf, 1, sizeof buf - 1, log);
      std::fclose(log);
      const std::string logged(buf, n);
      CHECK(logged.find("node database") != std::string::npos);
      CHECK(logged.find("set aside") != std::string::npos);
    }
  }
}

TEST_CASE("node db: set aside picks a free name", "[control][node_db]") {
  test::TempDir dir;
  const fs::path path = dir.write("nodes.db", "x");
  auto first = set_aside_node_db(path, 1234);
  REQUIRE(first);
  CHECK(*first == dir / "nodes.db.corrupt-1234");
  dir.write("nodes.db", "y");
  auto second = set_aside_node_db(path, 1234);
  REQUIRE(second);
  CHECK(*second == dir / "nodes.db.corrupt-1234-1");
  CHECK(test::read_file(*first) == "x");
  CHECK(test::read_file(*second) == "y");
}

TEST_CASE("node db: kill -9 during repeated saves leaves the old or the new file",
          "[control][node_db]") {
  test::TempDir dir;
  const fs::path path = dir / "nodes.db";
  // Two versions of different sizes, so a torn mix could not pass as either.
  const NodeDb a = make_db(2, 111);
  const NodeDb b = make_db(40, 222);
  REQUIRE(save_node_db(path, a));
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> delay_us(0, 20000);
  int saw_b = 0;
  for (int run = 0; run < 30; ++run) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      for (int i = 0;; ++i) {  // until killed
        if (!save_node_db(path, i % 2 == 0 ? b : a)) {
          ::_exit(3);
        }
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us(rng)));
    ::kill(pid, SIGKILL);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFSIGNALED(status));  // it was still saving, not failed out
    auto loaded = load_node_db(path);
    INFO("run " << run);
    REQUIRE(loaded);
    const bool is_a = loaded->saved_at_unix == 111 && loaded->nodes == a.nodes;
    const bool is_b = loaded->saved_at_unix == 222 && loaded->nodes == b.nodes;
    CHECK((is_a || is_b));
    saw_b += is_b;
  }
  CHECK(saw_b > 0);  // the child did get to replace the file
}

namespace {

Config appliance_config(const test::TempDir& dir) {
  Config c;
  c.identity.key_file = (dir / "nodekey").string();
  c.network.listen = {Endpoint{IpAddress::v4(127, 0, 0, 1), 0}};
  c.timers.snapshot_interval = std::chrono::milliseconds(20);
  c.node_db.path = (dir / "nodes.db").string();
  return c;
}

// Waits (bounded) for a snapshot that satisfies `pred`.
template <class Pred>
bool wait_for(const Appliance& a, Pred pred) {
  for (int i = 0; i < 250; ++i) {
    if (pred(a.snapshots().acquire().get())) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace

TEST_CASE("appliance: a corrupt node db is set aside and it starts empty", "[control][node_db]") {
  test::TempDir dir;
  const std::string good = encode_node_db(make_db(3));
  dir.write("nodes.db", good.substr(0, good.size() - 10));
  auto a = Appliance::create(appliance_config(dir));
  REQUIRE(a);
  (*a)->start();
  CHECK(wait_for(**a, [](const CoreSnapshot& s) { return s.sequence > 2; }));
  CHECK((*a)->snapshots().acquire()->peers.empty());
  CHECK((*a)->running());
  (*a)->request_stop();
  (*a)->wait();
  CHECK(set_aside_files(dir.path()).size() == 1);
  CHECK_FALSE(fs::exists(dir / "nodes.db"));  // an empty table is not saved
}

TEST_CASE("appliance: node db entries seed the table and are saved at shutdown",
          "[control][node_db]") {
  test::TempDir dir;
  NodeDb db = make_db(4);
  // Loopback endpoints (exempted from the IP limits below); nobody answers there, which is
  // fine.
  for (std::size_t i = 0; i < db.nodes.size(); ++i) {
    db.nodes[i].endpoint4 =
        Endpoint{IpAddress::v4(127, 0, 0, 1), static_cast<std::uint16_t>(9 + i)};
    db.nodes[i].enr.clear();
    db.nodes[i].enr_seq = 0;
    db.nodes[i].endpoint6 = {};
  }
  REQUIRE(save_node_db(dir / "nodes.db", db));
  Config config = appliance_config(dir);
  config.table.ip_limit_exempt = {*disc::Cidr::parse("127.0.0.0/8")};  // 4 nodes on one IP
  auto a = Appliance::create(config);
  REQUIRE(a);
  (*a)->start();
  const bool seeded = wait_for(**a, [&](const CoreSnapshot& s) {
    std::size_t found = 0;
    for (const NodeRecord& r : db.nodes) {
      for (const PeerView& p : s.peers) {
        found += p.id == r.id;
      }
    }
    return found == db.nodes.size();
  });
  CHECK(seeded);
  (*a)->request_stop();
  (*a)->wait();
  auto saved = load_node_db(dir / "nodes.db");
  REQUIRE(saved);
  for (const NodeRecord& r : db.nodes) {
    const bool kept = std::any_of(saved->nodes.begin(), saved->nodes.end(),
                                  [&](const NodeRecord& s) { return s.id == r.id; });
    CHECK(kept);
  }
  CHECK(set_aside_files(dir.path()).empty());
}

TEST_CASE("appliance: the node db is saved every node_db.save_interval while running",
          "[control][node_db]") {
  test::TempDir dir;
  NodeDb db = make_db(3);
  for (std::size_t i = 0; i < db.nodes.size(); ++i) {
    db.nodes[i].endpoint4 =
        Endpoint{IpAddress::v4(127, 0, 0, 1), static_cast<std::uint16_t>(9 + i)};
    db.nodes[i].enr.clear();
    db.nodes[i].enr_seq = 0;
    db.nodes[i].endpoint6 = {};
  }
  REQUIRE(save_node_db(dir / "nodes.db", db));
  // Left by writers killed mid-save: a pid that cannot run (above pid_max) and ours (a dead
  // predecessor's number); a live process's file and a foreign name stay.
  dir.write("nodes.db.tmp-999999999", "torn");
  dir.write("nodes.db.tmp-" + std::to_string(::getpid()), "torn");
  dir.write("nodes.db.tmp-" + std::to_string(::getppid()), "a live writer's");
  dir.write("nodes.db.tmp-x", "not ours");
  Config c = appliance_config(dir);
  c.node_db.save_interval = std::chrono::milliseconds(200);
  auto a = Appliance::create(c);
  REQUIRE(a);
  (*a)->start();
  CHECK(wait_for(**a, [&](const CoreSnapshot& s) { return s.peers.size() == db.nodes.size(); }));
  CHECK_FALSE(fs::exists(dir / "nodes.db.tmp-999999999"));
  CHECK_FALSE(fs::exists(dir / ("nodes.db.tmp-" + std::to_string(::getpid()))));
  CHECK(fs::exists(dir / ("nodes.db.tmp-" + std::to_string(::getppid()))));
  CHECK(fs::exists(dir / "nodes.db.tmp-x"));
  // While it runs (no shutdown), the file comes back within a few intervals, with a newer
  // saved_at than the one written above.
  REQUIRE(fs::remove(dir / "nodes.db"));
  bool saved_again = false;
  for (int i = 0; i < 100 && !saved_again; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto loaded = load_node_db(dir / "nodes.db");
    saved_again = loaded && loaded->nodes.size() == db.nodes.size();
  }
  CHECK(saved_again);
  CHECK((*a)->running());
  (*a)->request_stop();
  (*a)->wait();
}

TEST_CASE("config: node_db.save_interval", "[control][node_db][config]") {
  CHECK(Config{}.node_db.save_interval == std::chrono::seconds(30));
  auto ok = parse_config("node_db:\n  path: x.db\n  save_interval: 5s\n");
  REQUIRE(ok);
  CHECK(ok->node_db.save_interval == std::chrono::seconds(5));
  auto fast = parse_config("node_db:\n  save_interval: 50ms\n");
  REQUIRE_FALSE(fast);
  CHECK(fast.error().key == "node_db.save_interval");
  CHECK(fast.error().message == "must be at least 100ms");
  auto bad = parse_config("node_db:\n  save_interval: soon\n");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().key == "node_db.save_interval");
}
