// Per-protocol revalidation intervals end to end: two discplane processes on loopback, A with
// timers.revalidate_interval discv4 60 s / discv5 1 s and B (speaking both) as its bootnode.
// A's /metrics (discplane_packets_sent_total) must show the discv5 checks every second and
// no discv4 check beyond the bond in an 8 s window.
#include <cstdio>
#include <string>
#include <thread>

#include <httplib.h>

#include "e2e/process.h"

using namespace e2e;
using namespace std::chrono_literals;

namespace {

struct Pings {
  long long v4 = -1;
  long long v5 = -1;
};

long long sample(const std::string& body, const std::string& key) {
  const auto at = body.find(key);
  if (at == std::string::npos) {
    return -1;
  }
  return std::stoll(body.substr(at + key.size()));
}

// discplane_packets_sent_total{protocol="v4|v5",type="ping"} from A's /metrics.
Pings sent_pings(const std::string& api) {
  const auto colon = api.rfind(':');
  httplib::Client client(api.substr(0, colon), std::stoi(api.substr(colon + 1)));
  client.set_connection_timeout(2s);
  client.set_read_timeout(5s);
  auto res = client.Get("/metrics");
  if (!res || res->status != 200) {
    return {};
  }
  return {sample(res->body, "discplane_packets_sent_total{protocol=\"v4\",type=\"ping\"} "),
          sample(res->body, "discplane_packets_sent_total{protocol=\"v5\",type=\"ping\"} ")};
}

}  // namespace

TEST_CASE("revalidate_interval per protocol: discv4 60 s and discv5 1 s, as /metrics counts",
          "[e2e][revalidation]") {
  TempDir dir;
  REQUIRE(dir.ok());
  auto b = Node::start(dir, {.name = "b", .ip = "127.0.0.2"});
  NodeOptions a_opt{.name = "a",
                    .ip = "127.0.0.1",
                    .bootnodes = {b->enode, b->enr},
                    .lookup_interval = "30s",
                    .revalidate_interval = "{discv4: 60s, discv5: 1s}",
                    .api_listen = "127.0.0.1:" + std::to_string(free_port())};
  const std::string api = a_opt.api_listen;
  auto a = Node::start(dir, a_opt);

  const bool peered = a->wait_peer(b->id16, "v4,v5", 20s);
  INFO("A:\n" << a->proc->out_text() << a->proc->err_text());
  REQUIRE(peered);
  // The peer line comes from a snapshot; wait for the next one so the window starts from it.
  std::this_thread::sleep_for(1100ms);
  const Pings before = sent_pings(api);
  REQUIRE(before.v4 >= 0);
  REQUIRE(before.v5 >= 0);
  std::this_thread::sleep_for(8s);
  const Pings after = sent_pings(api);
  REQUIRE(after.v4 >= 0);
  REQUIRE(after.v5 >= 0);
  const long long v4 = after.v4 - before.v4;
  const long long v5 = after.v5 - before.v5;
  std::printf("e2e: in 8 s A sent %lld discv5 PING, %lld discv4 PING (total v4 %lld, v5 %lld)\n",
              v5, v4, after.v4, after.v5);
  CHECK(v5 >= 5);
  CHECK(v4 <= 1);
  // Over A's whole life (~10 s) discv4 sent only the bond ping (its first liveness check)
  // and maybe one revalidation racing that bond.
  CHECK(after.v4 <= 2);
  CHECK(a->proc->running());
  CHECK(b->proc->running());
}
