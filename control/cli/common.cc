// discctl's shared helpers (cli.h): errors, key files, the record's JSON form, the API client.
#include <chrono>
#include <iostream>
#include <set>

#include <httplib.h>

#include "discplane/common/bytes.h"
#include "discplane/common/endpoint.h"
#include "discplane/control/node_key.h"
#include "discplane/wire/enode.h"
#include "discplane/wire/rlp.h"

#include "cli.h"

namespace discplane::cli {

using namespace discplane::control;

int fail(const std::string& message) {
  std::cerr << "discctl: " << message << "\n";
  return kFailed;
}

int usage_error(const std::string& message) {
  std::cerr << "discctl: " << message << "\n";
  return kUsage;
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

namespace {
std::optional<ApiTarget> parse_api(const std::string& text) {
  auto ep = Endpoint::parse(text);
  if (!ep || !ep->valid()) {
    return std::nullopt;
  }
  return ApiTarget{ep->ip.to_string(), ep->port};
}

}  // namespace

std::optional<ApiTarget> Globals::api() const {
  auto api = parse_api(api_text);
  if (!api) {
    usage_error("--api must be HOST:PORT (IP literal), not \"" + api_text + "\"");
  }
  return api;
}

namespace {

// httplib names its errors in one word ("Connection"); say what happened. (errno is no help
// here: the connect is non-blocking and leaves EINPROGRESS behind.)
std::string transport_error(httplib::Error error) {
  std::string what;
  switch (error) {
    case httplib::Error::Connection:
      what = "connection refused or host unreachable (is the node running, with its API here?)";
      break;
    case httplib::Error::ConnectionTimeout:
      what = "connection timed out";
      break;
    case httplib::Error::Read:
      what = "reading the answer failed (timed out or closed)";
      break;
    case httplib::Error::Write:
      what = "sending the request failed";
      break;
    default:
      what = "request failed (" + httplib::to_string(error) + ")";
      break;
  }
  return what;
}

}  // namespace

std::optional<ApiReply> api_call(const ApiTarget& api, const std::string& method,
                                 const std::string& path, const std::string& body,
                                 bool any_status) {
  httplib::Client client(api.host, api.port);
  client.set_connection_timeout(std::chrono::seconds(3));
  client.set_read_timeout(std::chrono::seconds(30));  // a lookup may take the server's 10 s
  httplib::Result res =
      method == "POST" ? client.Post(path, body, "application/json") : client.Get(path);
  const std::string where = api.host + ":" + std::to_string(api.port);
  if (!res) {
    fail("cannot reach the API at " + where + ": " + transport_error(res.error()));
    return std::nullopt;
  }
  if (!any_status && (res->status < 200 || res->status >= 300)) {
    auto j = nlohmann::json::parse(res->body, nullptr, false);
    std::string why =
        !j.is_discarded() && j.is_object() && j.contains("error") && j["error"].is_string()
            ? j["error"].get<std::string>()
            : res->body;
    fail(path + ": HTTP " + std::to_string(res->status) + ": " + why);
    return std::nullopt;
  }
  return ApiReply{res->status, res->body};
}

std::optional<nlohmann::json> api_json(const ApiTarget& api, const std::string& method,
                                       const std::string& path, const std::string& body) {
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

}  // namespace discplane::cli
