// discctl's node-list subcommands, kept apart from control/bin/discctl.cc so that each family
// lives in its own file (control/cli/*.cc): discctl.cc calls the add_* functions before
// parsing and Commands::run() after. Exit codes as everywhere in discctl: 0 ok, 1 the
// operation failed (one line on stderr), 2 bad command line.
#pragma once

#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

namespace discplane::control::cli {

inline constexpr int kOk = 0;
inline constexpr int kFailed = 1;
inline constexpr int kUsage = 2;

class Commands {
 public:
  void add(CLI::App* subcommand, std::function<int()> run) {
    commands_.emplace_back(subcommand, std::move(run));
  }
  // The exit code of the parsed subcommand among those added; nullopt when none was parsed.
  std::optional<int> run() const {
    for (const auto& [sub, fn] : commands_) {
      if (sub->parsed()) {
        return fn();
      }
    }
    return std::nullopt;
  }

 private:
  std::vector<std::pair<CLI::App*, std::function<int()>>> commands_;
};

// `nodeset filter` (control/cli/nodeset_cmd.cc).
void add_nodeset_commands(CLI::App& app, Commands& commands);
// `dns sign | to-zone | sync` (control/cli/dns_cmd.cc).
void add_dns_commands(CLI::App& app, Commands& commands);
// `crawl` (control/cli/crawl_cmd.cc).
void add_crawl_command(CLI::App& app, Commands& commands);

}  // namespace discplane::control::cli
