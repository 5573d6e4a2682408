// End to end: the `discplane` program itself, run as a child process with YAML configs written
// to temp dirs. Covers --check-config, the identity lines and key file, discovery between
// instances on loopback (both protocols, v4 only, v5 only), clean stops on SIGTERM/SIGINT and
// the README run command (scripts/run.sh). The DPDK backend runs in dpdk_tap_test.cc.
// Every instance listens on an ephemeral port on 127.0.0.x, so parallel ctest runs do not collide.
#include <sys/stat.h>

#include <algorithm>
#include <fstream>

#include "e2e/process.h"

using namespace e2e;
using namespace std::chrono_literals;

namespace {

// --check-config on a file: exit code and stderr.
std::pair<int, std::string> check_config(const std::string& path) {
  auto p = Process::spawn({discplane_path(), "--check-config", path});
  REQUIRE(p);
  REQUIRE(p->wait_exit(20s));
  REQUIRE(p->wait_eof(5s));
  return {*p->exit_code(), p->err_text()};
}

// Starts A, then B with A as bootnode (enode + ENR), then C with A's ENR (and enode when v4
// runs): C must end with A and B in its table for exactly the protocols that run.
void three_nodes_find_each_other(const std::vector<std::string>& protocols,
                                 const std::string& flags) {
  TempDir dir;
  REQUIRE(dir.ok());
  NodeOptions a_opt{.name = "a", .ip = "127.0.0.1", .protocols = protocols};
  auto a = Node::start(dir, a_opt);
  std::vector<std::string> boot;
  if (flags != "v5") {
    boot.push_back(a->enode);
  }
  boot.push_back(a->enr);
  NodeOptions b_opt{.name = "b", .ip = "127.0.0.2", .protocols = protocols, .bootnodes = boot};
  auto b = Node::start(dir, b_opt);

  // A and B find each other.
  CHECK(b->wait_peer(a->id16, flags, 20s));
  CHECK(a->wait_peer(b->id16, flags, 20s));

  NodeOptions c_opt{.name = "c", .ip = "127.0.0.3", .protocols = protocols, .bootnodes = boot};
  auto c = Node::start(dir, c_opt);
  const bool both = c->wait_for_table(
      [&](const PeerState& t) { return t.has(a->id16, flags) && t.has(b->id16, flags); }, 20s);
  INFO("C stdout:\n" << c->proc->out_text() << "C stderr:\n" << c->proc->err_text());
  INFO("A stdout:\n" << a->proc->out_text());
  CHECK(both);
  // The peer lines' table summary agrees with the protocols that run.
  const PeerState t = c->table();
  for (const auto& [id, p] : t.protocols) {
    CHECK(p == flags);
  }
  // Everyone stops cleanly.
  for (Node* n : {c.get(), b.get(), a.get()}) {
    const auto took = n->proc->signal_and_wait(SIGTERM, 5s);
    CHECK(took.has_value());
    CHECK(n->proc->exit_code() == 0);
  }
}

void stops_on(int sig) {
  TempDir dir;
  REQUIRE(dir.ok());
  auto a = Node::start(dir, {.name = "a", .ip = "127.0.0.1"});
  auto b = Node::start(dir, {.name = "b", .ip = "127.0.0.2", .bootnodes = {a->enode, a->enr}});
  // Both threads are busy with a peer when the signal comes.
  CHECK(a->wait_peer(b->id16, "v4,v5", 20s));
  const auto took = a->proc->signal_and_wait(sig, 5s);
  REQUIRE(took.has_value());
  const double ms = std::chrono::duration<double, std::milli>(*took).count();
  INFO("stopped in " << ms << " ms; stderr:\n" << a->proc->err_text());
  CHECK(ms < 1000.0);
  CHECK(a->proc->exit_code() == 0);
  REQUIRE(a->proc->wait_eof(5s));
  CHECK(a->proc->err_text().find("discplane: stopped") != std::string::npos);
  std::printf("e2e: %s stopped discplane in %.1f ms\n", sig == SIGTERM ? "SIGTERM" : "SIGINT", ms);
}

}  // namespace

TEST_CASE("check-config accepts every conf/*.yaml", "[e2e][config]") {
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(DP_SOURCE_DIR "/conf")) {
    if (entry.path().extension() != ".yaml") {
      continue;
    }
    const auto [rc, err] = check_config(entry.path().string());
    INFO(entry.path() << ": " << err);
    CHECK(rc == 0);
    ++checked;
  }
  CHECK(checked >= 4);
}

TEST_CASE("check-config rejects bad configs with exit 2 naming file:line and key",
          "[e2e][config]") {
  TempDir dir;
  REQUIRE(dir.ok());
  struct Bad {
    std::string name;
    std::string yaml;
    int line;
    std::string key;
  };
  const std::vector<Bad> cases = {
      {"unknown-key.yaml", "mode: node\nnetwork:\n  listen: 127.0.0.1:30303\n  colour: blue\n", 4,
       "network.colour"},
      {"wrong-type.yaml", "mode: node\ntable:\n  bucket_size: many\n", 3, "table.bucket_size"},
      {"bad-address.yaml", "network:\n  listen: 300.1.2.3:30303\n", 2, "network.listen"},
      {"bad-protocol.yaml", "protocols: [discv4, discv6]\n", 1, "protocols"},
      {"bad-duration.yaml", "timers:\n  prune_interval: soon\n", 2, "timers.prune_interval"},
      {"reserved-enr-key.yaml", "enr:\n  extra:\n    - {key: tcp, value: \"0x82765f\"}\n", 3,
       "enr.extra[0].key"},
  };
  for (const auto& c : cases) {
    const std::string path = dir.write(c.name, c.yaml);
    const auto [rc, err] = check_config(path);
    INFO(c.name << " -> rc " << rc << ", stderr: " << err);
    CHECK(rc == 2);
    CHECK(err.find(path + ":" + std::to_string(c.line) + ":") != std::string::npos);
    CHECK(err.find(c.key) != std::string::npos);
  }
  // --config with a bad file refuses to start, with the same message.
  const std::string bad = dir.file("unknown-key.yaml");
  auto p = Process::spawn({discplane_path(), "--config", bad});
  REQUIRE(p);
  REQUIRE(p->wait_exit(20s));
  REQUIRE(p->wait_eof(5s));
  CHECK(p->exit_code() == 2);
  CHECK(p->err_text().find("network.colour") != std::string::npos);
  CHECK(p->out_lines().empty());
}

TEST_CASE("start prints enode and ENR of one node id and keeps its 0600 key file across restarts",
          "[e2e][start]") {
  TempDir dir;
  REQUIRE(dir.ok());
  NodeOptions opt{.name = "a", .ip = "127.0.0.1"};
  std::string first_id;
  std::string first_enr;
  std::uint16_t first_port = 0;
  {
    auto a = Node::start(dir, opt);
    // Node::start parsed both lines; check them again here, in full.
    const auto lines = a->proc->out_lines();
    REQUIRE(lines.size() >= 2);
    auto url = discplane::enode::parse(lines[0]);
    REQUIRE(url);
    auto record = discplane::enr::parse_text(lines[1]);
    REQUIRE(record);
    CHECK(url->node_id() == record->node_id());
    CHECK(url->public_key == record->public_key());
    CHECK(url->udp_endpoint().to_string() == "127.0.0.1:" + std::to_string(a->port));
    REQUIRE(record->udp_endpoint_v4());
    CHECK(record->udp_endpoint_v4()->to_string() == "127.0.0.1:" + std::to_string(a->port));
    first_id = discplane::to_hex(record->node_id());
    first_enr = lines[1];
    first_port = a->port;
    struct stat st {};
    REQUIRE(::stat(a->key_file.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    std::ifstream key(a->key_file);
    std::string hex;
    key >> hex;
    CHECK(hex.size() == 64);
    // SIGTERM right after the identity lines is a clean stop too.
    CHECK(a->proc->signal_and_wait(SIGTERM, 5s).has_value());
    CHECK(a->proc->exit_code() == 0);
    REQUIRE(a->proc->wait_eof(5s));
    CHECK(a->proc->err_text().find(first_id) != std::string::npos);
  }
  // Same key file (and port): same identity; the file is not rewritten.
  struct stat before {};
  REQUIRE(::stat(dir.file("a.key").c_str(), &before) == 0);
  opt.port = first_port;
  auto again = Node::start(dir, opt);
  CHECK(again->id16 == first_id.substr(0, 16));
  CHECK(again->enr == first_enr);  // same key, address and port: the same signed record
  struct stat after {};
  REQUIRE(::stat(dir.file("a.key").c_str(), &after) == 0);
  CHECK(after.st_mtim.tv_sec == before.st_mtim.tv_sec);
  CHECK(after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
  CHECK((after.st_mode & 0777) == 0600);
}

TEST_CASE("the printed enode URL has the TCP port; the ENR carries tcp, eth and extra entries",
          "[e2e][start][enr]") {
  TempDir dir;
  REQUIRE(dir.ok());
  NodeOptions opt{.name = "a", .ip = "127.0.0.1", .tcp_port = 30399};
  opt.extra_yaml =
      "enr:\n  eth: {hash: \"0x9f3d2254\", next: 1710338135}\n"
      "  extra:\n    - {key: foo, value: \"0x83626172\"}\n";
  auto a = Node::start(dir, opt);
  auto url = discplane::enode::parse(a->enode);
  REQUIRE(url);
  CHECK(url->tcp_port == 30399);
  CHECK(url->udp_port == a->port);
  CHECK(a->enode.ends_with("@127.0.0.1:30399?discport=" + std::to_string(a->port)));
  auto record = discplane::enr::parse_text(a->enr);
  REQUIRE(record);
  CHECK(record->tcp() == 30399);
  CHECK(record->udp() == a->port);
  const auto eth = record->eth();
  REQUIRE(eth);
  CHECK(eth->hash == discplane::ByteArray<4>{0x9f, 0x3d, 0x22, 0x54});
  CHECK(eth->next == 1710338135);
  const auto foo = record->get("foo");
  REQUIRE(foo);
  CHECK(discplane::to_hex(*foo) == "83626172");
  CHECK(a->proc->signal_and_wait(SIGTERM, 5s).has_value());
  CHECK(a->proc->exit_code() == 0);

  // Without network.tcp_port the record has no tcp and the URL says so (port 0), as before.
  auto b = Node::start(dir, {.name = "b", .ip = "127.0.0.2"});
  auto plain = discplane::enr::parse_text(b->enr);
  REQUIRE(plain);
  CHECK_FALSE(plain->tcp());
  CHECK(b->enode.ends_with("@127.0.0.2:0?discport=" + std::to_string(b->port)));
}

TEST_CASE("socket backend: two instances find each other on loopback", "[e2e][socket]") {
  TempDir dir;
  REQUIRE(dir.ok());
  auto a = Node::start(dir, {.name = "a", .ip = "127.0.0.1"});
  auto b = Node::start(dir, {.name = "b", .ip = "127.0.0.2", .bootnodes = {a->enode, a->enr}});
  const bool b_has_a = b->wait_peer(a->id16, "v4,v5", 20s);
  const bool a_has_b = a->wait_peer(b->id16, "v4,v5", 20s);
  INFO("A:\n" << a->proc->out_text() << a->proc->err_text());
  INFO("B:\n" << b->proc->out_text() << b->proc->err_text());
  CHECK(b_has_a);
  CHECK(a_has_b);
  // The peer line shows the endpoint the other side listens on.
  const PeerState tb = b->table();
  REQUIRE(tb.endpoints.count(a->id16) == 1);
  CHECK(tb.endpoints.at(a->id16) == "127.0.0.1:" + std::to_string(a->port));
  // Nobody crashed on the way.
  CHECK(a->proc->running());
  CHECK(b->proc->running());
}

TEST_CASE("socket backend: C bootstraps from A and learns A and B (discv4 + discv5)",
          "[e2e][socket]") {
  three_nodes_find_each_other({"discv4", "discv5"}, "v4,v5");
}

TEST_CASE("socket backend: C bootstraps from A and learns A and B (discv4 only)", "[e2e][socket]") {
  three_nodes_find_each_other({"discv4"}, "v4");
}

TEST_CASE("socket backend: C bootstraps from A and learns A and B (discv5 only)", "[e2e][socket]") {
  three_nodes_find_each_other({"discv5"}, "v5");
}

TEST_CASE("SIGTERM stops discplane with exit 0 within 1 s", "[e2e][signal]") {
  stops_on(SIGTERM);
}

TEST_CASE("SIGINT stops discplane with exit 0 within 1 s", "[e2e][signal]") {
  stops_on(SIGINT);
}

TEST_CASE("README run command: scripts/run.sh shows enode and ENR and 3 peers in 25 s",
          "[e2e][demo][slow]") {
  // An existing build dir, so run.sh only checks that discplane is up to date. It runs
  // install-deps (a no-op when everything is installed), the default config
  // (127.0.0.1:30303, API 30380) and 3 peers on 127.0.0.2..4:30303, and stops after 20 s.
  const char* override_dir = std::getenv("DISCPLANE_E2E_RUN_BUILD_DIR");
  const std::string build_dir = override_dir != nullptr ? override_dir : DP_BINARY_DIR;
  Process::Options opt;
  opt.env = {{"DISCPLANE_DEMO_SECONDS", "20"},
             {"DEMO_PEERS", "3"},
             {"DISCPLANE_RUN_BUILD_DIR", build_dir}};
  opt.cwd = DP_SOURCE_DIR;
  auto p = Process::spawn({"/bin/bash", DP_SOURCE_DIR "/scripts/run.sh"}, opt);
  REQUIRE(p);
  const bool exited = p->wait_exit(150s);
  (void)p->wait_eof(5s);
  const auto lines = p->out_lines();
  INFO("stdout:\n" << p->out_text() << "stderr:\n" << p->err_text());
  REQUIRE(exited);
  CHECK(p->exit_code() == 0);
  const auto enode_line = std::find_if(
      lines.begin(), lines.end(), [](const std::string& l) { return l.starts_with("enode://"); });
  const auto enr_line = std::find_if(lines.begin(), lines.end(),
                                     [](const std::string& l) { return l.starts_with("enr:"); });
  REQUIRE(enode_line != lines.end());
  REQUIRE(enr_line != lines.end());
  auto url = discplane::enode::parse(*enode_line);
  auto record = discplane::enr::parse_text(*enr_line);
  REQUIRE(url);
  REQUIRE(record);
  CHECK(url->node_id() == record->node_id());
  const PeerState t = PeerState::of(lines);
  CHECK(t.added >= 3);
  CHECK(t.protocols.size() >= 3);
}
