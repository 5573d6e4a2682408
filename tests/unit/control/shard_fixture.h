// N DiscoveryServer shards over one node key behind a ShardGroup, traffic steered by source
// endpoint (the test is the "NIC"); shared by the ShardGroup tests (shard_group_test.cc,
// shard_fanout_test.cc).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include <catch2/catch.hpp>

#include "discplane/control/shard_group.h"
#include "discplane/crypto/random.h"
#include "discplane/discovery/server.h"

#include "unit/discovery/engine_harness.h"

namespace discplane::test {

// Node key from seed 1, UDP port 30303, no announced address.
inline disc::ServerConfig shard_base_config() {
  disc::ServerConfig c;
  c.private_key = key_from_seed(1);
  c.udp_port = 30303;
  return c;
}

struct ShardFleetOptions {
  disc::ServerConfig config = shard_base_config();
  std::uint64_t rng_seed = 100;    // shard k draws from DeterministicRandom(rng_seed + k)
  bool per_shard_limits = false;   // divide the configured totals by N (control::per_shard_limits)
  bool only_owner_answers = true;  // deliver() REQUIREs that no other shard sent anything
};

struct ShardFleet {
  FakeClock clock;
  std::vector<std::unique_ptr<crypto::DeterministicRandom>> rngs;
  std::vector<std::unique_ptr<disc::DiscoveryServer>> servers;
  std::vector<CollectingTransport> tx;
  std::unique_ptr<control::ShardGroup> group;
  std::uint32_t n;
  bool only_owner_answers;

  explicit ShardFleet(std::uint32_t shards, ShardFleetOptions o = {})
      : tx(shards), n(shards), only_owner_answers(o.only_owner_answers) {
    control::ShardGroupConfig gc;
    gc.shards = n;
    gc.ring_capacity = 64;
    group = std::make_unique<control::ShardGroup>(gc);
    if (o.per_shard_limits) {
      o.config = control::per_shard_limits(o.config, n);
    }
    for (std::uint32_t k = 0; k < n; ++k) {
      rngs.push_back(std::make_unique<crypto::DeterministicRandom>(o.rng_seed + k));
      disc::ServerConfig c = o.config;
      c.table_observer = group->observer(k);
      if (k == 0) {
        c.shard_router = group->router();
      }
      servers.push_back(std::make_unique<disc::DiscoveryServer>(c, clock, *rngs[k]));
    }
  }
  std::uint32_t shard_of(const Endpoint& ep) const { return control::steer(ep, n); }
  // Delivers to the owning shard; returns its answers.
  std::vector<SentDatagram> deliver(const Bytes& payload, const Endpoint& from) {
    const std::uint32_t k = shard_of(from);
    disc::Datagram d{ByteView(payload), from};
    servers[k]->on_burst(std::span<const disc::Datagram>(&d, 1), tx[k]);
    if (only_owner_answers) {
      for (std::uint32_t j = 0; j < n; ++j) {
        if (j != k) {
          REQUIRE(tx[j].sent.empty());  // only the owning shard ever answers
        }
      }
    }
    return tx[k].take();
  }
  // One round of the between-bursts hooks: owner drains and publishes, then mirrors refresh.
  void sync() {
    (void)group->poll(0, *servers[0], tx[0], clock.now().mono_ns, true);
    for (std::uint32_t k = 1; k < n; ++k) {
      (void)group->poll(k, *servers[k], tx[k], clock.now().mono_ns);
    }
  }
  // Control messages: the owner's copy directly, the others through the broadcast rings.
  void broadcast(const disc::InMessage& m) {
    servers[0]->handle(m, tx[0]);
    group->broadcast(m);
    REQUIRE(group->flush_broadcasts() == 0);
  }
};

// A loopback endpoint that steers to shard `want` of `n`, searching ports from `from_port`.
inline Endpoint endpoint_on(std::uint32_t want, std::uint32_t n, std::uint16_t from_port) {
  for (std::uint16_t p = from_port;; ++p) {
    const Endpoint ep = loopback(p);
    if (control::steer(ep, n) == want) {
      return ep;
    }
  }
}

}  // namespace discplane::test
