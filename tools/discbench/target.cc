// discbench target mode: drives EXTERNAL discovery nodes over loopback UDP (kernel sockets),
// doing the client side of each protocol, and compares them side by side.
//
//   discbench --target=NAME,URL[,PID] [--target=...] [SCENARIO...] [--ids=N] [--conc=4,16,64]
//             [--seconds=S] [--timeout-ms=T] [--verify-every=K] [--hs-pool=N] [--json=FILE]
//             [--source=A.B.C.D] [--smoke]
//
// URL is an enode:// URL (discv4 scenarios: v4-ping, v4-findnode) or an enr: record (discv5:
// v5-ping, v5-findnode, v5-handshake). A node that speaks both is given twice under the same
// NAME. PID (optional) is the target's process: its CPU time over each level is reported. The
// first NAME given is the reference; the summary table gives its best rate over each other
// target's best rate.
//
// Each synthetic identity ("slot") has its own UDP socket on its own loopback address
// 127.2.x.y (kernel-chosen port), a deterministic key and a signed ENR with that address.
// --source=A.B.C.D moves the slots to A.B.C.D, A.B.C.D+1, ... (addresses the caller put on an
// interface, e.g. a veth end in a test namespace: scripts/af-xdp-bench.sh). Sources and
// targets must be loopback (127/8) or link-local (169.254/16): this tool sends nowhere else.
// Load is closed loop: at concurrency level C, min(ids, C) slots keep ceil(C / slots) requests
// outstanding each (one for v4-findnode, whose NEIGHBORS carry no request id, and for
// v5-handshake); an answer (or a timeout) frees the place for the next request. Only correct
// answers count (see check_*). Each level runs a warm-up, then `--seconds` of measurement:
// rate = correct answers completed in the window / window, latency = request sent -> answer
// complete (wall clock). Requests still unanswered after --timeout-ms count as lost and are
// re-issued.
//
// Client side of each protocol:
// - discv4: each slot bonds first (PING, PONG; every PING from the target is answered with a
//   PONG), then sends freshly signed PINGs (distinct expirations: the replay filters keep them)
//   or FINDNODEs (random target). A PONG must echo the ping hash; NEIGHBORS must carry nodes;
//   a FINDNODE is complete once as many nodes arrived as the target sent to one probe FINDNODE
//   after the bonds (its table and packet limits; or 30 ms after its last NEIGHBORS packet
//   when fewer arrive: counted as "partial"). Every K-th answer is fully decoded (signature
//   recovered, signer = the target); the others are checked by packet hash + echoed ping hash / RLP
//   node count, to keep the generator's secp256k1 cost off the measured path.
// - discv5: each slot handshakes once (random packet, WHOAREYOU, handshake packet with our
//   ENR and a PING, PONG), then sends PINGs / FINDNODE(256,255,254) on the session. A PONG
//   must decrypt with the session key, echo the req-id and report our address; FINDNODE is
//   complete when NODES packets numbering their `total` arrived with the req-id. v5-handshake
//   uses a fresh identity (pre-generated key + ENR) for each handshake. A PING or FINDNODE
//   from the target is answered (PONG / empty NODES); a WHOAREYOU to a session message means
//   the target dropped the session: the slot handshakes again (counted).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "discplane/crypto/keccak.h"
#include "discplane/crypto/random.h"
#include "discplane/wire/enode.h"
#include "discplane/wire/rlp.h"
#include "discplane/wire/v4wire.h"
#include "discplane/wire/v5wire.h"

#include "bench.h"

namespace discbench {

namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "discbench: %s\n", what.c_str());
  std::exit(2);
}

std::int64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}
std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
std::int64_t process_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}
// utime + stime of another process, ns; -1 when unreadable.
std::int64_t pid_cpu_ns(int pid) {
  if (pid <= 0) {
    return -1;
  }
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const std::size_t close = s.rfind(')');
  if (close == std::string::npos) {
    return -1;
  }
  // Fields after the command: state(3) ... utime(14) stime(15).
  std::vector<std::string> fields;
  std::size_t p = close + 2;
  while (p < s.size() && fields.size() < 13) {
    const std::size_t q = s.find(' ', p);
    fields.push_back(s.substr(p, q - p));
    p = q == std::string::npos ? s.size() : q + 1;
  }
  if (fields.size() < 13) {
    return -1;
  }
  const double ticks = std::stod(fields[11]) + std::stod(fields[12]);
  return static_cast<std::int64_t>(ticks * 1e9 / static_cast<double>(::sysconf(_SC_CLK_TCK)));
}

// ---- targets -------------------------------------------------------------------------------
struct Target {
  std::string name;
  std::string url;
  int pid = 0;
  bool v5 = false;
  crypto::PublicKey pub{};
  NodeId id{};
  Endpoint ep;
};

Target parse_target(const std::string& spec) {
  Target t;
  const std::size_t c1 = spec.find(',');
  if (c1 == std::string::npos) {
    die("--target=NAME,URL[,PID]: " + spec);
  }
  t.name = spec.substr(0, c1);
  const std::size_t c2 = spec.find(',', c1 + 1);
  t.url = spec.substr(c1 + 1, c2 == std::string::npos ? c2 : c2 - c1 - 1);
  if (c2 != std::string::npos) {
    t.pid = std::atoi(spec.c_str() + c2 + 1);
  }
  if (t.url.rfind("enode://", 0) == 0) {
    auto u = enode::parse(t.url);
    if (!u) {
      die("bad enode URL: " + t.url);
    }
    t.pub = u->public_key;
    t.ep = u->udp_endpoint();
  } else if (t.url.rfind("enr:", 0) == 0) {
    auto r = enr::parse_text(t.url);
    if (!r) {
      die("bad ENR: " + t.url);
    }
    auto ep = r->udp_endpoint_v4();
    if (!ep) {
      die("ENR has no IPv4 udp endpoint: " + t.url);
    }
    t.v5 = true;
    t.pub = r->public_key();
    t.ep = *ep;
  } else {
    die("target must be enode://... or enr:...: " + t.url);
  }
  if (!t.ep.ip.is_v4()) {
    die("target mode is IPv4 only");
  }
  t.id = crypto::node_id_of(t.pub);
  return t;
}

// ---- identities and slots -------------------------------------------------------------------
struct Ident {
  crypto::PrivateKey key{};
  crypto::PublicKey pub{};
  NodeId id{};
  Bytes record;  // ENR RLP
  std::uint64_t seq = 1;
};
Ident make_ident(std::uint64_t seed, const Endpoint& ep) {
  Ident i;
  i.key = key_from_seed(seed);
  i.pub = *crypto::derive_public_key(i.key);
  i.id = crypto::node_id_of(i.pub);
  enr::Builder b;
  b.set_seq(1).set_ip(ep.ip).set_udp(ep.port);
  auto r = b.sign(i.key);
  if (!r) {
    die("ENR signing failed");
  }
  i.record.assign(r->raw().begin(), r->raw().end());
  return i;
}

enum class Phase : std::uint8_t { kNone, kAwaitPong, kAwaitWhoareyou, kAwaitHsPong, kReady };

struct Req {
  std::uint64_t req_id = 0;
  Hash256 hash{};  // discv4: the packet hash (what PONG echoes)
  std::int64_t sent_ns = 0;
  std::uint32_t nodes = 0;    // records / nodes received so far
  std::uint32_t packets = 0;  // answer packets received so far
  std::uint64_t total = 0;    // discv5 NODES total
  std::int64_t last_ns = 0;
};

struct Slot {
  int fd = -1;
  Endpoint ep;
  Ident ident;
  std::optional<crypto::AesCtr128> own_masker;  // unmasks packets sent to this identity
  std::optional<crypto::AesGcm128> write, read;
  Phase phase = Phase::kNone;
  v5wire::Nonce hs_nonce{};
  std::uint64_t hs_req = 0;
  std::int64_t hs_started = 0;
  std::vector<Req> out;  // outstanding requests
  std::uint64_t v4_ctr = 0;
  bool bonded = false;
  std::vector<Ident> pool;  // v5-handshake: fresh identities
  std::size_t pool_used = 0;
  std::uint64_t fresh_seed = 0;
  std::optional<crypto::AesCtr128> prev_masker;  // the identity before (v5-handshake)
  void set_ident(Ident i) {
    prev_masker = std::move(own_masker);
    ident = std::move(i);
    own_masker.emplace(v5wire::masking_key(ident.id));
    write.reset();
    read.reset();
  }
};

struct LevelResult {
  std::string scenario, target;
  std::size_t conc = 0, slots = 0, window = 0;
  double seconds = 0;
  std::uint64_t answered = 0, lost = 0, wrong = 0, partial = 0, rehandshakes = 0;
  std::uint64_t full_checked = 0, unmatched = 0, served = 0;
  double rate = 0, p50_us = 0, p99_us = 0;
  double target_cpu = -1, client_cpu = 0;  // fraction of one core over the window
  double per_core = 0;  // correct answers per second of the target's CPU time (all threads)
  double load_avg = 0;  // 1-minute load average at the end of the level
  double nodes_per_answer = 0, packets_per_answer = 0;
  std::string first_wrong;
};

struct Cfg {
  std::uint32_t ids = 64;
  std::vector<std::size_t> conc{4, 16, 64};
  double seconds = 3;
  double warmup = 0.5;
  std::int64_t timeout_ns = 1'000'000'000;
  std::uint32_t verify_every = 8;
  std::size_t hs_pool = 16384;
  std::uint32_t source = (127U << 24) | (2U << 16) | 1;  // first slot's address (host order)
  bool smoke = false;
};

class Runner {
 public:
  Runner(const Target& t, const std::string& scenario, const Cfg& cfg)
      : t_(t), scenario_(scenario), cfg_(cfg), to_target_(v5wire::masking_key(t.id)) {
    dst_.sin_family = AF_INET;
    dst_.sin_port = htons(t.ep.port);
    std::memcpy(&dst_.sin_addr, t.ep.ip.bytes.data(), 4);
    ep_fd_ = ::epoll_create1(0);
    // Distinct seed ranges per scenario and target, so no run reuses another's identities.
    static std::uint64_t runs = 0;
    const std::uint64_t base =
        1'000'000ULL * (1 + (std::hash<std::string>{}(scenario + t.url) + 7 * runs++) % 4000);
    for (std::uint32_t i = 0; i < cfg.ids; ++i) {
      Slot s;
      s.fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(cfg.source + i);
      if (s.fd < 0 || ::bind(s.fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
        die("cannot bind a generator socket on the --source range (default 127.2.0.1 + slot)");
      }
      int buf = 1 << 20;
      (void)::setsockopt(s.fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
      socklen_t len = sizeof a;
      (void)::getsockname(s.fd, reinterpret_cast<sockaddr*>(&a), &len);
      std::array<std::uint8_t, 4> ip{};
      std::memcpy(ip.data(), &a.sin_addr, 4);
      s.ep = Endpoint{IpAddress::v4(ip[0], ip[1], ip[2], ip[3]), ntohs(a.sin_port)};
      s.set_ident(make_ident(base + i, s.ep));
      s.fresh_seed = base + 100'000 + static_cast<std::uint64_t>(i) * 1'000'000'000ULL;
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u32 = i;
      (void)::epoll_ctl(ep_fd_, EPOLL_CTL_ADD, s.fd, &ev);
      slots_.push_back(std::move(s));
    }
    if (scenario_ == "v5-handshake") {
      // Fresh identities for the measured handshakes, made before any timing.
      const std::size_t per = std::max<std::size_t>(1, cfg.hs_pool / cfg.ids);
      for (Slot& s : slots_) {
        for (std::size_t k = 0; k < per; ++k) {
          s.pool.push_back(make_ident(s.fresh_seed++, s.ep));
        }
      }
    }
  }
  ~Runner() {
    for (Slot& s : slots_) {
      ::close(s.fd);
    }
    ::close(ep_fd_);
  }

  // Bonds (discv4) or handshakes (discv5) every slot. False when not all completed.
  bool setup(std::string& why) {
    if (scenario_ == "v5-handshake") {
      return true;
    }
    const std::int64_t deadline = mono_ns() + 15'000'000'000LL;
    for (std::uint32_t i = 0; i < slots_.size(); ++i) {
      if (t_.v5) {
        start_handshake(i);
      } else {
        send_v4_ping(i);
      }
    }
    std::int64_t last_resend = mono_ns();
    while (mono_ns() < deadline) {
      pump(1);
      std::size_t done = 0;
      for (Slot& s : slots_) {
        done += (t_.v5 ? s.phase == Phase::kReady : s.bonded) ? 1 : 0;
      }
      if (done == slots_.size()) {
        // discv4: give the target a moment to take our PONGs to its pings.
        const std::int64_t settle = mono_ns() + 200'000'000;
        while (mono_ns() < settle) {
          pump(1);
        }
        for (Slot& s : slots_) {
          s.out.clear();
        }
        if (scenario_ == "v4-findnode") {
          probe_neighbors();
        }
        return true;
      }
      if (mono_ns() - last_resend > 2'000'000'000) {  // retry the stragglers every 2 s
        last_resend = mono_ns();
        for (std::uint32_t i = 0; i < slots_.size(); ++i) {
          Slot& s = slots_[i];
          if (t_.v5 && s.phase != Phase::kReady) {
            start_handshake(i);
          } else if (!t_.v5 && !s.bonded) {
            s.out.clear();
            send_v4_ping(i);
          }
        }
      }
    }
    std::size_t done = 0;
    for (Slot& s : slots_) {
      done += (t_.v5 ? s.phase == Phase::kReady : s.bonded) ? 1 : 0;
    }
    why = "set-up: " + std::to_string(done) + " of " + std::to_string(slots_.size()) +
          (t_.v5 ? " handshakes" : " bonds") + " completed in 15 s";
    return false;
  }

  // v4-findnode: how many nodes the target puts in its answer (its table, its packet limit);
  // a FINDNODE is complete once that many arrived.
  void probe_neighbors() {
    probing_ = true;
    send_v4_findnode(0);
    // Up to 2 s for the first packet, then 100 ms of quiet after the last one.
    const std::int64_t until = mono_ns() + 2'000'000'000;
    while (mono_ns() < until) {
      pump(1);
      const Slot& s = slots_[0];
      if (!s.out.empty() && s.out.front().nodes > 0 &&
          mono_ns() - s.out.front().last_ns > 100'000'000) {
        break;
      }
    }
    want_nodes_ = slots_[0].out.empty() ? 0 : slots_[0].out.front().nodes;
    slots_[0].out.clear();
    probing_ = false;
  }
  std::uint32_t want_nodes() const { return want_nodes_; }

  // The concurrency a level of `conc` really runs at (slots x window).
  std::size_t effective(std::size_t conc) const {
    const bool single = scenario_ == "v4-findnode" || scenario_ == "v5-handshake";
    const std::size_t active = std::min<std::size_t>(slots_.size(), conc);
    return active * (single ? 1 : (conc + active - 1) / active);
  }

  LevelResult run_level(std::size_t conc) {
    LevelResult r;
    r.scenario = scenario_;
    r.target = t_.name;
    const bool single = scenario_ == "v4-findnode" || scenario_ == "v5-handshake";
    active_ = std::min<std::size_t>(slots_.size(), conc);
    window_ = single ? 1 : (conc + active_ - 1) / active_;
    r.conc = active_ * window_;
    r.slots = active_;
    r.window = window_;
    res_ = &r;
    lat_.clear();
    counting_ = false;
    const std::int64_t start = mono_ns();
    const std::int64_t warm_end = start + static_cast<std::int64_t>(cfg_.warmup * 1e9);
    const std::int64_t end = warm_end + static_cast<std::int64_t>(cfg_.seconds * 1e9);
    stop_issuing_ = false;
    for (std::uint32_t i = 0; i < active_; ++i) {
      refill(i);
    }
    std::int64_t next_scan = start;
    std::int64_t cpu0 = 0, tcpu0 = 0;
    for (;;) {
      const std::int64_t now = mono_ns();
      if (!counting_ && now >= warm_end) {
        counting_ = true;
        r.answered = r.lost = r.wrong = r.partial = r.rehandshakes = r.full_checked = 0;
        r.unmatched = r.served = 0;
        nodes_sum_ = packets_sum_ = 0;
        lat_.clear();
        r.first_wrong.clear();
        cpu0 = process_cpu_ns();
        tcpu0 = pid_cpu_ns(t_.pid);
      }
      if (now >= end) {
        break;
      }
      pump(1);
      if (mono_ns() >= next_scan) {
        next_scan = mono_ns() + 5'000'000;
        scan_timeouts();
      }
    }
    const std::int64_t stop = mono_ns();
    counting_ = false;
    const double window_s = static_cast<double>(stop - warm_end) / 1e9;
    r.seconds = window_s;
    r.client_cpu = static_cast<double>(process_cpu_ns() - cpu0) / 1e9 / window_s;
    const std::int64_t tcpu1 = pid_cpu_ns(t_.pid);
    if (tcpu0 >= 0 && tcpu1 >= 0) {
      r.target_cpu = static_cast<double>(tcpu1 - tcpu0) / 1e9 / window_s;
      if (tcpu1 > tcpu0) {
        r.per_core = static_cast<double>(r.answered) / (static_cast<double>(tcpu1 - tcpu0) / 1e9);
      }
    }
    r.rate = static_cast<double>(r.answered) / window_s;
    {
      std::ifstream la("/proc/loadavg");
      la >> r.load_avg;
    }
    if (!lat_.empty()) {
      std::sort(lat_.begin(), lat_.end());
      r.p50_us = static_cast<double>(lat_[lat_.size() / 2]) / 1e3;
      r.p99_us = static_cast<double>(lat_[(lat_.size() - 1) * 99 / 100]) / 1e3;
    }
    if (r.answered > 0) {
      r.nodes_per_answer = static_cast<double>(nodes_sum_) / static_cast<double>(r.answered);
      r.packets_per_answer = static_cast<double>(packets_sum_) / static_cast<double>(r.answered);
    }
    // Drain: stop issuing, let in-flight answers land (not counted), then forget them.
    stop_issuing_ = true;
    const std::int64_t drain = mono_ns() + 300'000'000;
    while (mono_ns() < drain) {
      pump(1);
    }
    for (Slot& s : slots_) {
      s.out.clear();
      if (scenario_ == "v5-handshake") {
        s.phase = Phase::kNone;
      }
    }
    res_ = nullptr;
    return r;
  }

 private:
  // ---- I/O ----
  void send(std::uint32_t i, ByteView p) {
    (void)::sendto(slots_[i].fd, p.data(), p.size(), 0, reinterpret_cast<const sockaddr*>(&dst_),
                   sizeof dst_);
  }
  void pump(int timeout_ms) {
    std::array<epoll_event, 256> evs{};
    const int n = ::epoll_wait(ep_fd_, evs.data(), static_cast<int>(evs.size()), timeout_ms);
    for (int k = 0; k < n; ++k) {
      const std::uint32_t i = evs[static_cast<std::size_t>(k)].data.u32;
      for (int burst = 0; burst < 64; ++burst) {
        sockaddr_in from{};
        socklen_t fl = sizeof from;
        const ssize_t len = ::recvfrom(slots_[i].fd, rx_.data(), rx_.size(), 0,
                                       reinterpret_cast<sockaddr*>(&from), &fl);
        if (len <= 0) {
          break;
        }
        if (from.sin_port != dst_.sin_port || from.sin_addr.s_addr != dst_.sin_addr.s_addr) {
          continue;  // not from the target
        }
        const ByteView p(rx_.data(), static_cast<std::size_t>(len));
        if (t_.v5) {
          on_v5(i, p);
        } else {
          on_v4(i, p);
        }
      }
    }
  }
  void complete(std::uint32_t i, std::size_t k, std::int64_t at, bool partial = false) {
    Slot& s = slots_[i];
    const Req rq = s.out[k];
    s.out.erase(s.out.begin() + static_cast<long>(k));
    if (counting_ && res_ != nullptr) {
      ++res_->answered;
      res_->partial += partial ? 1 : 0;
      nodes_sum_ += rq.nodes;
      packets_sum_ += rq.packets;
      lat_.push_back(at - rq.sent_ns);
    }
    refill(i);
  }
  void wrong(const std::string& why) {
    if (res_ != nullptr && counting_) {
      ++res_->wrong;
      if (res_->first_wrong.empty()) {
        res_->first_wrong = why;
      }
    } else if (res_ == nullptr && setup_wrong_.empty()) {
      setup_wrong_ = why;
    }
  }
  bool full_check_due() { return cfg_.verify_every <= 1 || ++check_ctr_ % cfg_.verify_every == 0; }
  void refill(std::uint32_t i) {
    if (res_ == nullptr || stop_issuing_ || i >= active_) {
      return;
    }
    Slot& s = slots_[i];
    if (scenario_ == "v5-handshake") {
      if (s.phase != Phase::kAwaitWhoareyou && s.phase != Phase::kAwaitHsPong) {
        if (s.pool_used < s.pool.size()) {
          s.set_ident(s.pool[s.pool_used++]);
        } else {
          s.set_ident(make_ident(s.fresh_seed++, s.ep));  // pool exhausted: made inline
        }
        start_handshake(i);
      }
      return;
    }
    if (t_.v5 && s.phase != Phase::kReady) {
      return;  // re-handshaking
    }
    while (s.out.size() < window_) {
      if (scenario_ == "v4-ping") {
        send_v4_ping(i);
      } else if (scenario_ == "v4-findnode") {
        send_v4_findnode(i);
      } else {
        send_v5_request(i, scenario_ == "v5-ping");
      }
    }
  }
  void scan_timeouts() {
    const std::int64_t now = mono_ns();
    for (std::uint32_t i = 0; i < active_; ++i) {
      Slot& s = slots_[i];
      if ((s.phase == Phase::kAwaitWhoareyou || s.phase == Phase::kAwaitHsPong) &&
          now - s.hs_started > cfg_.timeout_ns) {
        if (counting_) {
          ++res_->lost;
        }
        s.phase = Phase::kNone;
        if (scenario_ != "v5-handshake") {
          start_handshake(i);
        } else {
          refill(i);
        }
        continue;
      }
      for (std::size_t k = 0; k < s.out.size();) {
        Req& rq = s.out[k];
        if (scenario_ == "v4-findnode" && rq.nodes > 0 && now - rq.last_ns > 30'000'000) {
          complete(i, k, rq.last_ns, true);
          continue;
        }
        if (now - rq.sent_ns > cfg_.timeout_ns) {
          if (counting_) {
            ++res_->lost;
          }
          s.out.erase(s.out.begin() + static_cast<long>(k));
          refill(i);
          continue;
        }
        ++k;
      }
    }
  }

  // ---- discv4 ----
  void send_v4_ping(std::uint32_t i) {
    Slot& s = slots_[i];
    v4wire::Ping p;
    p.from = {s.ep.ip, s.ep.port, s.ep.port};
    p.to = {t_.ep.ip, t_.ep.port, 0};
    // Distinct expiration per ping: distinct hashes (replay filters keep them all).
    p.expiration = static_cast<std::uint64_t>(unix_now() + 20) + ++s.v4_ctr;
    auto enc = v4wire::encode_ping(s.ident.key, p, tx_);
    if (!enc) {
      die("encode_ping failed");
    }
    Req rq;
    std::memcpy(rq.hash.data(), tx_.data(), 32);
    rq.sent_ns = mono_ns();
    s.out.push_back(rq);
    send(i, ByteView(tx_.data(), enc->size));
  }
  void send_v4_findnode(std::uint32_t i) {
    Slot& s = slots_[i];
    v4wire::FindNode f;
    rng_.fill(f.target);
    f.expiration = static_cast<std::uint64_t>(unix_now() + 20);
    auto enc = v4wire::encode_findnode(s.ident.key, f, tx_);
    if (!enc) {
      die("encode_findnode failed");
    }
    Req rq;
    rq.sent_ns = mono_ns();
    s.out.push_back(rq);
    send(i, ByteView(tx_.data(), enc->size));
  }
  void on_v4(std::uint32_t i, ByteView p) {
    Slot& s = slots_[i];
    if (p.size() < 98 || !v4wire::hash_matches(p)) {
      wrong("discv4 answer with a bad hash");
      return;
    }
    const std::uint8_t type = p[97];
    if (type == 1) {  // the target's PING: answer it (endpoint proof for the target)
      v4wire::Pong pong;
      pong.to = {t_.ep.ip, t_.ep.port, 0};
      std::memcpy(pong.ping_hash.data(), p.data(), 32);
      pong.expiration = static_cast<std::uint64_t>(unix_now() + 20);
      auto enc = v4wire::encode_pong(s.ident.key, pong, tx_);
      if (enc) {
        send(i, ByteView(tx_.data(), enc->size));
      }
      if (res_ != nullptr && counting_) {
        ++res_->served;
      }
      return;
    }
    const bool full = full_check_due();
    if (full) {
      auto d = v4wire::decode(p);
      if (!d || d->sender != t_.pub) {
        wrong("discv4 answer not signed by the target");
        return;
      }
      if (res_ != nullptr && counting_) {
        ++res_->full_checked;
      }
    }
    if (type == 2) {
      // PONG: find the request whose hash it echoes (RLP string of 32 bytes: 0xa0 || hash).
      for (std::size_t k = 0; k < s.out.size(); ++k) {
        std::array<std::uint8_t, 33> needle{};
        needle[0] = 0xa0;
        std::memcpy(needle.data() + 1, s.out[k].hash.data(), 32);
        const auto body = p.subspan(98);
        if (std::search(body.begin(), body.end(), needle.begin(), needle.end()) != body.end()) {
          if (res_ == nullptr) {  // set-up bond
            s.bonded = true;
            s.out.erase(s.out.begin() + static_cast<long>(k));
            return;
          }
          if (scenario_ != "v4-ping") {
            s.out.erase(s.out.begin() + static_cast<long>(k));
            return;
          }
          s.out[k].packets = 1;
          complete(i, k, mono_ns());
          return;
        }
      }
      if (res_ != nullptr && counting_) {
        ++res_->unmatched;
      }
      return;
    }
    if (type == 4) {
      // NEIGHBORS: [[nodes...], expiration]
      std::size_t nodes = 0;
      auto item = rlp::decode_prefix(p.subspan(98));
      if (item && item->is_list) {
        rlp::ListReader lr(item->payload);
        auto nl = lr.next_list();
        if (nl) {
          auto c = nl->count();
          nodes = c ? *c : 0;
        }
      }
      if (nodes == 0) {
        wrong("NEIGHBORS without nodes");
        return;
      }
      if (scenario_ != "v4-findnode" || s.out.empty()) {
        if (res_ != nullptr && counting_) {
          ++res_->unmatched;
        }
        return;
      }
      Req& rq = s.out.front();
      rq.nodes += static_cast<std::uint32_t>(nodes);
      ++rq.packets;
      rq.last_ns = mono_ns();
      if (!probing_ && rq.nodes >= want_nodes_) {
        complete(i, 0, rq.last_ns);
      }
      return;
    }
    // FINDNODE / ENRREQUEST from the target: not answered (the generator keeps no table).
  }

  // ---- discv5 ----
  v5wire::Nonce fresh_nonce() {
    v5wire::Nonce n{};
    rng_.fill(n);
    return n;
  }
  v5wire::MaskingIv fresh_iv() {
    v5wire::MaskingIv iv{};
    rng_.fill(iv);
    return iv;
  }
  void start_handshake(std::uint32_t i) {
    Slot& s = slots_[i];
    crypto::AesKey k{};
    rng_.fill(k);
    const crypto::AesGcm128 junk(k);
    const Bytes pt(20, 0x42);
    s.hs_nonce = fresh_nonce();
    auto p = v5wire::encode_message_packet(tx_, to_target_, s.ident.id, s.hs_nonce, fresh_iv(),
                                           junk, pt);
    if (!p) {
      die("encode random packet failed");
    }
    s.phase = Phase::kAwaitWhoareyou;
    s.hs_started = mono_ns();
    s.out.clear();
    send(i, *p);
  }
  Bytes request_plaintext(bool ping, std::uint64_t req_id) {
    std::array<std::uint8_t, 8> rid{};
    put_u64(rid, req_id);
    Bytes out(256);
    if (ping) {
      auto m = v5wire::encode_ping(out, rid, 1);
      out.resize(m ? m->size() : 0);
    } else {
      const std::array<std::uint16_t, 3> d{256, 255, 254};
      auto m = v5wire::encode_findnode(out, rid, d);
      out.resize(m ? m->size() : 0);
    }
    return out;
  }
  void send_v5_request(std::uint32_t i, bool ping) {
    Slot& s = slots_[i];
    Req rq;
    rq.req_id = ++req_ctr_;
    const Bytes pt = request_plaintext(ping, rq.req_id);
    auto p = v5wire::encode_message_packet(tx_, to_target_, s.ident.id, fresh_nonce(), fresh_iv(),
                                           *s.write, pt);
    if (!p) {
      die("encode message packet failed");
    }
    rq.sent_ns = mono_ns();
    s.out.push_back(rq);
    send(i, *p);
  }
  void reply(std::uint32_t i, ByteView plaintext) {
    Slot& s = slots_[i];
    auto p = v5wire::encode_message_packet(tx_, to_target_, s.ident.id, fresh_nonce(), fresh_iv(),
                                           *s.write, plaintext);
    if (p) {
      send(i, *p);
    }
    if (res_ != nullptr && counting_) {
      ++res_->served;
    }
  }
  void on_v5(std::uint32_t i, ByteView p) {
    Slot& s = slots_[i];
    auto h = v5wire::decode_header(p, *s.own_masker, scratch_);
    if (!h && s.prev_masker && v5wire::decode_header(p, *s.prev_masker, scratch_)) {
      // Late packet to this slot's previous identity (v5-handshake rotates them).
      if (res_ != nullptr && counting_) {
        ++res_->unmatched;
      }
      return;
    }
    if (!h && scenario_ == "v5-handshake") {
      // To an older identity of this slot: cannot be attributed, so not judged (an answer
      // the current handshake needed and did not get shows up as lost).
      if (res_ != nullptr && counting_) {
        ++res_->unmatched;
      }
      return;
    }
    if (!h) {
      wrong(std::string("discv5 packet from the target does not decode: ") +
            std::string(v5wire::to_string(h.error())));
      return;
    }
    if (h->flag == v5wire::Flag::kWhoareyou) {
      if (s.phase == Phase::kAwaitWhoareyou && h->nonce == s.hs_nonce) {
        answer_whoareyou(i, *h);
        return;
      }
      if (s.phase == Phase::kReady) {  // the target lost our session
        if (res_ != nullptr && counting_) {
          ++res_->rehandshakes;
          res_->lost += s.out.size();
        }
        s.phase = Phase::kAwaitWhoareyou;
        s.out.clear();
        s.hs_nonce = h->nonce;
        s.hs_started = mono_ns();
        answer_whoareyou(i, *h);
      }
      return;
    }
    if (h->flag != v5wire::Flag::kMessage || !s.read) {
      if (res_ != nullptr && counting_) {
        ++res_->unmatched;
      }
      return;
    }
    if (h->src_id != t_.id) {
      wrong("discv5 message not from the target's node id");
      return;
    }
    auto pt = v5wire::open_message(*h, *s.read, plain_);
    if (!pt) {
      wrong("discv5 answer does not decrypt with the session key");
      return;
    }
    auto m = v5wire::decode_message(*pt);
    if (!m) {
      wrong("discv5 answer does not decode");
      return;
    }
    if (const auto* pong = std::get_if<v5wire::Pong>(&*m)) {
      const std::uint64_t rid = get_u64(pong->req_id);
      if (pong->recipient_ip != s.ep.ip || pong->recipient_port != s.ep.port) {
        wrong("PONG/v5 reports a wrong address");
        return;
      }
      if (s.phase == Phase::kAwaitHsPong && rid == s.hs_req) {
        s.phase = Phase::kReady;
        if (scenario_ == "v5-handshake" && res_ != nullptr) {
          if (counting_) {
            ++res_->answered;
            ++packets_sum_;
            lat_.push_back(mono_ns() - s.hs_started);
          }
          s.phase = Phase::kNone;
          refill(i);
        } else {
          refill(i);
        }
        return;
      }
      for (std::size_t k = 0; k < s.out.size(); ++k) {
        if (s.out[k].req_id == rid) {
          s.out[k].packets = 1;
          complete(i, k, mono_ns());
          return;
        }
      }
      if (res_ != nullptr && counting_) {
        ++res_->unmatched;
      }
      return;
    }
    if (const auto* nodes = std::get_if<v5wire::Nodes>(&*m)) {
      const std::uint64_t rid = get_u64(nodes->req_id);
      for (std::size_t k = 0; k < s.out.size(); ++k) {
        Req& rq = s.out[k];
        if (rq.req_id != rid) {
          continue;
        }
        if (nodes->total < 1 || nodes->total > 16 || nodes->records.size() > 16) {
          wrong("NODES/v5 with a bad total or too many records");
          return;
        }
        rq.total = nodes->total;
        rq.nodes += static_cast<std::uint32_t>(nodes->records.size());
        ++rq.packets;
        if (rq.packets >= rq.total) {
          if (rq.nodes == 0) {
            wrong("NODES/v5 answer without records");
            s.out.erase(s.out.begin() + static_cast<long>(k));
            refill(i);
            return;
          }
          complete(i, k, mono_ns());
        }
        return;
      }
      if (res_ != nullptr && counting_) {
        ++res_->unmatched;
      }
      return;
    }
    if (const auto* ping = std::get_if<v5wire::Ping>(&*m)) {
      Bytes out(128);
      auto e = v5wire::encode_pong(out, ping->req_id, s.ident.seq, s.ep.ip, s.ep.port);
      if (e) {
        reply(i, *e);
      }
      return;
    }
    if (const auto* fn = std::get_if<v5wire::FindNode>(&*m)) {
      Bytes out(128);
      auto e = v5wire::encode_nodes(out, fn->req_id, 1, {});
      if (e) {
        reply(i, *e);
      }
      return;
    }
  }
  void answer_whoareyou(std::uint32_t i, const v5wire::Header& h) {
    Slot& s = slots_[i];
    crypto::PrivateKey eph{};
    do {
      rng_.fill(eph);
    } while (!crypto::is_valid_private_key(eph));
    auto hs = v5wire::make_initiator_handshake(s.ident.key, eph, t_.pub, s.ident.id, t_.id,
                                               h.header_data);
    if (!hs) {
      wrong("make_initiator_handshake failed");
      return;
    }
    s.write.emplace(hs->keys.initiator_key);
    s.read.emplace(hs->keys.recipient_key);
    const bool with_record = h.enr_seq != s.ident.seq;
    s.hs_req = ++req_ctr_;
    const Bytes pt = request_plaintext(true, s.hs_req);
    auto p = v5wire::encode_handshake(
        tx_, to_target_, s.ident.id, fresh_nonce(), fresh_iv(), hs->id_signature, hs->eph_pubkey,
        with_record ? ByteView(s.ident.record) : ByteView{}, *s.write, pt);
    if (!p) {
      die("encode_handshake failed");
    }
    s.phase = Phase::kAwaitHsPong;
    send(i, *p);
  }

  const Target& t_;
  std::string scenario_;
  Cfg cfg_;
  crypto::AesCtr128 to_target_;
  sockaddr_in dst_{};
  int ep_fd_ = -1;
  std::vector<Slot> slots_;
  std::size_t active_ = 0, window_ = 1;
  LevelResult* res_ = nullptr;
  bool counting_ = false;
  bool stop_issuing_ = false;
  std::vector<std::int64_t> lat_;
  std::uint64_t nodes_sum_ = 0, packets_sum_ = 0;
  std::uint64_t req_ctr_ = 0;
  std::uint64_t check_ctr_ = 0;
  std::string setup_wrong_;
  bool probing_ = false;
  std::uint32_t want_nodes_ = 16;
  crypto::BulkRandom rng_;
  std::array<std::uint8_t, 1280> tx_{};
  std::array<std::uint8_t, 2048> rx_{};
  std::array<std::uint8_t, 1280> scratch_{};
  std::array<std::uint8_t, 1280> plain_{};

 public:
  const std::string& setup_wrong() const { return setup_wrong_; }
};

std::vector<std::size_t> parse_list(const std::string& s) {
  std::vector<std::size_t> v;
  for (std::size_t p = 0; p < s.size();) {
    const std::size_t q = s.find(',', p);
    v.push_back(std::strtoull(s.substr(p, q - p).c_str(), nullptr, 10));
    p = q == std::string::npos ? s.size() : q + 1;
  }
  return v;
}

std::string fmt_cpu(double c) {
  if (c < 0) {
    return "-";
  }
  char b[32];
  std::snprintf(b, sizeof b, "%.0f%%", c * 100);
  return b;
}

// What held the level's rate: a process that used (nearly) a whole core, or, when neither did
// and the machine had more runnable tasks than cores, the share of the CPUs they got.
std::string limited_by(const LevelResult& r) {
  if (r.target_cpu >= 0.85) {
    return "target CPU";
  }
  if (r.client_cpu >= 0.85) {
    return "generator CPU";
  }
  if (r.load_avg > static_cast<double>(::sysconf(_SC_NPROCESSORS_ONLN))) {
    char b[48];
    std::snprintf(b, sizeof b, "CPU share (load %.0f)", r.load_avg);
    return b;
  }
  return "window/latency";
}

nlohmann::json to_json(const LevelResult& r) {
  return {{"scenario", r.scenario},
          {"target", r.target},
          {"concurrency", r.conc},
          {"slots", r.slots},
          {"window", r.window},
          {"seconds", r.seconds},
          {"answered", r.answered},
          {"rate_per_s", r.rate},
          {"p50_us", r.p50_us},
          {"p99_us", r.p99_us},
          {"lost", r.lost},
          {"wrong", r.wrong},
          {"first_wrong", r.first_wrong},
          {"partial", r.partial},
          {"rehandshakes", r.rehandshakes},
          {"full_checked", r.full_checked},
          {"unmatched", r.unmatched},
          {"served", r.served},
          {"target_cpu", r.target_cpu},
          {"answers_per_target_cpu_s", r.per_core},
          {"load_avg", r.load_avg},
          {"client_cpu", r.client_cpu},
          {"nodes_per_answer", r.nodes_per_answer},
          {"packets_per_answer", r.packets_per_answer}};
}

int usage() {
  std::fprintf(stderr,
               "usage: discbench --target=NAME,URL[,PID] [--target=...] [v4-ping v4-findnode "
               "v5-ping v5-findnode v5-handshake]\n"
               "                 [--ids=N] [--conc=4,16,64] [--seconds=S] [--warmup=S] "
               "[--timeout-ms=T]\n"
               "                 [--verify-every=K] [--hs-pool=N] [--json=FILE] "
               "[--source=A.B.C.D] [--smoke]\n");
  return 2;
}

}  // namespace

int target_main(int argc, char** argv) {
  Cfg cfg;
  std::vector<Target> targets;
  std::vector<std::string> scenarios;
  std::string json_file;
  const std::vector<std::string> known{"v4-ping", "v4-findnode", "v5-ping", "v5-findnode",
                                       "v5-handshake"};
  bool conc_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto val = [&](const char* k) { return a.substr(std::strlen(k)); };
    if (a.rfind("--target=", 0) == 0) {
      targets.push_back(parse_target(val("--target=")));
    } else if (a.rfind("--ids=", 0) == 0) {
      cfg.ids = static_cast<std::uint32_t>(std::strtoul(val("--ids=").c_str(), nullptr, 10));
    } else if (a.rfind("--conc=", 0) == 0) {
      cfg.conc = parse_list(val("--conc="));
      conc_given = true;
    } else if (a.rfind("--seconds=", 0) == 0) {
      cfg.seconds = std::strtod(val("--seconds=").c_str(), nullptr);
    } else if (a.rfind("--warmup=", 0) == 0) {
      cfg.warmup = std::strtod(val("--warmup=").c_str(), nullptr);
    } else if (a.rfind("--timeout-ms=", 0) == 0) {
      cfg.timeout_ns = std::strtoll(val("--timeout-ms=").c_str(), nullptr, 10) * 1'000'000;
    } else if (a.rfind("--verify-every=", 0) == 0) {
      cfg.verify_every =
          static_cast<std::uint32_t>(std::strtoul(val("--verify-every=").c_str(), nullptr, 10));
    } else if (a.rfind("--hs-pool=", 0) == 0) {
      cfg.hs_pool = std::strtoull(val("--hs-pool=").c_str(), nullptr, 10);
    } else if (a.rfind("--json=", 0) == 0) {
      json_file = val("--json=");
    } else if (a.rfind("--source=", 0) == 0) {
      in_addr src{};
      if (::inet_pton(AF_INET, val("--source=").c_str(), &src) != 1) {
        return usage();
      }
      cfg.source = ntohl(src.s_addr);
    } else if (a == "--smoke") {
      cfg.smoke = true;
    } else if (std::find(known.begin(), known.end(), a) != known.end()) {
      if (std::find(scenarios.begin(), scenarios.end(), a) == scenarios.end()) {
        scenarios.push_back(a);
      }
    } else {
      return usage();
    }
  }
  if (targets.empty() || cfg.ids == 0 || cfg.ids > 65000 || cfg.conc.empty() || cfg.seconds <= 0 ||
      cfg.seconds > 60 || cfg.timeout_ns <= 0) {
    return usage();
  }
  // Test traffic stays on this machine: loopback, or link-local inside a test's namespace.
  const auto local_only = [](std::uint32_t a) {
    return (a >> 24) == 127 || (a >> 16) == ((169U << 8) | 254U);
  };
  if (!local_only(cfg.source) || !local_only(cfg.source + cfg.ids - 1)) {
    std::fprintf(stderr, "discbench: --source must stay in 127.0.0.0/8 or 169.254.0.0/16\n");
    return 2;
  }
  for (const Target& t : targets) {
    std::uint32_t ip = 0;
    std::memcpy(&ip, t.ep.ip.bytes.data(), 4);
    if (!local_only(ntohl(ip))) {
      std::fprintf(stderr, "discbench: target %s is not loopback or link-local\n",
                   t.ep.to_string().c_str());
      return 2;
    }
  }
  if (cfg.smoke) {
    cfg.seconds = std::min(cfg.seconds, 1.0);
    cfg.warmup = std::min(cfg.warmup, 0.3);
    cfg.ids = std::min<std::uint32_t>(cfg.ids, 16);
    cfg.verify_every = 1;
    cfg.hs_pool = std::min<std::size_t>(cfg.hs_pool, 256);
    if (!conc_given) {
      cfg.conc = {4};
    }
  }
  if (scenarios.empty()) {
    scenarios = known;
  }
  std::printf("discbench target mode: %u identities, concurrency levels", cfg.ids);
  for (const std::size_t c : cfg.conc) {
    std::printf(" %zu", c);
  }
  std::printf(", %.1f s per level after %.1f s warm-up, request timeout %lld ms\n", cfg.seconds,
              cfg.warmup, static_cast<long long>(cfg.timeout_ns / 1'000'000));
  std::printf("%-13s %-11s %5s %9s %9s %9s %6s %6s %6s %5s %5s %7s %7s %10s %s\n", "scenario",
              "target", "conc", "answered", "rate/s", "p50 us", "p99 us", "lost", "wrong", "nodes",
              "pkts", "tgt cpu", "gen cpu", "per-core/s", "limited by");
  nlohmann::json out = nlohmann::json::object();
  out["levels"] = nlohmann::json::array();
  // best[scenario][target] = best level
  std::map<std::string, std::map<std::string, LevelResult>> best;
  std::map<std::string, std::map<std::string, LevelResult>> best_core;  // by per_core
  std::vector<std::string> order;
  int failures = 0;
  for (const std::string& sc : scenarios) {
    const bool v5 = sc.rfind("v5-", 0) == 0;
    for (const Target& t : targets) {
      if (t.v5 != v5) {
        continue;
      }
      Runner runner(t, sc, cfg);
      std::string why;
      if (!runner.setup(why) || (sc == "v4-findnode" && runner.want_nodes() == 0)) {
        if (why.empty()) {
          why = "the target answered FINDNODE with no (valid) NEIGHBORS";
        }
        std::printf("%-13s %-11s FAILED %s\n", sc.c_str(), t.name.c_str(), why.c_str());
        ++failures;
        continue;
      }
      std::vector<std::size_t> done_levels;
      for (const std::size_t c : cfg.conc) {
        if (std::find(done_levels.begin(), done_levels.end(), runner.effective(c)) !=
            done_levels.end()) {
          continue;  // same level as one already run (window 1 scenarios, few ids)
        }
        done_levels.push_back(runner.effective(c));
        const LevelResult r = runner.run_level(c);
        std::printf(
            "%-13s %-11s %5zu %9llu %9.0f %9.0f %6.0f %6llu %6llu %5.1f %5.1f %7s %7s %10.0f %s\n",
            sc.c_str(), t.name.c_str(), r.conc, static_cast<unsigned long long>(r.answered), r.rate,
            r.p50_us, r.p99_us, static_cast<unsigned long long>(r.lost),
            static_cast<unsigned long long>(r.wrong), r.nodes_per_answer, r.packets_per_answer,
            fmt_cpu(r.target_cpu).c_str(), fmt_cpu(r.client_cpu).c_str(), r.per_core,
            limited_by(r).c_str());
        if (r.wrong > 0) {
          std::printf("%-13s %-11s   WRONG: %s\n", "", "", r.first_wrong.c_str());
          ++failures;
        }
        if (r.answered == 0) {
          std::printf("%-13s %-11s   WRONG: no correct answer\n", "", "");
          ++failures;
        }
        std::fflush(stdout);
        out["levels"].push_back(to_json(r));
        auto& b = best[sc];
        if (b.find(t.name) == b.end() || r.rate > b[t.name].rate) {
          b[t.name] = r;
        }
        auto& bc = best_core[sc];
        if (r.answered >= 50 && (bc.find(t.name) == bc.end() || r.per_core > bc[t.name].per_core)) {
          bc[t.name] = r;
        }
      }
      if (std::find(order.begin(), order.end(), t.name) == order.end()) {
        order.push_back(t.name);
      }
    }
  }
  // Side-by-side: the best level of each target, and the reference's ratio to each. Two
  // views: the wall-clock rate (what the target answered on this machine, at whatever CPU share
  // it got) and the rate per second of the target's own CPU time (its cost per answer; for a
  // single-threaded target, the most one core can give it).
  const std::string ref = targets.front().name;
  std::printf(
      "\nside by side: best level of each target; ratio = %s / target\n"
      "  rate = correct answers per wall second; per-core = correct answers per second of the\n"
      "  target process's CPU time (best level by that measure)\n",
      ref.c_str());
  std::printf("%-13s %-11s %5s %9s %8s %8s %7s %7s %-20s %7s %10s %7s\n", "scenario", "target",
              "conc", "rate/s", "p50 us", "p99 us", "tgt cpu", "gen cpu", "limited by", "ratio",
              "per-core/s", "ratio");
  out["best"] = nlohmann::json::array();
  auto ratio_text = [](double v) {
    if (v <= 0) {
      return std::string("-");
    }
    char b[32];
    std::snprintf(b, sizeof b, "%.1fx", v);
    return std::string(b);
  };
  for (const std::string& sc : scenarios) {
    auto it = best.find(sc);
    if (it == best.end()) {
      continue;
    }
    const auto rit = it->second.find(ref);
    auto& bc = best_core[sc];
    const auto rcit = bc.find(ref);
    for (const std::string& name : order) {
      const auto bit = it->second.find(name);
      if (bit == it->second.end()) {
        continue;
      }
      const LevelResult& r = bit->second;
      const auto cit = bc.find(name);
      const double per_core = cit != bc.end() ? cit->second.per_core : 0;
      double ratio_v = 0, ratio_core = 0;
      if (name != ref && rit != it->second.end() && r.rate > 0) {
        ratio_v = rit->second.rate / r.rate;
      }
      if (name != ref && rcit != bc.end() && per_core > 0) {
        ratio_core = rcit->second.per_core / per_core;
      }
      std::printf("%-13s %-11s %5zu %9.0f %8.0f %8.0f %7s %7s %-20s %7s %10.0f %7s\n", sc.c_str(),
                  name.c_str(), r.conc, r.rate, r.p50_us, r.p99_us, fmt_cpu(r.target_cpu).c_str(),
                  fmt_cpu(r.client_cpu).c_str(), limited_by(r).c_str(), ratio_text(ratio_v).c_str(),
                  per_core, ratio_text(ratio_core).c_str());
      nlohmann::json j = to_json(r);
      j["reference"] = ref;
      j["ratio_of_reference"] = ratio_v;
      j["best_answers_per_target_cpu_s"] = per_core;
      j["ratio_of_reference_per_core"] = ratio_core;
      out["best"].push_back(j);
    }
  }
  if (!json_file.empty()) {
    std::ofstream(json_file) << out.dump(2) << "\n";
  }
  std::printf("%s\n", failures == 0 ? "all answers correct" : "FAILURES (see WRONG lines)");
  return failures == 0 ? 0 : 1;
}

}  // namespace discbench
