// discctl: node keys and records (offline), and a running node's HTTP API.
//   discctl key generate [--out FILE]    new key: hex to stdout, or a new 0600 file
//   discctl key show FILE                node id, public key, enode and a default ENR
//   discctl enr decode ENR               the record as JSON
//   discctl enr encode --key FILE --ip IP --udp PORT [--tcp PORT] [--seq N]
//   discctl enode ENR                    the record's enode:// URL (geth URLv4 form)
// Talking to a running node (--api HOST:PORT, default 127.0.0.1:30380):
//   discctl node [--json]                                  our identity and address
//   discctl peers [--proto v4|v5] [--live] [--json]        the peer table
//   discctl lookup [TARGET] [--proto v4|v5] [--json]       run a lookup, print what it found
//   discctl metrics                                        the Prometheus text
// Node lists (control/cli/*.cc; see docs/node-lists.md):
//   discctl crawl --timeout 10m [--bootnodes ...|--nodes nodes.json] -o nodes.json
//   discctl nodeset filter nodes.json [--limit N] [--ip CIDR] [--min-age D] [--eth-network NET]
//                          [--proto v4|v5] [--responded-within D] [-o FILE]
//   discctl dns sign DIR KEYFILE --domain D [--seq N]   sign a tree directory (geth's layout)
//   discctl dns to-zone DIR [--format zone|dnsmasq]     its TXT records for a DNS server
//   discctl dns sync enrtree://... [--server ADDR] [-o DIR]
// Exit codes: 0 ok, 1 the operation failed (one line on stderr), 2 bad command line.
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <optional>
#include <set>
#include <string>

#include <CLI/CLI.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "discplane/common/bytes.h"
#include "discplane/common/endpoint.h"
#include "discplane/control/cli.h"
#include "discplane/control/node_key.h"
#include "discplane/crypto/secp256k1.h"
#include "discplane/wire/enode.h"
#include "discplane/wire/enr.h"
#include "discplane/wire/rlp.h"

namespace {

using namespace discplane;
using namespace discplane::control;

constexpr int kOk = 0;
constexpr int kFailed = 1;
constexpr int kUsage = 2;

int fail(const std::string& message) {
  std::cerr << "discctl: " << message << "\n";
  return kFailed;
}

// Loads a key file, printing its permission warning (if any) to stderr.
std::optional<crypto::PrivateKey> read_key(const std::string& file) {
  auto loaded = load_key(file);
  if (!loaded) {
    fail(loaded.error().to_string());
    return std::nullopt;
  }
  if (loaded->warning) {
    std::cerr << "discctl: warning: " << *loaded->warning << "\n";
  }
  return loaded->key;
}

// geth's URLv4 form; a record without an address gives the bare "enode://<pubkey>" like geth.
std::string enode_url(const enr::Record& r) {
  auto url = enode::from_record(r);
  return url ? *url : "enode://" + to_hex(r.public_key());
}

nlohmann::ordered_json record_json(const enr::Record& r) {
  nlohmann::ordered_json j;
  j["seq"] = r.seq();
  j["node_id"] = to_hex(r.node_id());
  j["public_key"] = to_hex(r.public_key());
  j["id"] = std::string(r.id_scheme());
  if (auto ip = r.ip()) {
    j["ip"] = ip->to_string();
  }
  if (auto p = r.udp()) {
    j["udp"] = *p;
  }
  if (auto p = r.tcp()) {
    j["tcp"] = *p;
  }
  if (auto ip = r.ip6()) {
    j["ip6"] = ip->to_string();
  }
  if (auto p = r.udp6()) {
    j["udp6"] = *p;
  }
  if (auto p = r.tcp6()) {
    j["tcp6"] = *p;
  }
  if (auto eth = r.eth()) {
    j["eth"] = {{"fork_hash", to_hex(eth->hash)}, {"fork_next", eth->next}};
  }
  // Every other entry, as the hex of its RLP encoding. The record is already validated, so the
  // walk below cannot fail; it stops quietly if it ever did.
  static const std::set<std::string> kShown = {"id",  "secp256k1", "ip",   "udp", "tcp",
                                               "ip6", "udp6",      "tcp6", "eth"};
  nlohmann::ordered_json others = nlohmann::ordered_json::object();
  auto list = rlp::decode_exact(r.raw());
  if (list) {
    if (auto reader = rlp::ListReader::of(*list)) {
      const bool header_ok = reader->next().has_value() && reader->next_uint().has_value();
      while (header_ok && !reader->at_end()) {
        auto key = reader->next_string();
        auto value = reader->next();
        if (!key || !value) {
          break;
        }
        const std::string name(reinterpret_cast<const char*>(key->data()), key->size());
        if (!kShown.contains(name)) {
          others[name] = to_hex(value->encoded);
        }
      }
    }
  }
  if (!others.empty()) {
    j["other"] = others;
  }
  j["enode"] = enode_url(r);
  return j;
}

int key_generate(const std::string& out) {
  const crypto::PrivateKey key = crypto::generate_private_key();
  if (out.empty()) {
    std::cout << format_key(key);
    return kOk;
  }
  if (auto written = write_new_key(out, key); !written) {
    return fail(written.error().to_string());
  }
  auto pub = crypto::derive_public_key(key);
  if (!pub) {
    return fail(std::string(crypto::to_string(pub.error())));
  }
  std::cout << "node_id: " << to_hex(crypto::node_id_of(*pub)) << "\n";
  std::cerr << "discctl: wrote " << out << " (mode 0600)\n";
  return kOk;
}

int key_show(const std::string& file) {
  auto key = read_key(file);
  if (!key) {
    return kFailed;
  }
  auto pub = crypto::derive_public_key(*key);
  if (!pub) {
    return fail(file + ": " + std::string(crypto::to_string(pub.error())));
  }
  std::cout << "node_id: " << to_hex(crypto::node_id_of(*pub)) << "\n";
  std::cout << "public_key: " << to_hex(*pub) << "\n";
  std::cout << "enode: enode://" << to_hex(*pub) << "\n";
  auto record = enr::Builder().set_seq(1).sign(*key);
  if (!record) {
    return fail("cannot sign a record: " + std::string(enr::to_string(record.error())));
  }
  std::cout << "enr: " << enr::to_text(*record) << "\n";
  return kOk;
}

int enr_decode(const std::string& text) {
  auto record = enr::parse_text(text);
  if (!record) {
    return fail("invalid record: " + std::string(enr::to_string(record.error())));
  }
  std::cout << record_json(*record).dump(2) << "\n";
  return kOk;
}

struct EncodeArgs {
  std::string key_file;
  std::string ip;
  std::uint16_t udp = 0;
  std::optional<std::uint16_t> tcp;
  std::uint64_t seq = 1;
};

int enr_encode(const EncodeArgs& a) {
  auto key = read_key(a.key_file);
  if (!key) {
    return kFailed;
  }
  auto ip = IpAddress::parse(a.ip);
  if (!ip) {
    return fail("bad --ip \"" + a.ip + "\"");
  }
  if (a.udp == 0) {
    return fail("--udp must not be 0");
  }
  enr::Builder b;
  b.set_seq(a.seq).set_ip(*ip);
  if (ip->is_v4()) {
    b.set_udp(a.udp);
    if (a.tcp) {
      b.set_tcp(*a.tcp);
    }
  } else {
    b.set_udp6(a.udp);
    if (a.tcp) {
      b.set_tcp6(*a.tcp);
    }
  }
  auto record = b.sign(*key);
  if (!record) {
    return fail("cannot sign the record: " + std::string(enr::to_string(record.error())));
  }
  std::cout << enr::to_text(*record) << "\n";
  return kOk;
}

int enode_of(const std::string& text) {
  auto record = enr::parse_text(text);
  if (!record) {
    return fail("invalid record: " + std::string(enr::to_string(record.error())));
  }
  std::cout << enode_url(*record) << "\n";
  return kOk;
}

// ---- the HTTP API client ------------------------------------------------------------------

struct ApiTarget {
  std::string host = "127.0.0.1";
  int port = 30380;
};

std::optional<ApiTarget> parse_api(const std::string& text) {
  auto ep = Endpoint::parse(text);
  if (!ep || !ep->valid()) {
    return std::nullopt;
  }
  return ApiTarget{ep->ip.to_string(), ep->port};
}

// One request; the parsed JSON body (or the raw text when `raw`), or nullopt after printing
// one error line.
struct ApiReply {
  int status = 0;
  std::string body;
};

std::optional<ApiReply> api_call(const ApiTarget& api, const std::string& method,
                                 const std::string& path, const std::string& body = {}) {
  httplib::Client client(api.host, api.port);
  client.set_connection_timeout(std::chrono::seconds(3));
  client.set_read_timeout(std::chrono::seconds(30));  // a lookup may take the server's 10 s
  httplib::Result res =
      method == "POST" ? client.Post(path, body, "application/json") : client.Get(path);
  const std::string where = api.host + ":" + std::to_string(api.port);
  if (!res) {
    fail("cannot reach the API at " + where + ": " + httplib::to_string(res.error()));
    return std::nullopt;
  }
  if (res->status < 200 || res->status >= 300) {
    auto j = nlohmann::json::parse(res->body, nullptr, false);
    std::string why =
        !j.is_discarded() && j.is_object() && j.contains("error") && j["error"].is_string()
            ? j["error"].get<std::string>()
            : res->body.substr(0, 200);
    fail(path + ": HTTP " + std::to_string(res->status) + ": " + why);
    return std::nullopt;
  }
  return ApiReply{res->status, res->body};
}

std::optional<nlohmann::json> api_json(const ApiTarget& api, const std::string& method,
                                       const std::string& path, const std::string& body = {}) {
  auto reply = api_call(api, method, path, body);
  if (!reply) {
    return std::nullopt;
  }
  auto j = nlohmann::json::parse(reply->body, nullptr, false);
  if (j.is_discarded()) {
    fail(path + ": the API answered something that is not JSON");
    return std::nullopt;
  }
  return j;
}

std::string text_of(const nlohmann::json& v) {
  if (v.is_null()) {
    return "-";
  }
  if (v.is_string()) {
    return v.get<std::string>();
  }
  return v.dump();
}

std::string protocols_of(const nlohmann::json& list) {
  std::string s;
  for (const auto& p : list) {
    s += (s.empty() ? "" : ",") + text_of(p);
  }
  return s.empty() ? "-" : s;
}

std::string age_text(const nlohmann::json& seconds) {
  if (!seconds.is_number()) {
    return "never";
  }
  const double s = seconds.get<double>();
  char buf[32];
  if (s < 120) {
    std::snprintf(buf, sizeof buf, "%.0fs ago", s);
  } else if (s < 7200) {
    std::snprintf(buf, sizeof buf, "%.0fm ago", s / 60);
  } else {
    std::snprintf(buf, sizeof buf, "%.1fh ago", s / 3600);
  }
  return buf;
}

int api_node(const ApiTarget& api, bool json) {
  auto j = api_json(api, "GET", "/v1/node");
  if (!j) {
    return kFailed;
  }
  if (json) {
    std::cout << j->dump(2) << "\n";
    return kOk;
  }
  const auto& ext = (*j)["external_address"];
  std::string external = "-";
  if (ext["ip"].is_string()) {
    external = text_of(ext["ip"]) + ":" + text_of(ext["udp"]);
  } else if (ext["ip6"].is_string()) {
    external = "[" + text_of(ext["ip6"]) + "]:" + text_of(ext["udp6"]);
  }
  std::cout << "node_id: " << text_of((*j)["node_id"]) << "\n"
            << "enode: " << text_of((*j)["enode"]) << "\n"
            << "enr: " << text_of((*j)["enr"]) << "\n"
            << "seq: " << text_of((*j)["seq"]) << "\n"
            << "external: " << external << " (" << text_of(ext["source"]) << ")\n"
            << "listen: " << text_of((*j)["listen"]) << "\n"
            << "protocols: " << protocols_of((*j)["protocols"]) << "\n"
            << "mode: " << text_of((*j)["mode"]) << "\n";
  return kOk;
}

int api_peers(const ApiTarget& api, const std::string& proto, bool live, bool json) {
  std::string path = "/v1/peers";
  std::string sep = "?";
  if (!proto.empty()) {
    path += sep + "protocol=" + proto;
    sep = "&";
  }
  if (live) {
    path += sep + "live=true";
  }
  auto j = api_json(api, "GET", path);
  if (!j) {
    return kFailed;
  }
  if (json) {
    std::cout << j->dump(2) << "\n";
    return kOk;
  }
  std::printf("%-16s  %-6s  %-40s  %4s  %6s  %s\n", "ID", "PROTO", "ENDPOINT", "DIST", "SEQ",
              "LAST SEEN");
  for (const auto& p : (*j)["peers"]) {
    std::printf("%-16s  %-6s  %-40s  %4s  %6s  %s\n", text_of(p["id"]).substr(0, 16).c_str(),
                protocols_of(p["protocols"]).c_str(), text_of(p["endpoint"]).c_str(),
                text_of(p["distance"]).c_str(), text_of(p["enr_seq"]).c_str(),
                age_text(p["last_seen_age_s"]).c_str());
  }
  std::printf("%s of %s nodes\n", text_of((*j)["count"]).c_str(), text_of((*j)["total"]).c_str());
  return kOk;
}

int api_lookup(const ApiTarget& api, const std::string& target, const std::string& proto,
               bool json) {
  nlohmann::json body = nlohmann::json::object();
  if (!proto.empty()) {
    body["protocol"] = proto;
  }
  if (!target.empty()) {
    body["target"] = target;
  }
  auto j = api_json(api, "POST", "/v1/lookup", body.dump());
  if (!j) {
    return kFailed;
  }
  if (json) {
    std::cout << j->dump(2) << "\n";
    return kOk;
  }
  std::printf("lookup %s target %s: %s nodes in %s ms\n", text_of((*j)["protocol"]).c_str(),
              text_of((*j)["target"]).c_str(), text_of((*j)["count"]).c_str(),
              text_of((*j)["elapsed_ms"]).c_str());
  for (const auto& n : (*j)["found"]) {
    std::printf("%s  %-40s  d=%s\n", text_of(n["id"]).c_str(), text_of(n["endpoint"]).c_str(),
                text_of(n["distance"]).c_str());
  }
  return kOk;
}

int api_metrics(const ApiTarget& api) {
  auto reply = api_call(api, "GET", "/metrics");
  if (!reply) {
    return kFailed;
  }
  std::cout << reply->body;
  return kOk;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"discctl: discplane node keys and records, and a running node's API"};
  app.require_subcommand(1);
  // --api may come before or after the subcommand.
  app.fallthrough();
  std::string api_text = "127.0.0.1:30380";
  app.add_option("--api", api_text, "the node's HTTP API, HOST:PORT (default 127.0.0.1:30380)");

  auto* key = app.add_subcommand("key", "node key files");
  key->require_subcommand(1);
  std::string out;
  auto* key_gen = key->add_subcommand("generate", "create a new node key");
  key_gen->add_option("--out", out, "write a new key file (mode 0600; never overwrites)");
  std::string show_file;
  auto* key_show_cmd = key->add_subcommand("show", "print the node id, public key and ENR");
  key_show_cmd->add_option("file", show_file, "key file")->required();

  auto* enr_cmd = app.add_subcommand("enr", "node records");
  enr_cmd->require_subcommand(1);
  std::string decode_text;
  auto* decode = enr_cmd->add_subcommand("decode", "print a record as JSON");
  decode->add_option("record", decode_text, "enr:... text")->required();
  EncodeArgs enc;
  auto* encode = enr_cmd->add_subcommand("encode", "sign a record");
  encode->add_option("--key", enc.key_file, "key file")->required();
  encode->add_option("--ip", enc.ip, "IPv4 or IPv6 address")->required();
  encode->add_option("--udp", enc.udp, "UDP port")->required();
  encode->add_option("--tcp", enc.tcp, "TCP port");
  encode->add_option("--seq", enc.seq, "sequence number (default 1)");

  std::string enode_text;
  auto* enode = app.add_subcommand("enode", "print a record's enode:// URL");
  enode->add_option("record", enode_text, "enr:... text")->required();

  bool json = false;
  auto* node_cmd = app.add_subcommand("node", "a running node's identity and address");
  node_cmd->add_flag("--json", json, "print the API's JSON");
  std::string proto;
  bool live_only = false;
  auto* peers_cmd = app.add_subcommand("peers", "a running node's peer table");
  peers_cmd->add_option("--proto", proto, "only nodes speaking v4 or v5")
      ->check(CLI::IsMember({"v4", "v5"}));
  peers_cmd->add_flag("--live", live_only, "only verified nodes with no failed check");
  peers_cmd->add_flag("--json", json, "print the API's JSON");
  std::string lookup_target;
  auto* lookup_cmd = app.add_subcommand("lookup", "run a lookup on a running node");
  lookup_cmd->add_option("target", lookup_target, "target node id (hex; default random)");
  lookup_cmd->add_option("--proto", proto, "v4 or v5 (default: v5 when the node runs it)")
      ->check(CLI::IsMember({"v4", "v5"}));
  lookup_cmd->add_flag("--json", json, "print the API's JSON");
  auto* metrics_cmd = app.add_subcommand("metrics", "a running node's Prometheus metrics");
  cli::Commands node_lists;
  cli::add_crawl_command(app, node_lists);
  cli::add_nodeset_commands(app, node_lists);
  cli::add_dns_commands(app, node_lists);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kOk : kUsage;
  }

  if (key_gen->parsed()) {
    return key_generate(out);
  }
  if (key_show_cmd->parsed()) {
    return key_show(show_file);
  }
  if (decode->parsed()) {
    return enr_decode(decode_text);
  }
  if (encode->parsed()) {
    return enr_encode(enc);
  }
  if (enode->parsed()) {
    return enode_of(enode_text);
  }
  if (auto code = node_lists.run()) {
    return *code;
  }
  const auto api = parse_api(api_text);
  if (!api) {
    std::cerr << "discctl: --api must be HOST:PORT (IP literal), not \"" << api_text << "\"\n";
    return kUsage;
  }
  if (node_cmd->parsed()) {
    return api_node(*api, json);
  }
  if (peers_cmd->parsed()) {
    return api_peers(*api, proto, live_only, json);
  }
  if (lookup_cmd->parsed()) {
    return api_lookup(*api, lookup_target, proto, json);
  }
  if (metrics_cmd->parsed()) {
    return api_metrics(*api);
  }
  return kUsage;
}
