// The DNS discovery thread: TreeSync per configured list over one DnsClient, seeds queued for
// the control thread. Records go through parse_bootnode() so that a DNS-listed ENR becomes
// exactly the seed the same ENR as a bootnode would.
#include "discplane/control/dns_discovery.h"

#include "discplane/control/appliance.h"

namespace discplane::control {

Result<std::unique_ptr<DnsDiscovery>, std::string> DnsDiscovery::create(
    const Config::DnsDiscovery& config, std::FILE* log) {
  std::unique_ptr<DnsDiscovery> d(new DnsDiscovery());
  d->config_ = config;
  d->log_ = log;
  DnsClient::Options options;
  options.server = config.server;
  options.timeout = config.query_timeout;
  auto client = DnsClient::create(options);
  if (!client) {
    return tl::unexpected(client.error());
  }
  d->dns_ = std::move(*client);
  enrtree::Limits limits;
  limits.max_entries = config.max_entries;
  DnsDiscovery* self = d.get();
  for (const std::string& url : config.urls) {
    auto link = enrtree::parse_url(url);
    if (!link) {
      return tl::unexpected("dns_discovery: " + std::string(enrtree::to_string(link.error())) +
                            ": " + url);
    }
    d->urls_.push_back(*link);
    auto lookup = [self](const std::string& name) -> Result<std::vector<std::string>, std::string> {
      auto answer = self->dns_->lookup_txt(name, &self->stop_);
      if (!answer) {
        return tl::unexpected(std::string(to_string(answer.error())));
      }
      return std::move(*answer);
    };
    d->syncs_.push_back(std::make_unique<enrtree::TreeSync>(lookup, limits));
  }
  return d;
}

DnsDiscovery::~DnsDiscovery() {
  stop();
}

void DnsDiscovery::start() {
  if (thread_.joinable() || urls_.empty()) {
    return;
  }
  stop_.store(false);
  thread_ = std::thread([this] { run(); });
}

void DnsDiscovery::stop() {
  {
    std::lock_guard<std::mutex> lock(wake_mutex_);
    stop_.store(true);
  }
  wake_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

void DnsDiscovery::run() {
  while (!stop_.load()) {
    (void)sync_once();
    std::unique_lock<std::mutex> lock(wake_mutex_);
    wake_.wait_for(lock, config_.resync_interval, [this] { return stop_.load(); });
  }
}

std::vector<enrtree::TreeSync::Outcome> DnsDiscovery::sync_once() {
  std::vector<enrtree::TreeSync::Outcome> outcomes;
  std::uint64_t errors = 0;
  Stats delta;
  for (std::size_t i = 0; i < urls_.size() && !stop_.load(); ++i) {
    auto outcome = syncs_[i]->sync(urls_[i]);
    for (const auto& t : outcome.trees) {
      delta.entries_fetched += t.fetched;
      // Past the root: no error, or one below it (a failed root costs its one lookup).
      delta.roots_read += !t.error || t.fetched > 1 ? 1 : 0;
      if (t.error) {
        ++delta.failures[static_cast<std::size_t>(*t.error)];
        ++errors;
        if (log_ != nullptr) {
          std::fprintf(log_, "discplane: dns: %s: %s (%s)\n", t.domain.c_str(),
                       std::string(enrtree::to_string(*t.error)).c_str(), t.detail.c_str());
        }
      } else if (t.changed && log_ != nullptr) {
        std::fprintf(log_, "discplane: dns: %s seq %llu: %zu records (%zu lookups)\n",
                     t.domain.c_str(), static_cast<unsigned long long>(t.seq), t.records,
                     t.fetched);
      }
    }
    offer(outcome.records);
    outcomes.push_back(std::move(outcome));
  }
  std::lock_guard<std::mutex> lock(mutex_);
  ++stats_.syncs;
  stats_.tree_errors += errors;
  stats_.roots_read += delta.roots_read;
  stats_.entries_fetched += delta.entries_fetched;
  for (std::size_t i = 0; i < delta.failures.size(); ++i) {
    stats_.failures[i] += delta.failures[i];
  }
  return outcomes;
}

void DnsDiscovery::offer(const std::vector<enr::Record>& records) {
  std::vector<disc::NodeSeed> fresh;
  for (const enr::Record& r : records) {
    auto it = handed_seq_.find(r.node_id());
    if (it != handed_seq_.end() && it->second >= r.seq()) {
      continue;  // the engine already has this record (or a newer one)
    }
    auto seed = parse_bootnode(enr::to_text(r));
    if (!seed) {
      continue;  // no UDP endpoint: nothing to contact
    }
    handed_seq_[r.node_id()] = r.seq();
    fresh.push_back(std::move(*seed));
  }
  std::lock_guard<std::mutex> lock(mutex_);
  for (disc::NodeSeed& s : fresh) {
    if (queue_.size() >= kMaxPendingSeeds) {
      ++stats_.seeds_dropped;
      handed_seq_.erase(s.record->node_id());  // offered again at the next resync
      continue;
    }
    queue_.push_back(std::move(s));
    ++stats_.seeds_queued;
  }
}

std::size_t DnsDiscovery::drain(const std::function<bool(disc::NodeSeed&)>& push, std::size_t max) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::size_t n = 0;
  while (n < max && !queue_.empty() && push(queue_.front())) {
    queue_.pop_front();
    ++n;
  }
  return n;
}

DnsDiscovery::Stats DnsDiscovery::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

}  // namespace discplane::control
