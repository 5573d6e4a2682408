// Runs the built discctl binary: key generate/show, enr decode/encode, enode, and error exits.
// Checked against the EIP-778 example record and its published private key.
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "discplane/common/bytes.h"
#include "discplane/wire/enr.h"

#include "temp_dir.h"

using namespace discplane;
using namespace discplane::control;

namespace {

// EIP-778 "Test Vectors": the example record, its key and node id.
constexpr const char* kEipRecord =
    "enr:-"
    "IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj499SZuOh8R33Ls8RRcy5w"
    "BgmlkgnY0gmlwhH8AAAGJc2VjcDI1NmsxoQPKY0yuDUmstAHYpMa2_oxVtw0RW_QAdpzBQA8yWM0xOIN1ZHCCdl8";
constexpr const char* kEipKey = "b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291";
constexpr const char* kEipNodeId =
    "a448f24c6d18e575453db13171562b71999873db5b286df957af199ec94617f7";
constexpr const char* kEipPublicKey =
    "ca634cae0d49acb401d8a4c6b6fe8c55b70d115bf400769cc1400f3258cd3138"
    "7574077f301b421bc84df7266c44e9e6d569fc56be00812904767bf5ccd1fc7f";

struct Run {
  int code = -1;
  std::string out;
  std::string err;
};

// Runs discctl with `args` (already shell-safe), capturing stdout and stderr.
Run discctl(const test::TempDir& dir, const std::string& args) {
  const std::filesystem::path bin = std::filesystem::path(DP_BINARY_DIR) / "discctl";
  REQUIRE(std::filesystem::exists(bin));  // built with the project (unit_control depends on it)
  const auto out = dir / "stdout.txt";
  const auto err = dir / "stderr.txt";
  const std::string cmd =
      bin.string() + " " + args + " >" + out.string() + " 2>" + err.string() + " </dev/null";
  const int status = std::system(cmd.c_str());
  REQUIRE(WIFEXITED(status));
  return {WEXITSTATUS(status), test::read_file(out), test::read_file(err)};
}

// "name: value" line of `key show`.
std::string field(const std::string& text, const std::string& name) {
  const auto at = text.find(name + ": ");
  if (at == std::string::npos) {
    return {};
  }
  const auto start = at + name.size() + 2;
  return text.substr(start, text.find('\n', start) - start);
}

bool is_hex(const std::string& s, std::size_t len) {
  Bytes b;
  return s.size() == len && from_hex(s, b);
}

}  // namespace

TEST_CASE("discctl key generate: stdout, or a new 0600 file, never overwritten",
          "[control][discctl]") {
  test::TempDir dir;
  auto a = discctl(dir, "key generate");
  CHECK(a.code == 0);
  REQUIRE(a.out.size() == 65);
  CHECK(is_hex(a.out.substr(0, 64), 64));
  CHECK(a.out.back() == '\n');
  auto b = discctl(dir, "key generate");
  CHECK(b.out != a.out);

  const auto file = dir / "keys/node.key";
  auto w = discctl(dir, "key generate --out " + file.string());
  CHECK(w.code == 0);
  REQUIRE(std::filesystem::exists(file));
  struct stat st {};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  const std::string written = test::read_file(file);
  CHECK(is_hex(written.substr(0, 64), 64));
  CHECK(written.size() == 65);

  auto again = discctl(dir, "key generate --out " + file.string());
  CHECK(again.code == 1);
  CHECK(again.err.find("already exists") != std::string::npos);
  CHECK(test::read_file(file) == written);
}

TEST_CASE("discctl key show: node id, public key and a seq-1 record without ip",
          "[control][discctl]") {
  test::TempDir dir;
  const auto file = dir.write("nodekey", std::string(kEipKey) + "\n");
  ::chmod(file.c_str(), 0600);
  auto r = discctl(dir, "key show " + file.string());
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(r.err.empty());
  CHECK(field(r.out, "node_id") == kEipNodeId);
  CHECK(field(r.out, "public_key") == kEipPublicKey);
  CHECK(field(r.out, "enode") == std::string("enode://") + kEipPublicKey);
  const std::string record = field(r.out, "enr");
  REQUIRE(record.starts_with("enr:"));

  auto decoded = discctl(dir, "enr decode " + record);
  REQUIRE(decoded.code == 0);
  const auto j = nlohmann::json::parse(decoded.out);
  CHECK(j["seq"] == 1);
  CHECK(j["node_id"] == kEipNodeId);
  CHECK_FALSE(j.contains("ip"));
  CHECK_FALSE(j.contains("udp"));

  // Readable by others: still shown, with a warning on stderr.
  ::chmod(file.c_str(), 0644);
  auto warned = discctl(dir, "key show " + file.string());
  CHECK(warned.code == 0);
  CHECK(warned.err.find("warning") != std::string::npos);
}

TEST_CASE("discctl enr decode / encode / enode on the EIP-778 example", "[control][discctl]") {
  test::TempDir dir;
  auto d = discctl(dir, std::string("enr decode ") + kEipRecord);
  INFO(d.err);
  REQUIRE(d.code == 0);
  const auto j = nlohmann::json::parse(d.out);
  CHECK(j["seq"] == 1);
  CHECK(j["node_id"] == kEipNodeId);
  CHECK(j["public_key"] == kEipPublicKey);
  CHECK(j["ip"] == "127.0.0.1");
  CHECK(j["udp"] == 30303);
  CHECK_FALSE(j.contains("tcp"));
  CHECK_FALSE(j.contains("ip6"));
  CHECK_FALSE(j.contains("other"));
  CHECK(j["enode"] == std::string("enode://") + kEipPublicKey + "@127.0.0.1:0?discport=30303");

  // Signing is deterministic (RFC 6979), so re-encoding gives the published record byte for byte.
  const auto key = dir.write("eip.key", std::string(kEipKey) + "\n");
  ::chmod(key.c_str(), 0600);
  auto e = discctl(dir, "enr encode --key " + key.string() + " --ip 127.0.0.1 --udp 30303");
  INFO(e.err);
  CHECK(e.code == 0);
  CHECK(e.out == std::string(kEipRecord) + "\n");

  auto with_tcp = discctl(
      dir, "enr encode --key " + key.string() + " --ip 10.0.0.1 --udp 30301 --tcp 30303 --seq 7");
  REQUIRE(with_tcp.code == 0);
  std::string text = with_tcp.out;
  text.pop_back();
  auto e2 = discctl(dir, "enode " + text);
  CHECK(e2.code == 0);
  CHECK(e2.out == std::string("enode://") + kEipPublicKey + "@10.0.0.1:30303?discport=30301\n");
  auto d2 = discctl(dir, "enr decode " + text);
  REQUIRE(d2.code == 0);
  const auto j2 = nlohmann::json::parse(d2.out);
  CHECK(j2["seq"] == 7);
  CHECK(j2["tcp"] == 30303);

  auto v6 = discctl(dir, "enr encode --key " + key.string() + " --ip6 fd00::1 --udp6 9000");
  REQUIRE(v6.code == 0);
  std::string v6text = v6.out;
  v6text.pop_back();
  const auto j3 = nlohmann::json::parse(discctl(dir, "enr decode " + v6text).out);
  CHECK(j3["ip6"] == "fd00::1");
  CHECK(j3["udp6"] == 9000);
  CHECK_FALSE(j3.contains("ip"));
  CHECK_FALSE(j3.contains("udp"));
}

TEST_CASE("discctl enr encode: both families, eth and extra entries", "[control][discctl]") {
  test::TempDir dir;
  const auto key = dir.write("eip.key", std::string(kEipKey) + "\n");
  ::chmod(key.c_str(), 0600);
  auto e = discctl(dir, "enr encode --key " + key.string() +
                            " --ip 10.0.0.1 --udp 30301 --tcp 30303"
                            " --ip6 fd00::1 --udp6 30311 --tcp6 30313 --eth 0x9f3d2254:1150000"
                            " --entry foo=0x83626172 --entry lst=c20102 --seq 5");
  INFO(e.err);
  REQUIRE(e.code == 0);
  std::string text = e.out;
  REQUIRE(text.ends_with("\n"));
  text.pop_back();
  auto d = discctl(dir, "enr decode " + text);
  INFO(d.err);
  REQUIRE(d.code == 0);
  const auto j = nlohmann::json::parse(d.out);
  CHECK(j["seq"] == 5);
  CHECK(j["node_id"] == kEipNodeId);
  CHECK(j["ip"] == "10.0.0.1");
  CHECK(j["udp"] == 30301);
  CHECK(j["tcp"] == 30303);
  CHECK(j["ip6"] == "fd00::1");
  CHECK(j["udp6"] == 30311);
  CHECK(j["tcp6"] == 30313);
  CHECK(j["eth"]["fork_hash"] == "9f3d2254");
  CHECK(j["eth"]["fork_next"] == 1150000);
  CHECK(j["other"]["foo"] == "83626172");
  CHECK(j["other"]["lst"] == "c20102");
  CHECK(j["other"].size() == 2);

  // The record itself, byte for byte what the builder makes from the same entries.
  auto record = enr::parse_text(text);
  REQUIRE(record);
  enr::Builder b;
  b.set_seq(5).set_ip(*IpAddress::parse("10.0.0.1")).set_udp(30301).set_tcp(30303);
  b.set_ip(*IpAddress::parse("fd00::1")).set_udp6(30311).set_tcp6(30313);
  b.set_eth(enr::ForkId{{0x9f, 0x3d, 0x22, 0x54}, 1150000});
  REQUIRE(b.set("foo", hex_or_die("83626172")));
  REQUIRE(b.set("lst", hex_or_die("c20102")));
  auto expected = b.sign(to_array<32>(hex_or_die(kEipKey)));
  REQUIRE(expected);
  CHECK(*record == *expected);

  // --eth without NEXT is fork-next 0; IPv6 only, without tcp6.
  auto e2 =
      discctl(dir, "enr encode --key " + key.string() + " --ip6 ::1 --udp6 9000 --eth 9F3D2254");
  INFO(e2.err);
  REQUIRE(e2.code == 0);
  std::string text2 = e2.out;
  text2.pop_back();
  const auto j2 = nlohmann::json::parse(discctl(dir, "enr decode " + text2).out);
  CHECK(j2["ip6"] == "::1");
  CHECK(j2["udp6"] == 9000);
  CHECK_FALSE(j2.contains("tcp6"));
  CHECK_FALSE(j2.contains("ip"));
  CHECK(j2["eth"]["fork_hash"] == "9f3d2254");
  CHECK(j2["eth"]["fork_next"] == 0);
}

TEST_CASE("discctl enr encode: usage errors exit 2, an oversized record exits 1",
          "[control][discctl]") {
  test::TempDir dir;
  const auto key = dir.write("eip.key", std::string(kEipKey) + "\n");
  ::chmod(key.c_str(), 0600);
  const std::string enc = "enr encode --key " + key.string() + " ";
  const std::string v4 = "--ip 10.0.0.1 --udp 30303 ";
  // Each is refused with one "discctl: " line naming what was wrong, and nothing on stdout.
  const std::vector<std::pair<std::string, std::string>> usage = {
      {"", "--ip"},                                                   // no family at all
      {"--ip fd00::1 --udp 1", "IPv4"},                               // IPv6 in --ip
      {"--ip6 10.0.0.1 --udp6 1", "IPv6"},                            // IPv4 in --ip6
      {"--ip 10.0.0.300 --udp 1", "--ip"},                            // not an address
      {"--ip 10.0.0.1", "--udp"},                                     // address without its port
      {"--ip6 fd00::1 --udp 1", "need --ip"},                         // the other family's port
      {"--ip 10.0.0.1 --udp 0", "--udp"},                             // port 0
      {"--ip 10.0.0.1 --udp 1 --tcp 0", "--tcp"},                     // port 0
      {"--udp 1", "--ip"},                                            // port without an address
      {"--ip 10.0.0.1 --udp 1 --tcp6 1", "--ip6"},                    // tcp6 without ip6
      {v4 + "--eth 0x9f3d22", "--eth"},                               // 3 bytes
      {v4 + "--eth 0x9f3d225411", "--eth"},                           // 5 bytes
      {v4 + "--eth zz3d2254", "--eth"},                               // not hex
      {v4 + "--eth 0x9f3d2254:", "--eth"},                            // empty next
      {v4 + "--eth 0x9f3d2254:x1", "--eth"},                          // next not decimal
      {v4 + "--eth 0x9f3d2254:-1", "--eth"},                          // negative next
      {v4 + "--eth 0x9f3d2254:18446744073709551616", "--eth"},        // next over uint64
      {v4 + "--entry foo", "--entry"},                                // no '='
      {v4 + "--entry =0x80", "--entry"},                              // empty key
      {v4 + "--entry " + std::string(65, 'k') + "=0x80", "--entry"},  // key too long
      {v4 + "--entry tcp=0x80", "\"tcp\""},                           // reserved keys
      {v4 + "--entry tcp6=0x80", "\"tcp6\""},
      {v4 + "--entry eth=0xc0", "--eth"},
      {v4 + "--entry id=0x827634", "\"id\""},
      {v4 + "--entry secp256k1=0x80", "\"secp256k1\""},
      {v4 + "--entry ip=0x80", "\"ip\""},
      {v4 + "--entry foo=0x80 --entry foo=0x81", "duplicate"},
      {v4 + "--entry foo=", "RLP"},        // no value
      {v4 + "--entry foo=0xzz", "RLP"},    // not hex
      {v4 + "--entry foo=0x8362", "RLP"},  // truncated item
      {v4 + "--entry foo=0x8080", "RLP"},  // two items
  };
  for (const auto& [args, needle] : usage) {
    INFO(args);
    auto r = discctl(dir, enc + args);
    CHECK(r.code == 2);
    CHECK(r.out.empty());
    CHECK(r.err.starts_with("discctl: "));
    CHECK(r.err.find(needle) != std::string::npos);
  }

  // One KEY=HEXRLP per --entry: a second word is refused by the parser, not taken as an entry.
  auto stray = discctl(dir, enc + v4 + "--entry foo=0x80 bar=0x81");
  CHECK(stray.code == 2);
  CHECK(stray.out.empty());
  CHECK(stray.err.find("bar=0x81") != std::string::npos);

  // 250 bytes of value make the record larger than EIP-778's 300 bytes: a clear failure, exit 1.
  const std::string big = "--entry big=0xb8fa" + std::string(500, 'a');
  auto over = discctl(dir, enc + v4 + big);
  CHECK(over.code == 1);
  CHECK(over.out.empty());
  CHECK(over.err.find("over 300 bytes") != std::string::npos);
  // The same value, shorter, fits.
  auto fits = discctl(dir, enc + v4 + "--entry big=0xb864" + std::string(200, 'a'));
  INFO(fits.err);
  CHECK(fits.code == 0);

  // The key file is read after the arguments are checked; a bad one is still exit 1.
  CHECK(discctl(dir, "enr encode --key " + (dir / "nope").string() + " " + v4).code == 1);
}

TEST_CASE("discctl enr decode shows eth and unknown keys", "[control][discctl]") {
  test::TempDir dir;
  enr::Builder b;
  b.set_seq(3).set_eth(enr::ForkId{{0xfc, 0x64, 0xec, 0x04}, 1150000});
  const Bytes bar = hex_or_die("83626172");  // RLP of "bar"
  REQUIRE(b.set("foo", bar));
  auto record = b.sign(to_array<32>(hex_or_die(kEipKey)));
  REQUIRE(record);
  auto d = discctl(dir, "enr decode " + enr::to_text(*record));
  INFO(d.err);
  REQUIRE(d.code == 0);
  const auto j = nlohmann::json::parse(d.out);
  CHECK(j["seq"] == 3);
  CHECK(j["eth"]["fork_hash"] == "fc64ec04");
  CHECK(j["eth"]["fork_next"] == 1150000);
  CHECK(j["other"]["foo"] == "83626172");
  CHECK(j["other"].size() == 1);
  CHECK(j["enode"] == std::string("enode://") + kEipPublicKey);  // no address: bare form
}

TEST_CASE("discctl error exits", "[control][discctl]") {
  test::TempDir dir;
  // A record with one character changed: the signature no longer verifies.
  std::string bad = kEipRecord;
  bad[20] = bad[20] == 'A' ? 'B' : 'A';
  for (const std::string& record : {bad, std::string("enr:!!!"), std::string("nope")}) {
    auto r = discctl(dir, "enr decode '" + record + "'");
    CHECK(r.code == 1);
    CHECK(r.out.empty());
    CHECK(r.err.starts_with("discctl: invalid record: "));
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(discctl(dir, "enode '" + record + "'").code == 1);
  }

  auto missing = discctl(dir, "key show " + (dir / "nope").string());
  CHECK(missing.code == 1);
  CHECK(missing.err.find((dir / "nope").string()) != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir / "nope"));

  const auto malformed = dir.write("bad.key", "xyz\n");
  auto m = discctl(dir, "key show " + malformed.string());
  CHECK(m.code == 1);
  CHECK(m.err.find("malformed") != std::string::npos);
  CHECK(test::read_file(malformed) == "xyz\n");

  CHECK(discctl(dir, "enr encode --key " + malformed.string() + " --ip 1.2.3.4 --udp 1").code == 1);
  CHECK(discctl(dir, "").code == 2);
  CHECK(discctl(dir, "key show").code == 2);
  CHECK(discctl(dir, "frobnicate").code == 2);
  CHECK(discctl(dir, "enr encode --ip 1.2.3.4 --udp 1").code == 2);
  CHECK(discctl(dir, "--help").code == 0);
}

TEST_CASE("discctl nodeset filter, dns sign and to-zone on files", "[control][discctl]") {
  test::TempDir dir;
  // Two records from the CLI itself: one on 10.0.0.1 (tcp set), one on 192.168.0.1.
  std::string records[2];
  std::string ids[2];
  const char* ips[2] = {"10.0.0.1", "192.168.0.1"};
  for (int i = 0; i < 2; ++i) {
    const auto key = (dir / ("k" + std::to_string(i))).string();
    REQUIRE(discctl(dir, "key generate --out " + key).code == 0);
    auto enc = discctl(dir, "enr encode --key " + key + " --ip " + ips[i] + " --udp 30303");
    REQUIRE(enc.code == 0);
    records[i] = enc.out.substr(0, enc.out.find('\n'));
    ids[i] = to_hex(enr::parse_text(records[i])->node_id());
  }
  nlohmann::ordered_json all = nlohmann::ordered_json::object();
  for (int i = 0; i < 2; ++i) {
    all[ids[i]] = {{"seq", 1},
                   {"record", records[i]},
                   {"score", 1 + i},
                   {"firstResponse", "2026-01-01T00:00:00Z"},
                   {"lastResponse", "2026-01-02T00:00:00Z"},
                   {"lastCheck", "2026-01-02T00:00:00Z"}};
  }
  const auto all_path = dir.write("all.json", all.dump(4));
  std::filesystem::create_directories(dir / "tree");
  const auto tree = (dir / "tree").string();

  auto f = discctl(
      dir, "nodeset filter " + all_path.string() + " --ip 10.0.0.0/8 -o " + tree + "/nodes.json");
  REQUIRE(f.code == 0);
  CHECK(f.err.find("kept 1 of 2 nodes") != std::string::npos);
  const auto kept = nlohmann::json::parse(test::read_file(dir / "tree" / "nodes.json"));
  CHECK(kept.size() == 1);
  CHECK(kept.contains(ids[0]));
  auto to_stdout = discctl(dir, "nodeset filter " + all_path.string() + " --limit 1");
  REQUIRE(to_stdout.code == 0);
  CHECK(nlohmann::json::parse(to_stdout.out).contains(ids[1]));  // the higher score

  CHECK(discctl(dir, "nodeset filter " + all_path.string() + " --ip nope").code == 2);
  CHECK(discctl(dir, "nodeset filter " + all_path.string() + " --min-age soon").code == 2);
  CHECK(discctl(dir, "nodeset filter " + all_path.string() + " --eth-network goerli").code == 2);
  CHECK(discctl(dir, "nodeset filter " + all_path.string() + " --proto v6").code == 2);
  CHECK(discctl(dir, "nodeset filter " + (dir / "missing.json").string()).code == 1);

  // Unsigned: to-zone refuses (exit 1). Signed: the URL on stdout, a zone on to-zone.
  CHECK(discctl(dir, "dns to-zone " + tree).code == 1);
  const auto sign_key = (dir / "sign.key").string();
  REQUIRE(discctl(dir, "key generate --out " + sign_key).code == 0);
  CHECK(discctl(dir, "dns sign " + tree + " " + sign_key).code == 2);  // --domain is required
  auto s = discctl(dir, "dns sign " + tree + " " + sign_key + " --domain nodes.example.org");
  REQUIRE(s.code == 0);
  CHECK(s.out.starts_with("enrtree://"));
  CHECK(s.out.find("@nodes.example.org\n") != std::string::npos);
  const auto meta = nlohmann::json::parse(test::read_file(dir / "tree" / "enrtree-info.json"));
  CHECK(meta["seq"] == 1);
  CHECK(meta["url"].get<std::string>() + "\n" == s.out);
  auto zone = discctl(dir, "dns to-zone " + tree + " --soa");
  REQUIRE(zone.code == 0);
  CHECK(zone.out.find("$ORIGIN nodes.example.org.\n") != std::string::npos);
  CHECK(zone.out.find("\tIN\tTXT\t\"" + records[0] + "\"\n") != std::string::npos);
  CHECK(zone.out.find("@\tIN\tTXT\t\"enrtree-root:v1 ") != std::string::npos);
  auto dm = discctl(dir, "dns to-zone " + tree + " --format dnsmasq");
  REQUIRE(dm.code == 0);
  CHECK(dm.out.find("txt-record=nodes.example.org,\"enrtree-root:v1 ") != std::string::npos);
  CHECK(discctl(dir, "dns to-zone " + tree + " --format bind9").code == 2);
  CHECK(discctl(dir, "dns sync enrtree://nope@x.org").code == 2);
  CHECK(discctl(dir, "crawl --timeout 1s").code == 2);  // nothing to start from
  CHECK(discctl(dir, "crawl --timeout never --bootnodes " + records[0]).code == 2);
}

TEST_CASE("discctl --version and usage errors exit 2 and connection errors printed whole",
          "[control][discctl]") {
  test::TempDir dir;
  auto v = discctl(dir, "--version");
  CHECK(v.code == 0);
  CHECK(v.out == std::string("discctl ") + DP_PROJECT_VERSION + "\n");

  CHECK(discctl(dir, "--frobnicate").code == 2);          // unknown flag (CLI11: 109)
  CHECK(discctl(dir, "peers --distance 300").code == 2);  // out of range
  CHECK(discctl(dir, "peers --limit x").code == 2);       // not a number
  CHECK(discctl(dir, "peers --api not-an-endpoint").code == 2);

  // Nothing listens on 127.0.0.1:9 (discard) here: the reason is printed in full.
  for (const char* cmd : {"node", "peers --live --distance 255 --limit 3", "buckets", "health"}) {
    auto r = discctl(dir, std::string(cmd) + " --api 127.0.0.1:9");
    CHECK(r.code == 1);
    CHECK(r.err.starts_with("discctl: cannot reach the API at 127.0.0.1:9: connection refused"));
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  }

  // Every subcommand's help says whether it goes through --api (or needs none).
  for (const char* cmd :
       {"node", "peers", "buckets", "health", "lookup", "metrics", "ping", "resolve", "talk", "key",
        "key generate", "key show", "enr", "enr decode", "enr encode", "enode"}) {
    auto h = discctl(dir, std::string(cmd) + " --help");
    CHECK(h.code == 0);
    INFO(cmd);
    CHECK(h.out.find("--api") != std::string::npos);
  }
}

TEST_CASE("discplane --version and command-line and config errors exit 2", "[control][discctl]") {
  test::TempDir dir;
  const std::string bin = (std::filesystem::path(DP_BINARY_DIR) / "discplane").string();
  REQUIRE(std::filesystem::exists(bin));
  auto run = [&](const std::string& args) {
    const auto out = dir / "stdout.txt";
    const int status =
        std::system((bin + " " + args + " >" + out.string() + " 2>/dev/null </dev/null").c_str());
    REQUIRE(WIFEXITED(status));
    return std::make_pair(WEXITSTATUS(status), test::read_file(out));
  };
  auto v = run("--version");
  CHECK(v.first == 0);
  CHECK(v.second == std::string("discplane ") + DP_PROJECT_VERSION + "\n");
  CHECK(run("--frobnicate").first == 2);                                 // CLI11: 109
  CHECK(run("--config " + (dir / "missing.yaml").string()).first == 2);  // CLI11: 105
  CHECK(run("").first == 2);
  CHECK(run("--help").first == 0);
}
