// Prometheus text exposition (format 0.0.4) of one CoreSnapshot: packet counters per protocol
// and message type, drops per reason, discv5 handshakes/sessions/WHOAREYOU, table size per
// protocol, lookups with a duration histogram, bonds, IP votes and the dataplane loop's stats.
// Rendered from a snapshot only (never the live engine); served by the API at GET /metrics.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "discplane/control/core_snapshot.h"
#include "discplane/control/crawl.h"
#include "discplane/control/dns_discovery.h"

namespace discplane::control {

inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

// Every metric is named "discplane_..."; counters end in "_total". `now_mono_ns` (0: unknown)
// gives discplane_snapshot_age_seconds.
[[nodiscard]] std::string render_metrics(const CoreSnapshot& snapshot, std::int64_t now_mono_ns);
// Crawl mode's families (discplane_crawl_*), appended to /metrics when crawling.
[[nodiscard]] std::string render_crawl_metrics(const CrawlStats& stats);
// DNS discovery's families (discplane_dns_*), appended when dns_discovery.urls is set.
[[nodiscard]] std::string render_dns_metrics(const DnsDiscovery::Stats& stats);

// Message type names for the counters' `type` label: discv4 packet types 1..6 and discv5
// message types 1..6, with discv5 index 0 = "whoareyou" and 7 = "handshake". Empty for an
// index that names nothing.
std::string_view v4_type_name(std::size_t index);
std::string_view v5_type_name(std::size_t index);

}  // namespace discplane::control
