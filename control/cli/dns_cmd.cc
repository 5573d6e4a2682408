// discctl dns sign | to-zone | sync: EIP-1459 node lists in go-ethereum's tree directory
// layout (control/dns_tree.cc), served by any DNS server and read back with our resolver.
#include <ctime>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "discplane/control/config.h"
#include "discplane/control/dns_client.h"
#include "discplane/control/dns_tree.h"
#include "discplane/control/enrtree.h"
#include "discplane/control/node_key.h"
#include "discplane/wire/base64.h"

#include "cli.h"

namespace discplane::cli {

using namespace ::discplane::control;

namespace {

int usage(const std::string& message) {
  std::cerr << "discctl: " << message << "\n";
  return kUsage;
}

int failed(const std::string& message) {
  std::cerr << "discctl: " << message << "\n";
  return kFailed;
}

struct SignArgs {
  std::string dir;
  std::string key_file;
  std::string domain;
  std::uint64_t seq = 0;
  bool has_seq = false;
};

int run_sign(const SignArgs& a) {
  auto key = load_key(a.key_file);
  if (!key) {
    return failed(key.error().to_string());
  }
  if (key->warning) {
    std::cerr << "discctl: warning: " << *key->warning << "\n";
  }
  dnstree::SignOptions o;
  o.domain = a.domain;
  if (a.has_seq) {
    o.seq = a.seq;
  }
  o.now_s = static_cast<std::int64_t>(std::time(nullptr));
  auto s = dnstree::sign_directory(a.dir, key->key, o);
  if (!s) {
    return failed(s.error());
  }
  std::cout << s->url << "\n";
  std::cerr << "discctl: signed " << a.dir << ": seq " << s->seq << ", " << s->records
            << " records, " << s->tree.entries.size() + 1 << " TXT records\n";
  return kOk;
}

struct ZoneArgs {
  std::string dir;
  std::string format = "zone";
  std::uint32_t ttl = 300;
  bool soa = false;
  std::string ns = "localhost.";
};

int run_to_zone(const ZoneArgs& a) {
  auto pub = dnstree::load_signed(a.dir);
  if (!pub) {
    return failed(pub.error());
  }
  dnstree::ZoneOptions o;
  o.format = a.format == "dnsmasq" ? dnstree::ZoneFormat::kDnsmasq : dnstree::ZoneFormat::kZoneFile;
  o.ttl = a.ttl;
  o.soa = a.soa;
  o.ns = a.ns;
  o.serial = static_cast<std::uint32_t>(pub->tree.root.seq);
  std::cout << dnstree::to_zone(pub->tree.txt(pub->domain), pub->domain, o);
  return kOk;
}

struct SyncArgs {
  std::string url;
  std::string server;
  std::string out_dir;
  std::string timeout = "2s";
  std::uint32_t max_entries = 5000;
};

int run_sync(const SyncArgs& a) {
  auto link = enrtree::parse_url(a.url);
  if (!link) {
    return usage("\"" + a.url + "\": " + std::string(enrtree::to_string(link.error())));
  }
  auto timeout = parse_duration(a.timeout);
  if (!timeout) {
    return usage("--timeout must be a duration (500ms, 2s), not \"" + a.timeout + "\"");
  }
  DnsClient::Options o;
  o.server = a.server;
  o.timeout = *timeout;
  auto client = DnsClient::create(o);
  if (!client) {
    return usage(client.error());
  }
  DnsClient& dns = **client;
  enrtree::Limits limits;
  limits.max_entries = a.max_entries;
  limits.max_trees = 1;  // this tree; its links are listed, not followed
  enrtree::TreeSync sync(
      [&dns](const std::string& name) -> Result<std::vector<std::string>, std::string> {
        auto r = dns.lookup_txt(name);
        if (!r) {
          return discplane::fail(std::string(to_string(r.error())));
        }
        return *r;
      },
      limits);
  const auto out = sync.sync(*link);
  const auto& report = out.trees.front();
  if (report.error) {
    return failed(link->domain + ": " + std::string(enrtree::to_string(*report.error)) + " (" +
                  report.detail + ")");
  }
  const CrawlDb nodes = dnstree::to_node_set(out.records);
  std::cerr << "discctl: " << link->domain << " seq " << report.seq << ": " << nodes.size()
            << " records, " << report.links.size() << " links, " << report.fetched << " lookups\n";
  if (a.out_dir.empty()) {
    std::cout << nodes.to_json();
    return kOk;
  }
  std::error_code ec;
  std::filesystem::create_directories(a.out_dir, ec);
  if (auto saved = nodes.save(std::filesystem::path(a.out_dir) / "nodes.json"); !saved) {
    return failed(saved.error());
  }
  dnstree::Meta meta;
  meta.url = enrtree::to_url(*link);
  meta.seq = report.seq;
  meta.signature = base64::encode(report.root.signature);
  for (const auto& l : report.links) {
    meta.links.push_back(enrtree::to_url(l));
  }
  meta.last_modified = static_cast<std::int64_t>(std::time(nullptr));
  if (auto w = dnstree::write_meta(std::filesystem::path(a.out_dir), meta); !w) {
    return failed(w.error());
  }
  return kOk;
}

}  // namespace

void add_dns_commands(CLI::App& app, Commands& commands) {
  auto* dns = app.add_subcommand("dns", "EIP-1459 node lists in DNS");
  dns->require_subcommand(1);

  auto s = std::make_shared<SignArgs>();
  auto* sign = dns->add_subcommand(
      "sign", "sign the tree of a directory holding nodes.json (and enrtree-info.json links)");
  sign->add_option("dir", s->dir, "tree directory")->required();
  sign->add_option("keyfile", s->key_file, "the list's signing key (hex key file)")->required();
  sign->add_option("--domain", s->domain, "the DNS name the list is published under")->required();
  sign->add_option("--seq", s->seq, "sequence number (default: the stored one + 1)")
      ->each([s](const std::string&) { s->has_seq = true; });
  commands.push_back({sign, [s] { return run_sign(*s); }});

  auto z = std::make_shared<ZoneArgs>();
  auto* to_zone =
      dns->add_subcommand("to-zone", "print a signed tree's TXT records for a DNS server");
  to_zone->add_option("dir", z->dir, "signed tree directory")->required();
  to_zone
      ->add_option("--format", z->format,
                   "zone (master file: BIND, NSD, Knot) or dnsmasq (txt-record= lines)")
      ->check(CLI::IsMember({"zone", "dnsmasq"}));
  to_zone->add_option("--ttl", z->ttl, "TTL of the records in seconds (default 300)");
  to_zone->add_flag("--soa", z->soa, "also write SOA and NS records: a whole zone");
  to_zone->add_option("--ns", z->ns, "name server named by --soa (default localhost.)");
  commands.push_back({to_zone, [z] { return run_to_zone(*z); }});

  auto y = std::make_shared<SyncArgs>();
  auto* sync = dns->add_subcommand("sync", "read a tree from DNS, verified, into nodes.json");
  sync->add_option("url", y->url, "enrtree://KEY@DOMAIN")->required();
  sync->add_option("--server", y->server,
                   "DNS server ADDRESS[:PORT] (default: the system resolver)");
  sync->add_option("-o,--out", y->out_dir,
                   "write DIR/nodes.json and DIR/enrtree-info.json instead of stdout");
  sync->add_option("--timeout", y->timeout, "per query try (default 2s)");
  sync->add_option("--max-entries", y->max_entries, "lookups allowed (default 5000)");
  commands.push_back({sync, [y] { return run_sync(*y); }});
}

}  // namespace discplane::cli
