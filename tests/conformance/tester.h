// Conformance tester: the other side of geth's `devp2p discv4 test` / `devp2p discv5 test`
// suites (docs/conformance.md), written against discplane's own codecs. It starts a real
// `discplane` process (DutProcess), and talks to it over loopback UDP as a discv4 tester
// (V4Tester) or a discv5 connection that can do the initiator side of a handshake (V5Conn).
// It does not judge: the cases in discv4_test.cc / discv5_test.cc decide pass or fail.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "discplane/common/bytes.h"
#include "discplane/common/endpoint.h"
#include "discplane/crypto/secp256k1.h"
#include "discplane/wire/enode.h"
#include "discplane/wire/enr.h"
#include "discplane/wire/v4wire.h"
#include "discplane/wire/v5wire.h"

namespace discplane::conformance {

using Millis = std::chrono::milliseconds;

// geth's suites give every read 300 ms (`waitTime`): a slower answer is a failure.
inline constexpr Millis kWaitTime{300};
// geth's v5 tester reads into a 1280-byte buffer; v4 into 2048.
inline constexpr std::size_t kV5ReadBuffer = 1280;
inline constexpr std::size_t kV4ReadBuffer = 2048;

// geth's Listen1 / Listen2.
IpAddress listen1_ip();  // 127.0.0.1
IpAddress listen2_ip();  // 127.0.0.2

// ---- The node under test ----------------------------------------------------------------------

struct DutOptions {
  bool discv4 = true;
  bool discv5 = true;
  std::string extra_yaml;  // appended to the generated config (top-level keys)
};

// A `discplane` process on 127.0.0.1 with a generated config, key file and API port in a
// fresh temp dir. Destroying it SIGKILLs the process if stop() was not called.
class DutProcess {
 public:
  // Throws std::runtime_error when the process cannot be started or prints no identity.
  static std::unique_ptr<DutProcess> start(const DutOptions& options = {});
  ~DutProcess();
  DutProcess(const DutProcess&) = delete;
  DutProcess& operator=(const DutProcess&) = delete;

  const enode::Url& url() const { return url_; }
  const enr::Record& record() const { return record_; }
  const NodeId& id() const { return record_.node_id(); }
  const crypto::PublicKey& public_key() const { return url_.public_key; }
  Endpoint endpoint() const { return url_.udp_endpoint(); }
  std::string enode_text() const { return enode_text_; }
  // GET on the appliance's HTTP API (e.g. "/v1/peers", "/metrics") for failure messages;
  // the body, or "" when it cannot be had within 2 s.
  std::string api_get(const std::string& path) const;

  struct StopResult {
    bool exited = false;  // within the limit
    bool signaled = false;
    int exit_code = -1;
    int signal = 0;
    double seconds = 0;
  };
  // SIGTERM, then waits up to `limit` (SIGKILL after it).
  StopResult stop(Millis limit = Millis(1000));
  bool running();
  std::string stderr_tail(std::size_t max_bytes = 4000) const;

 private:
  DutProcess() = default;
  pid_t pid_ = -1;
  std::filesystem::path dir_;
  enode::Url url_;
  enr::Record record_;
  std::string enode_text_;
  std::uint16_t api_port_ = 0;
};

// ---- UDP ----------------------------------------------------------------------------------------

struct Datagram {
  Bytes data;
  Endpoint from;
};

class UdpSocket {
 public:
  explicit UdpSocket(const IpAddress& ip);  // binds ip:0; throws on failure
  ~UdpSocket();
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;

  const Endpoint& local() const { return local_; }
  void send_to(ByteView data, const Endpoint& to);
  // One datagram, or nullopt after `timeout`. Truncates to `max_size` like a Go ReadFrom.
  std::optional<Datagram> receive(Millis timeout, std::size_t max_size = kV4ReadBuffer);
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  Endpoint local_;
};

// ---- discv4 -------------------------------------------------------------------------------------

std::uint64_t future_expiration();  // now + 20 s
// geth's `-futureExpiration()` on a uint64: 2^64 - (now + 20), a negative int64 time.
std::uint64_t past_expiration();

// One read: a timeout, a datagram that does not decode, or a packet. `packet` views `raw`,
// which is why the type can be moved (the vector keeps its buffer) but not copied.
struct V4Reply {
  bool timeout = false;
  std::optional<v4wire::V4Error> error;
  Bytes raw;
  std::optional<v4wire::Packet> packet;

  V4Reply() = default;
  V4Reply(V4Reply&&) = default;
  V4Reply& operator=(V4Reply&&) = default;
  V4Reply(const V4Reply&) = delete;

  bool is(v4wire::PacketType t) const { return packet && packet->type == t; }
  std::string describe() const;
};

class V4Tester {
 public:
  explicit V4Tester(const DutProcess& dut);  // fresh key, l1 = 127.0.0.1:*, l2 = 127.0.0.2:*

  UdpSocket& l1() { return l1_; }
  UdpSocket& l2() { return l2_; }
  const crypto::PrivateKey& key() const { return key_; }
  const crypto::PublicKey& public_key() const { return public_key_; }

  v4wire::RpcEndpoint local_endpoint(const UdpSocket& s) const;  // {ip, udp, tcp 0}
  v4wire::RpcEndpoint remote_endpoint() const;                   // the DUT
  static v4wire::RpcEndpoint wrong_endpoint();                   // 192.0.2.0, ports 0

  // Each returns the packet hash.
  Hash256 send_ping(UdpSocket& s, const v4wire::RpcEndpoint& from, const v4wire::RpcEndpoint& to,
                    std::uint64_t expiration);
  Hash256 send_pong(UdpSocket& s, const Hash256& reply_token);
  Hash256 send_findnode(UdpSocket& s, const crypto::PublicKey& target, std::uint64_t expiration);
  Hash256 send_enrrequest(UdpSocket& s, std::uint64_t expiration);
  Hash256 send_neighbors(UdpSocket& s, std::span<const v4wire::NeighborNode> nodes);
  // hash || sig || type || rlp signed with our key: for packets the encoders refuse to make
  // (extra list elements, unknown types).
  Hash256 send_signed(UdpSocket& s, std::uint8_t type, ByteView rlp);

  V4Reply read(UdpSocket& s, Millis timeout = kWaitTime);

  // geth's bond(): PING from l1, then read until both PONG and the DUT's PING were seen,
  // answering that PING with PONG(reply-tok = its hash, or `pong_token` when given). Returns
  // an error text, empty on success.
  std::string bond(std::optional<Hash256> pong_token = std::nullopt);

 private:
  const DutProcess& dut_;
  crypto::PrivateKey key_;
  crypto::PublicKey public_key_;
  UdpSocket l1_;
  UdpSocket l2_;
};

// Checks a PONG as geth's checkPong: reply token, `to` = the socket's ip and port, not expired.
std::string check_v4_pong(const V4Reply& reply, const Hash256& ping_hash, const UdpSocket& s);

// ---- discv5 -------------------------------------------------------------------------------------

// One read on a discv5 socket. Views in `message` point into `plaintext` (move-only).
struct V5Reply {
  enum class Kind { kTimeout, kError, kWhoareyou, kMessage };
  Kind kind = Kind::kTimeout;
  std::string error;
  std::optional<v5wire::V5Error> wire_error;
  Endpoint from;
  v5wire::Nonce nonce{};
  // WHOAREYOU
  Bytes challenge_data;
  std::uint64_t enr_seq = 0;
  // message
  Bytes plaintext;
  std::optional<v5wire::Message> message;

  V5Reply() = default;
  V5Reply(V5Reply&&) = default;
  V5Reply& operator=(V5Reply&&) = default;
  V5Reply(const V5Reply&) = delete;

  bool is_whoareyou() const { return kind == Kind::kWhoareyou; }
  bool is(v5wire::MessageType t) const {
    return kind == Kind::kMessage && message && v5wire::type_of(*message) == t;
  }
  template <class T>
  const T& as() const {
    return std::get<T>(*message);
  }
  std::string describe() const;
};

// Message plaintexts (type || RLP).
Bytes v5_ping(ByteView req_id, std::uint64_t enr_seq);
Bytes v5_pong(ByteView req_id, std::uint64_t enr_seq, const Endpoint& recipient);
Bytes v5_findnode(ByteView req_id, std::span<const std::uint16_t> distances);
Bytes v5_nodes(ByteView req_id, std::uint64_t total);
Bytes v5_talkreq(ByteView req_id, std::string_view protocol, ByteView request);
Bytes v5_talkresp(ByteView req_id);

// Like geth's v5test `conn`: one fresh identity whose record has no endpoint (unless
// set_endpoint), one codec whose single session is keyed by the DUT's address only, so a
// session made on one socket is also used on the others (PingMultiIP relies on that).
class V5Conn {
 public:
  explicit V5Conn(const DutProcess& dut);

  UdpSocket& listen(const IpAddress& ip);  // one more socket; references stay valid
  // Puts ip/udp of `s` in our record (seq + 1), as geth's bystanders do.
  void set_endpoint(const UdpSocket& s);

  const NodeId& id() const { return id_; }
  const enr::Record& record() const { return record_; }
  Bytes next_req_id();  // 4-byte big-endian counter
  bool has_session() const { return session_.has_value(); }

  // Sends `plaintext` in an ordinary message packet: under the session when there is one,
  // else with random keys (what a node without a session sends). Returns the packet nonce.
  v5wire::Nonce write(UdpSocket& s, ByteView plaintext);
  // Answers `whoareyou` with a handshake message packet carrying `plaintext`; the new
  // session replaces the old one. The record is included when whoareyou.enr_seq < our seq.
  v5wire::Nonce write_handshake(UdpSocket& s, ByteView plaintext, const V5Reply& whoareyou);
  V5Reply read(UdpSocket& s, Millis timeout = kWaitTime);

  // geth's reqresp: write; if the answer is a WHOAREYOU for that packet's nonce, redo the
  // request in a handshake and return the next read.
  V5Reply reqresp(UdpSocket& s, ByteView plaintext);

  // geth's findnode helper: collects NODES (checks request id and total in 1..6), answers
  // PINGs from the DUT, handles one WHOAREYOU for the request. Error text empty on success.
  struct FindnodeResult {
    std::string error;
    std::vector<enr::Record> nodes;
  };
  FindnodeResult findnode(UdpSocket& s, std::span<const std::uint16_t> distances);

  // The plaintext sent in the packet with this nonce, if any (to redo it after WHOAREYOU).
  std::optional<Bytes> sent_with_nonce(const v5wire::Nonce& nonce) const;

 private:
  struct Session {
    crypto::AesKey write_key{};
    crypto::AesKey read_key{};
  };
  v5wire::Nonce send_packet(UdpSocket& s, ByteView plaintext, const crypto::AesKey& key);

  const DutProcess& dut_;
  crypto::PrivateKey key_{};
  crypto::PublicKey public_key_{};
  NodeId id_{};
  enr::Record record_;
  std::uint64_t seq_ = 1;
  std::uint32_t req_counter_ = 0;
  std::optional<Session> session_;
  std::vector<std::unique_ptr<UdpSocket>> sockets_;
  std::map<v5wire::Nonce, Bytes> sent_;
};

// The discv5 log-distance between two node ids (0 = equal).
int log_distance(const NodeId& a, const NodeId& b);

}  // namespace discplane::conformance
