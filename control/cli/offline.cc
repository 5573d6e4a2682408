// discctl's offline commands: node key files and records (no running node needed).
//   discctl key generate [--out FILE]    new key: hex to stdout, or a new 0600 file
//   discctl key show FILE                node id, public key, enode and a default ENR
//   discctl enr decode ENR               the record as JSON
//   discctl enr encode --key FILE [--ip IP --udp PORT [--tcp PORT]]
//                      [--ip6 IP --udp6 PORT [--tcp6 PORT]] [--eth HASH[:NEXT]]
//                      [--entry KEY=HEXRLP]... [--seq N]
//   discctl enode ENR                    the record's enode:// URL (geth URLv4 form)
#include <charconv>
#include <cstdint>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

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
  std::optional<std::string> ip;
  std::optional<std::uint16_t> udp;
  std::optional<std::uint16_t> tcp;
  std::optional<std::string> ip6;
  std::optional<std::uint16_t> udp6;
  std::optional<std::uint16_t> tcp6;
  std::optional<std::string> eth;
  std::vector<std::string> entries;
  std::uint64_t seq = 1;
};

// One address family: --ip/--udp/--tcp or --ip6/--udp6/--tcp6. nullopt after a usage error.
std::optional<IpAddress> family_address(const std::optional<std::string>& ip,
                                        const std::optional<std::uint16_t>& udp,
                                        const std::optional<std::uint16_t>& tcp, bool v6,
                                        int& code) {
  const std::string sfx = v6 ? "6" : "";
  if (!ip) {
    if (udp || tcp) {
      code = usage_error("--udp" + sfx + " and --tcp" + sfx + " need --ip" + sfx);
    }
    return std::nullopt;
  }
  auto addr = IpAddress::parse(*ip);
  if (!addr || addr->is_v4() == v6) {
    code = usage_error(
        "bad --ip" + sfx + " \"" + *ip + "\" (want an " +
        (v6 ? "IPv6 address; IPv4 goes in --ip" : "IPv4 address; IPv6 goes in --ip6") + ")");
    return std::nullopt;
  }
  if (!udp || *udp == 0) {
    code = usage_error("--ip" + sfx + " needs a non-zero --udp" + sfx);
    return std::nullopt;
  }
  if (tcp && *tcp == 0) {
    code = usage_error("--tcp" + sfx + " must not be 0");
    return std::nullopt;
  }
  return addr;
}

// --eth HASH[:NEXT]: a 4-byte hex fork hash and an optional decimal fork-next.
std::optional<enr::ForkId> parse_eth(const std::string& text) {
  const auto colon = text.find(':');
  auto hash = enr::parse_fork_hash(std::string_view(text).substr(0, colon));
  if (!hash) {
    return std::nullopt;
  }
  enr::ForkId fork{*hash, 0};
  if (colon != std::string::npos) {
    const char* first = text.data() + colon + 1;
    const char* last = text.data() + text.size();
    const auto [end, ec] = std::from_chars(first, last, fork.next);
    if (first == last || ec != std::errc() || end != last) {
      return std::nullopt;
    }
  }
  return fork;
}

int enr_encode(const EncodeArgs& a) {
  int code = kOk;
  const auto ip = family_address(a.ip, a.udp, a.tcp, false, code);
  if (code != kOk) {
    return code;
  }
  const auto ip6 = family_address(a.ip6, a.udp6, a.tcp6, true, code);
  if (code != kOk) {
    return code;
  }
  if (!ip && !ip6) {
    return usage_error("a record needs --ip/--udp, --ip6/--udp6 or both");
  }
  enr::Builder b;
  b.set_seq(a.seq);
  if (ip) {
    b.set_ip(*ip).set_udp(*a.udp);
    if (a.tcp) {
      b.set_tcp(*a.tcp);
    }
  }
  if (ip6) {
    b.set_ip(*ip6).set_udp6(*a.udp6);
    if (a.tcp6) {
      b.set_tcp6(*a.tcp6);
    }
  }
  if (a.eth) {
    auto fork = parse_eth(*a.eth);
    if (!fork) {
      return usage_error("bad --eth \"" + *a.eth +
                         "\" (want HASH[:NEXT]: 4 bytes of hex and a decimal fork-next, e.g. "
                         "0x9f3d2254:0)");
    }
    b.set_eth(*fork);
  }
  // The same key and value checks as the configuration's enr.extra.
  for (const std::string& entry : a.entries) {
    const auto eq = entry.find('=');
    const std::string key = entry.substr(0, eq);
    if (eq == std::string::npos || !enr::is_valid_extra_key(key)) {
      return usage_error("bad --entry \"" + entry +
                         "\" (want KEY=HEXRLP; a key is 1 to 64 printable ASCII characters)");
    }
    if (enr::is_reserved_key(key)) {
      return usage_error("--entry key \"" + key + "\" is written by discctl itself (use " +
                         (key == "eth" ? "--eth" : "--ip/--udp/--tcp or --ip6/--udp6/--tcp6") +
                         ")");
    }
    if (b.has(key)) {
      return usage_error("duplicate --entry key \"" + key + "\"");
    }
    auto value = enr::parse_hex_rlp(std::string_view(entry).substr(eq + 1));
    if (!value || !b.set(key, *value)) {
      return usage_error("bad --entry value for \"" + key +
                         "\" (want one complete RLP item in hex, e.g. 0x83626172 for \"bar\")");
    }
  }
  auto key = read_key(a.key_file);
  if (!key) {
    return kFailed;
  }
  auto record = b.sign(*key);
  if (!record) {
    if (record.error() == enr::EnrError::kTooLarge) {
      return fail("the record is over " + std::to_string(enr::kMaxRecordSize) +
                  " bytes, the EIP-778 limit: drop or shorten --entry values");
    }
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
  encode->add_option("--ip", enc->ip, "IPv4 address");
  encode->add_option("--udp", enc->udp, "UDP port of --ip");
  encode->add_option("--tcp", enc->tcp, "TCP port of --ip");
  encode->add_option("--ip6", enc->ip6, "IPv6 address");
  encode->add_option("--udp6", enc->udp6, "UDP port of --ip6");
  encode->add_option("--tcp6", enc->tcp6, "TCP port of --ip6");
  encode->add_option("--eth", enc->eth, "fork id HASH[:NEXT] (4-byte hex hash, decimal next)");
  encode
      ->add_option("--entry", enc->entries,
                   "extra entry KEY=HEXRLP (one RLP item in hex; repeatable)")
      ->allow_extra_args(false)  // one entry per --entry: a stray word is an error, not an entry
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  encode->add_option("--seq", enc->seq, "sequence number (default 1)");
  out.push_back({encode, [enc] { return enr_encode(*enc); }});

  auto enode_text = std::make_shared<std::string>();
  auto* enode =
      app.add_subcommand("enode", "print a record's enode:// URL (offline: no --api needed)");
  enode->add_option("record", *enode_text, "enr:... text")->required();
  out.push_back({enode, [enode_text] { return enode_of(*enode_text); }});
}

}  // namespace discplane::cli
