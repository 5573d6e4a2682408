// The node database file: encoding, verification, atomic save, set-aside of bad files, and
// the conversions between snapshots, records and engine seeds. See node_db.h for the format.
#include "discplane/control/node_db.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <ctime>

#include <nlohmann/json.hpp>

#include "discplane/crypto/sha256.h"
#include "discplane/discovery/peer_table.h"
#include "discplane/wire/enr.h"

namespace discplane::control {

namespace {

using Json = nlohmann::ordered_json;
using Kind = NodeDbError::Kind;

constexpr std::string_view kChecksumTag = "sha256 ";
// The version as written in the header line.
constexpr std::string_view kVersionTag = "v1";
static_assert(kNodeDbVersion == 1, "kVersionTag spells kNodeDbVersion");
// Upper bound on a body we agree to parse (4096 entries of ~1 KiB is 4 MiB): a larger length
// field is corruption, not a table.
constexpr std::uint64_t kMaxBodySize = 64u << 20;

tl::unexpected<NodeDbError> error(Kind kind, std::string message) {
  return tl::unexpected<NodeDbError>(NodeDbError{kind, std::move(message)});
}

std::string errno_text(const char* what, const std::filesystem::path& path) {
  return std::string(what) + " " + path.string() + ": " + std::strerror(errno);
}

std::string header_line() {
  std::string line(kNodeDbMagic);
  line += ' ';
  line += kVersionTag;
  return line;
}

Json endpoint_json(const Endpoint& ep) {
  return ep.valid() ? Json(ep.to_string()) : Json();
}

template <std::size_t N>
ByteArray<N> hex_field(const Json& j, const char* name) {
  Bytes raw;
  const std::string text = j.at(name).get<std::string>();
  if (!from_hex(text, raw) || raw.size() != N || text.starts_with("0x")) {
    throw std::invalid_argument(std::string(name) + ": not " + std::to_string(N) + " hex bytes");
  }
  return to_array<N>(raw);
}

Endpoint endpoint_field(const Json& j, const char* name, IpAddress::Family family) {
  const Json& v = j.at(name);
  if (v.is_null()) {
    return {};
  }
  auto ep = Endpoint::parse(v.get<std::string>());
  if (!ep || !ep->valid() || ep->ip.family != family) {
    throw std::invalid_argument(std::string(name) + ": bad endpoint");
  }
  return *ep;
}

NodeRecord record_of(const Json& j) {
  NodeRecord r;
  r.id = hex_field<32>(j, "id");
  r.public_key = hex_field<64>(j, "public_key");
  if (crypto::node_id_of(r.public_key) != r.id) {
    throw std::invalid_argument("id does not match public_key");
  }
  r.endpoint4 = endpoint_field(j, "endpoint4", IpAddress::Family::kV4);
  r.endpoint6 = endpoint_field(j, "endpoint6", IpAddress::Family::kV6);
  const std::string enr_hex = j.at("enr").get<std::string>();
  if (!enr_hex.empty()) {
    if (!from_hex(enr_hex, r.enr)) {
      throw std::invalid_argument("enr: not hex");
    }
    auto record = enr::decode(r.enr);
    if (!record || record->node_id() != r.id) {
      throw std::invalid_argument("enr: invalid record or not this node's");
    }
  }
  r.enr_seq = j.at("enr_seq").get<std::uint64_t>();
  for (const Json& p : j.at("protocols")) {
    const std::string name = p.get<std::string>();
    if (name == "v4") {
      r.protocols |= disc::kFlagV4;
    } else if (name == "v5") {
      r.protocols |= disc::kFlagV5;
    } else {
      throw std::invalid_argument("protocols: unknown \"" + name + "\"");
    }
  }
  r.last_seen_unix = j.at("last_seen").get<std::int64_t>();
  r.checks_passed = j.at("checks_passed").get<std::uint32_t>();
  r.checks_failed = j.at("checks_failed").get<std::uint16_t>();
  return r;
}

Json json_of(const NodeRecord& r) {
  Json protocols = Json::array();
  if (r.protocols & disc::kFlagV4) {
    protocols.push_back("v4");
  }
  if (r.protocols & disc::kFlagV5) {
    protocols.push_back("v5");
  }
  return Json{{"id", to_hex(r.id)},
              {"public_key", to_hex(r.public_key)},
              {"endpoint4", endpoint_json(r.endpoint4)},
              {"endpoint6", endpoint_json(r.endpoint6)},
              {"enr", to_hex(r.enr)},
              {"enr_seq", r.enr_seq},
              {"protocols", protocols},
              {"last_seen", r.last_seen_unix},
              {"checks_passed", r.checks_passed},
              {"checks_failed", r.checks_failed}};
}

// Writes all of `data` to fd, retrying short writes and EINTR.
bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace

std::string_view to_string(NodeDbError::Kind kind) {
  switch (kind) {
    case Kind::kNotFound:
      return "not found";
    case Kind::kIo:
      return "I/O error";
    case Kind::kEmpty:
      return "empty file";
    case Kind::kForeign:
      return "not a discplane node database";
    case Kind::kWrongVersion:
      return "unsupported version";
    case Kind::kTruncated:
      return "truncated";
    case Kind::kChecksum:
      return "checksum mismatch";
    case Kind::kMalformed:
      return "malformed";
  }
  return "?";
}

std::string NodeDbError::to_string() const {
  std::string s(control::to_string(kind));
  if (!message.empty()) {
    s += ": " + message;
  }
  return s;
}

std::string encode_node_db(const NodeDb& db) {
  Json nodes = Json::array();
  for (const NodeRecord& r : db.nodes) {
    nodes.push_back(json_of(r));
  }
  const Json body_json{{"saved_at", db.saved_at_unix}, {"nodes", std::move(nodes)}};
  const std::string body = body_json.dump(1) + "\n";
  return header_line() + "\n" + std::string(kChecksumTag) + to_hex(crypto::sha256(as_bytes(body))) +
         " " + std::to_string(body.size()) + "\n" + body;
}

Result<NodeDb, NodeDbError> decode_node_db(std::string_view file) {
  if (file.empty()) {
    return error(Kind::kEmpty, "");
  }
  // Line 1: the magic and our version, exactly.
  const std::string magic = std::string(kNodeDbMagic) + " ";
  if (!file.starts_with(magic)) {
    if (file.size() < magic.size() && magic.starts_with(file)) {
      return error(Kind::kTruncated, "ends inside the header");
    }
    return error(Kind::kForeign, "no \"" + std::string(kNodeDbMagic) + "\" header");
  }
  const std::size_t eol1 = file.find('\n');
  const std::string_view expected_version = kVersionTag;
  const std::string_view version =
      file.substr(magic.size(), eol1 == std::string_view::npos ? file.npos : eol1 - magic.size());
  if (eol1 == std::string_view::npos) {
    if (expected_version.starts_with(version)) {
      return error(Kind::kTruncated, "ends inside the header");
    }
    return error(Kind::kWrongVersion, "version \"" + std::string(version.substr(0, 16)) + "\"");
  }
  if (version != expected_version) {
    return error(Kind::kWrongVersion, "version \"" + std::string(version.substr(0, 16)) +
                                          "\", this build reads " + std::string(expected_version));
  }
  // Line 2: "sha256 <hex> <length>".
  const std::string_view rest = file.substr(eol1 + 1);
  const std::size_t eol2 = rest.find('\n');
  if (eol2 == std::string_view::npos) {
    return error(Kind::kTruncated, "ends inside the checksum line");
  }
  const std::string_view line2 = rest.substr(0, eol2);
  const std::size_t hex_end = kChecksumTag.size() + 64;
  if (!line2.starts_with(kChecksumTag) || line2.size() <= hex_end + 1 || line2[hex_end] != ' ') {
    return error(Kind::kMalformed, "bad checksum line");
  }
  const std::string_view sum = line2.substr(kChecksumTag.size(), 64);
  const std::string_view length_text = line2.substr(hex_end + 1);
  if (length_text.size() > 12 ||
      length_text.find_first_not_of("0123456789") != std::string_view::npos ||
      (length_text.size() > 1 && length_text[0] == '0')) {
    return error(Kind::kMalformed, "bad body length");
  }
  const std::uint64_t length = std::stoull(std::string(length_text));
  if (length > kMaxBodySize) {
    return error(Kind::kMalformed, "body length " + std::string(length_text) + " too large");
  }
  const std::string_view body = rest.substr(eol2 + 1);
  if (body.size() < length) {
    return error(Kind::kTruncated, "body has " + std::to_string(body.size()) + " of " +
                                       std::to_string(length) + " bytes");
  }
  if (body.size() > length) {
    return error(Kind::kMalformed, std::to_string(body.size() - length) + " bytes after the body");
  }
  // Compared as text, exactly: our writer emits lowercase, so a flipped case bit is caught.
  if (to_hex(crypto::sha256(as_bytes(body))) != sum) {
    return error(Kind::kChecksum, "");
  }

  const Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return error(Kind::kMalformed, "body is not a JSON object");
  }
  NodeDb db;
  std::size_t index = 0;
  try {
    db.saved_at_unix = j.at("saved_at").get<std::int64_t>();
    const Json& nodes = j.at("nodes");
    if (!nodes.is_array()) {
      return error(Kind::kMalformed, "nodes is not an array");
    }
    db.nodes.reserve(nodes.size());
    for (const Json& n : nodes) {
      db.nodes.push_back(record_of(n));
      ++index;
    }
  } catch (const std::exception& e) {  // nlohmann type/key errors and our field checks
    return error(Kind::kMalformed, "node " + std::to_string(index) + ": " + e.what());
  }
  return db;
}

Result<void, NodeDbError> save_node_db(const std::filesystem::path& path, const NodeDb& db) {
  const std::string content = encode_node_db(db);
  std::filesystem::path dir = path.parent_path();
  if (!dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      return error(Kind::kIo, "cannot create " + dir.string() + ": " + ec.message());
    }
  } else {
    dir = ".";
  }
  // Same directory, so that rename() is atomic; per process, so two writers cannot interleave.
  const std::filesystem::path tmp = path.string() + ".tmp-" + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return error(Kind::kIo, errno_text("cannot create", tmp));
  }
  if (!write_all(fd, content) || ::fsync(fd) != 0) {
    auto e = error(Kind::kIo, errno_text("cannot write", tmp));
    ::close(fd);
    ::unlink(tmp.c_str());
    return e;
  }
  if (::close(fd) != 0) {
    auto e = error(Kind::kIo, errno_text("cannot close", tmp));
    ::unlink(tmp.c_str());
    return e;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    auto e = error(Kind::kIo, errno_text("cannot rename over", path));
    ::unlink(tmp.c_str());
    return e;
  }
  // The rename itself must reach the disk too.
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) {
    return error(Kind::kIo, errno_text("cannot open", dir));
  }
  const bool synced = ::fsync(dir_fd) == 0;
  const std::string why = synced ? std::string() : errno_text("cannot fsync", dir);
  ::close(dir_fd);
  if (!synced) {
    return error(Kind::kIo, why);
  }
  return {};
}

Result<NodeDb, NodeDbError> load_node_db(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      return error(Kind::kNotFound, path.string());
    }
    return error(Kind::kIo, errno_text("cannot open", path));
  }
  std::string content;
  char buffer[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      auto e = error(Kind::kIo, errno_text("cannot read", path));
      ::close(fd);
      return e;
    }
    if (n == 0) {
      break;
    }
    content.append(buffer, static_cast<std::size_t>(n));
    if (content.size() > kMaxBodySize + 4096) {
      ::close(fd);
      return error(Kind::kMalformed, "file larger than any node database");
    }
  }
  ::close(fd);
  return decode_node_db(content);
}

std::size_t remove_stale_temp_files(const std::filesystem::path& path) noexcept {
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) {
    dir = ".";
  }
  const std::string prefix = path.filename().string() + ".tmp-";
  std::size_t removed = 0;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) {
      continue;
    }
    const std::string digits = name.substr(prefix.size());
    if (digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) {
      continue;  // not a name our writers make
    }
    const pid_t pid = static_cast<pid_t>(std::stol(digits));
    // Our own pid: a previous process of that number is gone (we have not saved yet).
    const bool alive = pid != ::getpid() && (::kill(pid, 0) == 0 || errno == EPERM);
    std::error_code rm;
    if (!alive && std::filesystem::remove(it->path(), rm)) {
      ++removed;
    }
  }
  return removed;
}

Result<std::filesystem::path, NodeDbError> set_aside_node_db(const std::filesystem::path& path,
                                                             std::int64_t unix_time) {
  const std::string base = path.string() + ".corrupt-" + std::to_string(unix_time);
  for (int i = 0; i < 1000; ++i) {
    const std::filesystem::path target = i == 0 ? base : base + "-" + std::to_string(i);
    struct stat st {};
    if (::lstat(target.c_str(), &st) == 0) {
      continue;  // taken (a second bad file within the same second)
    }
    if (::rename(path.c_str(), target.c_str()) != 0) {
      return error(Kind::kIo, errno_text("cannot rename", path));
    }
    return target;
  }
  return error(Kind::kIo, "no free name for " + base);
}

NodeDb node_db_of(const CoreSnapshot& s) {
  NodeDb db;
  db.saved_at_unix = s.taken_unix_s;
  db.nodes.reserve(s.peers.size());
  for (const PeerView& p : s.peers) {
    NodeRecord r;
    r.id = p.id;
    r.public_key = p.public_key;
    r.endpoint4 = p.endpoint4;
    r.endpoint6 = p.endpoint6;
    r.enr = p.enr;
    r.enr_seq = p.enr_seq;
    r.protocols = p.protocols;
    if (p.last_seen_ns != 0) {
      r.last_seen_unix = s.taken_unix_s - (s.taken_mono_ns - p.last_seen_ns) / 1'000'000'000;
    }
    r.checks_passed = p.checks_passed;
    r.checks_failed = p.checks_failed;
    db.nodes.push_back(std::move(r));
  }
  return db;
}

disc::NodeSeed seed_of(const NodeRecord& r) {
  disc::NodeSeed seed;
  seed.public_key = r.public_key;
  if (r.endpoint4.valid()) {
    seed.endpoint4 = r.endpoint4;
  }
  if (r.endpoint6.valid()) {
    seed.endpoint6 = r.endpoint6;
  }
  if (!r.enr.empty()) {
    if (auto record = enr::decode(r.enr)) {
      seed.record = *record;
    }
  }
  seed.protocols = r.protocols;
  return seed;
}

std::vector<disc::NodeSeed> load_node_db_seeds(const std::filesystem::path& path, std::FILE* log) {
  auto db = load_node_db(path);
  if (!db) {
    if (db.error().kind == Kind::kNotFound) {
      return {};
    }
    std::fprintf(log, "discplane: node database %s: %s\n", path.c_str(),
                 db.error().to_string().c_str());
    if (db.error().kind != Kind::kIo) {
      auto aside = set_aside_node_db(path, static_cast<std::int64_t>(std::time(nullptr)));
      if (aside) {
        std::fprintf(log,
                     "discplane: node database set aside as %s; starting with an empty table\n",
                     aside->c_str());
      } else {
        std::fprintf(log, "discplane: node database: %s\n", aside.error().to_string().c_str());
      }
    }
    return {};
  }
  std::vector<disc::NodeSeed> seeds;
  seeds.reserve(db->nodes.size());
  for (const NodeRecord& r : db->nodes) {
    seeds.push_back(seed_of(r));
  }
  std::fprintf(log, "discplane: node database %s: %zu nodes loaded\n", path.c_str(), seeds.size());
  return seeds;
}

bool save_node_db_from(const std::filesystem::path& path, const CoreSnapshot& snapshot,
                       std::FILE* log) {
  if (snapshot.peers.empty()) {
    return false;
  }
  auto saved = save_node_db(path, node_db_of(snapshot));
  if (!saved) {
    std::fprintf(log, "discplane: node database: %s\n", saved.error().to_string().c_str());
    return false;
  }
  return true;
}

}  // namespace discplane::control
