// EIP-1459 trees: base32, the EIP's own example zone (hashes, key, root signature), trees we
// build and sign, and TreeSync against an in-memory resolver: signature failures, hash
// mismatches, link cycles, the entry/depth/tree limits and incremental resync.
#include "discplane/control/enrtree.h"

#include <map>
#include <set>
#include <string>

#include <catch2/catch.hpp>

#include "discplane/crypto/keccak.h"

using namespace discplane;
using namespace discplane::control;
using namespace discplane::control::enrtree;

namespace {

// The example zone of EIP-1459 (served under "n" in go-ethereum's client test, where the root
// is signed by the key of AKPYQIUQ...).
const char* kExampleUrl = "enrtree://AKPYQIUQIL7PSIACI32J7FGZW56E5FKHEFCCOFHILBIMW3M6LWXS2@n";
const std::map<std::string, std::string> kExampleZone = {
    {"n",
     "enrtree-root:v1 e=JWXYDBPXYWG6FX3GMDIBFA6CJ4 l=C7HRFPF3BLGF3YR4DY5KX3SMBE seq=1 "
     "sig=o908WmNp7LibOfPsr4btQwatZJ5URBr2ZAuxvK4UWHlsB9sUOTJQaGAlLPVAhM__XJesCHxLISo94z5Z2a463gA"},
    {"C7HRFPF3BLGF3YR4DY5KX3SMBE.n",
     "enrtree://AM5FCQLWIZX2QFPNJAP7VUERCCRNGRHWZG3YYHIUV7BVDQ5FDPRT2@morenodes.example.org"},
    {"JWXYDBPXYWG6FX3GMDIBFA6CJ4.n",
     "enrtree-branch:2XS2367YHAXJFGLZHVAWLQD4ZY,H4FHT4B454P6UXFD7JCYQ5PWDY,"
     "MHTDO6TMUBRIA2XWG5LUDACK24"},
    {"2XS2367YHAXJFGLZHVAWLQD4ZY.n",
     "enr:-HW4QOFzoVLaFJnNhbgMoDXPnOvcdVuj7pDpqRvh6BRDO68aVi5ZcjB3vzQRZH2IcLBGHzo8uUN3snqmgTiE56"
     "CH3AMBgmlkgnY0iXNlY3AyNTZrMaECC2_24YYkYHEgdzxlSNKQEnHhuNAbNlMlWJxrJxbAFvA"},
    {"H4FHT4B454P6UXFD7JCYQ5PWDY.n",
     "enr:-HW4QAggRauloj2SDLtIHN1XBkvhFZ1vtf1raYQp9TBW2RD5EEawDzbtSmlXUfnaHcvwOizhVYLtr7e6vw7NAf"
     "6mTuoCgmlkgnY0iXNlY3AyNTZrMaECjrXI8TLNXU0f8cthpAMxEshUyQlK-AM0PW2wfrnacNI"},
    {"MHTDO6TMUBRIA2XWG5LUDACK24.n",
     "enr:-HW4QLAYqmrwllBEnzWWs7I5Ev2IAs7x_dZlbYdRdMUx5EyKHDXp7AV5CkuPGUPdvbv1_Ms1CPfhcGCvSElSo"
     "sZmyoqAgmlkgnY0iXNlY3AyNTZrMaECriawHKWdDRk2xeZkrOXBQ0dfMFLHY4eENZwdufn1S1o"},
};

// An in-memory zone: full name -> TXT strings; counts lookups.
struct Zone {
  std::map<std::string, std::vector<std::string>> names;
  std::size_t lookups = 0;

  void add(const std::string& domain, const BuiltTree& tree) {
    for (const auto& [name, text] : tree.records) {
      names[name.empty() ? domain : name + "." + domain] = {text};
    }
  }
  TxtLookup lookup() {
    return [this](const std::string& name) -> Result<std::vector<std::string>, std::string> {
      ++lookups;
      auto it = names.find(name);
      if (it == names.end()) {
        return tl::unexpected(std::string("not found"));
      }
      return it->second;
    };
  }
};

crypto::PrivateKey key_of(std::uint8_t n) {
  crypto::PrivateKey k{};
  k[0] = 0x42;
  k[31] = n;
  return k;
}

// A node record with an IPv4 UDP endpoint, signed by key_of(100 + i).
enr::Record node(std::uint8_t i, std::uint64_t seq = 1) {
  enr::Builder b;
  b.set_seq(seq).set_ip(IpAddress::v4(127, 0, 0, 1)).set_udp(static_cast<std::uint16_t>(30000 + i));
  auto r = b.sign(key_of(static_cast<std::uint8_t>(100 + i)));
  REQUIRE(r.has_value());
  return *r;
}

std::vector<enr::Record> nodes(std::uint8_t from, std::uint8_t count) {
  std::vector<enr::Record> out;
  for (std::uint8_t i = 0; i < count; ++i) {
    out.push_back(node(static_cast<std::uint8_t>(from + i)));
  }
  return out;
}

Link link_of(const BuiltTree& tree) {
  return *parse_url(tree.url);
}

std::set<NodeId> ids(const std::vector<enr::Record>& records) {
  std::set<NodeId> out;
  for (const auto& r : records) {
    out.insert(r.node_id());
  }
  return out;
}

}  // namespace

TEST_CASE("base32: RFC 4648 vectors without padding, strict decoding", "[control][enrtree]") {
  CHECK(base32_encode(as_bytes("")) == "");
  CHECK(base32_encode(as_bytes("f")) == "MY");
  CHECK(base32_encode(as_bytes("fo")) == "MZXQ");
  CHECK(base32_encode(as_bytes("foo")) == "MZXW6");
  CHECK(base32_encode(as_bytes("foob")) == "MZXW6YQ");
  CHECK(base32_encode(as_bytes("fooba")) == "MZXW6YTB");
  CHECK(base32_encode(as_bytes("foobar")) == "MZXW6YTBOI");
  CHECK(base32_decode("MZXW6YTBOI") == Bytes{'f', 'o', 'o', 'b', 'a', 'r'});
  CHECK(base32_decode("mzxw6ytboi") == Bytes{'f', 'o', 'o', 'b', 'a', 'r'});  // DNS lower case
  CHECK_FALSE(base32_decode("MZXW6YTBOI======").has_value());                 // padding
  CHECK_FALSE(base32_decode("MZXW6YTB0I").has_value());  // '0' is not in the alphabet
  CHECK(base32_decode("MY") == Bytes{'f'});
  CHECK_FALSE(base32_decode("MZ").has_value());   // unused low bits set: not canonical
  CHECK_FALSE(base32_decode("MZX").has_value());  // length 3 (mod 8) is impossible
  CHECK_FALSE(base32_decode("M").has_value());    // length 1 too
}

TEST_CASE("EIP-1459 example: hashes, URL key and root signature", "[control][enrtree]") {
  for (const auto& [name, text] : kExampleZone) {
    if (name == "n") {
      continue;
    }
    INFO(name);
    CHECK(entry_hash(text) + ".n" == name);
    CHECK(hash_matches(name.substr(0, 26), text));
  }
  // (The EIP's prose prints a different hex key for this URL; the decoding is checked by the
  // root signature below, which verifies only under the key decoded from kExampleUrl.)
  auto link = parse_url(
      "enrtree://AM5FCQLWIZX2QFPNJAP7VUERCCRNGRHWZG3YYHIUV7BVDQ5FDPRT2@nodes.example.org");
  REQUIRE(link.has_value());
  CHECK(link->domain == "nodes.example.org");
  const Bytes compressed = *base32_decode("AM5FCQLWIZX2QFPNJAP7VUERCCRNGRHWZG3YYHIUV7BVDQ5FDPRT2");
  CHECK(equal(ByteView(compressed).subspan(1), ByteView(link->public_key).first(32)));
  CHECK(to_url(*link) ==
        "enrtree://AM5FCQLWIZX2QFPNJAP7VUERCCRNGRHWZG3YYHIUV7BVDQ5FDPRT2@nodes.example.org");

  auto root = parse_root(kExampleZone.at("n"));
  REQUIRE(root.has_value());
  CHECK(root->enr_root == "JWXYDBPXYWG6FX3GMDIBFA6CJ4");
  CHECK(root->link_root == "C7HRFPF3BLGF3YR4DY5KX3SMBE");
  CHECK(root->seq == 1);
  CHECK(to_text(*root) == kExampleZone.at("n"));
  auto signer = parse_url(kExampleUrl);
  REQUIRE(signer.has_value());
  CHECK(verify_root(*root, signer->public_key));
  CHECK_FALSE(verify_root(*root, link->public_key));  // another key
  Root bumped = *root;
  bumped.seq = 2;  // a replayed signature on a changed root
  CHECK_FALSE(verify_root(bumped, signer->public_key));

  auto branch = parse_entry(kExampleZone.at("JWXYDBPXYWG6FX3GMDIBFA6CJ4.n"));
  REQUIRE(branch.has_value());
  CHECK(std::get<Branch>(*branch).children.size() == 3);
  auto leaf = parse_entry(kExampleZone.at("2XS2367YHAXJFGLZHVAWLQD4ZY.n"));
  REQUIRE(leaf.has_value());
  CHECK(std::holds_alternative<enr::Record>(*leaf));
}

TEST_CASE("entries and roots: malformed input is rejected", "[control][enrtree]") {
  CHECK(parse_entry("enrtree-branch:").has_value());                         // empty subtree
  CHECK(parse_entry("enrtree-branch:AAAA").error() == TreeError::kBadHash);  // too short
  CHECK(parse_entry("enrtree-branch:JWXYDBPXYWG6FX3GMDIBFA6CJ4,").error() == TreeError::kBadHash);
  CHECK(parse_entry("enrtree=JWXYDBPXYWG6FX3GMDIBFA6CJ4").error() == TreeError::kBadEntry);
  CHECK(parse_entry("enr:-HW4QOFzoVLaFJ").error() == TreeError::kBadEnr);
  CHECK(parse_entry("hello").error() == TreeError::kBadEntry);
  CHECK(parse_url("enrtree://AM5FCQLW@x.org").error() == TreeError::kBadPublicKey);
  CHECK(parse_url("enrtree://nokey").error() == TreeError::kBadUrl);
  CHECK(parse_url("enrtree://AM5FCQLWIZX2QFPNJAP7VUERCCRNGRHWZG3YYHIUV7BVDQ5FDPRT2@bad..name")
            .error() == TreeError::kBadUrl);
  const std::string root = kExampleZone.at("n");
  CHECK(parse_root(root.substr(0, root.size() - 2)).error() == TreeError::kBadSignature);
  CHECK(parse_root("enrtree-root:v2" + root.substr(15)).error() == TreeError::kBadRoot);
  CHECK(parse_root(root + " extra=1").error() == TreeError::kBadRoot);
  std::string bad_seq = root;
  bad_seq.replace(bad_seq.find("seq=1"), 5, "seq=x");
  CHECK(parse_root(bad_seq).error() == TreeError::kBadRoot);
}

TEST_CASE("TreeSync: the EIP example tree, its dead link reported", "[control][enrtree]") {
  Zone zone;
  for (const auto& [name, text] : kExampleZone) {
    zone.names[name] = {text};
  }
  TreeSync sync(zone.lookup(), Limits{});
  auto out = sync.sync(*parse_url(kExampleUrl));
  CHECK(out.records.size() == 3);
  REQUIRE(out.trees.size() == 2);
  CHECK_FALSE(out.trees[0].error.has_value());
  CHECK(out.trees[0].seq == 1);
  CHECK(out.trees[0].fetched == 6);  // root, 2 branches... 1 link branch entry, 3 leaves
  CHECK(out.trees[1].domain == "morenodes.example.org");
  CHECK(out.trees[1].error == TreeError::kLookupFailed);
}

TEST_CASE("TreeSync: a built tree of many nodes with links round-trips", "[control][enrtree]") {
  const auto key = key_of(1);
  const auto list_a = nodes(0, 40);  // 40 leaves: two levels of branches
  const auto list_b = nodes(40, 5);
  BuiltTree b = build_tree(key_of(2), "b.example", 3, list_b, {});
  BuiltTree a = build_tree(key, "a.example", 7, list_a, {link_of(b)});
  for (const auto& [name, text] : a.records) {
    CHECK(text.size() <= 500);  // fits one UDP answer, as the EIP asks
  }
  Zone zone;
  zone.add("a.example", a);
  zone.add("b.example", b);
  TreeSync sync(zone.lookup(), Limits{});
  auto out = sync.sync(link_of(a));
  REQUIRE(out.trees.size() == 2);
  CHECK_FALSE(out.trees[0].error.has_value());
  CHECK_FALSE(out.trees[1].error.has_value());
  CHECK(out.trees[0].seq == 7);
  CHECK(out.trees[0].records == 40);
  CHECK(out.trees[0].fetched == a.records.size());
  std::vector<enr::Record> all = list_a;
  all.insert(all.end(), list_b.begin(), list_b.end());
  CHECK(ids(out.records) == ids(all));
}

TEST_CASE("TreeSync: signature failure and hash mismatch fail the tree", "[control][enrtree]") {
  const auto list = nodes(0, 4);
  BuiltTree tree = build_tree(key_of(1), "t.example", 1, list, {});

  SECTION("root signed by another key") {
    BuiltTree other = build_tree(key_of(9), "t.example", 1, list, {});
    Zone zone;
    zone.add("t.example", other);
    TreeSync sync(zone.lookup(), Limits{});
    auto out = sync.sync(link_of(tree));
    CHECK(out.trees[0].error == TreeError::kBadSignature);
    CHECK(out.records.empty());
    CHECK(zone.lookups == 1);  // nothing below an unverified root is fetched
  }
  SECTION("a leaf replaced by another valid ENR") {
    Zone zone;
    zone.add("t.example", tree);
    const std::string leaf = entry_hash(enr::to_text(list[2])) + ".t.example";
    REQUIRE(zone.names.count(leaf) == 1);
    zone.names[leaf] = {enr::to_text(node(77))};
    TreeSync sync(zone.lookup(), Limits{});
    auto out = sync.sync(link_of(tree));
    CHECK(out.trees[0].error == TreeError::kHashMismatch);
    CHECK(out.trees[0].detail == leaf);
    CHECK(out.records.empty());
  }
  SECTION("the right entry among several TXT strings is picked") {
    Zone zone;
    zone.add("t.example", tree);
    const std::string leaf = entry_hash(enr::to_text(list[2])) + ".t.example";
    zone.names[leaf].insert(zone.names[leaf].begin(), "v=spf1 -all");
    TreeSync sync(zone.lookup(), Limits{});
    CHECK(sync.sync(link_of(tree)).records.size() == 4);
  }
  SECTION("an ENR in the link subtree") {
    // Sign a root whose link root names an ENR leaf.
    Zone zone;
    zone.add("t.example", tree);
    Root root = *parse_root(tree.records.at(""));
    root.link_root = entry_hash(enr::to_text(list[0]));
    root.signature =
        crypto::sign_recoverable(key_of(1), crypto::keccak256(as_bytes(root_signed_text(root))));
    zone.names["t.example"] = {to_text(root)};
    TreeSync sync(zone.lookup(), Limits{});
    CHECK(sync.sync(link_of(tree)).trees[0].error == TreeError::kWrongSubtree);
  }
}

TEST_CASE("TreeSync: link cycles and shared entries are walked once", "[control][enrtree]") {
  // a links to b, b links back to a: the domains are named before the keys sign them, so a
  // cycle only needs both URLs known up front.
  Link a_url{*crypto::derive_public_key(key_of(1)), "a.example"};
  Link b_url{*crypto::derive_public_key(key_of(2)), "b.example"};
  BuiltTree a = build_tree(key_of(1), "a.example", 1, nodes(0, 3), {b_url, b_url});
  BuiltTree b = build_tree(key_of(2), "b.example", 1, nodes(3, 3), {a_url});
  Zone zone;
  zone.add("a.example", a);
  zone.add("b.example", b);
  TreeSync sync(zone.lookup(), Limits{});
  auto out = sync.sync(a_url);
  REQUIRE(out.trees.size() == 2);
  CHECK(out.records.size() == 6);
  // Every entry of both trees once: a's two identical links are one entry, and b's link back
  // to a is not followed again.
  CHECK(zone.lookups == a.records.size() + b.records.size());

  // The same hash twice in one branch.
  const std::string leaf = enr::to_text(node(50));
  const std::string h = entry_hash(leaf);
  const std::string branch = "enrtree-branch:" + h + "," + h;
  Root root;
  root.enr_root = entry_hash(branch);
  root.link_root = entry_hash("enrtree-branch:");
  root.seq = 1;
  root.signature =
      crypto::sign_recoverable(key_of(3), crypto::keccak256(as_bytes(root_signed_text(root))));
  Zone dup;
  dup.names["d.example"] = {to_text(root)};
  dup.names[root.enr_root + ".d.example"] = {branch};
  dup.names[root.link_root + ".d.example"] = {"enrtree-branch:"};
  dup.names[h + ".d.example"] = {leaf};
  TreeSync sync2(dup.lookup(), Limits{});
  auto out2 = sync2.sync(Link{*crypto::derive_public_key(key_of(3)), "d.example"});
  CHECK_FALSE(out2.trees[0].error.has_value());
  CHECK(out2.records.size() == 1);
  CHECK(dup.lookups == 4);
}

TEST_CASE("TreeSync: entry, depth and tree limits", "[control][enrtree]") {
  BuiltTree tree = build_tree(key_of(1), "t.example", 1, nodes(0, 40), {});
  Zone zone;
  zone.add("t.example", tree);

  Limits few;
  few.max_entries = 10;
  TreeSync capped(zone.lookup(), few);
  auto out = capped.sync(link_of(tree));
  CHECK(out.trees[0].error == TreeError::kTooManyEntries);
  CHECK(zone.lookups == 10);

  Limits shallow;
  shallow.max_depth = 1;  // 40 leaves sit at depth 2 (root branch -> branch -> leaf)
  TreeSync flat(zone.lookup(), shallow);
  CHECK(flat.sync(link_of(tree)).trees[0].error == TreeError::kTooDeep);

  // A chain of links: only max_trees lists are synced.
  Zone chain;
  std::vector<Link> urls;
  const char* domains[] = {"l0.example", "l1.example", "l2.example",
                           "l3.example", "l4.example", "l5.example"};
  for (std::uint8_t i = 0; i < 6; ++i) {
    urls.push_back(Link{*crypto::derive_public_key(key_of(10 + i)), domains[i]});
  }
  for (std::uint8_t i = 0; i < 6; ++i) {
    std::vector<Link> next;
    if (i + 1 < 6) {
      next.push_back(urls[i + 1]);
    }
    chain.add(urls[i].domain, build_tree(key_of(10 + i), urls[i].domain, 1, nodes(i * 2, 2), next));
  }
  Limits three;
  three.max_trees = 3;
  TreeSync linked(chain.lookup(), three);
  auto chained = linked.sync(urls[0]);
  CHECK(chained.trees.size() == 3);
  CHECK(chained.records.size() == 6);
}

TEST_CASE("TreeSync: resync keeps an unchanged tree, fetches only changed entries",
          "[control][enrtree]") {
  auto list = nodes(0, 40);
  BuiltTree v1 = build_tree(key_of(1), "t.example", 1, list, {});
  Zone zone;
  zone.add("t.example", v1);
  TreeSync sync(zone.lookup(), Limits{});
  REQUIRE(sync.sync(link_of(v1)).records.size() == 40);
  const std::size_t first = zone.lookups;

  // Same root: one lookup, same records, not changed.
  auto again = sync.sync(link_of(v1));
  CHECK(zone.lookups == first + 1);
  CHECK(again.records.size() == 40);
  CHECK_FALSE(again.trees[0].changed);

  // One record updated (new seq of the node) and seq 2: root + the branches above it + leaf.
  list[5] = node(5, 2);
  BuiltTree v2 = build_tree(key_of(1), "t.example", 2, list, {});
  zone.names.clear();
  zone.add("t.example", v2);
  zone.lookups = 0;
  auto updated = sync.sync(link_of(v2));
  CHECK(updated.trees[0].changed);
  CHECK(updated.trees[0].seq == 2);
  CHECK(zone.lookups == 4);  // root, top branch, its changed child branch, the new leaf
  bool found = false;
  for (const auto& r : updated.records) {
    found |= r.node_id() == list[5].node_id() && r.seq() == 2;
  }
  CHECK(found);

  // An older signed root is a replay: refused, the last good records stay.
  zone.names.clear();
  zone.add("t.example", v1);
  auto replay = sync.sync(link_of(v1));
  CHECK(replay.trees[0].error == TreeError::kSeqRollback);
  CHECK(replay.records.size() == 40);
  CHECK(replay.trees[0].seq == 2);
}

TEST_CASE("make_tree rebuilds the EIP example tree hash for hash", "[control][enrtree]") {
  // The EIP's example list (also go-ethereum's client test) was made by geth's MakeTree: its
  // three records under one branch in node-id order, and the lone link as the link subtree's
  // root itself. Our builder must give the same names, or a tree signed by one tool would not
  // verify on the other's rebuild.
  std::vector<enr::Record> records;
  for (const char* name : {"MHTDO6TMUBRIA2XWG5LUDACK24.n", "2XS2367YHAXJFGLZHVAWLQD4ZY.n",
                           "H4FHT4B454P6UXFD7JCYQ5PWDY.n"}) {
    auto r = enr::parse_text(kExampleZone.at(name));
    REQUIRE(r.has_value());
    records.push_back(*r);
  }
  auto link = parse_url(kExampleZone.at("C7HRFPF3BLGF3YR4DY5KX3SMBE.n"));
  REQUIRE(link.has_value());
  const Tree t = make_tree(1, records, {*link});
  CHECK(t.root.enr_root == "JWXYDBPXYWG6FX3GMDIBFA6CJ4");
  CHECK(t.root.link_root == "C7HRFPF3BLGF3YR4DY5KX3SMBE");
  CHECK(t.entries.at("JWXYDBPXYWG6FX3GMDIBFA6CJ4") ==
        kExampleZone.at("JWXYDBPXYWG6FX3GMDIBFA6CJ4.n"));
  // The example root's signature verifies on the rebuilt root.
  Root root = t.root;
  root.signature = parse_root(kExampleZone.at("n"))->signature;
  CHECK(verify_root(root, parse_url(kExampleUrl)->public_key));
  CHECK(t.txt("n").size() == kExampleZone.size());
  for (const auto& [name, text] : t.txt("n")) {
    if (name != "n") {
      CHECK(kExampleZone.at(name) == text);
    }
  }
}
