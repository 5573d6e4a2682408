// discctl's shared parts: exit codes, error printing, key loading, the record's JSON form and
// the HTTP API client. Each group of subcommands lives in its own file under control/cli/ and
// registers itself with add_*_commands(); control/bin/discctl.cc only parses and dispatches.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "discplane/crypto/secp256k1.h"
#include "discplane/wire/enr.h"

namespace discplane::cli {

constexpr int kOk = 0;
constexpr int kFailed = 1;
constexpr int kUsage = 2;

// Prints "discctl: MESSAGE" on stderr; returns kFailed.
int fail(const std::string& message);
// Prints "discctl: MESSAGE" on stderr; returns kUsage.
int usage_error(const std::string& message);

// Loads a key file, printing its permission warning (if any) to stderr; nullopt after one
// error line.
std::optional<crypto::PrivateKey> read_key(const std::string& file);

// geth's URLv4 form; a record without an address gives the bare "enode://<pubkey>".
std::string enode_url(const enr::Record& r);
// The record decoded, as `discctl enr decode` prints it.
nlohmann::ordered_json record_json(const enr::Record& r);

// ---- the HTTP API client ----
struct ApiTarget {
  std::string host = "127.0.0.1";
  int port = 30380;
};
struct ApiReply {
  int status = 0;
  std::string body;
};
// One request; nullopt after printing one error line (the whole reason, never cut short).
// A non-2xx answer is such an error unless `any_status`.
std::optional<ApiReply> api_call(const ApiTarget& api, const std::string& method,
                                 const std::string& path, const std::string& body = {},
                                 bool any_status = false);
// Likewise, parsed as JSON.
std::optional<nlohmann::json> api_json(const ApiTarget& api, const std::string& method,
                                       const std::string& path, const std::string& body = {});
std::string text_of(const nlohmann::json& v);  // "-" for null, strings unquoted

// Options every subcommand shares (set before any command runs).
struct Globals {
  std::string api_text = "127.0.0.1:30380";
  bool api_given = false;  // --api was on the command line
  // --api parsed; nullopt after a usage error line.
  std::optional<ApiTarget> api() const;
};

// A subcommand and what runs when it was the one parsed.
struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};
using Commands = std::vector<Command>;

// Registration, one function per file.
void add_offline_commands(CLI::App& app, Commands& out);                        // offline.cc
void add_api_commands(CLI::App& app, const Globals& globals, Commands& out);    // api_commands.cc
void add_probe_commands(CLI::App& app, const Globals& globals, Commands& out);  // probe_commands.cc
// Node lists (docs/node-lists.md).
void add_crawl_command(CLI::App& app, Commands& out);     // crawl_cmd.cc
void add_nodeset_commands(CLI::App& app, Commands& out);  // nodeset_cmd.cc
void add_dns_commands(CLI::App& app, Commands& out);      // dns_cmd.cc

}  // namespace discplane::cli
