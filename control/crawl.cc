// Crawl database and nodes.json (go-ethereum devp2p format); see crawl.h.
#include "discplane/control/crawl.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "discplane/control/node_db.h"
#include "discplane/crypto/keccak.h"
#include "discplane/discovery/peer_table.h"
#include "discplane/wire/enode.h"
#include "discplane/wire/enr.h"

namespace discplane::control {

namespace {

using Json = nlohmann::ordered_json;

// Days from 1970-01-01 to y-m-d (proleptic Gregorian; Howard Hinnant's algorithm).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

std::string errno_text(const std::string& what, const std::filesystem::path& p) {
  return what + " " + p.string() + ": " + std::strerror(errno);
}

bool write_all(int fd, std::string_view s) {
  while (!s.empty()) {
    const ssize_t n = ::write(fd, s.data(), s.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    s.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::string enode_text(const crypto::PublicKey& key, const Endpoint& ep) {
  enode::Url u;
  u.public_key = key;
  u.ip = ep.ip;
  u.tcp_port = u.udp_port = ep.port;
  return enode::to_string(u);
}

}  // namespace

CrawlEvent CrawlEvent::of(const disc::NodeEvent& e) noexcept {
  CrawlEvent c;
  c.kind = e.kind;
  c.protocol = e.protocol;
  c.id = e.id;
  c.public_key = e.public_key;
  c.endpoint = e.endpoint;
  if (e.record != nullptr) {
    const ByteView raw = e.record->raw();
    if (raw.size() <= c.record.size()) {
      std::memcpy(c.record.data(), raw.data(), raw.size());
      c.record_size = static_cast<std::uint16_t>(raw.size());
    }
  }
  return c;
}

std::string format_crawl_time(std::int64_t unix_s) {
  if (unix_s == 0) {
    return "0001-01-01T00:00:00Z";
  }
  const std::time_t t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::optional<std::int64_t> parse_crawl_time(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)
  auto num = [&](std::size_t pos, std::size_t len) -> std::optional<int> {
    if (pos + len > s.size()) {
      return std::nullopt;
    }
    int v = 0;
    for (std::size_t i = pos; i < pos + len; ++i) {
      if (s[i] < '0' || s[i] > '9') {
        return std::nullopt;
      }
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
      s[13] != ':' || s[16] != ':') {
    return std::nullopt;
  }
  const auto y = num(0, 4), mo = num(5, 2), d = num(8, 2), h = num(11, 2), mi = num(14, 2),
             se = num(17, 2);
  if (!y || !mo || !d || !h || !mi || !se || *mo < 1 || *mo > 12 || *d < 1 || *d > 31 || *h > 23 ||
      *mi > 59 || *se > 60) {
    return std::nullopt;
  }
  std::size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    const std::size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      ++pos;
    }
    if (pos == start) {
      return std::nullopt;
    }
  }
  std::int64_t offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z') && pos + 1 == s.size()) {
    // UTC
  } else if (pos + 6 == s.size() && (s[pos] == '+' || s[pos] == '-') && s[pos + 3] == ':') {
    const auto oh = num(pos + 1, 2), om = num(pos + 4, 2);
    if (!oh || !om || *oh > 23 || *om > 59) {
      return std::nullopt;
    }
    offset = (s[pos] == '+' ? 1 : -1) * (*oh * 3600 + *om * 60);
  } else {
    return std::nullopt;
  }
  if (*y == 1 && *mo == 1 && *d == 1 && *h == 0 && *mi == 0 && *se == 0 && offset == 0) {
    return 0;  // Go's zero time
  }
  const std::int64_t days =
      days_from_civil(*y, static_cast<unsigned>(*mo), static_cast<unsigned>(*d));
  return days * 86400 + *h * 3600 + *mi * 60 + *se - offset;
}

void CrawlDb::set_record(CrawlNode& n, const CrawlEvent& e) {
  if (e.record_size != 0) {
    // The engine verified the record; decode again only to print it.
    auto r = enr::decode_unverified(ByteView(e.record.data(), e.record_size));
    if (r && r->node_id() == e.id && (!n.has_enr || r->seq() > n.seq)) {
      n.record = enr::to_text(*r);
      n.seq = r->seq();
      n.has_enr = true;
    }
    return;
  }
  // No record: an enode URL from the key and the latest endpoint we saw.
  if (!n.has_enr && e.endpoint.valid()) {
    n.record = enode_text(e.public_key, e.endpoint);
  }
}

bool CrawlDb::apply(const CrawlEvent& e, std::int64_t unix_s) {
  auto [it, inserted] = nodes_.try_emplace(e.id);
  CrawlNode& n = it->second;
  set_record(n, e);
  n.protocols |= disc::flag_of(e.protocol);
  n.last_check = std::max(n.last_check, unix_s);
  if (e.kind == disc::NodeEvent::Kind::kResponded) {
    if (n.first_response == 0) {
      n.first_response = unix_s;
      ++responded_;
    }
    n.last_response = std::max(n.last_response, unix_s);
    if (n.score == 0 || unix_s - n.last_scored >= score_interval_s_) {
      ++n.score;
      n.last_scored = unix_s;
    }
  }
  if (n.record.empty()) {  // nothing printable (no record, no endpoint): keep it out
    if (n.first_response != 0) {
      --responded_;
    }
    nodes_.erase(it);
    return false;
  }
  return inserted;
}

std::string CrawlDb::to_json() const {
  Json root = Json::object();
  for (const auto& [id, n] : nodes_) {  // std::map: sorted by id, as Go sorts map keys
    Json v = Json::object();
    v["seq"] = n.seq;
    v["record"] = n.record;
    if (n.score != 0) {
      v["score"] = n.score;
    }
    v["firstResponse"] = format_crawl_time(n.first_response);
    v["lastResponse"] = format_crawl_time(n.last_response);
    v["lastCheck"] = format_crawl_time(n.last_check);
    if (n.protocols != 0) {
      Json p = Json::array();
      if ((n.protocols & disc::kFlagV4) != 0) {
        p.push_back("v4");
      }
      if ((n.protocols & disc::kFlagV5) != 0) {
        p.push_back("v5");
      }
      v["protocols"] = std::move(p);
    }
    root[to_hex(id)] = std::move(v);
  }
  return root.dump(4) + "\n";
}

Result<std::size_t, std::string> CrawlDb::merge_json(std::string_view text) {
  Json root;
  try {
    root = Json::parse(text);
  } catch (const std::exception& e) {
    return fail(std::string("not JSON: ") + e.what());
  }
  if (!root.is_object()) {
    return fail(std::string("not a JSON object"));
  }
  std::map<NodeId, CrawlNode> parsed;
  for (const auto& item : root.items()) {
    // Named copies, not a structured binding: clang 14 (the fuzz build) cannot capture those.
    const std::string key = item.key();
    const Json& v = item.value();
    auto bad = [&](const std::string& why) {
      return fail("node " + key.substr(0, 16) + ": " + why);
    };
    Bytes idb;
    if (key.size() != 64 || !from_hex(key, idb) || idb.size() != 32) {
      return bad("key is not a 32-byte hex node id");
    }
    NodeId id{};
    std::memcpy(id.data(), idb.data(), 32);
    if (!v.is_object() || !v.contains("record") || !v["record"].is_string()) {
      return bad("no \"record\" string");
    }
    CrawlNode n;
    n.record = v["record"].get<std::string>();
    if (n.record.starts_with("enr:")) {
      auto r = enr::parse_text(n.record);
      if (!r) {
        return bad("bad record (" + std::string(enr::to_string(r.error())) + ")");
      }
      if (r->node_id() != id) {
        return bad("id does not match the record");
      }
      n.has_enr = true;
      n.seq = r->seq();
      if (v.contains("seq") &&
          (!v["seq"].is_number_unsigned() || v["seq"].get<std::uint64_t>() != n.seq)) {
        return bad("\"seq\" does not match the record");
      }
    } else {
      auto u = enode::parse(n.record);
      if (!u) {
        return bad("record is neither enr: nor a valid enode URL");
      }
      if (u->node_id() != id) {
        return bad("id does not match the enode URL");
      }
    }
    if (v.contains("score")) {
      if (!v["score"].is_number_integer()) {
        return bad("\"score\" is not an integer");
      }
      n.score = v["score"].get<int>();
    }
    for (auto [name, field] :
         {std::pair{"firstResponse", &n.first_response},
          std::pair{"lastResponse", &n.last_response}, std::pair{"lastCheck", &n.last_check}}) {
      if (!v.contains(name)) {
        continue;
      }
      std::optional<std::int64_t> t;
      if (v[name].is_string()) {
        t = parse_crawl_time(v[name].get<std::string>());
      }
      if (!t) {
        return bad(std::string("bad time in \"") + name + "\"");
      }
      *field = *t;
    }
    if (v.contains("protocols")) {
      if (!v["protocols"].is_array()) {
        return bad("\"protocols\" is not a list");
      }
      for (const Json& p : v["protocols"]) {
        if (p == "v4") {
          n.protocols |= disc::kFlagV4;
        } else if (p == "v5") {
          n.protocols |= disc::kFlagV5;
        } else {
          return bad("\"protocols\" holds something other than \"v4\" or \"v5\"");
        }
      }
    }
    n.last_scored = n.last_response;
    parsed.emplace(id, std::move(n));
  }
  std::size_t added = 0;
  for (auto& [id, n] : parsed) {
    auto [it, inserted] = nodes_.try_emplace(id, n);
    if (inserted) {
      ++added;
      responded_ += n.first_response != 0 ? 1 : 0;
      continue;
    }
    CrawlNode& m = it->second;
    if ((n.has_enr && (!m.has_enr || n.seq > m.seq)) || m.record.empty()) {
      m.record = n.record;
      m.seq = n.seq;
      m.has_enr = n.has_enr;
    }
    if (n.first_response != 0 && (m.first_response == 0 || n.first_response < m.first_response)) {
      responded_ += m.first_response == 0 ? 1 : 0;
      m.first_response = n.first_response;
    }
    m.last_response = std::max(m.last_response, n.last_response);
    m.last_check = std::max(m.last_check, n.last_check);
    m.score = std::max(m.score, n.score);
    m.protocols |= n.protocols;
  }
  return added;
}

void CrawlDb::put(const NodeId& id, CrawlNode node) {
  auto [it, inserted] = nodes_.try_emplace(id);
  if (!inserted && it->second.first_response != 0) {
    --responded_;
  }
  responded_ += node.first_response != 0 ? 1 : 0;
  it->second = std::move(node);
}

Result<std::size_t, std::string> CrawlDb::load(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return fail(errno_text("cannot open", path));
  }
  std::ostringstream text;
  text << in.rdbuf();
  auto merged = merge_json(text.str());
  if (!merged) {
    return fail(path.string() + ": " + merged.error());
  }
  return merged;
}

Result<void, std::string> CrawlDb::save(const std::filesystem::path& path) const {
  const std::string content = to_json();
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) {
    dir = ".";
  } else {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      return fail("cannot create " + dir.string() + ": " + ec.message());
    }
  }
  // Same directory (rename is atomic there); per process, so two writers cannot interleave.
  const std::filesystem::path tmp = path.string() + ".tmp-" + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return fail(errno_text("cannot create", tmp));
  }
  if (!write_all(fd, content) || ::fsync(fd) != 0) {
    auto e = errno_text("cannot write", tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
    return fail(e);
  }
  if (::close(fd) != 0) {
    auto e = errno_text("cannot close", tmp);
    ::unlink(tmp.c_str());
    return fail(e);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    auto e = errno_text("cannot rename over", path);
    ::unlink(tmp.c_str());
    return fail(e);
  }
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) {
    return fail(errno_text("cannot open", dir));
  }
  const bool synced = ::fsync(dir_fd) == 0;
  const std::string why = synced ? std::string() : errno_text("cannot fsync", dir);
  ::close(dir_fd);
  if (!synced) {
    return fail(why);
  }
  return {};
}

// ---- CrawlSession ------------------------------------------------------------------------------

CrawlSession::CrawlSession(Config::Crawl config, std::FILE* log)
    : config_(std::move(config)), log_(log), ring_(config_.event_ring) {}

void CrawlSession::start(std::int64_t /*unix_s*/) {
  const auto now = std::chrono::steady_clock::now();
  started_ = last_progress_ = now;
  next_progress_ = now + config_.progress_interval;
  next_write_ = now + config_.write_interval;
  if (const std::size_t n = remove_stale_temp_files(config_.output); n > 0) {
    std::fprintf(log_, "discplane: crawl: removed %zu temp file(s) of interrupted writes\n", n);
  }
  if (config_.resume && std::filesystem::exists(config_.output)) {
    auto loaded = db_.load(config_.output);
    if (loaded) {
      std::fprintf(log_, "discplane: crawl: resumed %zu nodes from %s\n", db_.size(),
                   config_.output.c_str());
    } else {
      std::fprintf(log_, "discplane: crawl: not resuming: %s\n", loaded.error().c_str());
    }
  }
  nodes_at_last_progress_ = db_.size();
  nodes_.store(db_.size(), std::memory_order_relaxed);
  responded_.store(db_.responded(), std::memory_order_relaxed);
}

void CrawlSession::drain(std::int64_t unix_s) {
  CrawlEvent e;
  // Bounded: at most two rings' worth per call (the core keeps producing meanwhile).
  const std::size_t limit = ring_.capacity() * 2;
  std::size_t n = 0;
  while (n < limit && ring_.try_pop(e)) {
    (void)db_.apply(e, unix_s);
    ++n;
  }
  events_.fetch_add(n, std::memory_order_relaxed);
  nodes_.store(db_.size(), std::memory_order_relaxed);
  responded_.store(db_.responded(), std::memory_order_relaxed);
}

void CrawlSession::write() {
  if (auto saved = db_.save(config_.output); saved) {
    writes_.fetch_add(1, std::memory_order_relaxed);
  } else {
    write_errors_.fetch_add(1, std::memory_order_relaxed);
    std::fprintf(log_, "discplane: crawl: %s\n", saved.error().c_str());
  }
}

std::string CrawlSession::progress_line(std::chrono::steady_clock::time_point now) {
  const double window = std::chrono::duration<double>(now - last_progress_).count();
  const std::size_t fresh = db_.size() - std::min(db_.size(), nodes_at_last_progress_);
  const auto elapsed_s = std::chrono::duration_cast<std::chrono::seconds>(now - started_).count();
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "crawl: %zu nodes (%zu responded), +%zu in %.0fs (%.1f/s), elapsed %s, "
                "lookups %llu, events dropped %llu",
                db_.size(), db_.responded(), fresh, window, window > 0 ? fresh / window : 0.0,
                format_duration(std::chrono::seconds(std::max<std::int64_t>(elapsed_s, 1))).c_str(),
                static_cast<unsigned long long>(lookups_.load(std::memory_order_relaxed)),
                static_cast<unsigned long long>(dropped_.load(std::memory_order_relaxed)));
  last_progress_ = now;
  nodes_at_last_progress_ = db_.size();
  return buf;
}

void CrawlSession::tick(std::chrono::steady_clock::time_point now, std::int64_t unix_s) {
  drain(unix_s);
  if (now >= next_progress_) {
    next_progress_ = now + config_.progress_interval;
    std::fprintf(log_, "discplane: %s\n", progress_line(now).c_str());
    std::fflush(log_);
  }
  if (now >= next_write_) {
    next_write_ = now + config_.write_interval;
    write();
  }
}

void CrawlSession::finish(std::int64_t unix_s) {
  drain(unix_s);
  write();
  std::fprintf(log_, "discplane: %s; wrote %s\n",
               progress_line(std::chrono::steady_clock::now()).c_str(), config_.output.c_str());
  std::fflush(log_);
}

CrawlStats CrawlSession::stats() const {
  CrawlStats s;
  s.nodes = nodes_.load(std::memory_order_relaxed);
  s.responded = responded_.load(std::memory_order_relaxed);
  s.events = events_.load(std::memory_order_relaxed);
  s.events_dropped = dropped_.load(std::memory_order_relaxed);
  s.lookups = lookups_.load(std::memory_order_relaxed);
  s.writes = writes_.load(std::memory_order_relaxed);
  s.write_errors = write_errors_.load(std::memory_order_relaxed);
  return s;
}

NodeId CrawlTargets::next_v5() {
  NodeId t{};
  rng_.fill(t);
  // Bit-reverse the low 16 bits of the counter into the top 16 bits of the target.
  const auto c = static_cast<std::uint16_t>(counter_++);
  std::uint16_t r = 0;
  for (int i = 0; i < 16; ++i) {
    r = static_cast<std::uint16_t>((r << 1) | ((c >> i) & 1));
  }
  t[0] = static_cast<std::uint8_t>(r >> 8);
  t[1] = static_cast<std::uint8_t>(r & 0xff);
  return t;
}

}  // namespace discplane::control
