// YAML -> Config. Each mapping is parsed against a table of its known keys, so an unknown key is
// reported where it stands; each scalar parser reports wrong types and bad values at the value.
// The marks of every key seen are kept so that cross-field errors from validate() also point at a
// line. yaml-cpp throws; every throw is caught in parse_config() and becomes a ConfigError.
#include "discplane/control/config.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "discplane/control/enrtree.h"
#include "discplane/wire/enr.h"

namespace discplane::control {

namespace {

using Status = Result<void, ConfigError>;

// Our record at its largest: both addresses, all four ports, the largest seq and the
// configured entries, signed by a throwaway key (a signature is always 64 bytes).
std::size_t largest_record_size(const Config& c) {
  enr::Builder b;
  b.set_seq(std::numeric_limits<std::uint64_t>::max());
  b.set_ip(IpAddress::v4(255, 255, 255, 255)).set_udp(65535).set_tcp(65535);
  IpAddress v6 = *IpAddress::parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
  b.set_ip(v6).set_udp6(65535).set_tcp6(65535);
  if (c.enr.eth) {
    b.set_eth(enr::ForkId{c.enr.eth->hash, c.enr.eth->next});
  }
  for (const Config::EnrEntry& e : c.enr.extra) {
    (void)b.set(e.key, e.value);  // checked at parse time
  }
  crypto::PrivateKey key{};
  key[31] = 1;
  auto record = b.sign(key);
  return record ? record->raw().size() : enr::kMaxRecordSize + 1;
}

#define CONFIG_TRY(expr)                                     \
  do {                                                       \
    if (auto config_try_ = (expr); !config_try_) {           \
      return tl::unexpected(std::move(config_try_.error())); \
    }                                                        \
  } while (0)

std::string join(const std::string& prefix, std::string_view name) {
  return prefix.empty() ? std::string(name) : prefix + "." + std::string(name);
}

const char* kind_of(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "nothing (null)";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    default:
      return "an undefined node";
  }
}

// Mapping keys this file knows, with the parser of each value.
using FieldParser = std::function<Status(const YAML::Node& value, const std::string& key)>;
using FieldTable = std::vector<std::pair<std::string_view, FieldParser>>;

class Parser {
 public:
  explicit Parser(std::string file) : file_(std::move(file)) {}

  Status parse_root(const YAML::Node& root, Config& c) {
    if (root.IsNull()) {
      return {};  // an empty file means all defaults
    }
    return parse_map(
        root, "",
        {
            {"mode", [&](auto& n, auto& k) { return parse_mode(n, k, c.mode); }},
            {"identity", [&](auto& n, auto& k) { return parse_identity(n, k, c.identity); }},
            {"network", [&](auto& n, auto& k) { return parse_network(n, k, c.network); }},
            {"protocols", [&](auto& n, auto& k) { return parse_protocols(n, k, c.protocols); }},
            {"bootnodes", [&](auto& n, auto& k) { return parse_bootnodes(n, k, c.bootnodes); }},
            {"dataplane", [&](auto& n, auto& k) { return parse_dataplane(n, k, c.dataplane); }},
            {"timers", [&](auto& n, auto& k) { return parse_timers(n, k, c.timers); }},
            {"table", [&](auto& n, auto& k) { return parse_table(n, k, c.table); }},
            {"discv4", [&](auto& n, auto& k) { return parse_discv4(n, k, c.discv4); }},
            {"discv5", [&](auto& n, auto& k) { return parse_discv5(n, k, c.discv5); }},
            {"api",
             [&](auto& n, auto& k) {
               return parse_map(n, k, {{"listen", [&](auto& n2, auto& k2) {
                                          return parse_endpoint(n2, k2, c.api.listen);
                                        }}});
             }},
            {"logging",
             [&](auto& n, auto& k) {
               return parse_map(
                   n, k,
                   {{"level",
                     [&](auto& n2, auto& k2) { return parse_log_level(n2, k2, c.logging.level); }},
                    {"packet_log_rate", [&](auto& n2, auto& k2) {
                       return parse_uint(n2, k2, c.logging.packet_log_rate, 0, 1'000'000);
                     }}});
             }},
            {"policy", [&](auto& n, auto& k) { return parse_policy(n, k, c.policy); }},
            {"node_db",
             [&](auto& n, auto& k) {
               return parse_map(
                   n, k,
                   {{"path", [&](auto& n2,
                                 auto& k2) { return parse_string(n2, k2, c.node_db.path, true); }},
                    {"save_interval", [&](auto& n2, auto& k2) {
                       return parse_duration_field(n2, k2, c.node_db.save_interval);
                     }}});
             }},
            {"crawl", [&](auto& n, auto& k) { return parse_crawl(n, k, c.crawl); }},
            {"bootnode",
             [&](auto& n, auto& k) {
               return parse_map(n, k, {{"refresh_interval", [&](auto& n2, auto& k2) {
                                          return parse_duration_field(n2, k2,
                                                                      c.bootnode.refresh_interval);
                                        }}});
             }},
            {"fork_filter",
             [&](auto& n, auto& k) { return parse_fork_filter(n, k, c.fork_filter); }},
            {"enr", [&](auto& n, auto& k) { return parse_enr(n, k, c.enr); }},
            {"dns_discovery",
             [&](auto& n, auto& k) { return parse_dns_discovery(n, k, c.dns_discovery); }},
        });
  }

  // Adds file and place to an error from validate(): the key itself if it was written, else its
  // nearest written parent.
  ConfigError locate(ConfigError e) const {
    e.file = file_;
    std::string key = e.key;
    while (!key.empty()) {
      if (auto it = marks_.find(key); it != marks_.end()) {
        e.line = it->second.line + 1;
        e.column = it->second.column + 1;
        break;
      }
      const auto dot = key.rfind('.');
      key = dot == std::string::npos ? std::string() : key.substr(0, dot);
    }
    return e;
  }

  ConfigError error_at(const YAML::Mark& mark, std::string key, std::string message) const {
    ConfigError e{file_, 0, 0, std::move(key), std::move(message)};
    if (!mark.is_null()) {
      e.line = mark.line + 1;
      e.column = mark.column + 1;
    }
    return e;
  }
  ConfigError error_at(const YAML::Node& node, std::string key, std::string message) const {
    return error_at(node.Mark(), std::move(key), std::move(message));
  }

 private:
  Status parse_map(const YAML::Node& node, const std::string& prefix, const FieldTable& fields) {
    if (!node.IsMap()) {
      return tl::unexpected(
          error_at(node, prefix, std::string("expected a mapping, got ") + kind_of(node)));
    }
    std::set<std::string> seen;
    for (const auto& entry : node) {
      const YAML::Node key_node = entry.first;  // copies: the iterator hands out temporaries
      if (!key_node.IsScalar()) {
        return tl::unexpected(error_at(key_node, prefix, "a key must be a plain name"));
      }
      const std::string name = key_node.Scalar();
      const std::string key = join(prefix, name);
      const auto field = std::find_if(fields.begin(), fields.end(),
                                      [&](const auto& f) { return f.first == name; });
      if (field == fields.end()) {
        std::string known;
        for (const auto& f : fields) {
          known.append(known.empty() ? "" : ", ").append(f.first);
        }
        return tl::unexpected(error_at(key_node, key, "unknown key (known here: " + known + ")"));
      }
      if (!seen.insert(name).second) {
        return tl::unexpected(error_at(key_node, key, "duplicate key"));
      }
      marks_[key] = key_node.Mark();
      CONFIG_TRY(field->second(entry.second, key));
    }
    return {};
  }

  // A scalar's text; strings may be empty only where allow_empty.
  Result<std::string, ConfigError> scalar(const YAML::Node& node, const std::string& key,
                                          std::string_view what) {
    if (!node.IsScalar()) {
      return tl::unexpected(
          error_at(node, key, "expected " + std::string(what) + ", got " + kind_of(node)));
    }
    return node.Scalar();
  }

  Status parse_string(const YAML::Node& node, const std::string& key, std::string& out,
                      bool allow_empty) {
    if (allow_empty && node.IsNull()) {
      out.clear();
      return {};
    }
    auto text = scalar(node, key, "a string");
    CONFIG_TRY(text);
    if (text->empty() && !allow_empty) {
      return tl::unexpected(error_at(node, key, "must not be empty"));
    }
    out = std::move(*text);
    return {};
  }

  template <class T>
  Status parse_uint(const YAML::Node& node, const std::string& key, T& out, std::uint64_t min,
                    std::uint64_t max = std::numeric_limits<T>::max()) {
    auto text = scalar(node, key, "an unsigned integer");
    CONFIG_TRY(text);
    std::uint64_t v = 0;
    const char* end = text->data() + text->size();
    auto [ptr, ec] = std::from_chars(text->data(), end, v);
    if (text->empty() || ec != std::errc() || ptr != end) {
      return tl::unexpected(
          error_at(node, key, "expected an unsigned integer, got \"" + *text + "\""));
    }
    if (v < min || v > max) {
      return tl::unexpected(error_at(node, key,
                                     "must be between " + std::to_string(min) + " and " +
                                         std::to_string(max) + ", got " + *text));
    }
    out = static_cast<T>(v);
    return {};
  }

  Status parse_power_of_two(const YAML::Node& node, const std::string& key, std::uint32_t& out,
                            std::uint64_t min, std::uint64_t max) {
    CONFIG_TRY(parse_uint(node, key, out, min, max));
    if ((out & (out - 1)) != 0) {
      return tl::unexpected(error_at(node, key, "must be a power of two"));
    }
    return {};
  }

  Status parse_duration_field(const YAML::Node& node, const std::string& key, Duration& out) {
    auto text = scalar(node, key, "a duration");
    CONFIG_TRY(text);
    auto d = parse_duration(*text);
    if (!d) {
      return tl::unexpected(error_at(
          node, key, "bad duration \"" + *text + "\" (want e.g. 500ms, 10s, 5m, 12h, 1h30m)"));
    }
    out = *d;
    return {};
  }

  Status parse_endpoint(const YAML::Node& node, const std::string& key, Endpoint& out) {
    auto text = scalar(node, key, "an address:port");
    CONFIG_TRY(text);
    auto ep = Endpoint::parse(*text);
    if (!ep) {
      return tl::unexpected(error_at(
          node, key, "bad address \"" + *text + "\" (want ADDRESS:PORT, IPv6 as [ADDRESS]:PORT)"));
    }
    if (ep->port == 0) {
      return tl::unexpected(error_at(node, key, "port 0 is not allowed"));
    }
    out = *ep;
    return {};
  }

  // One endpoint, or a list of one per family (a dual-stack node).
  Status parse_listen(const YAML::Node& node, const std::string& key, std::vector<Endpoint>& out) {
    std::vector<Endpoint> list;
    if (!node.IsSequence()) {
      Endpoint ep;
      CONFIG_TRY(parse_endpoint(node, key, ep));
      out.assign(1, ep);
      return {};
    }
    CONFIG_TRY(
        parse_sequence(node, key, [&](const YAML::Node& item, const std::string& k) -> Status {
          Endpoint ep;
          CONFIG_TRY(parse_endpoint(item, k, ep));
          for (const Endpoint& other : list) {
            if (other.ip.family == ep.ip.family) {
              return Status(tl::unexpected(
                  error_at(item, k,
                           "a second " + family_name(ep.ip) +
                               " endpoint (one per family: an IPv4 and an IPv6 one)")));
            }
          }
          list.push_back(ep);
          return Status();
        }));
    if (list.empty()) {
      return tl::unexpected(error_at(node, key, "an empty list (want one or two endpoints)"));
    }
    out = std::move(list);
    return {};
  }

  // "auto", an address, or a list of one address per family ("auto" for both when empty).
  Status parse_external_ip(const YAML::Node& node, const std::string& key,
                           std::vector<IpAddress>& out) {
    std::vector<IpAddress> list;
    auto one = [&](const YAML::Node& item, const std::string& k) -> Status {
      auto text = scalar(item, k, "\"auto\" or an address");
      CONFIG_TRY(text);
      if (*text == "auto" && !node.IsSequence()) {
        return Status();
      }
      auto ip = IpAddress::parse(*text);
      if (!ip || ip->is_unspecified()) {
        return Status(tl::unexpected(
            error_at(item, k,
                     "bad address \"" + *text +
                         "\" (want \"auto\", an IP address or a list of one per family)")));
      }
      for (const IpAddress& other : list) {
        if (other.family == ip->family) {
          return Status(tl::unexpected(
              error_at(item, k, "a second " + family_name(*ip) + " address (one per family)")));
        }
      }
      list.push_back(*ip);
      return Status();
    };
    if (node.IsSequence()) {
      CONFIG_TRY(parse_sequence(node, key, one));
    } else {
      CONFIG_TRY(one(node, key));
    }
    out = std::move(list);
    return {};
  }

  static std::string family_name(const IpAddress& ip) { return ip.is_v4() ? "IPv4" : "IPv6"; }

  Status parse_interface_address(const YAML::Node& node, const std::string& key,
                                 IpAddress::Family family, std::optional<InterfaceAddress>& out) {
    if (node.IsNull()) {
      out.reset();
      return {};
    }
    auto text = scalar(node, key, "an address/prefix");
    CONFIG_TRY(text);
    auto a = InterfaceAddress::parse(*text);
    if (!a || a->address.family != family || a->address.is_unspecified()) {
      const char* want = family == IpAddress::Family::kV4 ? "an IPv4 address/prefix, e.g. "
                                                            "169.254.10.2/24"
                                                          : "an IPv6 address/prefix, e.g. "
                                                            "fd00::2/64";
      return tl::unexpected(
          error_at(node, key, "bad address \"" + *text + "\" (want " + want + ")"));
    }
    out = *a;
    return {};
  }

  Status parse_mac(const YAML::Node& node, const std::string& key, std::optional<MacAddress>& out) {
    if (node.IsNull()) {
      out.reset();
      return {};
    }
    auto text = scalar(node, key, "a MAC address");
    CONFIG_TRY(text);
    MacAddress mac{};
    bool ok = text->size() == 17;
    for (std::size_t i = 0; ok && i < 6; ++i) {
      const char* p = text->data() + 3 * i;
      if (i > 0 && p[-1] != ':') {
        ok = false;
        break;
      }
      auto [ptr, ec] = std::from_chars(p, p + 2, mac[i], 16);
      ok = ec == std::errc() && ptr == p + 2;
    }
    if (!ok) {
      return tl::unexpected(
          error_at(node, key, "bad MAC address \"" + *text + "\" (want aa:bb:cc:dd:ee:ff)"));
    }
    out = mac;
    return {};
  }

  template <class E>
  Status parse_enum(const YAML::Node& node, const std::string& key, E& out,
                    std::initializer_list<E> values, std::string_view what) {
    auto text = scalar(node, key, what);
    CONFIG_TRY(text);
    std::string names;
    for (E v : values) {
      if (*text == to_string(v)) {
        out = v;
        return {};
      }
      names.append(names.empty() ? "" : ", ").append(to_string(v));
    }
    return tl::unexpected(error_at(
        node, key, "unknown " + std::string(what) + " \"" + *text + "\" (one of: " + names + ")"));
  }

  Status parse_mode(const YAML::Node& n, const std::string& k, Mode& out) {
    return parse_enum(n, k, out, {Mode::kNode, Mode::kBootnode, Mode::kCrawl}, "mode");
  }
  Status parse_log_level(const YAML::Node& n, const std::string& k, LogLevel& out) {
    return parse_enum(n, k, out,
                      {LogLevel::kError, LogLevel::kWarn, LogLevel::kInfo, LogLevel::kDebug},
                      "log level");
  }

  Status parse_sequence(const YAML::Node& node, const std::string& key,
                        const std::function<Status(const YAML::Node&, const std::string&)>& item) {
    if (node.IsNull()) {
      return {};  // "key:" with nothing = empty list
    }
    if (!node.IsSequence()) {
      return tl::unexpected(
          error_at(node, key, std::string("expected a list, got ") + kind_of(node)));
    }
    for (std::size_t i = 0; i < node.size(); ++i) {
      CONFIG_TRY(item(node[i], key + "[" + std::to_string(i) + "]"));
    }
    return {};
  }

  Status parse_protocols(const YAML::Node& node, const std::string& key,
                         std::vector<Protocol>& out) {
    std::vector<Protocol> protocols;
    CONFIG_TRY(
        parse_sequence(node, key, [&](const YAML::Node& item, const std::string& k) -> Status {
          Protocol p{};
          CONFIG_TRY(parse_enum(item, k, p, {Protocol::kDiscv4, Protocol::kDiscv5}, "protocol"));
          if (std::find(protocols.begin(), protocols.end(), p) != protocols.end()) {
            return Status(tl::unexpected(error_at(item, k, "protocol listed twice")));
          }
          protocols.push_back(p);
          return Status();
        }));
    out = std::move(protocols);
    return {};
  }

  Status parse_bootnodes(const YAML::Node& node, const std::string& key,
                         std::vector<std::string>& out) {
    std::vector<std::string> nodes;
    CONFIG_TRY(
        parse_sequence(node, key, [&](const YAML::Node& item, const std::string& k) -> Status {
          std::string text;
          CONFIG_TRY(parse_string(item, k, text, false));
          if (!text.starts_with("enode://") && !text.starts_with("enr:")) {
            return Status(tl::unexpected(
                error_at(item, k, "a bootnode must be an enode:// URL or an enr: record")));
          }
          nodes.push_back(std::move(text));
          return Status();
        }));
    out = std::move(nodes);
    return {};
  }

  Status parse_identity(const YAML::Node& node, const std::string& key, Config::Identity& out) {
    return parse_map(
        node, key,
        {{"key_file", [&](auto& n, auto& k) { return parse_string(n, k, out.key_file, false); }}});
  }

  Status parse_network(const YAML::Node& node, const std::string& key, Config::Network& out) {
    return parse_map(
        node, key,
        {
            {"listen", [&](auto& n, auto& k) { return parse_listen(n, k, out.listen); }},
            {"external_ip",
             [&](auto& n, auto& k) { return parse_external_ip(n, k, out.external_ip); }},
            {"tcp_port", [&](auto& n, auto& k) { return parse_uint(n, k, out.tcp_port, 0); }},
            {"tcp6_port", [&](auto& n, auto& k) { return parse_uint(n, k, out.tcp6_port, 0); }},
        });
  }

  Status parse_dataplane(const YAML::Node& node, const std::string& key, Config::Dataplane& out) {
    return parse_map(
        node, key,
        {
            {"backend",
             [&](auto& n, auto& k) {
               return parse_enum(n, k, out.backend, {Backend::kSocket, Backend::kDpdk}, "backend");
             }},
            {"socket", [&](auto& n, auto& k) { return parse_socket(n, k, out.socket); }},
            {"dpdk", [&](auto& n, auto& k) { return parse_dpdk(n, k, out.dpdk); }},
            {"workers", [&](auto& n, auto& k) { return parse_uint(n, k, out.workers, 1, 16); }},
        });
  }

  Status parse_socket(const YAML::Node& node, const std::string& key, Config::Socket& out) {
    return parse_map(
        node, key,
        {
            {"rcvbuf", [&](auto& n, auto& k) { return parse_uint(n, k, out.rcvbuf, 0, 1u << 30); }},
            {"sndbuf", [&](auto& n, auto& k) { return parse_uint(n, k, out.sndbuf, 0, 1u << 30); }},
        });
  }

  Status parse_dpdk(const YAML::Node& node, const std::string& key, Config::Dpdk& out) {
    using Family = IpAddress::Family;
    return parse_map(
        node, key,
        {
            {"eal_args",
             [&](auto& n, auto& k) -> Status {
               std::vector<std::string> args;
               CONFIG_TRY(parse_sequence(
                   n, k, [&](const YAML::Node& item, const std::string& ik) -> Status {
                     std::string arg;
                     CONFIG_TRY(parse_string(item, ik, arg, false));
                     args.push_back(std::move(arg));
                     return Status();
                   }));
               out.eal_args = std::move(args);
               return Status();
             }},
            {"port", [&](auto& n, auto& k) { return parse_uint(n, k, out.port, 0, 1023); }},
            {"rx_queue_size",
             [&](auto& n, auto& k) {
               return parse_power_of_two(n, k, out.rx_queue_size, 64, 32768);
             }},
            {"tx_queue_size",
             [&](auto& n, auto& k) {
               return parse_power_of_two(n, k, out.tx_queue_size, 64, 32768);
             }},
            {"mempool_size",
             [&](auto& n, auto& k) { return parse_uint(n, k, out.mempool_size, 1024, 1u << 24); }},
            {"ipv4", [&](auto& n,
                         auto& k) { return parse_interface_address(n, k, Family::kV4, out.ipv4); }},
            {"ipv6", [&](auto& n,
                         auto& k) { return parse_interface_address(n, k, Family::kV6, out.ipv6); }},
            {"gateway_mac", [&](auto& n, auto& k) { return parse_mac(n, k, out.gateway_mac); }},
            {"vlan",
             [&](auto& n, auto& k) -> Status {
               if (n.IsNull()) {
                 out.vlan.reset();
                 return Status();
               }
               std::uint16_t v = 0;
               CONFIG_TRY(parse_uint(n, k, v, 1, 4094));
               out.vlan = v;
               return Status();
             }},
            {"allow_martian",
             [&](auto& n, auto& k) { return parse_cidr_list(n, k, out.allow_martian); }},
        });
  }

  Status parse_per_protocol(const YAML::Node& node, const std::string& key,
                            Config::PerProtocol& out) {
    return parse_map(
        node, key,
        {
            {"discv4", [&](auto& n, auto& k) { return parse_duration_field(n, k, out.discv4); }},
            {"discv5", [&](auto& n, auto& k) { return parse_duration_field(n, k, out.discv5); }},
        });
  }

  Status parse_timers(const YAML::Node& node, const std::string& key, Config::Timers& out) {
    return parse_map(
        node, key,
        {
            {"revalidate_interval",
             [&](auto& n, auto& k) { return parse_per_protocol(n, k, out.revalidate_interval); }},
            {"lookup_interval",
             [&](auto& n, auto& k) { return parse_per_protocol(n, k, out.lookup_interval); }},
            {"prune_interval",
             [&](auto& n, auto& k) { return parse_duration_field(n, k, out.prune_interval); }},
            {"snapshot_interval",
             [&](auto& n, auto& k) { return parse_duration_field(n, k, out.snapshot_interval); }},
        });
  }

  Status parse_table(const YAML::Node& node, const std::string& key, Config::Table& out) {
    return parse_map(
        node, key,
        {
            {"bucket_size",
             [&](auto& n, auto& k) { return parse_uint(n, k, out.bucket_size, 1, 256); }},
            {"replacements",
             [&](auto& n, auto& k) { return parse_uint(n, k, out.replacements, 0, 256); }},
            {"bucket_ip_limit",
             [&](auto& n, auto& k) { return parse_uint(n, k, out.bucket_ip_limit, 1, 256); }},
            {"table_ip_limit",
             [&](auto& n, auto& k) { return parse_uint(n, k, out.table_ip_limit, 1, 65536); }},
            {"ip_limit_exempt",
             [&](auto& n, auto& k) { return parse_cidr_list(n, k, out.ip_limit_exempt); }},
        });
  }

  Status parse_discv4(const YAML::Node& node, const std::string& key, Config::Discv4& out) {
    return parse_map(
        node, key,
        {
            {"bond_lifetime",
             [&](auto& n, auto& k) { return parse_duration_field(n, k, out.bond_lifetime); }},
            {"request_timeout",
             [&](auto& n, auto& k) { return parse_duration_field(n, k, out.request_timeout); }},
            // At least one Pong and one Ping (<= 180 B each): a first contact must bond.
            {"amplification_burst_per_ip",
             [&](auto& n, auto& k) {
               return parse_uint(n, k, out.amplification_burst_per_ip, 360, 1u << 24);
             }},
            {"amplification_burst_global",
             [&](auto& n, auto& k) {
               return parse_uint(n, k, out.amplification_burst_global, 360, 1u << 30);
             }},
            {"request_rate_per_ip",
             [&](auto& n, auto& k) {
               return parse_uint(n, k, out.request_rate_per_ip, 0, 1u << 20);
             }},
            {"request_rate_per_node",
             [&](auto& n, auto& k) {
               return parse_uint(n, k, out.request_rate_per_node, 0, 1u << 20);
             }},
        });
  }

  Status parse_discv5(const YAML::Node& node, const std::string& key, Config::Discv5& out) {
    return parse_map(
        node, key,
        {
            {"max_sessions",
             [&](auto& n, auto& k) { return parse_uint(n, k, out.max_sessions, 1, 1u << 24); }},
            {"session_idle_timeout",
             [&](auto& n, auto& k) {
               return parse_duration_field(n, k, out.session_idle_timeout);
             }},
            {"whoareyou_rate_per_ip",
             [&](auto& n, auto& k) {
               return parse_uint(n, k, out.whoareyou_rate_per_ip, 1, 1u << 20);
             }},
            {"whoareyou_rate_global",
             [&](auto& n, auto& k) {
               return parse_uint(n, k, out.whoareyou_rate_global, 1, 1u << 24);
             }},
            {"request_rate_per_ip",
             [&](auto& n, auto& k) {
               return parse_uint(n, k, out.request_rate_per_ip, 0, 1u << 20);
             }},
            {"request_rate_per_node",
             [&](auto& n, auto& k) {
               return parse_uint(n, k, out.request_rate_per_node, 0, 1u << 20);
             }},
            {"request_timeout",
             [&](auto& n, auto& k) { return parse_duration_field(n, k, out.request_timeout); }},
        });
  }

  Status parse_bool(const YAML::Node& node, const std::string& key, bool& out) {
    auto text = scalar(node, key, "true or false");
    CONFIG_TRY(text);
    if (*text == "true") {
      out = true;
    } else if (*text == "false") {
      out = false;
    } else {
      return tl::unexpected(error_at(node, key, "expected true or false, got \"" + *text + "\""));
    }
    return {};
  }

  Status parse_crawl(const YAML::Node& node, const std::string& key, Config::Crawl& out) {
    return parse_map(
        node, key,
        {
            {"lookup_interval",
             [&](auto& n, auto& k) { return parse_duration_field(n, k, out.lookup_interval); }},
            {"output", [&](auto& n, auto& k) { return parse_string(n, k, out.output, false); }},
            {"write_interval",
             [&](auto& n, auto& k) { return parse_duration_field(n, k, out.write_interval); }},
            {"progress_interval",
             [&](auto& n, auto& k) { return parse_duration_field(n, k, out.progress_interval); }},
            {"resume", [&](auto& n, auto& k) { return parse_bool(n, k, out.resume); }},
            {"event_ring",
             [&](auto& n, auto& k) { return parse_uint(n, k, out.event_ring, 64, 1u << 22); }},
        });
  }

  // A fork id: {hash: "0x9f3d2254", next: 0}; the hash is 4 bytes of hex, 0x optional.
  Status parse_fork_id(const YAML::Node& node, const std::string& key, Config::ForkId& out) {
    bool have_hash = false;
    CONFIG_TRY(parse_map(
        node, key,
        {
            {"hash",
             [&](auto& n, auto& k) -> Status {
               auto text = scalar(n, k, "a 4-byte hex fork hash");
               CONFIG_TRY(text);
               auto hash = enr::parse_fork_hash(*text);
               if (!hash) {
                 return Status(tl::unexpected(error_at(
                     n, k,
                     "bad fork hash \"" + *text + "\" (want 4 bytes of hex, e.g. 0x9f3d2254)")));
               }
               out.hash = *hash;
               have_hash = true;
               return Status();
             }},
            {"next", [&](auto& n, auto& k) { return parse_uint(n, k, out.next, 0); }},
        }));
    if (!have_hash) {
      return tl::unexpected(error_at(node, key, "a fork id needs \"hash\""));
    }
    return {};
  }

  Status parse_fork_filter(const YAML::Node& node, const std::string& key,
                           Config::ForkFilter& out) {
    return parse_map(
        node, key,
        {
            {"accept",
             [&](auto& n, auto& k) -> Status {
               std::vector<Config::ForkId> forks;
               CONFIG_TRY(parse_sequence(
                   n, k, [&](const YAML::Node& item, const std::string& ik) -> Status {
                     Config::ForkId f;
                     CONFIG_TRY(parse_fork_id(item, ik, f));
                     forks.push_back(f);
                     return Status();
                   }));
               out.accept = std::move(forks);
               return Status();
             }},
            {"require_eth", [&](auto& n, auto& k) { return parse_bool(n, k, out.require_eth); }},
        });
  }

  Status parse_enr(const YAML::Node& node, const std::string& key, Config::Enr& out) {
    return parse_map(
        node, key,
        {
            {"eth",
             [&](auto& n, auto& k) -> Status {
               if (n.IsNull()) {
                 out.eth.reset();  // "eth:" with nothing = no entry
                 return Status();
               }
               Config::ForkId f;
               CONFIG_TRY(parse_fork_id(n, k, f));
               out.eth = f;
               return Status();
             }},
            {"extra", [&](auto& n, auto& k) { return parse_enr_extra(n, k, out.extra); }},
        });
  }

  Status parse_enr_extra(const YAML::Node& node, const std::string& key,
                         std::vector<Config::EnrEntry>& out) {
    std::vector<Config::EnrEntry> entries;
    CONFIG_TRY(
        parse_sequence(node, key, [&](const YAML::Node& item, const std::string& ik) -> Status {
          Config::EnrEntry e;
          CONFIG_TRY(parse_enr_entry(item, ik, e));
          for (const Config::EnrEntry& other : entries) {
            if (other.key == e.key) {
              return Status(
                  tl::unexpected(error_at(item, ik, "duplicate ENR key \"" + e.key + "\"")));
            }
          }
          entries.push_back(std::move(e));
          return Status();
        }));
    out = std::move(entries);
    return {};
  }

  // {key: "foo", value: "0x83626172"}: a printable key the appliance does not write itself and
  // one complete RLP item in hex.
  Status parse_enr_entry(const YAML::Node& node, const std::string& key, Config::EnrEntry& out) {
    bool have_key = false;
    bool have_value = false;
    CONFIG_TRY(parse_map(
        node, key,
        {
            {"key",
             [&](auto& n, auto& k) -> Status {
               CONFIG_TRY(parse_string(n, k, out.key, false));
               if (!enr::is_valid_extra_key(out.key)) {
                 return Status(tl::unexpected(error_at(
                     n, k, "an ENR key is 1 to 64 printable ASCII characters, no spaces")));
               }
               if (enr::is_reserved_key(out.key)) {
                 return Status(tl::unexpected(error_at(
                     n, k,
                     "\"" + out.key + "\" is written by discplane itself" +
                         (out.key == "eth"             ? " (use enr.eth)"
                          : out.key.starts_with("tcp") ? " (use network.tcp_port / tcp6_port)"
                                                       : ""))));
               }
               have_key = true;
               return Status();
             }},
            {"value",
             [&](auto& n, auto& k) -> Status {
               auto text = scalar(n, k, "a hex RLP value");
               CONFIG_TRY(text);
               auto value = enr::parse_hex_rlp(*text);
               if (!value) {
                 return Status(tl::unexpected(error_at(
                     n, k,
                     "bad ENR value \"" + *text +
                         "\" (want one complete RLP item in hex, e.g. 0x83626172 for \"bar\")")));
               }
               out.value = std::move(*value);
               have_value = true;
               return Status();
             }},
        }));
    if (!have_key || !have_value) {
      return tl::unexpected(error_at(node, key, "an ENR entry needs \"key\" and \"value\""));
    }
    return {};
  }

  Status parse_dns_discovery(const YAML::Node& node, const std::string& key,
                             Config::DnsDiscovery& out) {
    return parse_map(
        node, key,
        {
            {"urls",
             [&](auto& n, auto& k) -> Status {
               std::vector<std::string> urls;
               CONFIG_TRY(parse_sequence(
                   n, k, [&](const YAML::Node& item, const std::string& ik) -> Status {
                     std::string url;
                     CONFIG_TRY(parse_string(item, ik, url, false));
                     if (auto link = enrtree::parse_url(url); !link) {
                       return Status(tl::unexpected(
                           error_at(item, ik,
                                    std::string(enrtree::to_string(link.error())) +
                                        " (want enrtree://<base32 compressed key>@<domain>)")));
                     }
                     urls.push_back(std::move(url));
                     return Status();
                   }));
               out.urls = std::move(urls);
               return Status();
             }},
            {"server",
             [&](auto& n, auto& k) -> Status {
               std::string text;
               CONFIG_TRY(parse_string(n, k, text, true));
               const bool ok = text.empty() || Endpoint::parse(text) || IpAddress::parse(text);
               if (!ok) {
                 return Status(tl::unexpected(error_at(
                     n, k,
                     "bad DNS server \"" + text +
                         "\" (want ADDRESS[:PORT], IPv6 as [ADDRESS]:PORT, or empty for the "
                         "system resolver)")));
               }
               out.server = std::move(text);
               return Status();
             }},
            {"resync_interval",
             [&](auto& n, auto& k) { return parse_duration_field(n, k, out.resync_interval); }},
            {"query_timeout",
             [&](auto& n, auto& k) { return parse_duration_field(n, k, out.query_timeout); }},
            {"max_entries",
             [&](auto& n, auto& k) { return parse_uint(n, k, out.max_entries, 1, 1u << 20); }},
        });
  }

  Status parse_cidr_list(const YAML::Node& node, const std::string& key,
                         std::vector<disc::Cidr>& out) {
    std::vector<disc::Cidr> list;
    CONFIG_TRY(
        parse_sequence(node, key, [&](const YAML::Node& item, const std::string& k) -> Status {
          auto text = scalar(item, k, "a CIDR");
          CONFIG_TRY(text);
          auto c = disc::Cidr::parse(*text);
          if (!c) {
            return Status(tl::unexpected(error_at(
                item, k, "bad CIDR \"" + *text + "\" (want e.g. 10.0.0.0/8, fd00::/8, 1.2.3.4)")));
          }
          list.push_back(*c);
          return Status();
        }));
    out = std::move(list);
    return {};
  }

  Status parse_policy(const YAML::Node& node, const std::string& key, Config::Policy& out) {
    return parse_map(
        node, key,
        {
            {"ban", [&](auto& n, auto& k) { return parse_ban(n, k, out.ban); }},
            {"allow", [&](auto& n, auto& k) { return parse_cidr_list(n, k, out.allow); }},
        });
  }

  Status parse_ban(const YAML::Node& node, const std::string& key, Config::Policy::Ban& out) {
    return parse_map(
        node, key,
        {
            {"node_ids",
             [&](auto& n, auto& k) -> Status {
               std::vector<NodeId> ids;
               CONFIG_TRY(parse_sequence(
                   n, k, [&](const YAML::Node& item, const std::string& ik) -> Status {
                     auto text = scalar(item, ik, "a node id");
                     CONFIG_TRY(text);
                     auto id = node_id_from_hex(*text);
                     if (!id) {
                       return Status(tl::unexpected(error_at(
                           item, ik, "bad node id \"" + *text + "\" (want 64 hex digits)")));
                     }
                     ids.push_back(*id);
                     return Status();
                   }));
               out.node_ids = std::move(ids);
               return Status();
             }},
            {"ips",
             [&](auto& n, auto& k) -> Status {
               std::vector<IpAddress> ips;
               CONFIG_TRY(parse_sequence(
                   n, k, [&](const YAML::Node& item, const std::string& ik) -> Status {
                     auto text = scalar(item, ik, "an IP address");
                     CONFIG_TRY(text);
                     auto ip = IpAddress::parse(*text);
                     if (!ip) {
                       return Status(
                           tl::unexpected(error_at(item, ik, "bad IP address \"" + *text + "\"")));
                     }
                     ips.push_back(*ip);
                     return Status();
                   }));
               out.ips = std::move(ips);
               return Status();
             }},
            {"cidrs", [&](auto& n, auto& k) { return parse_cidr_list(n, k, out.cidrs); }},
            {"file", [&](auto& n, auto& k) { return parse_string(n, k, out.file, true); }},
        });
  }

  std::string file_;
  std::map<std::string, YAML::Mark> marks_;
};

}  // namespace

std::optional<NodeId> node_id_from_hex(std::string_view text) {
  if (text.starts_with("0x")) {
    text.remove_prefix(2);
  }
  Bytes raw;
  if (text.size() != 64 || !from_hex(text, raw) || raw.size() != 32) {
    return std::nullopt;
  }
  NodeId id{};
  std::copy(raw.begin(), raw.end(), id.begin());
  return id;
}

namespace {

Status fail_at(std::string key, std::string message) {
  return tl::unexpected(ConfigError{{}, 0, 0, std::move(key), std::move(message)});
}

}  // namespace

std::string ConfigError::to_string() const {
  std::string out = file.empty() ? "<config>" : file;
  if (line > 0) {
    out.append(":").append(std::to_string(line));
    if (column > 0) {
      out.append(":").append(std::to_string(column));
    }
  }
  out.append(": ");
  if (!key.empty()) {
    out.append(key).append(": ");
  }
  out.append(message);
  return out;
}

std::string_view to_string(Protocol p) {
  switch (p) {
    case Protocol::kDiscv4:
      return "discv4";
    case Protocol::kDiscv5:
      return "discv5";
  }
  return "?";
}

std::string_view to_string(Backend b) {
  switch (b) {
    case Backend::kSocket:
      return "socket";
    case Backend::kDpdk:
      return "dpdk";
  }
  return "?";
}

std::string_view to_string(Mode m) {
  switch (m) {
    case Mode::kNode:
      return "node";
    case Mode::kBootnode:
      return "bootnode";
    case Mode::kCrawl:
      return "crawl";
  }
  return "?";
}

std::string_view to_string(LogLevel l) {
  switch (l) {
    case LogLevel::kError:
      return "error";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kDebug:
      return "debug";
  }
  return "?";
}

std::optional<Duration> parse_duration(std::string_view text) {
  using Rep = Duration::rep;
  constexpr Rep kMax = std::numeric_limits<Rep>::max();
  if (text.empty()) {
    return std::nullopt;
  }
  Rep total = 0;
  while (!text.empty()) {
    std::uint64_t value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || ptr == text.data()) {
      return std::nullopt;
    }
    text.remove_prefix(static_cast<std::size_t>(ptr - text.data()));
    Rep unit = 0;
    if (text.starts_with("ms")) {
      unit = 1;
      text.remove_prefix(2);
    } else if (text.starts_with("s")) {
      unit = 1000;
      text.remove_prefix(1);
    } else if (text.starts_with("m")) {
      unit = 60 * 1000;
      text.remove_prefix(1);
    } else if (text.starts_with("h")) {
      unit = 3600 * 1000;
      text.remove_prefix(1);
    } else {
      return std::nullopt;  // a number needs its unit
    }
    if (value > static_cast<std::uint64_t>(kMax / unit) ||
        static_cast<Rep>(value) * unit > kMax - total) {
      return std::nullopt;
    }
    total += static_cast<Rep>(value) * unit;
  }
  if (total == 0) {
    return std::nullopt;
  }
  return Duration(total);
}

std::string format_duration(Duration d) {
  auto ms = d.count();
  if (ms <= 0) {
    return std::to_string(ms) + "ms";
  }
  std::string out;
  const std::pair<Duration::rep, const char*> units[] = {
      {3600 * 1000, "h"}, {60 * 1000, "m"}, {1000, "s"}, {1, "ms"}};
  for (const auto& [size, name] : units) {
    if (ms >= size) {
      out.append(std::to_string(ms / size)).append(name);
      ms %= size;
    }
  }
  return out;
}

std::optional<InterfaceAddress> InterfaceAddress::parse(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) {
    return std::nullopt;
  }
  auto ip = IpAddress::parse(text.substr(0, slash));
  if (!ip) {
    return std::nullopt;
  }
  const auto prefix_text = text.substr(slash + 1);
  unsigned prefix = 0;
  const char* end = prefix_text.data() + prefix_text.size();
  auto [ptr, ec] = std::from_chars(prefix_text.data(), end, prefix);
  const unsigned max = ip->is_v4() ? 32 : 128;
  if (prefix_text.empty() || ec != std::errc() || ptr != end || prefix == 0 || prefix > max) {
    return std::nullopt;
  }
  return InterfaceAddress{*ip, static_cast<std::uint8_t>(prefix)};
}

std::string InterfaceAddress::to_string() const {
  return address.to_string() + "/" + std::to_string(prefix_length);
}

bool Config::runs(Protocol p) const {
  return std::find(protocols.begin(), protocols.end(), p) != protocols.end();
}

const Endpoint* Config::Network::listen_of(IpAddress::Family family) const noexcept {
  for (const Endpoint& ep : listen) {
    if (ep.ip.family == family) {
      return &ep;
    }
  }
  return nullptr;
}

std::optional<IpAddress> Config::Network::external_ip_of(IpAddress::Family family) const noexcept {
  for (const IpAddress& ip : external_ip) {
    if (ip.family == family) {
      return ip;
    }
  }
  return std::nullopt;
}

Result<void, ConfigError> Config::validate() const {
  if (network.listen.empty()) {
    return fail_at("network.listen", "at least one endpoint");
  }
  if (protocols.empty()) {
    return fail_at("protocols", "at least one protocol (discv4, discv5) must be enabled");
  }
  if (table.bucket_ip_limit > table.bucket_size) {
    return fail_at("table.bucket_ip_limit",
                   "must not exceed table.bucket_size (" + std::to_string(table.bucket_size) + ")");
  }
  if (table.table_ip_limit < table.bucket_ip_limit) {
    return fail_at("table.table_ip_limit", "must not be below table.bucket_ip_limit (" +
                                               std::to_string(table.bucket_ip_limit) + ")");
  }
  if (fork_filter.accept.size() > 16) {
    return fail_at("fork_filter.accept", "at most 16 fork ids");
  }
  if (fork_filter.require_eth && fork_filter.accept.empty()) {
    return fail_at("fork_filter.require_eth", "needs fork_filter.accept (the filter is off)");
  }
  if (enr.eth || !enr.extra.empty()) {
    if (const std::size_t size = largest_record_size(*this); size > enr::kMaxRecordSize) {
      return fail_at(enr.extra.empty() ? "enr.eth" : "enr.extra",
                     "our record could reach " + std::to_string(size) +
                         " bytes with these entries (EIP-778 allows " +
                         std::to_string(enr::kMaxRecordSize) + ")");
    }
  }
  if (crawl.write_interval < std::chrono::seconds(1)) {
    return fail_at("crawl.write_interval", "must be at least 1s");
  }
  if (node_db.save_interval < std::chrono::milliseconds(100)) {
    return fail_at("node_db.save_interval", "must be at least 100ms");
  }
  if (dataplane.backend == Backend::kDpdk) {
    const auto& d = dataplane.dpdk;
    if (d.eal_args.empty()) {
      return fail_at("dataplane.dpdk.eal_args", "the dpdk backend needs EAL arguments");
    }
    if (!d.ipv4 && !d.ipv6) {
      return fail_at("dataplane.dpdk.ipv4",
                     "the dpdk backend needs our address (dataplane.dpdk.ipv4 and/or ipv6)");
    }
    if (d.mempool_size <= d.rx_queue_size + d.tx_queue_size) {
      return fail_at("dataplane.dpdk.mempool_size",
                     "must exceed rx_queue_size + tx_queue_size (" +
                         std::to_string(d.rx_queue_size + d.tx_queue_size) + ")");
    }
    // The DPDK port answers for its configured addresses only, so a concrete listen address
    // must be one of them; it has one UDP port for both families.
    for (const Endpoint& ep : network.listen) {
      const IpAddress& ip = ep.ip;
      const bool matches = ip.is_unspecified() || (d.ipv4 && d.ipv4->address == ip) ||
                           (d.ipv6 && d.ipv6->address == ip);
      if (!matches) {
        return fail_at("network.listen",
                       "with the dpdk backend the listen address must be 0.0.0.0, :: or "
                       "dataplane.dpdk.ipv4/ipv6");
      }
      if (ip.is_v4() && !d.ipv4) {
        return fail_at("network.listen", "an IPv4 listen address needs dataplane.dpdk.ipv4");
      }
      if (ep.port != network.listen.front().port) {
        return fail_at("network.listen",
                       "with the dpdk backend both families listen on one UDP port");
      }
    }
    for (const IpAddress& ip : network.external_ip) {
      if (ip.is_v4() ? !d.ipv4 : !d.ipv6) {
        return fail_at("network.external_ip",
                       std::string("an ") + (ip.is_v4() ? "IPv4" : "IPv6") +
                           " external address needs dataplane.dpdk." +
                           (ip.is_v4() ? "ipv4" : "ipv6") +
                           " (the port serves only the families it has an address for)");
      }
    }
  } else {
    // Sockets: each family we announce must be one we listen on (IPv6 sockets are IPv6-only).
    for (const IpAddress& ip : network.external_ip) {
      if (network.listen_of(ip.family) == nullptr) {
        return fail_at("network.external_ip",
                       "external address " + ip.to_string() + " is " +
                           (ip.is_v4() ? "IPv4" : "IPv6") +
                           " but no network.listen endpoint is (list one of each family to "
                           "serve both)");
      }
    }
  }
  return {};
}

Result<Config, ConfigError> parse_config(std::string_view yaml, std::string_view name) {
  Parser parser{std::string(name)};
  Config config;
  try {
    const YAML::Node root = YAML::Load(std::string(yaml));
    CONFIG_TRY(parser.parse_root(root, config));
  } catch (const YAML::Exception& e) {
    // Syntax errors (and anything yaml-cpp throws while walking the tree).
    return tl::unexpected(parser.error_at(e.mark, "", e.msg));
  }
  if (auto ok = config.validate(); !ok) {
    return tl::unexpected(parser.locate(std::move(ok.error())));
  }
  return config;
}

Result<Config, ConfigError> load_config(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return tl::unexpected(ConfigError{path.string(), 0, 0, "", "cannot open file"});
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return tl::unexpected(ConfigError{path.string(), 0, 0, "", "cannot read file"});
  }
  return parse_config(text.str(), path.string());
}

#undef CONFIG_TRY

}  // namespace discplane::control
