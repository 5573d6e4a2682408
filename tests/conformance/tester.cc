// Conformance tester implementation: process control, loopback UDP, and the discv4/discv5
// tester sides built on discplane's codecs (see tester.h).
#include "tester.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "discplane/crypto/aes.h"
#include "discplane/crypto/keccak.h"
#include "discplane/crypto/random.h"
#include "discplane/wire/rlp.h"

namespace discplane::conformance {

namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

IpAddress listen1_ip() {
  return IpAddress::v4(127, 0, 0, 1);
}
IpAddress listen2_ip() {
  return IpAddress::v4(127, 0, 0, 2);
}

namespace {

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what);
}

sockaddr_in to_sockaddr(const Endpoint& e) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(e.port);
  std::memcpy(&sa.sin_addr, e.ip.bytes.data(), 4);
  return sa;
}

Endpoint from_sockaddr(const sockaddr_in& sa) {
  Endpoint e;
  e.ip = IpAddress::v4(ByteView(reinterpret_cast<const std::uint8_t*>(&sa.sin_addr), 4));
  e.port = ntohs(sa.sin_port);
  return e;
}

// A free port on 127.0.0.1 for `type` (SOCK_DGRAM / SOCK_STREAM): bound, read, closed.
std::uint16_t free_port(int type) {
  int fd = ::socket(AF_INET, type, 0);
  if (fd < 0) {
    fail("socket: " + std::string(std::strerror(errno)));
  }
  sockaddr_in sa = to_sockaddr({listen1_ip(), 0});
  socklen_t len = sizeof sa;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    ::close(fd);
    fail("bind: " + std::string(std::strerror(errno)));
  }
  ::close(fd);
  return ntohs(sa.sin_port);
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

template <std::size_t N>
ByteArray<N> random_array() {
  ByteArray<N> a{};
  crypto::os_random(a);
  return a;
}

crypto::PrivateKey fresh_key() {
  crypto::PrivateKey k = crypto::generate_private_key();
  return k;
}

crypto::PublicKey public_of(const crypto::PrivateKey& k) {
  auto pub = crypto::derive_public_key(k);
  if (!pub) {
    fail("derive_public_key failed");
  }
  return *pub;
}

}  // namespace

// ---- DutProcess
// -----------------------------------------------------------------------------------

std::unique_ptr<DutProcess> DutProcess::start(const DutOptions& options) {
  // DP_CONFORMANCE_DISCPLANE=path runs another build (e.g. a sanitizer one) as the DUT.
  const char* override_binary = std::getenv("DP_CONFORMANCE_DISCPLANE");
  const fs::path binary =
      override_binary ? fs::path(override_binary) : fs::path(DP_BINARY_DIR) / "discplane";
  if (!fs::exists(binary)) {
    fail("no discplane binary at " + binary.string() + " (build the `discplane` target)");
  }
  std::string last_error;
  for (int attempt = 0; attempt < 3; ++attempt) {  // a picked port may be taken meanwhile
    std::unique_ptr<DutProcess> dut(new DutProcess());
    char tmpl[] = "/tmp/dp-conformance-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      fail("mkdtemp: " + std::string(std::strerror(errno)));
    }
    dut->dir_ = tmpl;
    const std::uint16_t udp = free_port(SOCK_DGRAM);
    const std::uint16_t api = free_port(SOCK_STREAM);
    std::string protocols;
    if (options.discv4) {
      protocols += "discv4";
    }
    if (options.discv5) {
      protocols += protocols.empty() ? "discv5" : ", discv5";
    }
    const fs::path config = dut->dir_ / "discplane.yaml";
    {
      std::ofstream out(config);
      out << "mode: node\n"
          << "identity:\n  key_file: " << (dut->dir_ / "nodekey").string() << "\n"
          << "network:\n  listen: 127.0.0.1:" << udp << "\n  external_ip: auto\n"
          << "protocols: [" << protocols << "]\n"
          << "bootnodes: []\n"
          << "dataplane:\n  backend: socket\n"
          << "api:\n  listen: 127.0.0.1:" << api << "\n"
          << "logging:\n  level: debug\n"
          // The suites' nodes all sit on 127.0.0.1 (test 7 needs 5 of them in the table):
          // a local test network exempts loopback from the IP limits explicitly.
          << "table:\n  ip_limit_exempt: [127.0.0.0/8]\n"
          << options.extra_yaml;
    }
    const std::string out_path = (dut->dir_ / "stdout.txt").string();
    const std::string err_path = (dut->dir_ / "stderr.txt").string();
    const pid_t pid = ::fork();
    if (pid < 0) {
      fail("fork: " + std::string(std::strerror(errno)));
    }
    if (pid == 0) {
      const int o = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      const int e = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (o < 0 || e < 0) {
        ::_exit(126);
      }
      ::dup2(o, 1);
      ::dup2(e, 2);
      const std::string bin = binary.string();
      const std::string cfg = config.string();
      ::execl(bin.c_str(), bin.c_str(), "--config", cfg.c_str(), "--quiet",
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    dut->pid_ = pid;
    // Wait for the two identity lines (enode URL, ENR).
    const auto deadline = SteadyClock::now() + std::chrono::seconds(15);
    std::string text;
    bool exited = false;
    while (SteadyClock::now() < deadline) {
      text = read_file(out_path);
      std::size_t lines = 0;
      for (char c : text) {
        lines += c == '\n';
      }
      if (lines >= 2) {
        break;
      }
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        dut->pid_ = -1;
        exited = true;
        break;
      }
      std::this_thread::sleep_for(Millis(5));
    }
    if (exited) {
      last_error = "discplane exited early: " + dut->stderr_tail();
      continue;
    }
    std::istringstream lines(text);
    std::string enode_line;
    std::string enr_line;
    if (!std::getline(lines, enode_line) || !std::getline(lines, enr_line)) {
      fail("discplane printed no identity within 15 s: " + dut->stderr_tail());
    }
    auto url = enode::parse(enode_line);
    if (!url) {
      fail("bad enode line \"" + enode_line + "\": " + std::string(enode::to_string(url.error())));
    }
    auto record = enr::parse_text(enr_line);
    if (!record) {
      fail("bad enr line \"" + enr_line + "\": " + std::string(enr::to_string(record.error())));
    }
    if (record->public_key() != url->public_key) {
      fail("enode and ENR name different keys");
    }
    dut->url_ = *url;
    dut->record_ = *record;
    dut->enode_text_ = enode_line;
    dut->api_port_ = api;
    // main() installs its SIGTERM handler right after printing; give it that moment, so an
    // early stop() does not hit the default action.
    std::this_thread::sleep_for(Millis(20));
    return dut;
  }
  fail(last_error);
}

DutProcess::~DutProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  std::error_code ec;
  if (!dir_.empty() && std::getenv("DP_CONFORMANCE_KEEP") == nullptr) {
    fs::remove_all(dir_, ec);
  }
}

bool DutProcess::running() {
  if (pid_ <= 0) {
    return false;
  }
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

DutProcess::StopResult DutProcess::stop(Millis limit) {
  StopResult r;
  if (pid_ <= 0) {
    return r;
  }
  const auto t0 = SteadyClock::now();
  ::kill(pid_, SIGTERM);
  int status = 0;
  while (true) {
    const pid_t w = ::waitpid(pid_, &status, WNOHANG);
    const auto elapsed = SteadyClock::now() - t0;
    if (w == pid_) {
      r.exited = true;
      r.seconds = std::chrono::duration<double>(elapsed).count();
      break;
    }
    if (elapsed > limit) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      r.seconds = std::chrono::duration<double>(elapsed).count();
      break;
    }
    std::this_thread::sleep_for(Millis(2));
  }
  pid_ = -1;
  if (WIFEXITED(status)) {
    r.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    r.signaled = true;
    r.signal = WTERMSIG(status);
  }
  return r;
}

std::string DutProcess::api_get(const std::string& path) const {
  const std::string cmd =
      "curl -s --max-time 2 http://127.0.0.1:" + std::to_string(api_port_) + path + " 2>/dev/null";
  std::string out;
  if (FILE* f = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
      out.append(buf, n);
    }
    ::pclose(f);
  }
  return out;
}

std::string DutProcess::stderr_tail(std::size_t max_bytes) const {
  std::string s = read_file(dir_ / "stderr.txt");
  return s.size() > max_bytes ? s.substr(s.size() - max_bytes) : s;
}

// ---- UdpSocket
// ------------------------------------------------------------------------------------

UdpSocket::UdpSocket(const IpAddress& ip) {
  fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    fail("socket: " + std::string(std::strerror(errno)));
  }
  sockaddr_in sa = to_sockaddr({ip, 0});
  socklen_t len = sizeof sa;
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
      ::getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    const std::string err = std::strerror(errno);
    ::close(fd_);
    fail("bind " + ip.to_string() + ": " + err);
  }
  local_ = from_sockaddr(sa);
}

UdpSocket::~UdpSocket() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

void UdpSocket::send_to(ByteView data, const Endpoint& to) {
  sockaddr_in sa = to_sockaddr(to);
  if (::sendto(fd_, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa) !=
      static_cast<ssize_t>(data.size())) {
    fail("sendto " + to.to_string() + ": " + std::strerror(errno));
  }
}

std::optional<Datagram> UdpSocket::receive(Millis timeout, std::size_t max_size) {
  const auto deadline = SteadyClock::now() + timeout;
  while (true) {
    const auto left = std::chrono::duration_cast<Millis>(deadline - SteadyClock::now()).count();
    if (left <= 0) {
      return std::nullopt;
    }
    pollfd p{fd_, POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(left));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return std::nullopt;
    }
    Datagram d;
    d.data.resize(max_size);
    sockaddr_in sa{};
    socklen_t len = sizeof sa;
    const ssize_t got =
        ::recvfrom(fd_, d.data.data(), d.data.size(), 0, reinterpret_cast<sockaddr*>(&sa), &len);
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) {
        continue;
      }
      fail("recvfrom: " + std::string(std::strerror(errno)));
    }
    d.data.resize(static_cast<std::size_t>(got));
    d.from = from_sockaddr(sa);
    return d;
  }
}

// ---- discv4
// ---------------------------------------------------------------------------------------

std::uint64_t future_expiration() {
  return static_cast<std::uint64_t>(std::time(nullptr)) + 20;
}
std::uint64_t past_expiration() {
  return std::uint64_t{0} - future_expiration();
}

std::string V4Reply::describe() const {
  if (timeout) {
    return "timeout (no packet within the wait time)";
  }
  if (error) {
    return "undecodable packet (" + std::string(v4wire::to_string(*error)) + ", " +
           std::to_string(raw.size()) + " bytes)";
  }
  return std::string(v4wire::to_string(packet->type)) + " packet";
}

V4Tester::V4Tester(const DutProcess& dut)
    : dut_(dut),
      key_(fresh_key()),
      public_key_(public_of(key_)),
      l1_(listen1_ip()),
      l2_(listen2_ip()) {}

v4wire::RpcEndpoint V4Tester::local_endpoint(const UdpSocket& s) const {
  return {s.local().ip, s.local().port, 0};
}

v4wire::RpcEndpoint V4Tester::remote_endpoint() const {
  return {dut_.url().ip, dut_.url().udp_port, dut_.url().tcp_port};
}

v4wire::RpcEndpoint V4Tester::wrong_endpoint() {
  return {IpAddress::v4(192, 0, 2, 0), 0, 0};
}

namespace {
template <class Encode>
Hash256 send_v4(UdpSocket& s, const Endpoint& to, Encode&& encode) {
  std::array<std::uint8_t, v4wire::kMaxPacketSize> buf{};
  auto enc = encode(MutableByteView(buf));
  if (!enc) {
    fail("v4 encode failed: " + std::string(v4wire::to_string(enc.error())));
  }
  s.send_to(ByteView(buf.data(), enc->size), to);
  return enc->hash;
}
}  // namespace

Hash256 V4Tester::send_ping(UdpSocket& s, const v4wire::RpcEndpoint& from,
                            const v4wire::RpcEndpoint& to, std::uint64_t expiration) {
  v4wire::Ping ping;
  ping.version = 4;
  ping.from = from;
  ping.to = to;
  ping.expiration = expiration;
  return send_v4(s, dut_.endpoint(),
                 [&](MutableByteView out) { return v4wire::encode_ping(key_, ping, out); });
}

Hash256 V4Tester::send_pong(UdpSocket& s, const Hash256& reply_token) {
  v4wire::Pong pong;
  pong.to = remote_endpoint();
  pong.ping_hash = reply_token;
  pong.expiration = future_expiration();
  return send_v4(s, dut_.endpoint(),
                 [&](MutableByteView out) { return v4wire::encode_pong(key_, pong, out); });
}

Hash256 V4Tester::send_findnode(UdpSocket& s, const crypto::PublicKey& target,
                                std::uint64_t expiration) {
  v4wire::FindNode f;
  f.target = target;
  f.expiration = expiration;
  return send_v4(s, dut_.endpoint(),
                 [&](MutableByteView out) { return v4wire::encode_findnode(key_, f, out); });
}

Hash256 V4Tester::send_enrrequest(UdpSocket& s, std::uint64_t expiration) {
  v4wire::ENRRequest r;
  r.expiration = expiration;
  return send_v4(s, dut_.endpoint(),
                 [&](MutableByteView out) { return v4wire::encode_enrrequest(key_, r, out); });
}

Hash256 V4Tester::send_neighbors(UdpSocket& s, std::span<const v4wire::NeighborNode> nodes) {
  return send_v4(s, dut_.endpoint(), [&](MutableByteView out) {
    auto r = v4wire::encode_neighbors(key_, nodes, future_expiration(), out);
    return r ? Result<v4wire::Encoded, v4wire::V4Error>(r->packet)
             : Result<v4wire::Encoded, v4wire::V4Error>(tl::unexpected(r.error()));
  });
}

Hash256 V4Tester::send_signed(UdpSocket& s, std::uint8_t type, ByteView rlp) {
  Bytes packet(v4wire::kHeaderSize + 1 + rlp.size());
  packet[v4wire::kHeaderSize] = type;
  std::memcpy(packet.data() + v4wire::kHeaderSize + 1, rlp.data(), rlp.size());
  const Hash256 digest = crypto::keccak256(ByteView(packet).subspan(v4wire::kHeaderSize));
  const crypto::RecoverableSignature sig = crypto::sign_recoverable(key_, digest);
  std::memcpy(packet.data() + v4wire::kHashSize, sig.data(), sig.size());
  const Hash256 hash = crypto::keccak256(ByteView(packet).subspan(v4wire::kHashSize));
  std::memcpy(packet.data(), hash.data(), hash.size());
  s.send_to(packet, dut_.endpoint());
  return hash;
}

V4Reply V4Tester::read(UdpSocket& s, Millis timeout) {
  V4Reply r;
  auto d = s.receive(timeout, kV4ReadBuffer);
  if (!d) {
    r.timeout = true;
    return r;
  }
  r.raw = std::move(d->data);
  auto p = v4wire::decode(r.raw);
  if (!p) {
    r.error = p.error();
  } else {
    r.packet = *p;
  }
  return r;
}

std::string V4Tester::bond(std::optional<Hash256> pong_token) {
  send_ping(l1_, local_endpoint(l1_), remote_endpoint(), future_expiration());
  bool got_ping = false;
  bool got_pong = false;
  while (!got_ping || !got_pong) {
    V4Reply r = read(l1_);
    if (!r.packet) {
      return "bond: " + r.describe() + " (have PING " + std::to_string(got_ping) + ", PONG " +
             std::to_string(got_pong) + ")";
    }
    if (r.packet->type == v4wire::PacketType::kPing) {
      send_pong(l1_, pong_token.value_or(r.packet->hash));
      got_ping = true;
    } else if (r.packet->type == v4wire::PacketType::kPong) {
      got_pong = true;
    }
  }
  return {};
}

std::string check_v4_pong(const V4Reply& reply, const Hash256& ping_hash, const UdpSocket& s) {
  if (!reply.is(v4wire::PacketType::kPong)) {
    return "expected PONG, got " + reply.describe();
  }
  const auto& pong = std::get<v4wire::Pong>(reply.packet->message);
  if (pong.ping_hash != ping_hash) {
    return "PONG reply token mismatch: got " + to_hex(pong.ping_hash) + ", want " +
           to_hex(ping_hash);
  }
  if (pong.to.ip != s.local().ip || pong.to.udp != s.local().port) {
    return "PONG 'to' endpoint mismatch: got " + Endpoint{pong.to.ip, pong.to.udp}.to_string() +
           ", want " + s.local().to_string();
  }
  if (v4wire::is_expired(pong.expiration, static_cast<std::int64_t>(std::time(nullptr)))) {
    return "PONG is expired (" + std::to_string(pong.expiration) + ")";
  }
  return {};
}

// ---- discv5
// ---------------------------------------------------------------------------------------

std::string V5Reply::describe() const {
  switch (kind) {
    case Kind::kTimeout:
      return "timeout (no packet within the wait time)";
    case Kind::kError:
      return "read error: " + error;
    case Kind::kWhoareyou:
      return "WHOAREYOU (nonce " + to_hex(nonce) + ", enr-seq " + std::to_string(enr_seq) + ")";
    case Kind::kMessage:
      return std::string(v5wire::name(v5wire::type_of(*message)));
  }
  return "?";
}

namespace {
template <class Encode>
Bytes make_plaintext(Encode&& encode) {
  Bytes buf(v5wire::kMaxPacketSize);
  auto r = encode(MutableByteView(buf));
  if (!r) {
    fail("v5 message encode failed: " + std::string(v5wire::to_string(r.error())));
  }
  return Bytes(r->begin(), r->end());
}
}  // namespace

Bytes v5_ping(ByteView req_id, std::uint64_t enr_seq) {
  return make_plaintext([&](MutableByteView o) { return v5wire::encode_ping(o, req_id, enr_seq); });
}
Bytes v5_pong(ByteView req_id, std::uint64_t enr_seq, const Endpoint& recipient) {
  return make_plaintext([&](MutableByteView o) {
    return v5wire::encode_pong(o, req_id, enr_seq, recipient.ip, recipient.port);
  });
}
Bytes v5_findnode(ByteView req_id, std::span<const std::uint16_t> distances) {
  return make_plaintext(
      [&](MutableByteView o) { return v5wire::encode_findnode(o, req_id, distances); });
}
Bytes v5_nodes(ByteView req_id, std::uint64_t total) {
  return make_plaintext(
      [&](MutableByteView o) { return v5wire::encode_nodes(o, req_id, total, {}); });
}
Bytes v5_talkreq(ByteView req_id, std::string_view protocol, ByteView request) {
  return make_plaintext([&](MutableByteView o) {
    return v5wire::encode_talkreq(o, req_id, as_bytes(protocol), request);
  });
}
Bytes v5_talkresp(ByteView req_id) {
  return make_plaintext([&](MutableByteView o) { return v5wire::encode_talkresp(o, req_id, {}); });
}

namespace {
enr::Record sign_record(const crypto::PrivateKey& key, std::uint64_t seq,
                        const std::optional<Endpoint>& endpoint) {
  enr::Builder b;
  b.set_seq(seq);
  if (endpoint) {
    b.set_ip(endpoint->ip);
    b.set_udp(endpoint->port);
  }
  auto r = b.sign(key);
  if (!r) {
    fail("ENR sign failed: " + std::string(enr::to_string(r.error())));
  }
  return *r;
}
}  // namespace

V5Conn::V5Conn(const DutProcess& dut)
    : dut_(dut),
      key_(fresh_key()),
      public_key_(public_of(key_)),
      id_(crypto::node_id_of(public_key_)),
      record_(sign_record(key_, seq_, std::nullopt)) {}

UdpSocket& V5Conn::listen(const IpAddress& ip) {
  sockets_.push_back(std::make_unique<UdpSocket>(ip));
  return *sockets_.back();
}

void V5Conn::set_endpoint(const UdpSocket& s) {
  ++seq_;
  record_ = sign_record(key_, seq_, s.local());
}

Bytes V5Conn::next_req_id() {
  ++req_counter_;
  return {static_cast<std::uint8_t>(req_counter_ >> 24),
          static_cast<std::uint8_t>(req_counter_ >> 16),
          static_cast<std::uint8_t>(req_counter_ >> 8), static_cast<std::uint8_t>(req_counter_)};
}

v5wire::Nonce V5Conn::send_packet(UdpSocket& s, ByteView plaintext, const crypto::AesKey& key) {
  const crypto::AesCtr128 masker(v5wire::masking_key(dut_.id()));
  const auto nonce = random_array<v5wire::kNonceSize>();
  const auto iv = random_array<v5wire::kMaskingIvSize>();
  std::array<std::uint8_t, v5wire::kMaxPacketSize> out{};
  auto packet =
      v5wire::encode_message_packet(out, masker, id_, nonce, iv, crypto::AesGcm128(key), plaintext);
  if (!packet) {
    fail("encode_message_packet: " + std::string(v5wire::to_string(packet.error())));
  }
  s.send_to(*packet, dut_.endpoint());
  sent_[nonce] = Bytes(plaintext.begin(), plaintext.end());
  return nonce;
}

v5wire::Nonce V5Conn::write(UdpSocket& s, ByteView plaintext) {
  if (session_) {
    return send_packet(s, plaintext, session_->write_key);
  }
  // No session: what geth's codec sends then, a message packet nobody can decrypt.
  return send_packet(s, plaintext, random_array<16>());
}

v5wire::Nonce V5Conn::write_handshake(UdpSocket& s, ByteView plaintext, const V5Reply& whoareyou) {
  const crypto::PrivateKey eph = fresh_key();
  auto hs = v5wire::make_initiator_handshake(key_, eph, dut_.public_key(), id_, dut_.id(),
                                             whoareyou.challenge_data);
  if (!hs) {
    fail("make_initiator_handshake: " + std::string(v5wire::to_string(hs.error())));
  }
  const crypto::AesCtr128 masker(v5wire::masking_key(dut_.id()));
  const auto nonce = random_array<v5wire::kNonceSize>();
  const auto iv = random_array<v5wire::kMaskingIvSize>();
  const ByteView record = whoareyou.enr_seq < record_.seq() ? record_.raw() : ByteView{};
  std::array<std::uint8_t, v5wire::kMaxPacketSize> out{};
  auto packet =
      v5wire::encode_handshake(out, masker, id_, nonce, iv, hs->id_signature, hs->eph_pubkey,
                               record, crypto::AesGcm128(hs->keys.initiator_key), plaintext);
  if (!packet) {
    fail("encode_handshake: " + std::string(v5wire::to_string(packet.error())));
  }
  session_ = Session{hs->keys.initiator_key, hs->keys.recipient_key};
  s.send_to(*packet, dut_.endpoint());
  sent_[nonce] = Bytes(plaintext.begin(), plaintext.end());
  return nonce;
}

V5Reply V5Conn::read(UdpSocket& s, Millis timeout) {
  V5Reply r;
  auto d = s.receive(timeout, kV5ReadBuffer);
  if (!d) {
    r.kind = V5Reply::Kind::kTimeout;
    return r;
  }
  r.from = d->from;
  r.kind = V5Reply::Kind::kError;
  const crypto::AesCtr128 masker(v5wire::masking_key(id_));
  std::array<std::uint8_t, v5wire::kMaxPacketSize> scratch{};
  auto h = v5wire::decode_header(d->data, masker, scratch);
  if (!h) {
    r.wire_error = h.error();
    r.error = "header: " + std::string(v5wire::to_string(h.error()));
    return r;
  }
  r.nonce = h->nonce;
  if (h->flag == v5wire::Flag::kWhoareyou) {
    r.kind = V5Reply::Kind::kWhoareyou;
    r.challenge_data.assign(h->header_data.begin(), h->header_data.end());
    r.enr_seq = h->enr_seq;
    return r;
  }
  if (h->flag == v5wire::Flag::kHandshake) {
    r.error = "unexpected handshake packet from the DUT";
    return r;
  }
  if (h->src_id != dut_.id()) {
    r.error = "message packet with src-id " + to_hex(h->src_id) + " (not the DUT)";
    return r;
  }
  if (!session_) {
    r.error = "message packet but no session";
    return r;
  }
  r.plaintext.resize(h->message.size());
  auto pt = v5wire::open_message(*h, crypto::AesGcm128(session_->read_key), r.plaintext);
  if (!pt) {
    r.wire_error = pt.error();
    r.error = "open: " + std::string(v5wire::to_string(pt.error()));
    return r;
  }
  r.plaintext.resize(pt->size());
  auto m = v5wire::decode_message(r.plaintext);
  if (!m) {
    r.wire_error = m.error();
    r.error = "message: " + std::string(v5wire::to_string(m.error()));
    return r;
  }
  r.message = *m;
  r.kind = V5Reply::Kind::kMessage;
  return r;
}

V5Reply V5Conn::reqresp(UdpSocket& s, ByteView plaintext) {
  const v5wire::Nonce nonce = write(s, plaintext);
  V5Reply r = read(s);
  if (!r.is_whoareyou()) {
    return r;
  }
  if (r.nonce != nonce) {
    V5Reply e;
    e.kind = V5Reply::Kind::kError;
    e.error = "wrong nonce " + to_hex(r.nonce) + " in WHOAREYOU (want " + to_hex(nonce) + ")";
    return e;
  }
  write_handshake(s, plaintext, r);
  return read(s);
}

V5Conn::FindnodeResult V5Conn::findnode(UdpSocket& s, std::span<const std::uint16_t> distances) {
  FindnodeResult result;
  const Bytes req_id = next_req_id();
  const Bytes request = v5_findnode(req_id, distances);
  const v5wire::Nonce nonce = write(s, request);
  bool first = true;
  std::uint64_t total = 0;
  for (std::uint64_t left = 1; left > 0;) {
    V5Reply r = read(s);
    if (r.is_whoareyou()) {
      if (r.nonce != nonce) {
        result.error = "unexpected WHOAREYOU (nonce " + to_hex(r.nonce) + "), waiting for NODES";
        return result;
      }
      write_handshake(s, request, r);
    } else if (r.is(v5wire::MessageType::kPing)) {
      write(s, v5_pong(r.as<v5wire::Ping>().req_id, record_.seq(), r.from));
    } else if (r.is(v5wire::MessageType::kNodes)) {
      const auto& nodes = r.as<v5wire::Nodes>();
      if (!equal(nodes.req_id, req_id)) {
        result.error = "NODES response has wrong request id " + to_hex(nodes.req_id);
        return result;
      }
      if (first) {
        if (nodes.total == 0 || nodes.total > 6) {
          result.error = "invalid NODES total " + std::to_string(nodes.total) + " (not in 1..6)";
          return result;
        }
        total = nodes.total;
        left = total - 1;
        first = false;
      } else {
        --left;
        if (nodes.total != total) {
          result.error = "NODES total " + std::to_string(nodes.total) + " != first total " +
                         std::to_string(total);
          return result;
        }
      }
      for (ByteView raw : nodes.records) {
        auto rec = enr::decode(raw);
        if (!rec) {
          result.error = "invalid record in NODES: " + std::string(enr::to_string(rec.error()));
          return result;
        }
        result.nodes.push_back(*rec);
      }
    } else {
      result.error = "expected NODES, got " + r.describe();
      return result;
    }
  }
  return result;
}

std::optional<Bytes> V5Conn::sent_with_nonce(const v5wire::Nonce& nonce) const {
  auto it = sent_.find(nonce);
  if (it == sent_.end()) {
    return std::nullopt;
  }
  return it->second;
}

int log_distance(const NodeId& a, const NodeId& b) {
  for (std::size_t i = 0; i < a.size(); ++i) {
    const std::uint8_t x = a[i] ^ b[i];
    if (x != 0) {
      return static_cast<int>((a.size() - i) * 8 - static_cast<std::size_t>(__builtin_clz(x) - 24));
    }
  }
  return 0;
}

}  // namespace discplane::conformance
