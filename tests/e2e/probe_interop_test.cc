// discctl ping / resolve / talk against real peers no one here wrote: ethereumjs'
// @ethereumjs/devp2p DPT (discv4) and ChainSafe's @chainsafe/discv5, run by
// tests/interop/peers.mjs on loopback; standalone (discctl's own engine and ephemeral key) and
// through a running discplane's API (--api: the appliance's identity). Plus a timeout (exit 1)
// and a discv4 resolve against discplane itself (DPT does not implement EIP-868's ENRRequest).
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <string>

#include <catch2/catch.hpp>

#include "e2e/interop_harness.h"

namespace {

using namespace discplane::interop;

bool js_harness_available() {
  const std::filesystem::path base = std::filesystem::path(DP_SOURCE_DIR) / "tests/interop";
  return std::filesystem::exists(base / "node_modules/@chainsafe/discv5") &&
         std::filesystem::exists(base / "node_modules/@ethereumjs/devp2p") &&
         run_command({"node", "--version"}) == 0;
}

struct Run {
  int code = -1;
  std::string out;  // stdout and stderr together
  double seconds = 0;
};

// discctl with `args` (single-quoted where they hold URLs); bounded by --timeout in the args.
Run discctl(const std::string& args) {
  const std::string cmd = std::string(DP_BINARY_DIR) + "/discctl " + args + " 2>&1 </dev/null";
  const auto start = std::chrono::steady_clock::now();
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  Run r;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) {
    r.out.append(buf, n);
  }
  const int status = ::pclose(p);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  REQUIRE(WIFEXITED(status));
  r.code = WEXITSTATUS(status);
  return r;
}

std::string quoted(const std::string& s) {
  return "'" + s + "'";
}

}  // namespace

TEST_CASE("probe interop: discctl ping over discv4 against ethereumjs standalone and via --api",
          "[interop][socket][probe]") {
  if (!js_harness_available()) {
    FAIL("node or tests/interop/node_modules missing: run 'npm ci' in tests/interop first");
  }
  const auto dir = log_dir("probe-v4");
  INFO("logs in " << dir.string());
  JsOptions jo;
  jo.v4 = 1;
  jo.max_seconds = 90;
  JsPeers js(jo, dir);
  const std::string enode = js.node(0)["enode"].get<std::string>();
  const std::string port = std::to_string(js.node(0)["port"].get<int>());
  Discplane dp(DiscplaneOptions{}, dir);

  for (const std::string& via : {std::string(), " --api " + dp.api()}) {
    INFO("via: " << (via.empty() ? "standalone" : via));
    auto ping = discctl("ping " + quoted(enode) + " --timeout 8" + via);
    INFO(ping.out);
    CHECK(ping.code == 0);
    CHECK(ping.out.starts_with("pong from 127.0.0.1:" + port + " (v4) in "));
    CHECK(ping.out.find("it sees us at 127.0.0.1:") != std::string::npos);

    auto json = discctl("ping --json " + quoted(enode) + " --timeout 8" + via);
    INFO(json.out);
    REQUIRE(json.code == 0);
    const Json j = Json::parse(json.out, nullptr, false);
    REQUIRE(j.is_object());
    CHECK(j["outcome"] == "answered");
    CHECK(j["node_id"] == js.id(0));
    CHECK(j["from"] == "127.0.0.1:" + port);
  }

  // DPT answers no ENRRequest (it has no EIP-868): resolve says so by timing out, exit 1.
  auto resolve = discctl("resolve " + quoted(enode) + " --timeout 2");
  INFO(resolve.out);
  CHECK(resolve.code == 1);
  CHECK(resolve.out.starts_with("discctl: no record from " + js.id(0).substr(0, 16)));
}

TEST_CASE("probe interop: discctl ping and resolve and talk over discv5 against chainsafe",
          "[interop][socket][probe]") {
  if (!js_harness_available()) {
    FAIL("node or tests/interop/node_modules missing: run 'npm ci' in tests/interop first");
  }
  const auto dir = log_dir("probe-v5");
  INFO("logs in " << dir.string());
  JsOptions jo;
  jo.v5 = 1;
  jo.max_seconds = 90;
  jo.talk_reply = "echo";
  JsPeers js(jo, dir);
  const std::string enr = js.node(0)["enr"].get<std::string>();
  const std::string port = std::to_string(js.node(0)["port"].get<int>());
  Discplane dp(DiscplaneOptions{}, dir);

  for (const std::string& via : {std::string(), " --api " + dp.api()}) {
    INFO("via: " << (via.empty() ? "standalone" : via));
    auto ping = discctl("ping " + enr + " --timeout 8" + via);
    INFO(ping.out);
    CHECK(ping.code == 0);
    CHECK(ping.out.starts_with("pong from 127.0.0.1:" + port + " (v5) in "));
    CHECK(ping.out.find("it sees us at 127.0.0.1:") != std::string::npos);

    auto resolve = discctl("resolve " + enr + " --timeout 8" + via);
    INFO(resolve.out);
    CHECK(resolve.code == 0);
    CHECK(resolve.out == enr + "\n");  // the record the node holds (its seq has not moved)

    auto decoded = discctl("resolve --json " + enr + " --timeout 8" + via);
    INFO(decoded.out);
    REQUIRE(decoded.code == 0);
    const Json j = Json::parse(decoded.out, nullptr, false);
    REQUIRE(j.is_object());
    CHECK(j["node_id"] == js.id(0));
    CHECK(j["udp"] == js.node(0)["port"]);

    // peers.mjs answers TALKREQ by echoing the request (--talk-reply echo).
    auto talk = discctl("talk " + enr + " discplane-test 0102abff --timeout 8" + via);
    INFO(talk.out);
    CHECK(talk.code == 0);
    CHECK(talk.out == "0102abff\n");
  }
}

TEST_CASE(
    "probe interop: a silent node times out with exit 1 and discv4 resolve of discplane itself",
    "[interop][socket][probe]") {
  const auto dir = log_dir("probe-timeout");
  INFO("logs in " << dir.string());
  Discplane dp(DiscplaneOptions{}, dir);

  // EIP-778's example key (not discplane's: it refuses to probe itself), at a port where
  // nothing answers.
  const std::string silent_enode =
      "enode://"
      "ca634cae0d49acb401d8a4c6b6fe8c55b70d115bf400769cc1400f3258cd3138"
      "7574077f301b421bc84df7266c44e9e6d569fc56be00812904767bf5ccd1fc7f@127.0.0.1:" +
      std::to_string(free_port());
  for (const std::string& via : {std::string(), " --api " + dp.api()}) {
    auto r = discctl("ping " + quoted(silent_enode) + " --timeout 1" + via);
    INFO(r.out);
    CHECK(r.code == 1);
    CHECK(r.out.find("no PONG from ") != std::string::npos);
    CHECK(r.seconds < 6);
  }

  // discv4 resolve: the ENRRequest needs the bond both ways (discplane pings back first).
  auto resolve = discctl("resolve " + quoted(dp.enode()) + " --timeout 8");
  INFO(resolve.out);
  CHECK(resolve.code == 0);
  CHECK(resolve.out == dp.enr() + "\n");
  auto v5 = discctl("resolve " + dp.enr() + " --timeout 8");
  CHECK(v5.code == 0);
  CHECK(v5.out == dp.enr() + "\n");

  // --key and --listen: a fixed identity at a fixed endpoint; discplane's table shows both (a
  // discv5 handshake puts the sender in the table).
  const auto key_file = dir / "probe.key";
  std::filesystem::remove(key_file);
  REQUIRE(discctl("key generate --out " + key_file.string()).code == 0);
  const auto shown = discctl("key show " + key_file.string());
  REQUIRE(shown.code == 0);
  const std::string probe_id = shown.out.substr(shown.out.find("node_id: ") + 9, 64);
  const std::string probe_listen = "127.0.0.1:" + std::to_string(free_port());
  auto fixed = discctl("ping " + dp.enr() + " --key " + key_file.string() + " --listen " +
                       probe_listen + " --timeout 8");
  INFO(fixed.out);
  CHECK(fixed.code == 0);
  CHECK(fixed.out.find("it sees us at " + probe_listen + ",") != std::string::npos);
  CHECK(eventually([&] { return dp.get("/v1/peers/" + probe_id)["endpoint"] == probe_listen; },
                   milliseconds(5000)));

  // The API refuses what it cannot ask, with the reason.
  CHECK(dp.post("/v1/ping", Json::object())["error"] ==
        "\"node\" must be an enode:// URL or an enr: record");
  CHECK(dp.post("/v1/ping", Json{{"node", dp.enr()}, {"protocol", "v6"}})["error"] ==
        "protocol must be \"v4\" or \"v5\"");
  CHECK(dp.post("/v1/ping", Json{{"node", dp.enr()}, {"timeout_ms", 0}})["error"] ==
        "timeout_ms must be an integer 1..60000");
  CHECK(dp.post("/v1/talk", Json{{"node", dp.enr()}})["error"] ==
        "\"talk_protocol\" must be a non-empty string");
  const Json self = dp.post("/v1/ping", Json{{"node", dp.enr()}});  // ourselves: refused
  CHECK(self["outcome"] == "refused");
  CHECK(self["error"].get<std::string>().starts_with("not sent to "));

  // IPv6: a discplane on [::1]; discctl picks an IPv6 socket for it.
  DiscplaneOptions v6;
  const std::string listen6 = "[::1]:" + std::to_string(free_port());
  v6.listen = "\"" + listen6 + "\"";  // quoted: YAML reads a bare [ as a list
  v6.external_ip = "::1";
  Discplane dp6(v6, log_dir("probe-v6"));
  auto ping6 = discctl("ping " + quoted(dp6.enode()) + " --timeout 8");
  INFO(ping6.out);
  CHECK(ping6.code == 0);
  CHECK(ping6.out.starts_with("pong from " + listen6 + " (v4) in "));
  CHECK(ping6.out.find("it sees us at [::1]:") != std::string::npos);
  auto resolve6 = discctl("resolve " + dp6.enr() + " --timeout 8");
  CHECK(resolve6.code == 0);
  CHECK(resolve6.out == dp6.enr() + "\n");
  CHECK(discctl("ping " + dp6.enr() + " --listen 127.0.0.1:0").code == 2);  // wrong family

  // Bad usage: exit 2 (and nothing is sent).
  CHECK(discctl("ping nonsense").code == 2);
  CHECK(discctl("talk " + dp.enr() + " p zz").code == 2);
  CHECK(discctl("ping " + dp.enr() + " --timeout 0").code == 2);
  CHECK(discctl("ping " + dp.enr() + " --proto v6").code == 2);
  CHECK(discctl("ping " + dp.enr() + " --key /x --api " + dp.api()).code == 2);
}
