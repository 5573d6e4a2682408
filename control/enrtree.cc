// EIP-1459 tree entries: base32, hashes, the root and its signature, subtree entries, the
// builder and the bounded walk. The walk fails a whole tree on the first bad entry (as geth's
// client does): a list whose signer published garbage is not half-trusted.
#include "discplane/control/enrtree.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <deque>

#include "discplane/crypto/keccak.h"
#include "discplane/wire/base64.h"

namespace discplane::control::enrtree {

namespace {

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
constexpr std::string_view kRootPrefix = "enrtree-root:v1";
constexpr std::string_view kBranchPrefix = "enrtree-branch:";
constexpr std::string_view kLinkPrefix = "enrtree://";
constexpr std::string_view kEnrPrefix = "enr:";

int base32_value(char c) {
  if (c >= 'A' && c <= 'Z') {
    return c - 'A';
  }
  if (c >= 'a' && c <= 'z') {
    return c - 'a';
  }
  if (c >= '2' && c <= '7') {
    return c - '2' + 26;
  }
  return -1;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

bool valid_hash(std::string_view hash) {
  auto bytes = base32_decode(hash);
  return bytes && bytes->size() >= kMinHashBytes && bytes->size() <= 32;
}

// A domain name as DNS carries it: labels of 1..63 letters, digits, '-' or '_', 253 at most.
bool valid_domain(std::string_view d) {
  if (d.empty() || d.size() > 253 || d.front() == '.' || d.back() == '.') {
    return false;
  }
  std::size_t label = 0;
  for (char c : d) {
    if (c == '.') {
      if (label == 0) {
        return false;
      }
      label = 0;
      continue;
    }
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
      return false;
    }
    if (++label > 63) {
      return false;
    }
  }
  return true;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    const auto pos = s.find(sep, start);
    out.push_back(s.substr(start, pos == std::string_view::npos ? pos : pos - start));
    if (pos == std::string_view::npos) {
      return out;
    }
    start = pos + 1;
  }
}

}  // namespace

std::string_view to_string(TreeError e) {
  switch (e) {
    case TreeError::kBadUrl:
      return "bad enrtree URL";
    case TreeError::kBadPublicKey:
      return "bad public key";
    case TreeError::kBadRoot:
      return "bad root entry";
    case TreeError::kBadSignature:
      return "root signature does not verify";
    case TreeError::kSeqRollback:
      return "root seq went backwards";
    case TreeError::kBadEntry:
      return "unknown entry";
    case TreeError::kBadHash:
      return "bad hash";
    case TreeError::kHashMismatch:
      return "entry does not match its hash";
    case TreeError::kBadEnr:
      return "bad ENR";
    case TreeError::kWrongSubtree:
      return "entry in the wrong subtree";
    case TreeError::kTooDeep:
      return "tree too deep";
    case TreeError::kTooManyEntries:
      return "too many entries";
    case TreeError::kLookupFailed:
      return "TXT lookup failed";
  }
  return "?";
}

std::string base32_encode(ByteView in) {
  std::string out;
  out.reserve((in.size() * 8 + 4) / 5);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (std::uint8_t b : in) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out.push_back(kAlphabet[(buffer >> bits) & 31]);
    }
  }
  if (bits > 0) {
    out.push_back(kAlphabet[(buffer << (5 - bits)) & 31]);
  }
  return out;
}

std::optional<Bytes> base32_decode(std::string_view in) {
  // Lengths 1, 3 and 6 (mod 8) leave more than 4 or 7 unused bits: no byte string has them.
  const std::size_t tail = in.size() % 8;
  if (tail == 1 || tail == 3 || tail == 6) {
    return std::nullopt;
  }
  Bytes out;
  out.reserve(in.size() * 5 / 8);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : in) {
    const int v = base32_value(c);
    if (v < 0) {
      return std::nullopt;
    }
    buffer = (buffer << 5) | static_cast<std::uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>(buffer >> bits));
    }
  }
  if ((buffer & ((1u << bits) - 1)) != 0) {
    return std::nullopt;  // non-canonical: unused low bits set
  }
  return out;
}

std::string entry_hash(std::string_view text) {
  const Hash256 h = crypto::keccak256(as_bytes(text));
  return base32_encode(ByteView(h.data(), kHashBytes));
}

bool hash_matches(std::string_view hash, std::string_view text) {
  auto want = base32_decode(hash);
  if (!want || want->size() < kMinHashBytes || want->size() > 32) {
    return false;
  }
  const Hash256 h = crypto::keccak256(as_bytes(text));
  return std::equal(want->begin(), want->end(), h.begin());
}

Result<Link, TreeError> parse_url(std::string_view text) {
  if (!text.starts_with(kLinkPrefix)) {
    return tl::unexpected(TreeError::kBadUrl);
  }
  text.remove_prefix(kLinkPrefix.size());
  const auto at = text.find('@');
  if (at == std::string_view::npos || !valid_domain(text.substr(at + 1))) {
    return tl::unexpected(TreeError::kBadUrl);
  }
  auto key_bytes = base32_decode(text.substr(0, at));
  if (!key_bytes || key_bytes->size() != 33) {
    return tl::unexpected(TreeError::kBadPublicKey);
  }
  auto key = crypto::parse_public_key(*key_bytes);
  if (!key) {
    return tl::unexpected(TreeError::kBadPublicKey);
  }
  return Link{*key, std::string(text.substr(at + 1))};
}

std::string to_url(const Link& link) {
  const auto compressed = crypto::compress(link.public_key);
  return std::string(kLinkPrefix) + base32_encode(compressed) + "@" + link.domain;
}

Result<Root, TreeError> parse_root(std::string_view text) {
  const auto parts = split(text, ' ');
  if (parts.size() != 5 || parts[0] != kRootPrefix || !parts[1].starts_with("e=") ||
      !parts[2].starts_with("l=") || !parts[3].starts_with("seq=") ||
      !parts[4].starts_with("sig=")) {
    return tl::unexpected(TreeError::kBadRoot);
  }
  Root root;
  root.enr_root = upper(parts[1].substr(2));
  root.link_root = upper(parts[2].substr(2));
  if (!valid_hash(root.enr_root) || !valid_hash(root.link_root)) {
    return tl::unexpected(TreeError::kBadHash);
  }
  const auto seq = parts[3].substr(4);
  auto [ptr, ec] = std::from_chars(seq.data(), seq.data() + seq.size(), root.seq);
  if (seq.empty() || ec != std::errc() || ptr != seq.data() + seq.size()) {
    return tl::unexpected(TreeError::kBadRoot);
  }
  auto sig = base64::decode(parts[4].substr(4));
  if (!sig || sig->size() != root.signature.size()) {
    return tl::unexpected(TreeError::kBadSignature);
  }
  std::copy(sig->begin(), sig->end(), root.signature.begin());
  return root;
}

std::string root_signed_text(const Root& root) {
  return std::string(kRootPrefix) + " e=" + root.enr_root + " l=" + root.link_root +
         " seq=" + std::to_string(root.seq);
}

std::string to_text(const Root& root) {
  return root_signed_text(root) + " sig=" + base64::encode(root.signature);
}

bool verify_root(const Root& root, const crypto::PublicKey& key) {
  const Hash256 digest = crypto::keccak256(as_bytes(root_signed_text(root)));
  // r || s; the recovery byte adds nothing once the key is known.
  return crypto::verify(key, ByteView(root.signature.data(), 64), digest);
}

Result<Entry, TreeError> parse_entry(std::string_view text) {
  if (text.starts_with(kBranchPrefix)) {
    text.remove_prefix(kBranchPrefix.size());
    Branch branch;
    if (text.empty()) {
      return branch;  // an empty subtree (a list without links has one)
    }
    for (std::string_view h : split(text, ',')) {
      if (!valid_hash(h)) {
        return tl::unexpected(TreeError::kBadHash);
      }
      branch.children.push_back(upper(h));
    }
    return branch;
  }
  if (text.starts_with(kLinkPrefix)) {
    auto link = parse_url(text);
    if (!link) {
      return tl::unexpected(link.error());
    }
    return *link;
  }
  if (text.starts_with(kEnrPrefix)) {
    auto record = enr::parse_text(text);
    if (!record) {
      return tl::unexpected(TreeError::kBadEnr);
    }
    return *record;
  }
  return tl::unexpected(TreeError::kBadEntry);
}

// ---- building --------------------------------------------------------------------------

namespace {

// go-ethereum's recursive layout: returns the text of the subtree's top entry; every entry
// below it goes into `entries`.
std::string build_subtree(std::vector<std::string> texts,
                          std::map<std::string, std::string>& entries) {
  if (texts.size() == 1) {
    return std::move(texts.front());
  }
  if (texts.size() <= kMaxBranchChildren) {
    std::string b(kBranchPrefix);
    for (std::size_t i = 0; i < texts.size(); ++i) {
      std::string h = entry_hash(texts[i]);
      b.append(i == 0 ? "" : ",").append(h);
      entries[std::move(h)] = std::move(texts[i]);
    }
    return b;
  }
  std::vector<std::string> subtrees;
  for (std::size_t i = 0; i < texts.size(); i += kMaxBranchChildren) {
    const std::size_t end = std::min(texts.size(), i + kMaxBranchChildren);
    std::string sub = build_subtree(
        std::vector<std::string>(std::make_move_iterator(texts.begin() + static_cast<long>(i)),
                                 std::make_move_iterator(texts.begin() + static_cast<long>(end))),
        entries);
    entries[entry_hash(sub)] = sub;
    subtrees.push_back(std::move(sub));
  }
  return build_subtree(std::move(subtrees), entries);
}

std::string add_subtree(std::vector<std::string> texts,
                        std::map<std::string, std::string>& entries) {
  std::string top = build_subtree(std::move(texts), entries);
  std::string h = entry_hash(top);
  entries[h] = std::move(top);
  return h;
}

}  // namespace

std::map<std::string, std::string> Tree::txt(std::string_view domain) const {
  std::map<std::string, std::string> out;
  out[std::string(domain)] = to_text(root);
  for (const auto& [hash, text] : entries) {
    out[hash + "." + std::string(domain)] = text;
  }
  return out;
}

Tree make_tree(std::uint64_t seq, std::vector<enr::Record> records,
               const std::vector<Link>& links) {
  std::sort(records.begin(), records.end(),
            [](const enr::Record& a, const enr::Record& b) { return a.node_id() < b.node_id(); });
  std::vector<std::string> enr_texts;
  for (const enr::Record& r : records) {
    enr_texts.push_back(enr::to_text(r));
  }
  std::vector<std::string> link_texts;
  for (const Link& l : links) {
    link_texts.push_back(to_url(l));
  }
  Tree tree;
  tree.root.enr_root = add_subtree(std::move(enr_texts), tree.entries);
  tree.root.link_root = add_subtree(std::move(link_texts), tree.entries);
  tree.root.seq = seq;
  return tree;
}

void sign_tree(Tree& tree, const crypto::PrivateKey& key) {
  tree.root.signature =
      crypto::sign_recoverable(key, crypto::keccak256(as_bytes(root_signed_text(tree.root))));
}

std::string url_of(const crypto::PrivateKey& key, std::string_view domain) {
  return to_url(Link{*crypto::derive_public_key(key), std::string(domain)});
}

BuiltTree build_tree(const crypto::PrivateKey& key, std::string_view domain, std::uint64_t seq,
                     const std::vector<enr::Record>& records, const std::vector<Link>& links) {
  Tree tree = make_tree(seq, records, links);
  sign_tree(tree, key);
  BuiltTree out;
  out.records = tree.entries;
  out.records[""] = to_text(tree.root);
  out.url = url_of(key, domain);
  return out;
}

// ---- syncing ---------------------------------------------------------------------------

TreeSync::Outcome TreeSync::sync(const Link& url) {
  Outcome out;
  std::deque<Link> queue{url};
  std::set<std::string> reached;
  while (!queue.empty() && reached.size() < limits_.max_trees) {
    Link link = std::move(queue.front());
    queue.pop_front();
    if (!reached.insert(link.domain).second) {
      continue;  // a link cycle, or two links to one list
    }
    TreeState& state = trees_[link.domain];
    out.trees.push_back(sync_tree(link, state));
    out.records.insert(out.records.end(), state.records.begin(), state.records.end());
    for (const Link& next : state.links) {
      queue.push_back(next);
    }
  }
  // Trees no longer linked are forgotten (their entries too).
  std::erase_if(trees_, [&](const auto& kv) { return reached.count(kv.first) == 0; });
  return out;
}

TreeSync::TreeReport TreeSync::sync_tree(const Link& link, TreeState& state) {
  TreeReport report;
  report.domain = link.domain;
  auto fail = [&](TreeError e, std::string detail) {
    report.error = e;
    report.detail = std::move(detail);
    report.records = state.records.size();
    report.seq = state.root.seq;
    return report;
  };

  ++report.fetched;
  auto txts = lookup_(link.domain);
  if (!txts) {
    return fail(TreeError::kLookupFailed, link.domain + ": " + txts.error());
  }
  std::optional<Root> root;
  TreeError root_error = TreeError::kBadRoot;
  for (const std::string& t : *txts) {
    if (!t.starts_with(kRootPrefix)) {
      continue;
    }
    auto r = parse_root(t);
    if (!r) {
      root_error = r.error();
    } else if (!verify_root(*r, link.public_key)) {
      root_error = TreeError::kBadSignature;
    } else {
      root = *r;
      break;
    }
  }
  if (!root) {
    return fail(root_error, link.domain);
  }
  if (state.valid && root->seq < state.root.seq) {
    return fail(TreeError::kSeqRollback, link.domain + ": seq " + std::to_string(root->seq) +
                                             " < " + std::to_string(state.root.seq));
  }
  if (state.valid && *root == state.root) {
    report.seq = root->seq;
    report.records = state.records.size();
    report.root = state.root;
    report.links = state.links;
    return report;  // unchanged: keep everything
  }

  // Walk both subtrees. Known hashes come from the last sync's entries (content-addressed:
  // a verified text never changes), so only new entries cost a lookup.
  std::map<std::string, std::string> entries;
  std::vector<enr::Record> records;
  std::vector<Link> links;
  struct Pending {
    std::string hash;
    std::size_t depth;
    bool link_tree;
  };
  std::vector<Pending> stack{{root->link_root, 0, true}, {root->enr_root, 0, false}};
  std::set<std::string> visited;
  while (!stack.empty()) {
    Pending p = std::move(stack.back());
    stack.pop_back();
    // Keyed by subtree too: a hash named from both subtrees is checked in each.
    if (!visited.insert((p.link_tree ? "l:" : "e:") + p.hash).second) {
      continue;  // referenced twice: one walk is enough
    }
    if (p.depth > limits_.max_depth) {
      return fail(TreeError::kTooDeep, p.hash + "." + link.domain);
    }
    const std::string name = p.hash + "." + link.domain;
    std::string text;
    if (auto known = state.entries.find(p.hash); known != state.entries.end()) {
      text = known->second;
    } else {
      if (report.fetched >= limits_.max_entries) {
        return fail(TreeError::kTooManyEntries, name);
      }
      ++report.fetched;
      auto answer = lookup_(name);
      if (!answer) {
        return fail(TreeError::kLookupFailed, name + ": " + answer.error());
      }
      auto match = std::find_if(answer->begin(), answer->end(),
                                [&](const std::string& t) { return hash_matches(p.hash, t); });
      if (match == answer->end()) {
        return fail(TreeError::kHashMismatch, name);
      }
      text = *match;
    }
    auto entry = parse_entry(text);
    if (!entry) {
      return fail(entry.error(), name);
    }
    entries[p.hash] = text;
    if (auto* branch = std::get_if<Branch>(&*entry)) {
      for (auto it = branch->children.rbegin(); it != branch->children.rend(); ++it) {
        stack.push_back({*it, p.depth + 1, p.link_tree});
      }
    } else if (auto* l = std::get_if<Link>(&*entry)) {
      if (!p.link_tree) {
        return fail(TreeError::kWrongSubtree, name + ": link in the ENR subtree");
      }
      links.push_back(std::move(*l));
    } else {
      if (p.link_tree) {
        return fail(TreeError::kWrongSubtree, name + ": ENR in the link subtree");
      }
      records.push_back(std::get<enr::Record>(*entry));
    }
  }
  state.root = *root;
  state.valid = true;
  state.entries = std::move(entries);
  state.records = std::move(records);
  state.links = std::move(links);
  report.changed = true;
  report.seq = root->seq;
  report.records = state.records.size();
  report.root = state.root;
  report.links = state.links;
  return report;
}

}  // namespace discplane::control::enrtree
