// DNS discovery (EIP-1459) for the appliance: one thread that syncs every configured
// enrtree:// list at start and then every resync_interval, and a bounded queue of the seeds
// it found, which the control thread drains into the command ring (the ring has a single
// producer, so this thread never touches it). Only records that are new, or newer than the
// ones already handed over, are queued.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "discplane/common/result.h"
#include "discplane/control/config.h"
#include "discplane/control/dns_client.h"
#include "discplane/control/enrtree.h"
#include "discplane/discovery/server.h"

namespace discplane::control {

class DnsDiscovery {
 public:
  // Seeds waiting for the control thread beyond this are dropped (and counted); the next
  // resync offers them again.
  static constexpr std::size_t kMaxPendingSeeds = 8192;

  // `log` gets one line per list and sync (nullptr = quiet). Errors: bad server, bad URL.
  [[nodiscard]] static Result<std::unique_ptr<DnsDiscovery>, std::string> create(
      const Config::DnsDiscovery& config, std::FILE* log);
  ~DnsDiscovery();  // stops the thread
  DnsDiscovery(const DnsDiscovery&) = delete;
  DnsDiscovery& operator=(const DnsDiscovery&) = delete;

  // Starts the sync thread (first sync at once).
  void start();
  // Stops it; an in-flight query is abandoned within ~100 ms.
  void stop();

  // Runs one sync of every list on the calling thread (tests, and `start` = this in a loop).
  // Returns the per-list outcomes; the seeds go to the queue.
  std::vector<enrtree::TreeSync::Outcome> sync_once();

  // Seeds handed over per drain() call: the control thread drains every tick (20 ms), so a
  // list of thousands reaches the engine at ~3200 seeds/s instead of filling the command ring
  // (4096) that the timers' commands share, and without one burst of thousands of PINGs.
  static constexpr std::size_t kSeedsPerDrain = 64;

  // Hands queued seeds to `push` in order until it returns false (ring full), `max` were
  // taken or the queue is empty; returns how many were taken. Any thread.
  std::size_t drain(const std::function<bool(disc::NodeSeed&)>& push,
                    std::size_t max = kSeedsPerDrain);

  struct Stats {
    std::uint64_t syncs = 0;            // full passes over the lists
    std::uint64_t seeds_queued = 0;     // records handed to the queue
    std::uint64_t seeds_dropped = 0;    // queue full
    std::uint64_t tree_errors = 0;      // lists (or linked lists) whose sync failed
    std::uint64_t roots_read = 0;       // tree syncs whose signed root was read and verified
    std::uint64_t entries_fetched = 0;  // TXT lookups (roots included)
    // Failed tree syncs by reason (index: enrtree::TreeError).
    std::array<std::uint64_t, enrtree::kTreeErrorCount> failures{};
  };
  Stats stats() const;

 private:
  DnsDiscovery() = default;
  void run();
  void offer(const std::vector<enr::Record>& records);

  Config::DnsDiscovery config_;
  std::FILE* log_ = nullptr;
  std::unique_ptr<DnsClient> dns_;
  std::vector<enrtree::Link> urls_;
  std::vector<std::unique_ptr<enrtree::TreeSync>> syncs_;  // one per URL
  std::map<NodeId, std::uint64_t> handed_seq_;             // sync thread only

  mutable std::mutex mutex_;  // guards queue_ and stats_
  std::deque<disc::NodeSeed> queue_;
  Stats stats_;

  std::mutex wake_mutex_;
  std::condition_variable wake_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace discplane::control
