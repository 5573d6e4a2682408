// Test-side harness for tests/e2e/interop_test.cc: runs the discplane binary and the JS peer
// runner (tests/interop/peers.mjs) as child processes and talks to both: JSON lines on the
// runner's stdin/stdout, the HTTP API (GET /v1/node, /v1/peers, POST /v1/lookup) of discplane.
// Everything is RAII: a child is killed (its whole process group) when its owner goes, a
// network namespace is deleted when its guard goes. Every wait takes a deadline.
// Not here: assertions (the tests make them, on the main thread only).
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "e2e/netns_lock.h"

namespace discplane::interop {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

// ---- small utilities ---------------------------------------------------------------------

inline std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

// A free port on `host` (UDP or TCP), found by binding port 0. Racy in principle, fine for tests.
inline std::uint16_t free_port(int type = SOCK_DGRAM) {
  const int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw std::runtime_error("socket() failed");
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("bind to 127.0.0.1:0 failed");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

// log2 distance of two 32-byte ids given as 64 hex digits (0 when equal).
inline int log_distance(const std::string& a, const std::string& b) {
  if (a.size() != 64 || b.size() != 64) {
    return -1;
  }
  for (int i = 0; i < 32; ++i) {
    const int x =
        std::stoi(a.substr(2 * i, 2), nullptr, 16) ^ std::stoi(b.substr(2 * i, 2), nullptr, 16);
    if (x != 0) {
      int bits = 0;
      for (int v = x; v != 0; v >>= 1) {
        ++bits;
      }
      return (31 - i) * 8 + bits;
    }
  }
  return 0;
}

// Byte length of an "enr:<base64url>" record (no padding in the text form).
inline std::size_t enr_size(const std::string& text) {
  const std::size_t n = text.size() > 4 ? text.size() - 4 : 0;
  return n * 6 / 8;
}

// A directory for one test's logs, config and keys: DP_BINARY_DIR/interop-logs/<name>-<pid>.
// Kept after the test (it is in the build tree) so a failure can be read afterwards.
inline std::filesystem::path log_dir(const std::string& name) {
  std::filesystem::path p = std::filesystem::path(DP_BINARY_DIR) / "interop-logs" /
                            (name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p;
}

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs a command (no shell), waits at most `limit`; returns its exit status (-1: killed/failed).
int run_command(const std::vector<std::string>& argv, milliseconds limit = milliseconds(10000));

// ---- child processes -------------------------------------------------------------------

// One child: stdin is a pipe we write, stdout a pipe a reader thread splits into lines, stderr
// goes to a file. It runs in its own process group and dies with us (PR_SET_PDEATHSIG).
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::filesystem::path& stderr_path) {
    std::vector<std::vector<char>> storage;
    std::vector<char*> args;
    for (const auto& a : argv) {
      storage.emplace_back(a.begin(), a.end());
      storage.back().push_back('\0');
    }
    for (auto& s : storage) {
      args.push_back(s.data());
    }
    args.push_back(nullptr);
    int in_pipe[2];
    int out_pipe[2];
    if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0) {
      throw std::runtime_error("pipe2 failed");
    }
    const int err_fd = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (err_fd < 0) {
      throw std::runtime_error("cannot open " + stderr_path.string());
    }
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) {
      throw std::runtime_error("fork failed");
    }
    if (pid_ == 0) {  // child: async-signal-safe calls only
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) {
        ::_exit(127);
      }
      ::dup2(in_pipe[0], 0);
      ::dup2(out_pipe[1], 1);
      ::dup2(err_fd, 2);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
    ::setpgid(pid_, pid_);  // also from here, so kill(-pid) works at once
    ::close(in_pipe[0]);
    ::close(out_pipe[1]);
    ::close(err_fd);
    stdin_fd_ = in_pipe[1];
    stdout_fd_ = out_pipe[0];
    reader_ = std::thread([this] { read_loop(); });
  }

  ~Child() { kill_and_wait(); }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }

  bool write_line(const std::string& line) {
    if (stdin_fd_ < 0) {
      return false;
    }
    std::string s = line + "\n";
    const char* p = s.data();
    std::size_t left = s.size();
    while (left > 0) {
      const ssize_t n = ::write(stdin_fd_, p, left);
      if (n <= 0) {
        return false;
      }
      p += n;
      left -= static_cast<std::size_t>(n);
    }
    return true;
  }

  // The next stdout line, or nullopt at the deadline or at EOF.
  std::optional<std::string> read_line(Clock::time_point deadline) {
    std::unique_lock lock(mu_);
    cv_.wait_until(lock, deadline, [&] { return !lines_.empty() || eof_; });
    if (lines_.empty()) {
      return std::nullopt;
    }
    std::string l = std::move(lines_.front());
    lines_.pop_front();
    return l;
  }

  bool eof() {
    std::lock_guard lock(mu_);
    return eof_ && lines_.empty();
  }

  // Has it exited? (non-blocking)
  bool exited() {
    if (reaped_) {
      return true;
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      reaped_ = true;
      status_ = status;
    }
    return reaped_;
  }

  // Close stdin, then TERM, then KILL the group, each after a bounded wait; reap; join.
  void kill_and_wait(milliseconds grace = milliseconds(3000)) {
    if (stdin_fd_ >= 0) {
      ::close(stdin_fd_);
      stdin_fd_ = -1;
    }
    if (pid_ > 0) {
      auto wait_exit = [&](milliseconds limit) {
        const auto end = Clock::now() + limit;
        while (!exited() && Clock::now() < end) {
          std::this_thread::sleep_for(milliseconds(20));
        }
        return exited();
      };
      if (!wait_exit(grace)) {
        ::kill(-pid_, SIGTERM);
        ::kill(pid_, SIGTERM);
        if (!wait_exit(milliseconds(3000))) {
          ::kill(-pid_, SIGKILL);
          ::kill(pid_, SIGKILL);
          wait_exit(milliseconds(5000));
        }
      }
      ::kill(-pid_, SIGKILL);  // leftovers of the group, if any
      pid_ = -1;
    }
    if (reader_.joinable()) {
      reader_.join();
    }
    if (stdout_fd_ >= 0) {
      ::close(stdout_fd_);
      stdout_fd_ = -1;
    }
  }

  // Sends a signal to the child only (not the group).
  void signal(int sig) {
    if (pid_ > 0) {
      ::kill(pid_, sig);
    }
  }

  int exit_status() const { return status_; }

 private:
  void read_loop() {
    std::string partial;
    std::array<char, 65536> buf;
    for (;;) {
      const ssize_t n = ::read(stdout_fd_, buf.data(), buf.size());
      if (n <= 0) {
        if (n < 0 && errno == EINTR) {
          continue;
        }
        break;
      }
      partial.append(buf.data(), static_cast<std::size_t>(n));
      std::size_t pos = 0;
      std::vector<std::string> got;
      for (std::size_t nl; (nl = partial.find('\n', pos)) != std::string::npos; pos = nl + 1) {
        got.push_back(partial.substr(pos, nl - pos));
      }
      partial.erase(0, pos);
      if (!got.empty()) {
        std::lock_guard lock(mu_);
        for (auto& l : got) {
          lines_.push_back(std::move(l));
        }
        cv_.notify_all();
      }
    }
    std::lock_guard lock(mu_);
    if (!partial.empty()) {
      lines_.push_back(partial);
    }
    eof_ = true;
    cv_.notify_all();
  }

  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  std::thread reader_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> lines_;
  bool eof_ = false;
};

inline int run_command(const std::vector<std::string>& argv, milliseconds limit) {
  const std::filesystem::path err = std::filesystem::temp_directory_path() /
                                    ("dp-interop-cmd-" + std::to_string(::getpid()) + ".log");
  Child c(argv, err);
  const auto end = Clock::now() + limit;
  while (!c.exited() && Clock::now() < end) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  const bool done = c.exited();
  const int status = c.exit_status();
  c.kill_and_wait(milliseconds(0));
  std::error_code ec;
  std::filesystem::remove(err, ec);
  if (!done || !WIFEXITED(status)) {
    return -1;
  }
  return WEXITSTATUS(status);
}

// ---- network namespace (DPDK scenarios) ---------------------------------------------------

// `ip netns add <name>` now, `ip netns del <name>` at the end (which also destroys a tap that
// was moved into it).
class NetNs {
 public:
  explicit NetNs(std::string name) : name_(std::move(name)) {
    e2e::NetnsLock::acquire();
    run_command({"ip", "netns", "del", name_});  // a leftover of a crashed run with our pid
    if (run_command({"ip", "netns", "add", name_}) != 0) {
      e2e::NetnsLock::release();
      throw std::runtime_error("ip netns add " + name_ + " failed");
    }
  }
  ~NetNs() {
    run_command({"ip", "netns", "del", name_});
    e2e::NetnsLock::release();
  }
  NetNs(const NetNs&) = delete;
  NetNs& operator=(const NetNs&) = delete;
  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

// Can this process make namespaces and taps? (root and /dev/net/tun)
inline bool can_use_netns_and_tap() {
  return ::geteuid() == 0 && ::access("/dev/net/tun", R_OK | W_OK) == 0 &&
         run_command({"ip", "netns", "list"}) == 0;
}

// ---- the JS peers -----------------------------------------------------------------------

struct JsOptions {
  int v5 = 0;
  int v4 = 0;
  std::string host = "127.0.0.1";
  std::vector<std::string> bootnodes;
  int lookup_interval_ms = 5000;
  int v4_refresh_ms = 3000;
  bool boot_first = false;
  int max_seconds = 150;
  std::optional<std::string> netns;  // run inside this namespace (ip netns exec)
  std::string talk_reply = "echo";
};

class JsPeers {
 public:
  JsPeers(const JsOptions& o, const std::filesystem::path& dir) : opts_(o) {
    std::vector<std::string> argv;
    if (o.netns) {
      argv = {"ip", "netns", "exec", *o.netns};
    }
    const std::string script = std::string(DP_SOURCE_DIR) + "/tests/interop/peers.mjs";
    for (const std::string& a :
         {std::string("node"), script, std::string("--v5"), std::to_string(o.v5),
          std::string("--v4"), std::to_string(o.v4), std::string("--host"), o.host,
          std::string("--base-port"), std::string("0"), std::string("--lookup-interval-ms"),
          std::to_string(o.lookup_interval_ms), std::string("--v4-refresh-ms"),
          std::to_string(o.v4_refresh_ms), std::string("--max-seconds"),
          std::to_string(o.max_seconds), std::string("--talk-reply"), o.talk_reply}) {
      argv.push_back(a);
    }
    if (o.boot_first) {
      argv.push_back("--boot-first");
    }
    for (const auto& b : o.bootnodes) {
      argv.push_back("--bootnode");
      argv.push_back(b);
    }
    stdout_log_.open(dir / "peers.stdout.jsonl");
    child_ = std::make_unique<Child>(argv, dir / "peers.stderr.log");
    const auto deadline = Clock::now() + seconds(60);
    for (;;) {
      auto line = next_line(deadline);
      if (!line) {
        throw std::runtime_error("peers.mjs: no 'ready' line within 60 s (see " +
                                 (dir / "peers.stderr.log").string() + ")");
      }
      if ((*line)["event"] == "node") {
        nodes_.push_back(*line);
      } else if ((*line)["event"] == "ready") {
        break;
      } else {
        events_.push_back(*line);
      }
    }
    if (static_cast<int>(nodes_.size()) != o.v5 + o.v4) {
      throw std::runtime_error("peers.mjs: wrong number of node lines");
    }
  }

  ~JsPeers() {
    if (child_) {
      child_->write_line(R"({"cmd":"quit"})");
      child_->kill_and_wait(milliseconds(3000));
    }
  }

  const std::vector<Json>& nodes() const { return nodes_; }
  const Json& node(int k) const { return nodes_.at(static_cast<std::size_t>(k)); }
  std::string id(int k) const { return node(k)["id"].get<std::string>(); }
  int v5_count() const { return opts_.v5; }
  int v4_count() const { return opts_.v4; }
  int v4_index(int i) const { return opts_.v5 + i; }  // i-th discv4 node's global index

  // Sends one command and waits for its reply (other lines become events).
  Json cmd(Json c, milliseconds limit = milliseconds(15000)) {
    const int req = ++next_req_;
    c["req"] = req;
    if (!child_->write_line(c.dump())) {
      return Json{{"ok", false}, {"error", "peers.mjs stdin closed"}};
    }
    const auto deadline = Clock::now() + limit;
    for (;;) {
      auto line = next_line(deadline);
      if (!line) {
        return Json{{"ok", false}, {"error", "no reply from peers.mjs in time to " + c.dump()}};
      }
      if (line->contains("reply") && line->value("req", -1) == req) {
        return *line;
      }
      if (line->contains("event")) {
        events_.push_back(*line);
      }
    }
  }

  // Table of node k (peer ids, discplane's included).
  std::vector<std::string> table(int k) {
    Json r = cmd(Json{{"cmd", "table"}, {"node", k}});
    std::vector<std::string> ids;
    if (r.value("ok", false) && !r["tables"].empty()) {
      for (const auto& id : r["tables"][0]["peers"]) {
        ids.push_back(id.get<std::string>());
      }
    }
    return ids;
  }
  Json tables() { return cmd(Json{{"cmd", "table"}}); }

  // Reads what is pending without waiting (events).
  void drain() {
    while (auto line = next_line(Clock::now())) {
      if (line->contains("event")) {
        events_.push_back(*line);
      }
    }
  }
  const std::vector<Json>& events() const { return events_; }

  // Waits for an event matching `pred` among those at index >= from.
  bool wait_event(const std::function<bool(const Json&)>& pred, milliseconds limit,
                  std::size_t from = 0) {
    const auto deadline = Clock::now() + limit;
    std::size_t i = from;
    for (;;) {
      for (; i < events_.size(); ++i) {
        if (pred(events_[i])) {
          return true;
        }
      }
      auto line = next_line(deadline);
      if (!line) {
        return false;
      }
      if (line->contains("event")) {
        events_.push_back(*line);
      }
    }
  }

 private:
  std::optional<Json> next_line(Clock::time_point deadline) {
    for (;;) {
      auto line = child_->read_line(deadline);
      if (!line) {
        return std::nullopt;
      }
      stdout_log_ << *line << "\n";
      stdout_log_.flush();
      Json j = Json::parse(*line, nullptr, false);
      if (!j.is_discarded() && j.is_object()) {
        return j;
      }
    }
  }

  JsOptions opts_;
  std::unique_ptr<Child> child_;
  std::ofstream stdout_log_;
  std::vector<Json> nodes_;
  std::vector<Json> events_;
  int next_req_ = 0;
};

// ---- discplane ---------------------------------------------------------------------------

struct DiscplaneOptions {
  std::string mode = "node";
  std::string listen;            // "" = 127.0.0.1:<free port>
  std::string external_ip = "";  // "" = the listen address
  std::vector<std::string> bootnodes;
  std::string revalidate = "1s";
  std::string lookup = "2s";
  // discv4 request timeout. Default 500 ms (geth's); the JS peers run 26 nodes in one
  // single-threaded process on a loaded CI machine, where ethereumjs' PONGs can take longer.
  std::string v4_timeout = "2s";
  // DPDK backend: eal args and our address with prefix; empty = socket backend.
  std::vector<std::string> eal_args;
  std::string dpdk_ipv4;
};

class Discplane {
 public:
  Discplane(const DiscplaneOptions& o, const std::filesystem::path& dir) : dir_(dir) {
    listen_ = o.listen.empty() ? "127.0.0.1:" + std::to_string(free_port()) : o.listen;
    const std::string ip = listen_.substr(0, listen_.rfind(':'));
    std::ofstream y(dir / "discplane.yaml");
    y << "mode: " << o.mode << "\n";
    y << "identity:\n  key_file: " << (dir / "nodekey").string() << "\n";
    y << "network:\n  listen: " << listen_
      << "\n  external_ip: " << (o.external_ip.empty() ? ip : o.external_ip) << "\n";
    y << "protocols: [discv4, discv5]\n";
    y << "bootnodes:\n";
    for (const auto& b : o.bootnodes) {
      y << "  - \"" << b << "\"\n";
    }
    if (o.bootnodes.empty()) {
      y << "  []\n";
    }
    if (o.eal_args.empty()) {
      y << "dataplane:\n  backend: socket\n";
    } else {
      y << "dataplane:\n  backend: dpdk\n  dpdk:\n    eal_args: [";
      for (std::size_t i = 0; i < o.eal_args.size(); ++i) {
        y << (i ? ", " : "") << "\"" << o.eal_args[i] << "\"";
      }
      y << "]\n    port: 0\n    rx_queue_size: 512\n    tx_queue_size: 512\n"
        << "    mempool_size: 4095\n    ipv4: " << o.dpdk_ipv4 << "\n";
    }
    y << "timers:\n  revalidate_interval:\n    discv4: " << o.revalidate
      << "\n    discv5: " << o.revalidate << "\n  lookup_interval:\n    discv4: " << o.lookup
      << "\n    discv5: " << o.lookup << "\n  snapshot_interval: 200ms\n";
    api_port_ = free_port(SOCK_STREAM);
    // All JS nodes share one IP too: 14 first contacts at once are ~4 KB of Pong + Ping
    // before their Pongs pay it back, over the default per-IP amplification burst.
    y << "discv4:\n  request_timeout: " << o.v4_timeout
      << "\n  amplification_burst_per_ip: 65536\n";
    // Every JS node sends from one IP: the per-IP WHOAREYOU limit (default 5/s) would make
    // a dozen nodes that start at once look like one flooding host.
    y << "discv5:\n  whoareyou_rate_per_ip: 1000\n";
    // ... and they all sit in 127.0.0.0/8 (or the DPDK port's subnet), more than the table's
    // per-/24 limits admit: a local testnet exempts its range explicitly (nothing is exempt
    // by default).
    y << "table:\n  ip_limit_exempt: [127.0.0.0/8, \"::1/128\""
      << (o.dpdk_ipv4.empty() ? "" : ", " + o.dpdk_ipv4) << "]\n";
    y << "api:\n  listen: 127.0.0.1:" << api_port_ << "\n";
    y << "logging:\n  level: debug\n";
    y.close();
    child_ = std::make_unique<Child>(
        std::vector<std::string>{std::string(DP_BINARY_DIR) + "/discplane", "--config",
                                 (dir / "discplane.yaml").string()},
        dir / "discplane.stderr.log");
    stdout_log_.open(dir / "discplane.stdout.log");
    const auto deadline = Clock::now() + seconds(40);
    auto l1 = line(deadline);
    auto l2 = line(deadline);
    if (!l1 || !l2 || l1->rfind("enode://", 0) != 0 || l2->rfind("enr:", 0) != 0) {
      throw std::runtime_error("discplane did not print its enode and enr lines (see " +
                               (dir / "discplane.stderr.log").string() + ")");
    }
    enode_ = *l1;
    enr_ = *l2;
    // The API starts right after these lines; wait until it answers.
    while (Clock::now() < deadline && !child_->exited()) {
      if (get("/v1/node").contains("node_id")) {
        break;
      }
      std::this_thread::sleep_for(milliseconds(50));
    }
    Json n = get("/v1/node");
    node_id_ = n.is_object() ? n.value("node_id", "") : "";
    if (node_id_.size() != 64) {
      throw std::runtime_error("discplane: the API did not answer GET /v1/node (see " +
                               (dir / "discplane.stderr.log").string() + ")");
    }
    pump_ = std::thread([this] {
      while (auto l = line(Clock::now() + seconds(3600))) {
      }
    });
  }

  ~Discplane() {
    if (child_ && !child_->exited()) {  // final state, for reading a failure afterwards
      httplib::Client cli("127.0.0.1", api_port_);
      cli.set_connection_timeout(1, 0);
      cli.set_read_timeout(2, 0);
      for (const char* path : {"/metrics", "/v1/peers"}) {
        if (auto r = cli.Get(path)) {
          std::ofstream(dir_ /
                        (std::string("final") + (path[1] == 'm' ? ".metrics" : ".peers.json")))
              << r->body;
        }
      }
    }
    if (child_) {
      child_->signal(SIGTERM);
      child_->kill_and_wait(milliseconds(5000));
    }
    if (pump_.joinable()) {
      pump_.join();
    }
  }

  const std::string& enode() const { return enode_; }
  const std::string& enr() const { return enr_; }
  const std::string& id() const { return node_id_; }
  const std::string& listen() const { return listen_; }
  std::string api() const { return "127.0.0.1:" + std::to_string(api_port_); }
  bool alive() { return !child_->exited(); }

  Json get(const std::string& path) {
    httplib::Client cli("127.0.0.1", api_port_);
    cli.set_connection_timeout(2, 0);
    cli.set_read_timeout(5, 0);
    auto r = cli.Get(path);
    if (!r) {
      return Json{{"error", "no HTTP answer"}};
    }
    return Json::parse(r->body, nullptr, false);
  }
  Json post(const std::string& path, const Json& body) {
    httplib::Client cli("127.0.0.1", api_port_);
    cli.set_connection_timeout(2, 0);
    cli.set_read_timeout(40, 0);
    auto r = cli.Post(path, body.dump(), "application/json");
    if (!r) {
      return Json{{"error", "no HTTP answer"}};
    }
    return Json::parse(r->body, nullptr, false);
  }
  std::uint64_t seq() { return get("/v1/node").value("seq", std::uint64_t{0}); }

  // The peer table: id -> peer object.
  std::map<std::string, Json> peers() {
    std::map<std::string, Json> m;
    Json r = get("/v1/peers");
    if (r.is_object() && r.contains("peers")) {
      for (const auto& p : r["peers"]) {
        m[p["id"].get<std::string>()] = p;
      }
    }
    return m;
  }
  // Does the table hold `id` with protocol flag "v4"/"v5"?
  static bool has(const std::map<std::string, Json>& t, const std::string& id,
                  const std::string& proto) {
    auto it = t.find(id);
    if (it == t.end()) {
      return false;
    }
    for (const auto& p : it->second["protocols"]) {
      if (p == proto) {
        return true;
      }
    }
    return false;
  }

  std::string stderr_tail(std::size_t n = 3000) const {
    const std::string s = read_file(dir_ / "discplane.stderr.log");
    return s.size() > n ? s.substr(s.size() - n) : s;
  }

 private:
  std::optional<std::string> line(Clock::time_point deadline) {
    auto l = child_->read_line(deadline);
    if (l) {
      std::lock_guard lock(log_mu_);
      stdout_log_ << *l << "\n";
      stdout_log_.flush();
    }
    return l;
  }

  std::filesystem::path dir_;
  std::string listen_;
  std::unique_ptr<Child> child_;
  std::mutex log_mu_;
  std::ofstream stdout_log_;
  std::thread pump_;
  std::string enode_;
  std::string enr_;
  std::string node_id_;
  int api_port_ = 0;
};

// Polls `cond` every 250 ms until it holds or `limit` passes.
inline bool eventually(const std::function<bool()>& cond, milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  for (;;) {
    if (cond()) {
      return true;
    }
    if (Clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(milliseconds(250));
  }
}

}  // namespace discplane::interop
