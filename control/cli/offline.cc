// discctl's offline commands: node key files and records (no running node needed).
//   discctl key generate [--out FILE]    new key: hex to stdout, or a new 0600 file
//   discctl key show FILE                node id, public key, enode and a default ENR
//   discctl enr decode ENR               the record as JSON
//   discctl enr encode --key FILE --ip IP --udp PORT [--tcp PORT] [--seq N]
//   discctl enode ENR                    the record's enode:// URL (geth URLv4 form)
#include <cstdint>
#include <iostream>
#include <optional>
#include <string>

#include "discplane/common/bytes.h"
#include "discplane/common/endpoint.h"
#include "discplane/control/node_key.h"
#include "discplane/crypto/secp256k1.h"
#include "discplane/wire/enr.h"

#include "cli.h"

namespace discplane::cli {
namespace {

using namespace discplane::control;

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

void add_offline_commands(CLI::App& app, Commands& out) {
  auto* key = app.add_subcommand("key", "node key files (offline: no --api needed)");
  key->require_subcommand(1);
  auto out_file = std::make_shared<std::string>();
  auto* key_gen =
      key->add_subcommand("generate", "create a new node key (offline: no --api needed)");
  key_gen->add_option("--out", *out_file, "write a new key file (mode 0600; never overwrites)");
  out.push_back({key_gen, [out_file] { return key_generate(*out_file); }});
  auto show_file = std::make_shared<std::string>();
  auto* key_show_cmd = key->add_subcommand(
      "show", "print the node id, public key and ENR (offline: no --api needed)");
  key_show_cmd->add_option("file", *show_file, "key file")->required();
  out.push_back({key_show_cmd, [show_file] { return key_show(*show_file); }});

  auto* enr_cmd = app.add_subcommand("enr", "node records (offline: no --api needed)");
  enr_cmd->require_subcommand(1);
  auto decode_text = std::make_shared<std::string>();
  auto* decode =
      enr_cmd->add_subcommand("decode", "print a record as JSON (offline: no --api needed)");
  decode->add_option("record", *decode_text, "enr:... text")->required();
  out.push_back({decode, [decode_text] { return enr_decode(*decode_text); }});
  auto enc = std::make_shared<EncodeArgs>();
  auto* encode = enr_cmd->add_subcommand("encode", "sign a record (offline: no --api needed)");
  encode->add_option("--key", enc->key_file, "key file")->required();
  encode->add_option("--ip", enc->ip, "IPv4 or IPv6 address")->required();
  encode->add_option("--udp", enc->udp, "UDP port")->required();
  encode->add_option("--tcp", enc->tcp, "TCP port");
  encode->add_option("--seq", enc->seq, "sequence number (default 1)");
  out.push_back({encode, [enc] { return enr_encode(*enc); }});

  auto enode_text = std::make_shared<std::string>();
  auto* enode =
      app.add_subcommand("enode", "print a record's enode:// URL (offline: no --api needed)");
  enode->add_option("record", *enode_text, "enr:... text")->required();
  out.push_back({enode, [enode_text] { return enode_of(*enode_text); }});
}

}  // namespace discplane::cli
