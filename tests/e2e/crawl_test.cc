// End to end: `mode: crawl` and `mode: bootnode` as real processes on loopback. A crawler
// bootstrapped from one node of a small local network (dual-protocol, discv4-only and
// discv5-only nodes) must list every node in its nodes.json (go-ethereum devp2p format) with
// response times, print progress lines, and write the file again at shutdown.
#include "discplane/control/crawl.h"

#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "e2e/process.h"

using namespace e2e;
using namespace std::chrono_literals;

namespace {

// The node ids (hex) in a nodes.json that responded at least once; empty if unreadable.
std::set<std::string> responded_in(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return {};
  }
  std::stringstream text;
  text << in.rdbuf();
  discplane::control::CrawlDb db;
  if (!db.merge_json(text.str())) {
    return {};
  }
  std::set<std::string> ids;
  for (const auto& [id, n] : db.nodes()) {
    if (n.first_response != 0) {
      ids.insert(discplane::to_hex(id));
    }
  }
  return ids;
}

std::string id_of(const Node& n) {
  return discplane::to_hex(discplane::enr::parse_text(n.enr)->node_id());
}

}  // namespace

TEST_CASE("crawl mode: nodes.json lists every node of a local network", "[e2e][crawl]") {
  TempDir dir;
  REQUIRE(dir.ok());
  auto a = Node::start(dir, {.name = "a", .ip = "127.0.0.1"});
  const std::vector<std::string> boot = {a->enode, a->enr};
  std::vector<std::unique_ptr<Node>> others;
  others.push_back(Node::start(dir, {.name = "b", .ip = "127.0.0.2", .bootnodes = boot}));
  others.push_back(Node::start(dir, {.name = "c", .ip = "127.0.0.3", .bootnodes = boot}));
  others.push_back(Node::start(
      dir, {.name = "d", .ip = "127.0.0.4", .protocols = {"discv4"}, .bootnodes = {a->enode}}));
  others.push_back(Node::start(
      dir, {.name = "e", .ip = "127.0.0.5", .protocols = {"discv5"}, .bootnodes = {a->enr}}));
  // A knows everyone before the crawl starts (the crawler learns the rest through A).
  for (const auto& n : others) {
    CHECK(a->wait_for_table([&](const PeerState& t) { return t.protocols.count(n->id16) == 1; },
                            20s));
  }

  const std::string out = dir.file("crawl/nodes.json");
  auto crawler = Node::start(dir, {.name = "crawler",
                                   .mode = "crawl",
                                   .ip = "127.0.0.9",
                                   .bootnodes = boot,
                                   .extra_yaml = "crawl:\n"
                                                 "  lookup_interval: 200ms\n"
                                                 "  write_interval: 1s\n"
                                                 "  progress_interval: 1s\n"
                                                 "  output: " +
                                                 out + "\n"});
  std::set<std::string> want = {id_of(*a)};
  for (const auto& n : others) {
    want.insert(id_of(*n));
  }
  const auto deadline = Clock::now() + 30s;
  std::set<std::string> got;
  while (Clock::now() < deadline) {
    got = responded_in(out);
    if (std::includes(got.begin(), got.end(), want.begin(), want.end())) {
      break;
    }
    std::this_thread::sleep_for(200ms);
  }
  INFO("crawler stderr:\n" << crawler->proc->err_text());
  CHECK(std::includes(got.begin(), got.end(), want.begin(), want.end()));

  // Stop: exit 0, a final write, and progress lines on the way.
  const auto took = crawler->proc->signal_and_wait(SIGTERM, 5s);
  REQUIRE(took.has_value());
  CHECK(crawler->proc->exit_code() == 0);
  REQUIRE(crawler->proc->wait_eof(5s));
  const std::string err = crawler->proc->err_text();
  CHECK(err.find("discplane: crawl: ") != std::string::npos);
  CHECK(err.find("responded), +") != std::string::npos);
  CHECK(err.find("wrote " + out) != std::string::npos);

  // The final file: the devp2p layout, ENRs for every node that has one (all of them here:
  // discv4 nodes' records come by EIP-868 ENRRequest), and no temp file left behind.
  std::ifstream in(out);
  const auto j = nlohmann::json::parse(in);
  for (const std::string& id : want) {
    INFO(id);
    REQUIRE(j.contains(id));
    const auto& v = j[id];
    CHECK(v["record"].get<std::string>().starts_with("enr:"));
    CHECK(v["seq"].get<std::uint64_t>() >= 1);
    CHECK(v["score"].get<int>() >= 1);
    CHECK(v["firstResponse"].get<std::string>() != "0001-01-01T00:00:00Z");
    CHECK(v["lastResponse"].get<std::string>() >= v["firstResponse"].get<std::string>());
  }
  CHECK_FALSE(j.contains(id_of(*crawler)));
  for (const auto& entry : std::filesystem::directory_iterator(dir.file("crawl"))) {
    CHECK(entry.path().filename() == "nodes.json");
  }
}

TEST_CASE("bootnode mode: serves, and nodes meet through it", "[e2e][bootnode]") {
  TempDir dir;
  REQUIRE(dir.ok());
  auto a = Node::start(dir, {.name = "a", .mode = "bootnode", .ip = "127.0.0.1"});
  const std::vector<std::string> boot = {a->enode, a->enr};
  auto b = Node::start(dir, {.name = "b", .ip = "127.0.0.2", .bootnodes = boot});
  auto c = Node::start(dir, {.name = "c", .ip = "127.0.0.3", .bootnodes = boot});
  CHECK(a->wait_peer(b->id16, "v4,v5", 20s));
  CHECK(a->wait_peer(c->id16, "v4,v5", 20s));
  // B and C learn each other from the bootnode's answers.
  CHECK(c->wait_peer(b->id16, "v4,v5", 20s));
  CHECK(b->wait_peer(c->id16, "v4,v5", 20s));
  const auto took = a->proc->signal_and_wait(SIGTERM, 5s);
  REQUIRE(took.has_value());
  CHECK(a->proc->exit_code() == 0);
  REQUIRE(a->proc->wait_eof(5s));
  CHECK(a->proc->err_text().find("mode bootnode") != std::string::npos);
}
