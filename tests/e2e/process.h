// Process helpers for the end-to-end tests: spawn a program with its stdout/stderr on pipes
// (read by one thread into line buffers), wait for a line with a deadline, stop it with a signal
// and measure how long it took to exit, temp dirs and free loopback ports. Every wait is bounded.
// A Process kills its whole process group when it goes out of scope (RAII), so a failing REQUIRE
// never leaves a discplane running; PR_SET_PDEATHSIG covers a crash of the test binary itself.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "discplane/common/bytes.h"
#include "discplane/wire/enode.h"
#include "discplane/wire/enr.h"

namespace e2e {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// A fresh directory under /tmp, removed with everything in it at scope exit.
class TempDir {
 public:
  explicit TempDir(const std::string& tag = "e2e") {
    std::string tmpl = "/tmp/discplane-" + tag + "-XXXXXX";
    if (::mkdtemp(tmpl.data()) != nullptr) {
      path_ = tmpl;
    }
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) {
      std::filesystem::remove_all(path_, ec);
    }
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  bool ok() const { return !path_.empty(); }
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  // Writes `text` to `name` in the directory; returns the full path.
  std::string write(const std::string& name, const std::string& text) const {
    const std::string p = file(name);
    std::ofstream(p) << text;
    return p;
  }

 private:
  std::filesystem::path path_;
};

// A port on `ip` that is free for both UDP and TCP right now (the kernel picks it; another
// process could take it before we use it, which the ephemeral range makes unlikely).
inline std::uint16_t free_port(const std::string& ip = "127.0.0.1") {
  for (int attempt = 0; attempt < 50; ++attempt) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = 0;
    ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
    const int u = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    socklen_t len = sizeof a;
    if (u < 0) {
      return 0;
    }
    if (::bind(u, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(u, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      ::close(u);
      continue;
    }
    const int t = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool tcp_ok = t >= 0 && ::bind(t, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    if (t >= 0) {
      ::close(t);
    }
    ::close(u);
    if (tcp_ok) {
      return ntohs(a.sin_port);
    }
  }
  return 0;
}

// Runs a shell command, returns its exit status (-1 when it did not exit normally).
inline int sh(const std::string& cmd) {
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// A child process in its own process group, stdout and stderr on pipes.
class Process {
 public:
  struct Options {
    std::vector<std::pair<std::string, std::string>> env;  // added to ours
    std::string cwd;                                       // empty: ours
  };

  // argv[0] is the program path (execv, no PATH search unless it has no '/').
  static std::unique_ptr<Process> spawn(const std::vector<std::string>& argv,
                                        const Options& options = {}) {
    int out[2];
    int err[2];
    if (::pipe2(out, O_CLOEXEC) != 0) {
      return nullptr;
    }
    if (::pipe2(err, O_CLOEXEC) != 0) {
      ::close(out[0]);
      ::close(out[1]);
      return nullptr;
    }
    // Everything the child needs is prepared before fork (no allocation after it).
    std::vector<char*> args;
    for (const auto& a : argv) {
      args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);
    std::vector<std::string> env_strings;
    for (const auto& [k, v] : options.env) {
      env_strings.push_back(k + "=" + v);
    }
    std::vector<char*> envp;
    for (char** e = environ; *e != nullptr; ++e) {
      bool overridden = false;
      for (const auto& [k, v] : options.env) {
        (void)v;
        if (std::strncmp(*e, k.c_str(), k.size()) == 0 && (*e)[k.size()] == '=') {
          overridden = true;
        }
      }
      if (!overridden) {
        envp.push_back(*e);
      }
    }
    for (auto& s : env_strings) {
      envp.push_back(s.data());
    }
    envp.push_back(nullptr);
    const pid_t parent = ::getpid();

    const pid_t pid = ::fork();
    if (pid < 0) {
      return nullptr;
    }
    if (pid == 0) {
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) {
        ::_exit(127);
      }
      ::dup2(out[1], STDOUT_FILENO);
      ::dup2(err[1], STDERR_FILENO);
      // Signals blocked or ignored in the test runner must not stay so in the child.
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::signal(SIGINT, SIG_DFL);
      ::signal(SIGTERM, SIG_DFL);
      ::signal(SIGPIPE, SIG_DFL);
      if (!options.cwd.empty() && ::chdir(options.cwd.c_str()) != 0) {
        ::_exit(127);
      }
      if (std::strchr(args[0], '/') != nullptr) {
        ::execve(args[0], args.data(), envp.data());
      } else {
        environ = envp.data();
        ::execvp(args[0], args.data());
      }
      ::_exit(127);
    }
    ::setpgid(pid, pid);  // also from the parent: no race with an early kill
    ::close(out[1]);
    ::close(err[1]);
    return std::unique_ptr<Process>(new Process(pid, out[0], err[0]));
  }

  ~Process() {
    if (running()) {
      ::kill(-pid_, SIGTERM);
      if (!wait_exit(3s)) {
        ::kill(-pid_, SIGKILL);
        (void)wait_exit(5s);
      }
    }
    if (!exited_) {
      ::kill(-pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    // The group may hold more (scripts' children): make sure none survives.
    ::kill(-pid_, SIGKILL);
    stop_reader_ = true;
    if (reader_.joinable()) {
      reader_.join();
    }
    ::close(out_fd_);
    ::close(err_fd_);
  }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }

  // Still running (reaps it when it has exited).
  bool running() {
    if (exited_) {
      return false;
    }
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      set_status(status);
      return false;
    }
    return r == 0;
  }

  // Waits up to `timeout` for the process to exit; true when it did.
  bool wait_exit(Clock::duration timeout) {
    const auto deadline = Clock::now() + timeout;
    while (running()) {
      if (Clock::now() >= deadline) {
        return false;
      }
      std::this_thread::sleep_for(1ms);
    }
    return true;
  }
  // Exit code, or 128 + signal when killed; nullopt while running.
  std::optional<int> exit_code() {
    if (running()) {
      return std::nullopt;
    }
    return exit_code_;
  }

  // Sends `sig` and waits up to `timeout`; returns how long the exit took (nullopt when it
  // did not exit in time).
  std::optional<Clock::duration> signal_and_wait(int sig, Clock::duration timeout) {
    const auto t0 = Clock::now();
    ::kill(pid_, sig);
    if (!wait_exit(timeout)) {
      return std::nullopt;
    }
    return Clock::now() - t0;
  }

  // Copies of the complete lines read so far.
  std::vector<std::string> out_lines() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return out_lines_;
  }
  std::vector<std::string> err_lines() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return err_lines_;
  }
  std::string out_text() const { return join(out_lines()); }
  std::string err_text() const { return join(err_lines()); }

  // Waits up to `timeout` until `done(stdout lines)` is true; true when it became true. Returns
  // early (false) when the process exits and its output is fully read without satisfying it.
  bool wait_for(const std::function<bool(const std::vector<std::string>&)>& done,
                Clock::duration timeout) {
    const auto deadline = Clock::now() + timeout;
    std::unique_lock<std::mutex> lock(mutex_);
    while (true) {
      if (done(out_lines_)) {
        return true;
      }
      if (eof_out_ && eof_err_) {
        return false;
      }
      if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
        return done(out_lines_);
      }
    }
  }
  // Waits until at least `n` stdout lines exist.
  bool wait_for_lines(std::size_t n, Clock::duration timeout) {
    return wait_for([n](const auto& lines) { return lines.size() >= n; }, timeout);
  }
  // Waits until the reader has seen end of file on both pipes (after exit).
  bool wait_eof(Clock::duration timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, timeout, [this] { return eof_out_ && eof_err_; });
  }

 private:
  Process(pid_t pid, int out_fd, int err_fd) : pid_(pid), out_fd_(out_fd), err_fd_(err_fd) {
    reader_ = std::thread([this] { read_loop(); });
  }

  static std::string join(const std::vector<std::string>& lines) {
    std::string s;
    for (const auto& l : lines) {
      s += l;
      s += '\n';
    }
    return s;
  }

  void set_status(int status) {
    exited_ = true;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  void read_loop() {
    std::string partial[2];
    bool open[2] = {true, true};
    const int fds[2] = {out_fd_, err_fd_};
    while ((open[0] || open[1]) && !stop_reader_) {
      pollfd p[2] = {{open[0] ? fds[0] : -1, POLLIN, 0}, {open[1] ? fds[1] : -1, POLLIN, 0}};
      if (::poll(p, 2, 50) <= 0) {
        continue;
      }
      for (int i = 0; i < 2; ++i) {
        if (!open[i] || (p[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) {
          continue;
        }
        char buf[4096];
        const ssize_t n = ::read(fds[i], buf, sizeof buf);
        std::lock_guard<std::mutex> lock(mutex_);
        if (n <= 0) {
          open[i] = false;
          if (!partial[i].empty()) {
            (i == 0 ? out_lines_ : err_lines_).push_back(partial[i]);
          }
          (i == 0 ? eof_out_ : eof_err_) = true;
        } else {
          partial[i].append(buf, static_cast<std::size_t>(n));
          std::size_t nl;
          while ((nl = partial[i].find('\n')) != std::string::npos) {
            (i == 0 ? out_lines_ : err_lines_).push_back(partial[i].substr(0, nl));
            partial[i].erase(0, nl + 1);
          }
        }
        cv_.notify_all();
      }
    }
    std::lock_guard<std::mutex> lock(mutex_);
    eof_out_ = eof_err_ = true;
    cv_.notify_all();
  }

  pid_t pid_;
  int out_fd_;
  int err_fd_;
  bool exited_ = false;
  int exit_code_ = -1;
  std::atomic<bool> stop_reader_{false};
  std::thread reader_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::string> out_lines_;
  std::vector<std::string> err_lines_;
  bool eof_out_ = false;
  bool eof_err_ = false;
};

// ---- discplane instances -----------------------------------------------------------------

inline std::string discplane_path() {
  return DP_BINARY_DIR "/discplane";
}

// The table as the peer lines tell it: "peer + <id16> v4,v5 <endpoint> d=N | table: ...".
struct PeerState {
  std::map<std::string, std::string> protocols;  // id16 -> "v4" | "v5" | "v4,v5"
  std::map<std::string, std::string> endpoints;  // id16 -> "ip:port"
  int added = 0;                                 // "peer +" lines
  int removed = 0;                               // "peer -" lines
  int malformed = 0;

  bool has(const std::string& id16, const std::string& flags) const {
    const auto it = protocols.find(id16);
    return it != protocols.end() && it->second == flags;
  }

  // One "peer" line, parsed by hand (std::regex trips GCC 12's -Wmaybe-uninitialized under
  // ASan): "peer [+-] <16 hex> <flags> +<endpoint> +d= *<n> | table: <n> nodes (v4 <n>, v5 <n>)".
  struct Line {
    char sign = 0;
    std::string id16;
    std::string flags;
    std::string endpoint;
  };
  static std::optional<Line> parse_line(std::string_view l) {
    auto lit = [&](std::string_view s) {
      if (!l.starts_with(s)) {
        return false;
      }
      l.remove_prefix(s.size());
      return true;
    };
    auto spaces = [&](bool required) {
      const std::size_t n = l.find_first_not_of(' ');
      const std::size_t skip = n == std::string_view::npos ? l.size() : n;
      l.remove_prefix(skip);
      return skip > 0 || !required;
    };
    auto word = [&](std::string& out) {  // \S+
      const std::size_t n = std::min(l.find_first_of(" \t"), l.size());
      out.assign(l.substr(0, n));
      l.remove_prefix(n);
      return n > 0;
    };
    auto digits = [&]() {  // \d+
      std::size_t n = 0;
      while (n < l.size() && l[n] >= '0' && l[n] <= '9') {
        ++n;
      }
      l.remove_prefix(n);
      return n > 0;
    };
    Line out;
    if (!lit("peer ") || l.empty() || (l[0] != '+' && l[0] != '-')) {
      return std::nullopt;
    }
    out.sign = l[0];
    l.remove_prefix(1);
    if (!lit(" ") || l.size() < 16) {
      return std::nullopt;
    }
    out.id16.assign(l.substr(0, 16));
    for (char c : out.id16) {
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
        return std::nullopt;
      }
    }
    l.remove_prefix(16);
    if (!lit(" ") || !word(out.flags) || !spaces(true) || !word(out.endpoint) || !spaces(true) ||
        !lit("d=") || !spaces(false) || !digits() || !lit(" | table: ") || !digits() ||
        !lit(" nodes (v4 ") || !digits() || !lit(", v5 ") || !digits() || !lit(")") || !l.empty()) {
      return std::nullopt;
    }
    return out;
  }

  static PeerState of(const std::vector<std::string>& lines) {
    PeerState s;
    for (const auto& l : lines) {
      if (!l.starts_with("peer ")) {
        continue;
      }
      const auto m = parse_line(l);
      if (!m) {
        ++s.malformed;
        continue;
      }
      if (m->sign == '+') {
        ++s.added;
        s.protocols[m->id16] = m->flags;
        s.endpoints[m->id16] = m->endpoint;
      } else {
        ++s.removed;
        s.protocols.erase(m->id16);
        s.endpoints.erase(m->id16);
      }
    }
    return s;
  }
};

struct NodeOptions {
  std::string name;              // key file <name>.key, config <name>.yaml
  std::string mode = "node";     // node | bootnode | crawl
  std::string ip = "127.0.0.1";  // UDP listen address (and the API's, on another port)
  std::uint16_t port = 0;        // 0: a free one
  std::uint16_t tcp_port = 0;    // network.tcp_port (0: not written, the default)
  std::vector<std::string> protocols = {"discv4", "discv5"};
  std::vector<std::string> bootnodes;
  std::string lookup_interval = "2s";
  std::string revalidate_interval;  // "{discv4: 60s, discv5: 1s}"; empty: the default
  std::string api_listen;           // empty: <ip>:<free port>
  std::string extra_yaml;           // appended as is (a dataplane: section, ...)
  std::vector<std::string> prefix;  // argv before the program (ip netns exec NS)
  bool quiet = false;
  // The local networks these tests build put several nodes in 127.0.0.0/24, more than the
  // table's IP limits admit (nothing is exempt by default): a `table: ip_limit_exempt` line
  // says so, as a local testnet's config would. Off for a test that writes its own table:.
  bool exempt_loopback = true;
};

// One running discplane: its process and the identity it printed.
struct Node {
  std::unique_ptr<Process> proc;
  std::string config_path;
  std::string key_file;
  std::uint16_t port = 0;
  std::string enode;
  std::string enr;
  std::string id16;  // first 16 hex digits of the node id, as in the peer lines

  static std::string yaml(const TempDir& dir, NodeOptions& o) {
    if (o.port == 0) {
      o.port = free_port(o.ip);
    }
    if (o.api_listen.empty()) {
      o.api_listen = o.ip + ":" + std::to_string(free_port(o.ip));
    }
    std::ostringstream y;
    y << "mode: " << o.mode << "\n";
    y << "identity:\n  key_file: " << dir.file(o.name + ".key") << "\n";
    y << "network:\n  listen: " << o.ip << ":" << o.port << "\n";
    if (o.tcp_port != 0) {
      y << "  tcp_port: " << o.tcp_port << "\n";
    }
    y << "protocols: [";
    for (std::size_t i = 0; i < o.protocols.size(); ++i) {
      y << (i ? ", " : "") << o.protocols[i];
    }
    y << "]\n";
    y << "bootnodes:" << (o.bootnodes.empty() ? " []" : "") << "\n";
    for (const auto& b : o.bootnodes) {
      y << "  - \"" << b << "\"\n";
    }
    y << "timers:\n  lookup_interval: {discv4: " << o.lookup_interval
      << ", discv5: " << o.lookup_interval << "}\n";
    if (!o.revalidate_interval.empty()) {
      y << "  revalidate_interval: " << o.revalidate_interval << "\n";
    }
    y << "api:\n  listen: " << o.api_listen << "\n";
    if (o.exempt_loopback) {
      y << "table:\n  ip_limit_exempt: [127.0.0.0/8]\n";
    }
    y << o.extra_yaml;
    return y.str();
  }

  // Writes the config, starts the program and waits (up to `timeout`) for its two identity
  // lines; REQUIREs that both parse and name one node id.
  static std::unique_ptr<Node> start(const TempDir& dir, NodeOptions o,
                                     Clock::duration timeout = 20s) {
    auto n = std::make_unique<Node>();
    const std::string text = yaml(dir, o);
    n->config_path = dir.write(o.name + ".yaml", text);
    n->key_file = dir.file(o.name + ".key");
    n->port = o.port;
    std::vector<std::string> argv = o.prefix;
    argv.push_back(discplane_path());
    argv.push_back("--config");
    argv.push_back(n->config_path);
    if (o.quiet) {
      argv.push_back("--quiet");
    }
    n->proc = Process::spawn(argv);
    REQUIRE(n->proc);
    const bool started = n->proc->wait_for_lines(2, timeout);
    INFO("config " << o.name << ":\n"
                   << text << "stdout:\n"
                   << n->proc->out_text() << "stderr:\n"
                   << n->proc->err_text());
    REQUIRE(started);
    const auto lines = n->proc->out_lines();
    n->enode = lines[0];
    n->enr = lines[1];
    auto url = discplane::enode::parse(n->enode);
    auto record = discplane::enr::parse_text(n->enr);
    REQUIRE(url);
    REQUIRE(record);
    REQUIRE(url->node_id() == record->node_id());
    n->id16 = discplane::to_hex(record->node_id()).substr(0, 16);
    return n;
  }

  PeerState table() const { return PeerState::of(proc->out_lines()); }
  bool wait_for_table(const std::function<bool(const PeerState&)>& done, Clock::duration t) {
    return proc->wait_for([&](const auto& lines) { return done(PeerState::of(lines)); }, t);
  }
  // Waits until the table holds `id16` with exactly `flags` ("v4", "v5", "v4,v5").
  bool wait_peer(const std::string& id16, const std::string& flags, Clock::duration t) {
    return wait_for_table([&](const PeerState& s) { return s.has(id16, flags); }, t);
  }
};

}  // namespace e2e
