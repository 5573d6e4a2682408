// Renders a CoreSnapshot in the Prometheus text format. Each family gets its HELP and TYPE
// lines once, then its samples; the lookup histogram is made cumulative here (the engine
// counts each lookup in one bucket only).
#include "discplane/control/metrics.h"

#include <array>
#include <cstdio>
#include <initializer_list>
#include <utility>

#include "discplane/discovery/peer_table.h"

namespace discplane::control {

namespace {

using Label = std::pair<std::string_view, std::string_view>;

class Writer {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  void sample(std::string_view name, std::initializer_list<Label> labels, std::uint64_t value) {
    head(name, labels);
    out_ += std::to_string(value);
    out_ += '\n';
  }
  void sample(std::string_view name, std::initializer_list<Label> labels, double value) {
    head(name, labels);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.9g", value);
    out_ += buf;
    out_ += '\n';
  }
  // A family with one unlabelled sample.
  void counter(std::string_view name, std::string_view help, std::uint64_t value) {
    family(name, "counter", help);
    sample(name, {}, value);
  }
  void gauge(std::string_view name, std::string_view help, std::uint64_t value) {
    family(name, "gauge", help);
    sample(name, {}, value);
  }
  std::string take() { return std::move(out_); }

 private:
  void head(std::string_view name, std::initializer_list<Label> labels) {
    out_ += name;
    if (labels.size() != 0) {
      out_ += '{';
      bool first = true;
      for (const auto& [key, value] : labels) {
        if (!first) {
          out_ += ',';
        }
        first = false;
        out_ += key;
        out_ += "=\"";
        for (char c : value) {  // the format's three escapes
          if (c == '\\' || c == '"') {
            out_ += '\\';
            out_ += c;
          } else if (c == '\n') {
            out_ += "\\n";
          } else {
            out_ += c;
          }
        }
        out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
  }
  std::string out_;
};

constexpr std::array<std::string_view, 8> kV4Types = {
    "", "ping", "pong", "findnode", "neighbors", "enrrequest", "enrresponse", ""};
constexpr std::array<std::string_view, 8> kV5Types = {
    "whoareyou", "ping", "pong", "findnode", "nodes", "talkreq", "talkresp", "handshake"};

void packet_family(Writer& w, std::string_view name, std::string_view help,
                   const std::array<std::uint64_t, 8>& v4, const std::array<std::uint64_t, 8>& v5) {
  w.family(name, "counter", help);
  for (std::size_t i = 0; i < v4.size(); ++i) {
    if (!kV4Types[i].empty()) {
      w.sample(name, {{"protocol", "v4"}, {"type", kV4Types[i]}}, v4[i]);
    }
  }
  for (std::size_t i = 0; i < v5.size(); ++i) {
    w.sample(name, {{"protocol", "v5"}, {"type", kV5Types[i]}}, v5[i]);
  }
}

}  // namespace

std::string_view v4_type_name(std::size_t index) {
  return index < kV4Types.size() ? kV4Types[index] : std::string_view();
}
std::string_view v5_type_name(std::size_t index) {
  return index < kV5Types.size() ? kV5Types[index] : std::string_view();
}

std::string render_metrics(const CoreSnapshot& s, std::int64_t now_mono_ns) {
  const disc::Counters& c = s.counters;
  Writer w;

  // ---- packets ----
  packet_family(w, "discplane_packets_received_total",
                "Discovery packets received, by protocol and message type.", c.rx_v4, c.rx_v5);
  packet_family(w, "discplane_packets_sent_total",
                "Discovery packets sent, by protocol and message type.", c.tx_v4, c.tx_v5);
  w.counter("discplane_engine_rx_packets_total", "Datagrams handed to the engine.", c.rx_packets);
  w.counter("discplane_engine_rx_bytes_total", "Payload bytes handed to the engine.", c.rx_bytes);
  w.counter("discplane_engine_tx_packets_total", "Datagrams the engine sent.", c.tx_packets);
  w.counter("discplane_engine_tx_bytes_total", "Payload bytes the engine sent.", c.tx_bytes);
  w.family("discplane_dropped_packets_total", "counter", "Packets the engine dropped, by reason.");
  for (std::size_t i = 0; i < c.drops.size(); ++i) {
    w.sample("discplane_dropped_packets_total",
             {{"reason", disc::to_string(static_cast<disc::Drop>(i))}}, c.drops[i]);
  }

  // ---- discv4 ----
  w.counter("discplane_v4_bonds_total", "discv4 endpoint proofs established.", c.v4_bonds);
  w.counter("discplane_v4_pings_sent_back_total",
            "discv4 pings sent to complete a bond with a new sender.", c.v4_pings_sent_back);
  w.counter("discplane_v4_request_timeouts_total", "discv4 requests that got no reply in time.",
            c.v4_request_timeouts);
  w.counter("discplane_v4_late_pongs_total",
            "discv4 Pongs accepted after their ping had timed out.", c.v4_late_pongs);

  // ---- discv5 ----
  w.family("discplane_v5_handshakes_total", "counter",
           "discv5 handshakes, by who started them (initiated: we answered a WHOAREYOU; "
           "accepted: we verified a peer's handshake).");
  w.sample("discplane_v5_handshakes_total", {{"direction", "initiated"}},
           c.v5_handshakes_initiated);
  w.sample("discplane_v5_handshakes_total", {{"direction", "accepted"}}, c.v5_handshakes_accepted);
  w.gauge("discplane_v5_sessions", "discv5 sessions held.", s.sessions);
  w.counter("discplane_v5_sessions_evicted_total", "discv5 sessions evicted for capacity (LRU).",
            c.v5_sessions_evicted);
  w.counter("discplane_v5_sessions_expired_total", "discv5 sessions dropped after idling.",
            c.v5_sessions_expired);
  w.gauge("discplane_v5_pending_challenges", "WHOAREYOU challenges awaiting a handshake.",
          s.pending_challenges);
  w.counter("discplane_v5_whoareyou_sent_total", "WHOAREYOU challenges sent.", c.v5_whoareyou_sent);
  w.counter("discplane_v5_whoareyou_resent_total",
            "WHOAREYOU challenges repeated while one was pending.", c.v5_whoareyou_resent);
  w.counter("discplane_v5_whoareyou_rate_limited_total",
            "Undecryptable packets dropped by the WHOAREYOU rate limits.",
            c.dropped(disc::Drop::kV5WhoareyouLimited));
  w.counter("discplane_v5_request_timeouts_total", "discv5 requests that got no reply in time.",
            c.v5_request_timeouts);
  w.counter("discplane_v5_request_retries_total", "discv5 requests sent again.",
            c.v5_request_retries);
  w.counter("discplane_v5_talk_requests_total", "TALKREQ messages received.", c.v5_talk_requests);

  // ---- table and records ----
  const TableCounts t = count_table(s.peers);
  w.family("discplane_table_nodes", "gauge",
           "Peer table entries speaking each protocol (a node may speak both).");
  w.sample("discplane_table_nodes", {{"protocol", "v4"}}, t.v4);
  w.sample("discplane_table_nodes", {{"protocol", "v5"}}, t.v5);
  w.gauge("discplane_table_entries", "Peer table entries (both protocols).", s.peers.size());
  w.gauge("discplane_table_live_entries", "Entries verified and with no failed check pending.",
          t.live);
  w.gauge("discplane_table_replacements", "Entries in the replacement lists.", s.replacements);
  w.counter("discplane_enr_updates_learned_total", "Newer peer records stored.",
            c.enr_updates_learned);
  w.counter("discplane_fork_filtered_total",
            "Records kept out of the table by the fork-id filter (fork_filter).", c.fork_filtered);
  w.counter("discplane_record_cache_hits_total",
            "Peer records found in the cache of verified records (no signature check).",
            c.record_cache_hits);
  w.counter("discplane_record_cache_misses_total",
            "Peer records decoded and verified (not in the cache of verified records).",
            c.record_cache_misses);
  w.counter("discplane_local_record_updates_total", "Times our own ENR was re-signed.",
            c.local_record_updates);
  w.gauge("discplane_local_enr_seq", "Sequence number of our own ENR.", s.local_seq);
  w.family("discplane_ip_votes", "gauge", "External address votes held, by address family.");
  w.sample("discplane_ip_votes", {{"family", "ipv4"}}, static_cast<std::uint64_t>(s.ip_votes_v4));
  w.sample("discplane_ip_votes", {{"family", "ipv6"}}, static_cast<std::uint64_t>(s.ip_votes_v6));

  // ---- lookups ----
  w.counter("discplane_lookups_started_total", "Lookups started.", c.lookups_started);
  w.counter("discplane_lookups_done_total", "Lookups finished.", c.lookups_done);
  w.gauge("discplane_lookups_active", "Lookups in progress.", s.active_lookups);
  constexpr std::string_view kHist = "discplane_lookup_duration_seconds";
  w.family(kHist, "histogram", "Duration of finished lookups.");
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < c.lookup_duration_ms_hist.size(); ++i) {
    cumulative += c.lookup_duration_ms_hist[i];
    const std::uint32_t ms = disc::Counters::kLookupBucketsMs[i];
    const bool last = i + 1 == c.lookup_duration_ms_hist.size();
    char le[32];
    if (last) {
      std::snprintf(le, sizeof le, "+Inf");
    } else {
      std::snprintf(le, sizeof le, "%g", ms / 1000.0);
    }
    w.sample("discplane_lookup_duration_seconds_bucket", {{"le", le}}, cumulative);
  }
  w.sample("discplane_lookup_duration_seconds_sum", {},
           static_cast<double>(c.lookup_duration_ms_sum) / 1000.0);
  w.sample("discplane_lookup_duration_seconds_count", {}, cumulative);

  // ---- the dataplane loop ----
  const LoopStats& l = s.loop;
  w.counter("discplane_loop_bursts_total", "Poll passes that received packets.", l.bursts);
  w.counter("discplane_loop_empty_polls_total", "Poll passes that received nothing.",
            l.empty_polls);
  w.counter("discplane_loop_rx_packets_total", "Packets the backend received.", l.rx_packets);
  w.counter("discplane_loop_tx_packets_total", "Packets the backend sent.", l.tx_packets);
  w.counter("discplane_loop_busy_cycles_total",
            "TSC cycles the core spent in the engine on bursts that carried packets.",
            l.busy_cycles);
  w.family("discplane_loop_cycles_per_packet", "gauge",
           "Average TSC cycles spent per received packet since start.");
  w.sample("discplane_loop_cycles_per_packet", {},
           l.rx_packets == 0
               ? 0.0
               : static_cast<double>(l.busy_cycles) / static_cast<double>(l.rx_packets));
  w.family("discplane_loop_dropped_total", "counter", "Backend drops, by reason.");
  for (const auto& [reason, count] : l.drops) {
    w.sample("discplane_loop_dropped_total", {{"reason", reason}}, count);
  }

  // ---- per worker (dataplane.workers > 1) ----
  if (!s.workers.empty()) {
    std::vector<std::string> ids;
    for (std::size_t k = 0; k < s.workers.size(); ++k) {
      ids.push_back(std::to_string(k));
    }
    const auto per_worker = [&](std::string_view name, std::string_view help,
                                std::uint64_t LoopStats::*field) {
      w.family(name, "counter", help);
      for (std::size_t k = 0; k < s.workers.size(); ++k) {
        w.sample(name, {{"worker", ids[k]}}, s.workers[k].*field);
      }
    };
    per_worker("discplane_worker_rx_packets_total", "Packets a worker's socket received.",
               &LoopStats::rx_packets);
    per_worker("discplane_worker_tx_packets_total", "Packets a worker's socket sent.",
               &LoopStats::tx_packets);
    per_worker("discplane_worker_bursts_total", "A worker's poll passes that received packets.",
               &LoopStats::bursts);
    per_worker("discplane_worker_empty_polls_total",
               "A worker's poll passes that received nothing.", &LoopStats::empty_polls);
    per_worker("discplane_worker_busy_cycles_total",
               "TSC cycles a worker spent in its engine on bursts that carried packets.",
               &LoopStats::busy_cycles);
    w.family("discplane_worker_dropped_total", "counter", "A worker's backend drops, by reason.");
    for (std::size_t k = 0; k < s.workers.size(); ++k) {
      for (const auto& [reason, count] : s.workers[k].drops) {
        w.sample("discplane_worker_dropped_total", {{"worker", ids[k]}, {"reason", reason}}, count);
      }
    }
  }

  // ---- the snapshot itself ----
  w.gauge("discplane_snapshot_sequence", "Sequence number of the snapshot these come from.",
          s.sequence);
  w.family("discplane_snapshot_age_seconds", "gauge", "Age of the snapshot these come from.");
  w.sample("discplane_snapshot_age_seconds", {},
           now_mono_ns == 0 || s.taken_mono_ns == 0
               ? 0.0
               : static_cast<double>(now_mono_ns - s.taken_mono_ns) / 1e9);
  w.gauge("discplane_up", "1 while the core runs, 0 once it has shut down.", s.shut_down ? 0 : 1);
  return w.take();
}

std::string render_crawl_metrics(const CrawlStats& s) {
  Writer w;
  w.gauge("discplane_crawl_nodes", "Nodes in the crawl database (nodes.json).", s.nodes);
  w.gauge("discplane_crawl_nodes_responded", "Crawled nodes that answered at least once.",
          s.responded);
  w.counter("discplane_crawl_events_total", "Node events taken from the dataplane.", s.events);
  w.counter("discplane_crawl_events_dropped_total",
            "Node events lost because the core->control ring was full.", s.events_dropped);
  w.counter("discplane_crawl_lookups_total", "Crawl lookups issued (both protocols).", s.lookups);
  w.counter("discplane_crawl_writes_total", "Times nodes.json was written.", s.writes);
  w.counter("discplane_crawl_write_errors_total", "Failed nodes.json writes.", s.write_errors);
  return w.take();
}

std::string render_dns_metrics(const DnsDiscovery::Stats& s) {
  Writer w;
  w.counter("discplane_dns_syncs_total", "Passes over the dns_discovery lists.", s.syncs);
  w.counter("discplane_dns_roots_read_total",
            "Tree syncs whose signed root was read and verified (linked trees included).",
            s.roots_read);
  w.counter("discplane_dns_entries_fetched_total", "TXT lookups of tree entries, roots included.",
            s.entries_fetched);
  w.counter("discplane_dns_records_added_total",
            "Records handed to the engine: new nodes, or newer records of known ones.",
            s.seeds_queued);
  w.counter("discplane_dns_records_dropped_total",
            "Records dropped because the seed queue was full (offered again at the next sync).",
            s.seeds_dropped);
  w.family("discplane_dns_failures_total", "counter", "Failed tree syncs by reason.");
  static constexpr const char* kReasons[enrtree::kTreeErrorCount] = {
      "bad_url",   "bad_public_key",   "bad_root",      "bad_signature", "seq_rollback",
      "bad_entry", "bad_hash",         "hash_mismatch", "bad_enr",       "wrong_subtree",
      "too_deep",  "too_many_entries", "lookup_failed"};
  for (std::size_t i = 0; i < enrtree::kTreeErrorCount; ++i) {
    w.sample("discplane_dns_failures_total", {{"reason", kReasons[i]}}, s.failures[i]);
  }
  return w.take();
}

}  // namespace discplane::control
