// discctl: node keys and records (offline), a running node's HTTP API, and a remote node's
// answers. This file only builds the command line and runs the subcommand parsed; each group
// of subcommands lives in control/cli/ (offline.cc, api_commands.cc, probe_commands.cc, and the
// node lists: crawl_cmd.cc, nodeset_cmd.cc, dns_cmd.cc; docs/node-lists.md).
// Exit codes: 0 ok, 1 the operation failed (one line on stderr), 2 bad command line.
#include <string>

#include <CLI/CLI.hpp>

#include "cli.h"

int main(int argc, char** argv) {
  using namespace discplane::cli;
  CLI::App app{"discctl: discplane node keys and records, remote nodes, and a running node's API"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("discctl ") + DISCPLANE_VERSION);
  // --api may come before or after the subcommand.
  app.fallthrough();
  Globals globals;
  app.add_option("--api", globals.api_text,
                 "the running node's HTTP API, HOST:PORT (default 127.0.0.1:30380)");

  Commands commands;
  add_offline_commands(app, commands);
  add_api_commands(app, globals, commands);
  add_probe_commands(app, globals, commands);
  add_crawl_command(app, commands);
  add_nodeset_commands(app, commands);
  add_dns_commands(app, commands);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kOk : kUsage;
  }
  globals.api_given = app.count("--api") > 0;
  for (const Command& c : commands) {
    if (c.app->parsed()) {
      return c.run();
    }
  }
  return kUsage;
}
