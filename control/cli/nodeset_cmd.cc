// discctl nodeset filter: go-ethereum's `devp2p nodeset filter` on a nodes.json file.
#include <ctime>
#include <iostream>
#include <memory>
#include <string>

#include "discplane/control/config.h"
#include "discplane/control/nodeset.h"
#include "discplane/discovery/peer_table.h"

#include "cli.h"

namespace discplane::cli {

using namespace ::discplane::control;

namespace {

struct FilterArgs {
  std::string input;
  std::string output;
  std::size_t limit = 0;
  bool has_limit = false;
  std::string ip;
  std::string min_age;
  std::string eth_network;
  std::string proto;
  std::string responded_within;
};

int usage(const std::string& message) {
  std::cerr << "discctl: " << message << "\n";
  return kUsage;
}

int failed(const std::string& message) {
  std::cerr << "discctl: " << message << "\n";
  return kFailed;
}

std::optional<std::int64_t> seconds_of(const std::string& text) {
  auto d = parse_duration(text);
  if (!d) {
    return std::nullopt;
  }
  return std::chrono::duration_cast<std::chrono::seconds>(*d).count();
}

int run_filter(const FilterArgs& a) {
  NodeFilter f;
  if (a.has_limit) {
    f.limit = a.limit;
  }
  if (!a.ip.empty()) {
    f.ip = disc::Cidr::parse(a.ip);
    if (!f.ip) {
      return usage("--ip must be an address prefix (10.0.0.0/8, fd00::/8), not \"" + a.ip + "\"");
    }
  }
  if (!a.min_age.empty()) {
    f.min_age_s = seconds_of(a.min_age);
    if (!f.min_age_s) {
      return usage("--min-age must be a duration (30m, 12h, 1h30m), not \"" + a.min_age + "\"");
    }
  }
  if (!a.responded_within.empty()) {
    f.responded_within_s = seconds_of(a.responded_within);
    if (!f.responded_within_s) {
      return usage("--responded-within must be a duration (30m, 12h), not \"" + a.responded_within +
                   "\"");
    }
  }
  if (!a.eth_network.empty()) {
    auto eth = EthFilter::parse(a.eth_network);
    if (!eth) {
      return usage(eth.error());
    }
    f.eth = std::move(*eth);
  }
  if (!a.proto.empty()) {
    f.protocols = a.proto == "v4" ? disc::kFlagV4 : disc::kFlagV5;
  }
  CrawlDb db;
  if (auto loaded = db.load(a.input); !loaded) {
    return failed(loaded.error());
  }
  const CrawlDb out = f.apply(db, static_cast<std::int64_t>(std::time(nullptr)));
  if (a.output.empty() || a.output == "-") {
    std::cout << out.to_json();
  } else if (auto saved = out.save(a.output); !saved) {
    return failed(saved.error());
  }
  std::cerr << "discctl: kept " << out.size() << " of " << db.size() << " nodes\n";
  return kOk;
}

}  // namespace

void add_nodeset_commands(CLI::App& app, Commands& commands) {
  auto* nodeset = app.add_subcommand("nodeset", "node sets (nodes.json, go-ethereum's format)");
  nodeset->require_subcommand(1);
  auto a = std::make_shared<FilterArgs>();
  auto* filter = nodeset->add_subcommand(
      "filter", "write the nodes of a nodes.json that pass every filter given");
  filter->add_option("file", a->input, "nodes.json to read")->required();
  filter->add_option("-o,--out", a->output, "write here (atomically) instead of stdout");
  filter->add_option("--limit", a->limit, "keep the N best (score, then last response)")
      ->each([a](const std::string&) { a->has_limit = true; });
  filter->add_option("--ip", a->ip, "only records with an address inside CIDR");
  filter->add_option("--min-age", a->min_age,
                     "only nodes answering for at least DURATION (lastResponse - firstResponse)");
  filter->add_option("--eth-network", a->eth_network,
                     "only records whose eth fork id fits mainnet|sepolia|holesky|hoodi or a "
                     "fork hash (0x07c9462e)");
  filter->add_option("--proto", a->proto, "only nodes speaking v4 or v5")
      ->check(CLI::IsMember({"v4", "v5"}));
  filter->add_option("--responded-within", a->responded_within,
                     "only nodes whose last response is at most DURATION old");
  commands.push_back({filter, [a] { return run_filter(*a); }});
}

}  // namespace discplane::cli
