// discctl: offline tool for node keys and records. It never talks to a running node.
//   discctl key generate [--out FILE]    new key: hex to stdout, or a new 0600 file
//   discctl key show FILE                node id, public key, enode and a default ENR
//   discctl enr decode ENR               the record as JSON
//   discctl enr encode --key FILE --ip IP --udp PORT [--tcp PORT] [--seq N]
//   discctl enode ENR                    the record's enode:// URL (geth URLv4 form)
// Exit codes: 0 ok, 1 the operation failed (one line on stderr), 2 bad command line.
#include <cstdint>
#include <iostream>
#include <optional>
#include <set>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "discplane/common/bytes.h"
#include "discplane/common/endpoint.h"
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"discctl: discplane node keys and records (offline)"};
  app.require_subcommand(1);

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
  return kUsage;
}
