// discctl crawl: a one-shot crawl for a time budget. The appliance runs in-process in crawl
// mode (the same engine, crawl database, progress line and atomic nodes.json writes as
// `discplane` with mode: crawl), then stops and writes the file.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "discplane/control/appliance.h"
#include "discplane/control/config.h"
#include "discplane/control/crawl.h"

#include "cli.h"

namespace discplane::cli {

using namespace ::discplane::control;

namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) {
  g_stop.store(true);
}

struct CrawlArgs {
  std::string config;
  std::string timeout = "10m";
  std::vector<std::string> bootnodes;
  std::string nodes;
  std::string output = "nodes.json";
  std::string listen = "0.0.0.0:0";
  std::string key_file;
  std::string progress = "10s";
};

int usage(const std::string& message) {
  std::cerr << "discctl: " << message << "\n";
  return kUsage;
}

int run_crawl(const CrawlArgs& a) {
  Config config;
  if (!a.config.empty()) {
    auto loaded = load_config(a.config);
    if (!loaded) {
      return usage(loaded.error().to_string());
    }
    config = std::move(*loaded);
  } else {
    auto listen = Endpoint::parse(a.listen);
    if (!listen) {
      return usage("--listen must be ADDRESS:PORT, not \"" + a.listen + "\"");
    }
    config.network.listen.assign(1, *listen);
    config.node_db.path.clear();
  }
  auto budget = parse_duration(a.timeout);
  if (!budget) {
    return usage("--timeout must be a duration (30s, 10m, 1h), not \"" + a.timeout + "\"");
  }
  auto progress = parse_duration(a.progress);
  if (!progress) {
    return usage("--progress must be a duration (1s, 10s), not \"" + a.progress + "\"");
  }
  config.mode = Mode::kCrawl;
  config.crawl.output = a.output;
  config.crawl.progress_interval = *progress;
  config.crawl.resume = true;  // an existing output file is merged, as geth's crawler does
  for (const std::string& b : a.bootnodes) {
    config.bootnodes.push_back(b);
  }
  if (!a.nodes.empty()) {
    CrawlDb seeds;
    if (auto loaded = seeds.load(a.nodes); !loaded) {
      std::cerr << "discctl: " << loaded.error() << "\n";
      return kFailed;
    }
    for (const auto& [id, n] : seeds.nodes()) {
      config.bootnodes.push_back(n.record);
    }
  }
  if (config.bootnodes.empty()) {
    return usage("crawl needs --bootnodes or --nodes (or bootnodes in --config)");
  }
  // No --key and no --config: an ephemeral identity, like geth's crawler.
  std::filesystem::path temp_dir;
  if (!a.key_file.empty()) {
    config.identity.key_file = a.key_file;
  } else if (a.config.empty()) {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "discctl-crawl-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      std::cerr << "discctl: cannot create a temporary directory for the crawl's key\n";
      return kFailed;
    }
    temp_dir = pattern;
    config.identity.key_file = (temp_dir / "nodekey").string();
  }
  if (auto valid = config.validate(); !valid) {
    return usage(valid.error().to_string());
  }
  auto cleanup = [&] {
    if (!temp_dir.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(temp_dir, ec);
    }
  };
  auto appliance = Appliance::create(config);
  if (!appliance) {
    cleanup();
    std::cerr << "discctl: " << appliance.error() << "\n";
    return kFailed;
  }
  Appliance& app = **appliance;
  std::cerr << "discctl: crawling for " << format_duration(*budget) << " from "
            << app.bound_endpoint().to_string() << " (" << config.bootnodes.size()
            << " seeds), writing " << a.output << "\n";
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  app.start();
  const auto until = std::chrono::steady_clock::now() + *budget;
  while (!g_stop.load() && app.running() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  app.request_stop();
  app.wait();  // the crawl session's final drain and write happen here
  cleanup();
  const auto stats = app.crawl_stats();
  if (stats && stats->write_errors != 0 && stats->writes == 0) {
    std::cerr << "discctl: could not write " << a.output << "\n";
    return kFailed;
  }
  return kOk;
}

}  // namespace

void add_crawl_command(CLI::App& app, Commands& commands) {
  auto a = std::make_shared<CrawlArgs>();
  auto* crawl =
      app.add_subcommand("crawl", "crawl the discovery DHT for a time budget and write nodes.json");
  crawl->add_option("--timeout", a->timeout, "time budget (default 10m)");
  crawl->add_option("--bootnodes", a->bootnodes, "enode:// URLs or enr: records to start from")
      ->delimiter(',');
  crawl->add_option("--nodes", a->nodes, "start from (and revalidate) the nodes of a nodes.json");
  crawl->add_option("-o,--out", a->output, "nodes.json to write (merged when it exists)");
  crawl->add_option("--listen", a->listen, "local UDP endpoint (default 0.0.0.0:0)");
  crawl->add_option("--key", a->key_file, "node key file (default: a new, ephemeral key)");
  crawl->add_option("--config", a->config,
                    "a discplane YAML configuration to start from (mode is set to crawl)");
  crawl->add_option("--progress", a->progress, "progress line interval (default 10s)");
  commands.push_back({crawl, [a] { return run_crawl(*a); }});
}

}  // namespace discplane::cli
