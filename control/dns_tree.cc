// EIP-1459 tree directories (see dns_tree.h).
#include "discplane/control/dns_tree.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "discplane/wire/base64.h"

namespace discplane::control::dnstree {

namespace {

using Json = nlohmann::ordered_json;
namespace fs = std::filesystem;

constexpr const char* kMetaFile = "enrtree-info.json";
constexpr const char* kNodesFile = "nodes.json";
constexpr const char* kTxtFile = "txt.json";

Result<std::string, std::string> read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return fail("cannot open " + path.string());
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Temp file in the same directory, then rename: a reader never sees half a file.
Result<void, std::string> write_text(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out || !(out << text) || !out.flush()) {
      return fail("cannot write " + tmp.string());
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    return fail("cannot rename " + tmp.string() + " to " + path.string() + ": " + ec.message());
  }
  return {};
}

Result<Meta, std::string> parse_meta(const std::string& text, const fs::path& file) {
  auto bad = [&](const std::string& why) { return fail(file.string() + ": " + why); };
  Json j;
  try {
    j = Json::parse(text);
  } catch (const std::exception& e) {
    return bad(std::string("not JSON: ") + e.what());
  }
  if (!j.is_object()) {
    return bad("not a JSON object");
  }
  Meta m;
  if (j.contains("url")) {
    if (!j["url"].is_string()) {
      return bad("\"url\" is not a string");
    }
    m.url = j["url"].get<std::string>();
  }
  if (j.contains("seq")) {
    if (!j["seq"].is_number_unsigned()) {
      return bad("\"seq\" is not an unsigned integer");
    }
    m.seq = j["seq"].get<std::uint64_t>();
  }
  if (j.contains("signature")) {
    if (!j["signature"].is_string()) {
      return bad("\"signature\" is not a string");
    }
    m.signature = j["signature"].get<std::string>();
  }
  if (j.contains("links") && !j["links"].is_null()) {
    if (!j["links"].is_array()) {
      return bad("\"links\" is not a list");
    }
    for (const Json& l : j["links"]) {
      if (!l.is_string()) {
        return bad("a link is not a string");
      }
      m.links.push_back(l.get<std::string>());
    }
  }
  if (j.contains("lastModified")) {
    std::optional<std::int64_t> t;
    if (j["lastModified"].is_string()) {
      t = parse_crawl_time(j["lastModified"].get<std::string>());
    }
    if (!t) {
      return bad("bad time in \"lastModified\"");
    }
    m.last_modified = *t;
  }
  return m;
}

std::string quoted_strings(const std::string& text) {
  // A character-string holds at most 255 bytes: longer texts become several, which resolvers
  // join. Tree texts hold no quote or backslash (base32, base64url, '=', ',', ' ', ':').
  std::string out;
  for (std::size_t i = 0; i < text.size() || i == 0; i += 255) {
    out.append(i == 0 ? "\"" : " \"").append(text.substr(i, 255)).append("\"");
  }
  return out;
}

}  // namespace

std::string meta_json(const Meta& meta) {
  Json j = Json::object();
  if (!meta.url.empty()) {
    j["url"] = meta.url;
  }
  j["seq"] = meta.seq;
  j["signature"] = meta.signature;
  if (!meta.links.empty()) {
    j["links"] = meta.links;
  }
  j["lastModified"] = format_crawl_time(meta.last_modified);
  return j.dump(4) + "\n";
}

Result<void, std::string> write_meta(const fs::path& dir, const Meta& meta) {
  return write_text(dir / kMetaFile, meta_json(meta));
}

Result<Definition, std::string> load_definition(const fs::path& dir) {
  Definition def;
  const fs::path meta_file = dir / kMetaFile;
  if (fs::exists(meta_file)) {
    auto text = read_text(meta_file);
    if (!text) {
      return fail(text.error());
    }
    auto meta = parse_meta(*text, meta_file);
    if (!meta) {
      return fail(meta.error());
    }
    def.meta = std::move(*meta);
  }
  for (const std::string& l : def.meta.links) {
    auto link = enrtree::parse_url(l);
    if (!link) {
      return fail(meta_file.string() + ": link \"" + l +
                  "\": " + std::string(enrtree::to_string(link.error())));
    }
    def.links.push_back(std::move(*link));
  }
  CrawlDb nodes;
  if (auto loaded = nodes.load(dir / kNodesFile); !loaded) {
    return fail(loaded.error());
  }
  for (const auto& [id, n] : nodes.nodes()) {
    if (!n.has_enr) {
      return fail((dir / kNodesFile).string() + ": node " + to_hex(id).substr(0, 16) +
                  ": an enode URL cannot go into a DNS tree (it needs a signed enr: record)");
    }
    def.records.push_back(*enr::parse_text(n.record));  // verified by the loader
  }
  return def;
}

Result<Signed, std::string> sign_directory(const fs::path& dir, const crypto::PrivateKey& key,
                                           const SignOptions& options) {
  if (!enrtree::parse_url(enrtree::url_of(key, options.domain))) {
    return fail("\"" + options.domain + "\" is not a DNS name");
  }
  auto def = load_definition(dir);
  if (!def) {
    return fail(def.error());
  }
  Signed out;
  out.seq = options.seq.value_or(def->meta.seq + 1);
  out.records = def->records.size();
  out.tree = enrtree::make_tree(out.seq, std::move(def->records), def->links);
  enrtree::sign_tree(out.tree, key);
  out.url = enrtree::url_of(key, options.domain);

  Meta meta = def->meta;
  meta.url = out.url;
  meta.seq = out.seq;
  meta.signature = base64::encode(out.tree.root.signature);
  meta.last_modified = options.now_s;
  Json txt = Json::object();
  for (const auto& [name, text] : out.tree.txt(options.domain)) {
    txt[name] = text;
  }
  if (auto w = write_text(dir / kTxtFile, txt.dump(4) + "\n"); !w) {
    return fail(w.error());
  }
  if (auto w = write_text(dir / kMetaFile, meta_json(meta)); !w) {
    return fail(w.error());
  }
  return out;
}

Result<Published, std::string> load_signed(const fs::path& dir) {
  auto def = load_definition(dir);
  if (!def) {
    return fail(def.error());
  }
  const std::string meta_file = (dir / kMetaFile).string();
  if (def->meta.url.empty() || def->meta.signature.empty()) {
    return fail(meta_file + ": not signed (no \"url\" or \"signature\"): run discctl dns sign");
  }
  auto link = enrtree::parse_url(def->meta.url);
  if (!link) {
    return fail(meta_file + ": \"url\": " + std::string(enrtree::to_string(link.error())));
  }
  Published out;
  out.domain = link->domain;
  out.tree = enrtree::make_tree(def->meta.seq, std::move(def->records), def->links);
  auto sig = base64::decode(def->meta.signature);
  if (!sig || sig->size() != out.tree.root.signature.size()) {
    return fail(meta_file + ": \"signature\" is not a base64url 65-byte signature");
  }
  std::copy(sig->begin(), sig->end(), out.tree.root.signature.begin());
  if (!enrtree::verify_root(out.tree.root, link->public_key)) {
    return fail(meta_file +
                ": the signature does not match the tree (nodes.json or links changed "
                "since signing?): run discctl dns sign");
  }
  return out;
}

std::string to_zone(const std::map<std::string, std::string>& txt, const std::string& domain,
                    const ZoneOptions& o) {
  std::ostringstream z;
  if (o.format == ZoneFormat::kDnsmasq) {
    for (const auto& [name, text] : txt) {
      // dnsmasq: txt-record=<name>,"<string>","<string>"...
      std::string strings;
      for (std::size_t i = 0; i < text.size() || i == 0; i += 255) {
        strings.append(",\"").append(text.substr(i, 255)).append("\"");
      }
      z << "txt-record=" << name << strings << "\n";
    }
    return z.str();
  }
  z << "; EIP-1459 node list " << domain << ": " << txt.size() << " TXT records\n";
  z << "$ORIGIN " << domain << ".\n";
  z << "$TTL " << o.ttl << "\n";
  if (o.soa) {
    z << "@\tIN\tSOA\t" << o.ns << " hostmaster." << domain << ". " << o.serial
      << " 3600 600 86400 " << o.ttl << "\n";
    z << "@\tIN\tNS\t" << o.ns << "\n";
  }
  for (const auto& [name, text] : txt) {
    std::string rel = "@";
    if (name != domain) {
      rel = name.substr(0, name.size() - domain.size() - 1);
    }
    z << rel << "\tIN\tTXT\t" << quoted_strings(text) << "\n";
  }
  return z.str();
}

CrawlDb to_node_set(const std::vector<enr::Record>& records) {
  CrawlDb db;
  for (const enr::Record& r : records) {
    auto it = db.nodes().find(r.node_id());
    if (it != db.nodes().end() && it->second.seq >= r.seq()) {
      continue;
    }
    CrawlNode n;
    n.record = enr::to_text(r);
    n.seq = r.seq();
    n.has_enr = true;
    db.put(r.node_id(), std::move(n));
  }
  return db;
}

}  // namespace discplane::control::dnstree
