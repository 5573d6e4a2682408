// Documentation true to the code: every configuration key that README.md, docs/*.md and the
// comments of conf/*.yaml name must be known to the loader, and every default they quote next
// to a key must be the loader's. The loader itself is the judge (parse_config() of a one-key
// document; Config's defaults), so keys added later are covered without touching this file.
//
// What counts as a key reference (docs/DEVELOPING.md, "Documentation and config keys"):
//   - Markdown: a `code span` that is a dotted name whose first part is a section of the
//     config (`discv5.max_sessions`, `timers.revalidate_interval.discv5`; a nested section
//     alone is resolved: `dpdk.eal_args`), optionally followed by ": value"; or a span
//     "name: value" whose name is not dotted (`workers: 2`, `steering: auto`): the name must
//     be a key somewhere in the config (only when the value is one word or a [list]/{map}:
//     `shards: a test name` is prose). File names (`.md`, `.cc`, ...) are not references.
//     Fenced ```yaml blocks: every key in them.
//   - conf/*.yaml comments: dotted names as above, without backticks.
//   - A default: "default V" (or "defaults to V", "default: V") with V a number, duration or
//     true/false, in the same sentence as a key reference, belongs to the nearest reference
//     before it (else the first after it). "5/s", "2048 B", "100 ms", "5 min" are read as 5,
//     2048, 100ms, 5m.
//   - A name that looks like a key but is not one (a log line, another program's option) is
//     listed in a marker in the same file: <!-- config-keys: ignore NAME ... --> in Markdown,
//     "# config-keys: ignore NAME ..." in YAML. A marker that matches nothing, or names a key
//     the loader knows, is an error (so a marker for a key not merged yet fails once it is).
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <yaml-cpp/yaml.h>

#include "discplane/control/config.h"

using namespace discplane::control;

namespace {

const std::filesystem::path kSourceDir = DP_SOURCE_DIR;

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The config's shape, from conf/discplane.yaml (which lists every option: config_test.cc).
struct Shape {
  std::set<std::string> roots;                               // top-level keys
  std::map<std::string, std::vector<std::string>> sections;  // nested mapping name -> paths
  std::set<std::string> names;                               // every key name, any depth

  static Shape load() {
    Shape s;
    const YAML::Node root = YAML::LoadFile((kSourceDir / "conf" / "discplane.yaml").string());
    s.walk(root, "");
    return s;
  }

 private:
  void walk(const YAML::Node& node, const std::string& prefix) {
    for (const auto& kv : node) {
      const std::string name = kv.first.Scalar();
      const std::string path = prefix.empty() ? name : prefix + "." + name;
      names.insert(name);
      if (prefix.empty()) {
        roots.insert(name);
      }
      if (kv.second.IsMap()) {
        if (!prefix.empty()) {
          sections[name].push_back(path);
        }
        walk(kv.second, path);
      }
    }
  }
};

// A one-key document: "a:\n  b:\n    c: value\n".
std::string document_for(const std::string& key, const std::string& value) {
  std::string out;
  std::string indent;
  std::size_t start = 0;
  while (true) {
    const auto dot = key.find('.', start);
    const std::string part = key.substr(start, dot == std::string::npos ? dot : dot - start);
    if (dot == std::string::npos) {
      out += indent + part + ": " + value + "\n";
      return out;
    }
    out += indent + part + ":\n";
    indent += "  ";
    start = dot + 1;
  }
}

bool loader_knows(const std::string& key) {
  auto loaded = parse_config(document_for(key, "null"), "<docs>");
  return loaded || loaded.error().message.rfind("unknown key", 0) != 0;
}

// Empty: `value` written for `key` gives the loader's defaults. Else what differs.
std::optional<std::string> default_mismatch(const std::string& key, const std::string& value) {
  static const Config defaults = *parse_config("", "<defaults>");
  auto loaded = parse_config(document_for(key, value), "<docs>");
  if (!loaded) {
    return "the loader refuses " + value + ": " + loaded.error().to_string();
  }
  if (!(*loaded == defaults)) {
    return "the loader's default is not " + value;
  }
  return std::nullopt;
}

struct Ref {
  std::size_t pos = 0;  // in the text it was found in
  std::string key;      // full dotted path
};
struct Quote {
  std::size_t pos = 0;
  std::string value;  // as YAML
};

bool is_key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

// A dotted name "a.b[.c...]" of lowercase parts.
bool is_dotted_name(const std::string& s) {
  if (s.empty() || !(s[0] >= 'a' && s[0] <= 'z') || s.find('.') == std::string::npos ||
      s.back() == '.' || s.find("..") != std::string::npos) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) { return is_key_char(c) || c == '.'; });
}
bool is_plain_name(const std::string& s) {
  return !s.empty() && s[0] >= 'a' && s[0] <= 'z' && std::all_of(s.begin(), s.end(), is_key_char);
}
bool is_file_name(const std::string& s) {
  static const char* const kExtensions[] = {".md",  ".cc",   ".h",       ".json", ".yaml",
                                            ".yml", ".txt",  ".sh",      ".mjs",  ".js",
                                            ".py",  ".conf", ".service", ".bin",  ".go"};
  return std::any_of(std::begin(kExtensions), std::end(kExtensions), [&](const char* ext) {
    const std::string e(ext);
    return s.size() > e.size() && s.compare(s.size() - e.size(), e.size(), e) == 0;
  });
}

// Reads "default V" at every occurrence in `text`; V as YAML (numbers, durations, booleans).
std::vector<Quote> find_defaults(const std::string& text) {
  std::vector<Quote> out;
  std::string lower = text;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (std::size_t at = lower.find("default"); at != std::string::npos;
       at = lower.find("default", at + 1)) {
    if (at > 0 && is_key_char(lower[at - 1])) {
      continue;
    }
    std::size_t i = at + 7;
    for (const char* filler : {"s to", ":", " is", " of", " ="}) {
      const std::string f(filler);
      if (lower.compare(i, f.size(), f) == 0) {
        i += f.size();
        break;
      }
    }
    while (i < lower.size() && (lower[i] == ' ' || lower[i] == '`')) {
      ++i;
    }
    std::string value;
    for (const char* word : {"true", "false"}) {
      const std::string w(word);
      if (lower.compare(i, w.size(), w) == 0 &&
          (i + w.size() == lower.size() || !is_key_char(lower[i + w.size()]))) {
        value = w;
      }
    }
    if (value.empty() && i < lower.size() && std::isdigit(static_cast<unsigned char>(lower[i]))) {
      while (i < lower.size() && (std::isdigit(static_cast<unsigned char>(lower[i])) ||
                                  lower[i] == ',' || lower[i] == '.')) {
        if (lower[i] != ',') {
          value += lower[i];
        }
        ++i;
      }
      while (!value.empty() && value.back() == '.') {
        value.pop_back();
      }
      // A duration unit, joined or after one space ("30s", "100 ms", "5 min", "1h30m").
      std::size_t u = i < lower.size() && lower[i] == ' ' ? i + 1 : i;
      std::size_t end = u;
      while (end < lower.size() && std::isalnum(static_cast<unsigned char>(lower[end]))) {
        ++end;
      }
      const std::string unit = lower.substr(u, end - u);
      const bool duration = !unit.empty() && std::all_of(unit.begin(), unit.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c)) || c == 'm' || c == 's' || c == 'h';
      });
      if (unit == "min") {
        value += "m";
      } else if (duration &&
                 (u == i || unit == "ms" || unit == "s" || unit == "m" || unit == "h")) {
        value += unit;
      }
    }
    if (!value.empty()) {
      out.push_back({at, value});
    }
  }
  return out;
}

struct Finding {
  std::string where;  // file:line
  std::string what;
};

class DocChecker {
 public:
  explicit DocChecker(Shape shape) : shape_(std::move(shape)) {}

  // Resolves a dotted name to a full key path; nullopt when it is not a key reference.
  std::optional<std::string> resolve(const std::string& name) const {
    if (!is_dotted_name(name) || is_file_name(name)) {
      return std::nullopt;
    }
    const std::string first = name.substr(0, name.find('.'));
    if (shape_.roots.count(first) != 0) {
      return name;
    }
    if (auto it = shape_.sections.find(first); it != shape_.sections.end()) {
      if (it->second.size() == 1) {
        const std::string& path = it->second.front();
        return path.substr(0, path.size() - first.size()) + name;
      }
    }
    return std::nullopt;
  }

  void check_markdown(const std::string& file, const std::string& text) {
    const auto ignores = read_ignores(text, "<!-- config-keys: ignore");
    std::set<std::string> used;
    std::istringstream lines(text);
    std::string line;
    int number = 0;
    // A paragraph: consecutive lines; a blank line, a list item or a table row starts anew.
    std::string paragraph;
    std::vector<int> line_of;  // paragraph offset -> line
    std::string fence;         // info string of the open ``` block ("" when outside)
    bool in_fence = false;
    std::string yaml_block;
    int yaml_line = 0;
    auto flush = [&] {
      check_prose(file, paragraph, line_of, ignores, used);
      paragraph.clear();
      line_of.clear();
    };
    while (std::getline(lines, line)) {
      ++number;
      if (line.rfind("```", 0) == 0) {
        flush();
        if (!in_fence) {
          in_fence = true;
          fence = line.substr(3);
          yaml_block.clear();
          yaml_line = number + 1;
        } else {
          in_fence = false;
          if (fence == "yaml") {
            check_yaml_block(file, yaml_line, yaml_block, ignores, used);
          }
        }
        continue;
      }
      if (in_fence) {
        yaml_block += line + "\n";
        continue;
      }
      const auto first = line.find_first_not_of(' ');
      const bool starts_item =
          first != std::string::npos &&
          (line[first] == '|' || line.compare(first, 2, "- ") == 0 || line[first] == '#');
      if (first == std::string::npos || starts_item) {
        flush();
      }
      if (first != std::string::npos) {
        line_of.resize(paragraph.size() + line.size() + 1, number);
        paragraph += line + " ";
      }
    }
    flush();
    report_unused(file, ignores, used);
  }

  void check_yaml_comments(const std::string& file, const std::string& text) {
    const auto ignores = read_ignores(text, "# config-keys: ignore");
    std::set<std::string> used;
    std::istringstream lines(text);
    std::string line;
    int number = 0;
    while (std::getline(lines, line)) {
      ++number;
      const auto hash = comment_start(line);
      if (hash == std::string::npos) {
        continue;
      }
      const std::string comment = line.substr(hash + 1);
      std::vector<Ref> refs;
      for (std::size_t i = 0; i < comment.size();) {
        if (!(comment[i] >= 'a' && comment[i] <= 'z') ||
            (i > 0 && (is_key_char(comment[i - 1]) || comment[i - 1] == '/' ||
                       comment[i - 1] == '-' || comment[i - 1] == '.'))) {
          ++i;
          continue;
        }
        std::size_t end = i;
        while (end < comment.size() && (is_key_char(comment[end]) || comment[end] == '.')) {
          ++end;
        }
        std::string word = comment.substr(i, end - i);
        while (!word.empty() && word.back() == '.') {
          word.pop_back();
        }
        const bool followed_by_path =
            end < comment.size() && (comment[end] == '/' || comment[end] == '-');
        if (!followed_by_path) {
          note_ref(file + ":" + std::to_string(number), i, word, ignores, used, refs);
        }
        i = end;
      }
      check_defaults(file + ":" + std::to_string(number), comment, refs);
    }
    report_unused(file, ignores, used);
  }

  const std::vector<Finding>& findings() const { return findings_; }
  std::size_t references() const { return references_; }
  std::size_t defaults_checked() const { return defaults_checked_; }

 private:
  static std::size_t comment_start(const std::string& line) {
    bool in_single = false;
    bool in_double = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
      const char c = line[i];
      if (c == '\'' && !in_double) {
        in_single = !in_single;
      } else if (c == '"' && !in_single) {
        in_double = !in_double;
      } else if (c == '#' && !in_single && !in_double && (i == 0 || line[i - 1] == ' ')) {
        return i;
      }
    }
    return std::string::npos;
  }

  static std::set<std::string> read_ignores(const std::string& text, const std::string& marker) {
    std::set<std::string> out;
    for (std::size_t at = text.find(marker); at != std::string::npos;
         at = text.find(marker, at + 1)) {
      const auto end = text.find_first_of(marker[0] == '<' ? ">" : "\n", at);
      std::istringstream words(text.substr(at + marker.size(), end - at - marker.size()));
      std::string word;
      while (words >> word) {
        if (word != "--" && word != "-->") {
          out.insert(word);
        }
      }
    }
    return out;
  }

  void report_unused(const std::string& file, const std::set<std::string>& ignores,
                     const std::set<std::string>& used) {
    for (const auto& name : ignores) {
      if (used.count(name) == 0) {
        findings_.push_back({file, "config-keys ignore marker names \"" + name +
                                       "\", which the file does not use: remove it"});
      }
    }
  }

  // One name found in the text: checked if it is a key reference, unless ignored.
  void note_ref(const std::string& where, std::size_t pos, const std::string& name,
                const std::set<std::string>& ignores, std::set<std::string>& used,
                std::vector<Ref>& refs) {
    if (ignores.count(name) != 0) {
      used.insert(name);
      if (auto key = resolve(name); key && loader_knows(*key)) {
        findings_.push_back({where, "`" + name +
                                        "` is a key the loader knows: remove it from the "
                                        "config-keys ignore marker"});
      }
      return;
    }
    auto key = resolve(name);
    if (!key) {
      return;
    }
    ++references_;
    if (!loader_knows(*key)) {
      findings_.push_back({where, "`" + name + "` is not a key the loader knows"});
      return;
    }
    refs.push_back({pos, *key});
  }

  void check_prose(const std::string& file, const std::string& text,
                   const std::vector<int>& line_of, const std::set<std::string>& ignores,
                   std::set<std::string>& used) {
    if (text.empty()) {
      return;
    }
    auto where = [&](std::size_t pos) {
      return file + ":" + std::to_string(line_of[std::min(pos, line_of.size() - 1)]);
    };
    std::vector<Ref> refs;
    for (std::size_t open = text.find('`'); open != std::string::npos;) {
      const auto close = text.find('`', open + 1);
      if (close == std::string::npos) {
        break;
      }
      const std::string span = text.substr(open + 1, close - open - 1);
      const auto colon = span.find(": ");
      const std::string name = colon == std::string::npos ? span : span.substr(0, colon);
      const std::string value = colon == std::string::npos ? "" : span.substr(colon + 2);
      const bool yaml_like = value.find(' ') == std::string::npos || value[0] == '[' ||
                             value[0] == '{' || value[0] == '"';
      if (colon != std::string::npos && is_plain_name(name) && !yaml_like) {
        // Prose after a colon (a log line, a test name): not a key reference.
      } else if (colon != std::string::npos && is_plain_name(name)) {
        // "name: value": the name must be a key somewhere.
        if (ignores.count(name) != 0) {
          used.insert(name);
        } else {
          ++references_;
          if (shape_.names.count(name) == 0) {
            findings_.push_back({where(open), "`" + span + "`: \"" + name +
                                                  "\" is not a key of the configuration"});
          }
        }
      } else {
        note_ref(where(open), open, name, ignores, used, refs);
      }
      open = text.find('`', close + 1);
    }
    check_defaults_in_sentences(text, refs, where);
  }

  template <class Where>
  void check_defaults_in_sentences(const std::string& text, const std::vector<Ref>& refs,
                                   const Where& where) {
    if (refs.empty()) {
      return;
    }
    // Sentences end at ". " and table cell borders.
    std::vector<std::size_t> ends;
    for (std::size_t i = 0; i + 1 < text.size(); ++i) {
      if ((text[i] == '.' && text[i + 1] == ' ') || text[i] == '|') {
        ends.push_back(i);
      }
    }
    ends.push_back(text.size());
    auto sentence_of = [&](std::size_t pos) {
      return std::lower_bound(ends.begin(), ends.end(), pos) - ends.begin();
    };
    for (const Quote& q : find_defaults(text)) {
      const auto sentence = sentence_of(q.pos);
      const Ref* best = nullptr;
      for (const Ref& r : refs) {
        if (sentence_of(r.pos) != sentence) {
          continue;
        }
        if (r.pos < q.pos) {
          best = &r;  // the nearest before
        } else if (best == nullptr) {
          best = &r;  // else the first after
          break;
        }
      }
      if (best == nullptr) {
        continue;
      }
      ++defaults_checked_;
      if (auto bad = default_mismatch(best->key, q.value)) {
        findings_.push_back(
            {where(q.pos), "`" + best->key + "` quoted with default " + q.value + ": " + *bad});
      }
    }
  }

  void check_defaults(const std::string& where, const std::string& text,
                      const std::vector<Ref>& refs) {
    check_defaults_in_sentences(text, refs, [&](std::size_t) { return where; });
  }

  void check_yaml_block(const std::string& file, int first_line, const std::string& block,
                        const std::set<std::string>& ignores, std::set<std::string>& used) {
    YAML::Node root;
    try {
      root = YAML::Load(block);
    } catch (const YAML::Exception& e) {
      findings_.push_back(
          {file + ":" + std::to_string(first_line), std::string("yaml block: ") + e.what()});
      return;
    }
    std::vector<std::string> keys;
    collect(root, "", keys);
    for (const auto& key : keys) {
      if (ignores.count(key) != 0) {
        used.insert(key);
        continue;
      }
      ++references_;
      if (!loader_knows(key)) {
        findings_.push_back({file + ":" + std::to_string(first_line),
                             "yaml block: `" + key + "` is not a key the loader knows"});
      }
    }
  }

  static void collect(const YAML::Node& node, const std::string& prefix,
                      std::vector<std::string>& out) {
    if (!node.IsMap()) {
      return;
    }
    for (const auto& kv : node) {
      const std::string key = prefix.empty() ? kv.first.Scalar() : prefix + "." + kv.first.Scalar();
      if (kv.second.IsMap()) {
        collect(kv.second, key, out);
      } else {
        out.push_back(key);
      }
    }
  }

  Shape shape_;
  std::vector<Finding> findings_;
  std::size_t references_ = 0;
  std::size_t defaults_checked_ = 0;
};

std::string describe(const std::vector<Finding>& findings) {
  std::string out;
  for (const auto& f : findings) {
    out += f.where + ": " + f.what + "\n";
  }
  return out;
}

}  // namespace

TEST_CASE("the docs checker catches unknown keys, wrong defaults and stale markers",
          "[control][config][docs]") {
  DocChecker c(Shape::load());
  SECTION("known keys and their real defaults pass") {
    c.check_markdown(
        "ok.md",
        "Sessions: `discv5.max_sessions` (default 1024), `discv5.whoareyou_rate_per_ip`"
        " (default 5/s); `crawl.lookup_interval` (default 100 ms); `dpdk.eal_args`,"
        " `workers: 4`, `bootnode.refresh_interval` (default 5 min).\n"
        "`nodes.json` and `discv4.md` are files.\n");
    INFO(describe(c.findings()));
    CHECK(c.findings().empty());
    CHECK(c.references() == 6);
    CHECK(c.defaults_checked() == 4);
  }
  SECTION("an unknown dotted key, a relative one and a YAML pair") {
    c.check_markdown(
        "bad.md", "Set `table.ip4_bucket_limit`.\n\nOr `dpdk.no_such_key`, or `steering: auto`.\n");
    REQUIRE(c.findings().size() == 3);
    CHECK(c.findings()[0].where == "bad.md:1");
    CHECK(c.findings()[0].what.find("table.ip4_bucket_limit") != std::string::npos);
    CHECK(c.findings()[1].where == "bad.md:3");
    CHECK(c.findings()[2].what.find("steering") != std::string::npos);
  }
  SECTION("a default that is not the loader's, and one the loader refuses") {
    c.check_markdown(
        "bad.md",
        "The limit `discv5.whoareyou_rate_global` (default 20000/s) and "
        "`discv5.max_sessions`: default 8192.\n\n- `discv4.bond_lifetime`, default 0.\n");
    REQUIRE(c.findings().size() == 3);
    CHECK(c.findings()[0].what.find("whoareyou_rate_global` quoted with default 20000") !=
          std::string::npos);
    CHECK(c.findings()[1].what.find("max_sessions` quoted with default 8192") != std::string::npos);
    CHECK(c.findings()[2].where == "bad.md:3");
    CHECK(c.findings()[2].what.find("refuses") != std::string::npos);
  }
  SECTION("yaml blocks") {
    c.check_markdown("block.md", "```yaml\ndataplane:\n  workers: 2\n  steering: auto\n```\n");
    REQUIRE(c.findings().size() == 1);
    CHECK(c.findings()[0].what.find("dataplane.steering") != std::string::npos);
    CHECK(c.references() == 2);
  }
  SECTION("ignore markers: used ones silence a name, unused ones are reported") {
    c.check_markdown("m.md",
                     "<!-- config-keys: ignore shards table.no_key stale_name -->\n"
                     "Log line `shards: 2` and `table.no_key`, test `shards: a name`.\n");
    REQUIRE(c.findings().size() == 1);
    CHECK(c.findings()[0].what.find("stale_name") != std::string::npos);
  }
  SECTION("an ignore marker for a real key is an error") {
    c.check_markdown("m.md",
                     "<!-- config-keys: ignore discv5.max_sessions -->\n`discv5.max_sessions`\n");
    REQUIRE(c.findings().size() == 1);
    CHECK(c.findings()[0].what.find("remove it") != std::string::npos);
  }
  SECTION("yaml comments") {
    c.check_yaml_comments(
        "c.yaml",
        "discv5:\n  max_sessions: 1024  # see discv5.max_sessions (default 1024)\n"
        "# crawl.no_such, conf/dpdk-tap.yaml, discv5.max_sessions default 8\n"
        "x: \"#not.a_comment\"\n");
    REQUIRE(c.findings().size() == 2);
    CHECK(c.findings()[0].where == "c.yaml:3");
    CHECK(c.findings()[0].what.find("crawl.no_such") != std::string::npos);
    CHECK(c.findings()[1].what.find("default 8") != std::string::npos);
  }
}

TEST_CASE("README, docs and conf comments name only keys and defaults the loader has",
          "[control][config][docs]") {
  DocChecker c(Shape::load());
  std::vector<std::filesystem::path> markdown = {kSourceDir / "README.md"};
  std::vector<std::filesystem::path> yaml;
  for (const auto& e : std::filesystem::directory_iterator(kSourceDir / "docs")) {
    if (e.path().extension() == ".md") {
      markdown.push_back(e.path());
    }
  }
  for (const auto& e : std::filesystem::directory_iterator(kSourceDir / "conf")) {
    if (e.path().extension() == ".yaml") {
      yaml.push_back(e.path());
    }
  }
  REQUIRE(markdown.size() >= 5);
  REQUIRE(yaml.size() >= 4);
  for (const auto& p : markdown) {
    c.check_markdown(std::filesystem::relative(p, kSourceDir).string(), read_file(p));
  }
  for (const auto& p : yaml) {
    c.check_yaml_comments(std::filesystem::relative(p, kSourceDir).string(), read_file(p));
  }
  INFO(describe(c.findings()));
  CHECK(c.findings().empty());
  // The extraction must keep finding what the docs say (guards against a checker that
  // silently stops matching).
  CHECK(c.references() >= 40);
  CHECK(c.defaults_checked() >= 8);
}
