// discplane: the appliance's entry point.
//   discplane --config FILE        run (prints its enode:// URL and enr: record first)
//   discplane --check-config FILE  validate the file and exit (0 valid, 2 invalid)
// SIGINT/SIGTERM stop it cleanly (exit 0): the handler only sets a flag.
// The HTTP API and /metrics (api.listen) start after the appliance and stop before it.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>

#include "discplane/control/api.h"
#include "discplane/control/appliance.h"
#include "discplane/control/config.h"
#include "discplane/discovery/peer_table.h"

namespace {

std::atomic<bool> g_stop{false};

void on_signal(int) {
  g_stop.store(true);
}

std::string protocols_of(std::uint8_t flags) {
  std::string s;
  if (flags & discplane::disc::kFlagV4) {
    s += "v4";
  }
  if (flags & discplane::disc::kFlagV5) {
    s += s.empty() ? "v5" : ",v5";
  }
  return s.empty() ? "-" : s;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace discplane;
  CLI::App app{"discplane: discv4 + discv5 node discovery on one port"};
  std::string config_path;
  std::string check_path;
  bool quiet = false;
  app.add_option("--config", config_path, "YAML configuration file")->check(CLI::ExistingFile);
  app.add_option("--check-config", check_path, "validate a configuration file and exit");
  app.add_flag("--quiet", quiet, "do not print peer table changes");
  CLI11_PARSE(app, argc, argv);

  if (!check_path.empty()) {
    auto config = control::load_config(check_path);
    if (!config) {
      std::fprintf(stderr, "%s\n", config.error().to_string().c_str());
      return 2;
    }
    std::printf("%s: OK\n", check_path.c_str());
    return 0;
  }
  if (config_path.empty()) {
    std::fprintf(stderr, "discplane: --config FILE is required (or --check-config FILE)\n");
    return 2;
  }
  auto config = control::load_config(config_path);
  if (!config) {
    std::fprintf(stderr, "%s\n", config.error().to_string().c_str());
    return 2;
  }

  // Handlers first: a signal during setup (EAL start takes seconds) or right after the identity
  // lines must still end in a clean stop (exit 0), not the default action.
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  auto appliance = control::Appliance::create(*config);
  if (!appliance) {
    std::fprintf(stderr, "discplane: %s\n", appliance.error().c_str());
    return 1;
  }
  control::Appliance& a = **appliance;
  std::printf("%s\n%s\n", a.enode_url().c_str(), a.enr_text().c_str());
  std::fflush(stdout);
  std::fprintf(stderr, "discplane: node %s listening on %s (%s backend, mode %s)\n",
               a.node_id_hex().c_str(), a.bound_endpoint().to_string().c_str(),
               std::string(control::to_string(config->dataplane.backend)).c_str(),
               std::string(control::to_string(config->mode)).c_str());

  if (!quiet) {
    a.on_peer_event([](const control::PeerView& p, bool added, const control::CoreSnapshot& s) {
      const control::TableCounts t = control::count_table(s.peers);
      const Endpoint& ep = p.endpoint4.valid() ? p.endpoint4 : p.endpoint6;
      std::printf("peer %s %s %-6s %-22s d=%3d | table: %zu nodes (v4 %zu, v5 %zu)\n",
                  added ? "+" : "-", to_hex(ByteView(p.id).first(8)).c_str(),
                  protocols_of(p.protocols).c_str(), ep.to_string().c_str(), p.distance,
                  s.peers.size(), t.v4, t.v5);
      std::fflush(stdout);
    });
  }

  a.start();
  auto api = control::ApiServer::start(a, config->api.listen);
  if (!api) {
    std::fprintf(stderr, "discplane: %s\n", api.error().c_str());
    a.request_stop();
    a.wait();
    return 1;
  }
  std::fprintf(stderr, "discplane: API on http://%s\n", (*api)->endpoint().to_string().c_str());
  while (!g_stop.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::fprintf(stderr, "discplane: stopping\n");
  (*api)->stop();
  a.request_stop();
  a.wait();
  std::fprintf(stderr, "discplane: stopped\n");
  return 0;
}
