// discplane: the appliance's entry point.
//   discplane --config FILE        run (prints its enode:// URL and enr: record first)
//   discplane --check-config FILE  validate the file and exit (0 valid, 2 invalid)
//   discplane --version            the version (CMake project version)
// Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.
// SIGINT/SIGTERM stop it cleanly (exit 0): the handler only sets a flag.
// SIGHUP re-reads the config file and applies what can change live (control/reload.cc), one
// log line per changed key; a bad file is reported (file:line: key) and the old config kept.
// Diagnostics go through the spdlog logger (stderr); the identity lines and peer lines stay
// on stdout.
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
#include "discplane/control/log.h"
#include "discplane/control/policy.h"
#include "discplane/discovery/peer_table.h"

namespace {

std::atomic<bool> g_stop{false};
std::atomic<bool> g_reload{false};

void on_signal(int) {
  g_stop.store(true);
}
void on_hangup(int) {
  g_reload.store(true);
}

void reload(discplane::control::Appliance& a, const std::string& path) {
  using namespace discplane::control;
  auto& log = logger();
  auto next = load_config(path);
  if (!next) {
    log.error("reload: {} (keeping the running config)", next.error().to_string());
    return;
  }
  auto changes = a.reload(*next);
  if (!changes) {
    log.error("reload: {} (keeping the running config)", changes.error().to_string());
    return;
  }
  if (changes->empty()) {
    log.info("reload: {}: no changes", path);
  }
  for (const ReloadChange& c : *changes) {
    if (c.action == ReloadAction::kApplied) {
      log.info("reload: {}", c.to_string());
    } else {
      log.warn("reload: {}", c.to_string());
    }
  }
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
  app.set_version_flag("--version", std::string("discplane ") + DISCPLANE_VERSION);
  app.add_option("--config", config_path, "YAML configuration file")->check(CLI::ExistingFile);
  app.add_option("--check-config", check_path, "validate a configuration file and exit");
  app.add_flag("--quiet", quiet, "do not print peer table changes");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11's own codes (105 for a missing file, 109 for an unknown flag) would leak out:
    // every command-line error is a usage error, exit 2; --help and --version exit 0.
    return app.exit(e) == 0 ? 0 : 2;
  }

  if (!check_path.empty()) {
    auto config = control::load_config(check_path);
    if (!config) {
      std::fprintf(stderr, "%s\n", config.error().to_string().c_str());
      return 2;
    }
    if (auto spec = control::policy_spec_of(config->policy); !spec) {  // the ban file
      std::fprintf(stderr, "%s\n", spec.error().to_string().c_str());
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
  if (auto spec = control::policy_spec_of(config->policy); !spec) {  // the ban file
    std::fprintf(stderr, "%s\n", spec.error().to_string().c_str());
    return 2;
  }

  // Handlers first: a signal during setup (EAL start takes seconds) or right after the identity
  // lines must still end in a clean stop (exit 0), not the default action.
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  struct sigaction hup {};
  hup.sa_handler = on_hangup;
  sigemptyset(&hup.sa_mask);
  sigaction(SIGHUP, &hup, nullptr);
  control::set_log_level(config->logging.level);
  auto& log = control::logger();

  auto appliance = control::Appliance::create(*config);
  if (!appliance) {
    log.error("{}", appliance.error());
    return 1;
  }
  control::Appliance& a = **appliance;
  std::printf("%s\n%s\n", a.enode_url().c_str(), a.enr_text().c_str());
  std::fflush(stdout);
  std::string listening;
  for (const Endpoint& ep : a.bound_endpoints()) {
    listening += (listening.empty() ? "" : " and ") + ep.to_string();
  }
  log.info("node {} listening on {} ({} backend, mode {})", a.node_id_hex(), listening,
           control::to_string(config->dataplane.backend), control::to_string(config->mode));

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
    log.error("{}", api.error());
    a.request_stop();
    a.wait();
    return 1;
  }
  log.info("API on http://{}", (*api)->endpoint().to_string());
  while (!g_stop.load()) {
    if (g_reload.exchange(false)) {
      reload(a, config_path);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  log.info("stopping");
  (*api)->stop();
  a.request_stop();
  a.wait();
  log.info("stopped");
  return 0;
}
