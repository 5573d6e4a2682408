// SIGHUP to a running discplane: the re-read config's ban list and log level take effect live
// (the banned peer leaves the table, its packets are dropped and counted in /metrics, debug
// packet lines appear tagged by protocol), restart-only keys are reported as ignored, and a
// broken file is reported with file:line while the old config keeps running.
#include <signal.h>

#include <fstream>
#include <sstream>

#include <httplib.h>

#include "e2e/process.h"

using namespace e2e;
using namespace std::chrono_literals;

namespace {

bool wait_err(Process& p, const std::string& part, Clock::duration timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (p.err_text().find(part) != std::string::npos) {
      return true;
    }
    std::this_thread::sleep_for(20ms);
  }
  return p.err_text().find(part) != std::string::npos;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

// The value of discplane_dropped_packets_total{reason="..."} from /metrics (-1: not found).
long long dropped(const std::string& api, const std::string& reason) {
  const auto colon = api.rfind(':');
  httplib::Client client(api.substr(0, colon), std::stoi(api.substr(colon + 1)));
  client.set_connection_timeout(2s);
  auto res = client.Get("/metrics");
  if (!res || res->status != 200) {
    return -1;
  }
  const std::string key = "discplane_dropped_packets_total{reason=\"" + reason + "\"} ";
  const auto at = res->body.find(key);
  if (at == std::string::npos) {
    return -1;
  }
  return std::stoll(res->body.substr(at + key.size()));
}

// Polls /metrics (snapshots are published once a second) until the counter is positive.
bool wait_dropped(const std::string& api, const std::string& reason, Clock::duration timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (dropped(api, reason) > 0) {
      return true;
    }
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

}  // namespace

TEST_CASE("SIGHUP applies a new ban list and log level live and keeps running on a bad file",
          "[e2e][reload]") {
  TempDir dir;
  REQUIRE(dir.ok());
  std::unique_ptr<Node> a;
  const std::string api = "127.0.0.1:" + std::to_string(free_port("127.0.0.1"));
  // Two nodes only (no IP-limit exemption needed): the test appends a table: section itself.
  a = Node::start(dir,
                  {.name = "a", .ip = "127.0.0.1", .api_listen = api, .exempt_loopback = false});
  auto b = Node::start(dir, {.name = "b", .ip = "127.0.0.2", .bootnodes = {a->enode, a->enr}});
  REQUIRE(a->wait_peer(b->id16, "v4,v5", 20s));
  CHECK(dropped(api, "policy_banned") == 0);
  CHECK(a->proc->err_text().find("] drop ") == std::string::npos);  // info: no packet lines

  // Ban B's address, turn on debug, and change a restart-only key.
  const std::string original = read_file(a->config_path);
  write_file(a->config_path, original +
                                 "logging:\n  level: debug\n  packet_log_rate: 50\n"
                                 "policy:\n  ban:\n    ips: [127.0.0.2]\n"
                                 "table:\n  bucket_size: 8\n");
  REQUIRE(::kill(a->proc->pid(), SIGHUP) == 0);
  CHECK(wait_err(*a->proc, "reload: policy.ban.ips: applied (0 -> 1 entries)", 10s));
  CHECK(wait_err(*a->proc, "reload: logging.level: applied (info -> debug)", 1s));
  CHECK(wait_err(*a->proc, "reload: table.bucket_size: ignored, needs a restart", 1s));
  CHECK(wait_err(*a->proc, "policy-applied: 1 table entries evicted", 5s));

  // B leaves A's table (the peer line says so) and what B sends is dropped on arrival: B keeps
  // revalidating and looking up through A, every 2 s.
  CHECK(a->wait_for_table(
      [&](const PeerState& t) {
        return !t.has(b->id16, "v4,v5") && !t.has(b->id16, "v4") && !t.has(b->id16, "v5");
      },
      10s));
  CHECK(wait_err(*a->proc, "drop policy_banned from 127.0.0.2:", 15s));
  const std::string err = a->proc->err_text();
  const bool tagged = err.find("[v4/v5] drop policy_banned") != std::string::npos;
  CHECK(tagged);
  CHECK(wait_dropped(api, "policy_banned", 5s));

  // A broken file: reported with file and line, nothing applied, still running.
  write_file(a->config_path, original + "table:\n  bucket_size: lots\n");
  REQUIRE(::kill(a->proc->pid(), SIGHUP) == 0);
  CHECK(wait_err(*a->proc,
                 "reload: " + a->config_path + ":" +
                     std::to_string(std::count(original.begin(), original.end(), '\n') + 2),
                 10s));
  CHECK(wait_err(*a->proc, "table.bucket_size: expected an unsigned integer", 1s));
  CHECK(wait_err(*a->proc, "(keeping the running config)", 1s));
  CHECK(a->proc->running());
  CHECK(dropped(api, "policy_banned") > 0);

  // Lifting the ban and going back to info: B is admitted again (discv4 at once; discv5 after
  // its next handshake or check).
  write_file(a->config_path, original);
  REQUIRE(::kill(a->proc->pid(), SIGHUP) == 0);
  CHECK(wait_err(*a->proc, "reload: policy.ban.ips: applied (1 -> 0 entries)", 10s));
  CHECK(wait_err(*a->proc, "reload: logging.level: applied (debug -> info)", 1s));
  CHECK(a->wait_for_table(
      [&](const PeerState& t) { return t.has(b->id16, "v4") || t.has(b->id16, "v4,v5"); }, 20s));

  for (Node* n : {b.get(), a.get()}) {
    CHECK(n->proc->signal_and_wait(SIGTERM, 5s).has_value());
    CHECK(n->proc->exit_code() == 0);
  }
}

TEST_CASE("check-config reads the ban file and names its bad line", "[e2e][reload][config]") {
  TempDir dir;
  REQUIRE(dir.ok());
  const std::string ban = dir.write("ban.txt", "# operator list\n10.0.0.0/8\nbogus\n");
  const std::string cfg = dir.write("p.yaml", "policy:\n  ban:\n    file: " + ban + "\n");
  auto p = Process::spawn({discplane_path(), "--check-config", cfg});
  REQUIRE(p);
  REQUIRE(p->wait_exit(20s));
  REQUIRE(p->wait_eof(5s));
  CHECK(p->exit_code() == 2);
  CHECK(p->err_text().find(ban + ":3: policy.ban.file: bad entry \"bogus\"") != std::string::npos);

  (void)dir.write("ban.txt", "10.0.0.0/8\n");
  auto ok = Process::spawn({discplane_path(), "--check-config", cfg});
  REQUIRE(ok);
  REQUIRE(ok->wait_exit(20s));
  CHECK(ok->exit_code() == 0);
}
