// Test harness for the engine: a steppable clock, a Transport that collects what the
// engine sends, and a Network that routes datagrams between DiscoveryServer instances by
// endpoint (the simulation uses the same pieces at scale).
#pragma once

#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <vector>

#include "discplane/crypto/random.h"
#include "discplane/crypto/secp256k1.h"
#include "discplane/discovery/server.h"

namespace discplane::test {

class FakeClock final : public disc::Clock {
 public:
  disc::Time now() const noexcept override { return t_; }
  void advance_ns(std::int64_t ns) {
    t_.mono_ns += ns;
    t_.unix_s = kEpoch + t_.mono_ns / 1'000'000'000;
  }
  void advance_ms(std::int64_t ms) { advance_ns(ms * 1'000'000); }
  static constexpr std::int64_t kEpoch = 1'800'000'000;  // 2027: after every test vector
 private:
  disc::Time t_{1'000'000'000, kEpoch + 1};
};

struct SentDatagram {
  Bytes payload;
  Endpoint to;
};

class CollectingTransport final : public disc::Transport {
 public:
  MutableByteView acquire_tx_buffer() noexcept override {
    if (capacity_ == 0) {
      return {};
    }
    return {buffer_.data(), buffer_.size()};
  }
  void commit_tx(std::size_t length, const Endpoint& to) noexcept override {
    sent.push_back(SentDatagram{Bytes(buffer_.begin(), buffer_.begin() + length), to});
    if (capacity_ > 0 && capacity_ != SIZE_MAX) {
      --capacity_;
    }
  }
  void set_capacity(std::size_t n) { capacity_ = n; }  // SIZE_MAX = unlimited
  std::vector<SentDatagram> take() {
    std::vector<SentDatagram> out;
    out.swap(sent);
    return out;
  }
  std::vector<SentDatagram> sent;

 private:
  std::array<std::uint8_t, 1280> buffer_{};
  std::size_t capacity_ = SIZE_MAX;
};

inline crypto::PrivateKey key_from_seed(std::uint64_t seed) {
  crypto::DeterministicRandom rng(seed);
  crypto::PrivateKey k{};
  do {
    rng.fill(k);
  } while (!crypto::is_valid_private_key(k));
  return k;
}

// One engine with its own transport, on one endpoint.
struct Node {
  Endpoint endpoint;
  crypto::PrivateKey key{};
  std::unique_ptr<crypto::DeterministicRandom> rng;
  std::unique_ptr<disc::DiscoveryServer> server;
  CollectingTransport tx;
  bool up = true;

  NodeId id() const { return server->local_id(); }
  const crypto::PublicKey& pubkey() const { return server->local_public_key(); }
};

// Routes every collected datagram to the node at its destination endpoint, with the
// sender's endpoint as source. Deterministic: FIFO delivery, no loss unless asked.
class Network {
 public:
  explicit Network(FakeClock& clock) : clock_(clock) {}

  Node& add(const Endpoint& ep, std::uint64_t seed, disc::ServerConfig config = {},
            disc::EngineObserver* observer = nullptr) {
    auto n = std::make_unique<Node>();
    n->endpoint = ep;
    n->key = key_from_seed(seed);
    n->rng = std::make_unique<crypto::DeterministicRandom>(seed * 7919 + 1);
    config.private_key = n->key;
    config.udp_port = ep.port;
    if (ep.ip.is_v4()) {
      config.ipv4 = ep.ip;
    } else {
      config.ipv6 = ep.ip;
    }
    n->server = std::make_unique<disc::DiscoveryServer>(config, clock_, *n->rng, observer);
    nodes_.push_back(std::move(n));
    by_endpoint_[ep] = nodes_.back().get();
    return *nodes_.back();
  }

  Node* at(const Endpoint& ep) {
    auto it = by_endpoint_.find(ep);
    return it == by_endpoint_.end() ? nullptr : it->second;
  }

  // Delivers queued datagrams until none are left (or max_rounds), in FIFO order.
  // Returns the number delivered.
  std::size_t deliver_all(std::size_t max_rounds = 64) {
    std::size_t delivered = 0;
    for (std::size_t round = 0; round < max_rounds; ++round) {
      std::vector<std::pair<Endpoint, SentDatagram>> batch;
      for (auto& n : nodes_) {
        for (auto& d : n->tx.take()) {
          batch.emplace_back(n->endpoint, std::move(d));
        }
      }
      if (batch.empty()) {
        break;
      }
      for (auto& [from, d] : batch) {
        if (drop_all_ || (drop_next_ > 0 && drop_next_-- > 0)) {
          continue;
        }
        Node* dst = at(d.to);
        if (dst == nullptr || !dst->up) {
          continue;
        }
        disc::Datagram dg{ByteView(d.payload), from};
        dst->server->on_burst(std::span<const disc::Datagram>(&dg, 1), dst->tx);
        ++delivered;
      }
    }
    return delivered;
  }

  // Advances time in steps, running every engine's deadlines and delivering traffic.
  void run_for_ms(std::int64_t ms, std::int64_t step_ms = 10) {
    for (std::int64_t t = 0; t < ms; t += step_ms) {
      clock_.advance_ms(step_ms);
      for (auto& n : nodes_) {
        if (n->up) {
          n->server->on_idle(n->tx);
        }
      }
      deliver_all();
    }
  }

  void send(Node& n, const disc::InMessage& m) { n.server->handle(m, n.tx); }

  std::vector<std::unique_ptr<Node>>& nodes() { return nodes_; }
  void set_drop_all(bool v) { drop_all_ = v; }
  void drop_next(std::size_t n) { drop_next_ = n; }

 private:
  FakeClock& clock_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::map<Endpoint, Node*> by_endpoint_;
  bool drop_all_ = false;
  std::size_t drop_next_ = 0;
};

inline disc::NodeSeed seed_of(const Node& n, std::uint8_t protocols) {
  disc::NodeSeed s;
  s.public_key = n.pubkey();
  s.endpoint4 = n.endpoint;
  s.record = n.server->local_record();
  s.protocols = protocols;
  return s;
}

inline Endpoint loopback(std::uint16_t port) {
  return Endpoint{IpAddress::v4(127, 0, 0, 1), port};
}

// `config` with 127.0.0.0/8 exempt from the table's IP limits (nothing is exempt by
// default): for tests whose many nodes share loopback /24s, as a local testnet's config says.
inline disc::ServerConfig loopback_testnet(disc::ServerConfig config = {}) {
  config.table.ip_limit_exempt = {*disc::Cidr::parse("127.0.0.0/8")};
  return config;
}

}  // namespace discplane::test
