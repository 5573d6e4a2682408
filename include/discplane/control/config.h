// The appliance's whole configuration: one struct with its defaults, the YAML loader and the
// rules that link fields. Loading never throws: yaml-cpp's exceptions are caught here and become
// a ConfigError naming the file, line, column and key. Bootnode strings are only prefix-checked
// here; the wire codecs (enode/ENR) parse them later. The key names are fixed: operators' scripts
// and conf/*.yaml depend on them.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "discplane/common/bytes.h"
#include "discplane/common/endpoint.h"
#include "discplane/common/result.h"
#include "discplane/discovery/net_policy.h"

namespace discplane::control {

// Where a config problem is and what it is. line/column are 1-based (0 = not tied to a place).
struct ConfigError {
  std::string file;
  int line = 0;
  int column = 0;
  std::string key;  // dotted path, e.g. "dataplane.dpdk.port"; empty for YAML syntax errors
  std::string message;

  // "FILE:LINE:COL: key: message" (the parts that are unknown are left out).
  std::string to_string() const;
};

enum class Protocol : std::uint8_t { kDiscv4, kDiscv5 };
enum class Backend : std::uint8_t { kSocket, kDpdk };
// node: a normal discovery participant. bootnode: answers and keeps its table fresh; looks up
// only its own id (start, +2 s, then every bootnode.refresh_interval). crawl: a lookup per
// protocol every crawl.lookup_interval, every node seen recorded in crawl.output (nodes.json).
enum class Mode : std::uint8_t { kNode, kBootnode, kCrawl };
enum class LogLevel : std::uint8_t { kError, kWarn, kInfo, kDebug };

// The names used in YAML ("discv4", "socket", "crawl", "debug").
std::string_view to_string(Protocol p);
std::string_view to_string(Backend b);
std::string_view to_string(Mode m);
std::string_view to_string(LogLevel l);

// All durations are kept in milliseconds; YAML writes them "500ms", "10s", "5m", "12h" or
// compound ("1h30m").
using Duration = std::chrono::milliseconds;
// Parses the YAML duration syntax; nullopt on anything else, on zero and on overflow.
[[nodiscard]] std::optional<Duration> parse_duration(std::string_view text);
// The shortest exact form in the same syntax ("1h30m", "500ms").
std::string format_duration(Duration d);

using MacAddress = ByteArray<6>;

// An interface address with its prefix: "169.254.10.2/24", "fd00::2/64".
struct InterfaceAddress {
  IpAddress address;
  std::uint8_t prefix_length = 0;

  [[nodiscard]] static std::optional<InterfaceAddress> parse(std::string_view text);
  std::string to_string() const;
  friend bool operator==(const InterfaceAddress&, const InterfaceAddress&) = default;
};

struct Config {
  struct Identity {
    // Path of the hex secp256k1 private key (geth nodekey format); created 0600 if missing.
    // Relative paths are relative to the working directory. Default "discplane-data/nodekey".
    std::string key_file = "discplane-data/nodekey";
    friend bool operator==(const Identity&, const Identity&) = default;
  };
  struct Network {
    // UDP endpoints both protocols listen on ("addr:port", "[v6]:port"): one, or a list of one
    // IPv4 and one IPv6 endpoint for a dual-stack node (the socket backend opens a socket per
    // family). Never empty. Default 0.0.0.0:30303.
    std::vector<Endpoint> listen = {Endpoint{IpAddress::v4(0, 0, 0, 0), 30303}};
    // Addresses announced in our ENR / discv4 endpoint, at most one per family, each of a
    // family we listen on; a family without one ("auto") is learned from peers' PONG/endpoint
    // votes. Empty = auto for both. Default auto.
    std::vector<IpAddress> external_ip;
    // TCP port announced as `tcp` (and `tcp6`) in our ENR and in the enode URL and discv4
    // endpoints, for the RLPx service a client runs beside us; 0 = none (no tcp entry, the URL
    // says 0). Some clients (the @ethereumjs/devp2p DNS client) skip records without one.
    // Default 0.
    std::uint16_t tcp_port = 0;
    // TCP port announced as `tcp6` when it differs from tcp_port; 0 = tcp_port. Default 0.
    std::uint16_t tcp6_port = 0;
    // The listen endpoint / external address of one family; null / nullopt when none is set.
    [[nodiscard]] const Endpoint* listen_of(IpAddress::Family family) const noexcept;
    [[nodiscard]] std::optional<IpAddress> external_ip_of(IpAddress::Family family) const noexcept;
    friend bool operator==(const Network&, const Network&) = default;
  };
  struct Dpdk {
    // EAL arguments, passed verbatim to rte_eal_init (argv[0] is added). Default empty.
    std::vector<std::string> eal_args;
    // DPDK port id. Default 0.
    std::uint16_t port = 0;
    // RX / TX descriptor ring sizes, powers of two. Default 1024 each.
    std::uint32_t rx_queue_size = 1024;
    std::uint32_t tx_queue_size = 1024;
    // mbufs in the packet pool; must exceed rx + tx queue sizes. Default 8191 (2^n - 1).
    std::uint32_t mempool_size = 8191;
    // Our IPv4 / IPv6 address with prefix on the port (ARP/NDP answered for it). Default none.
    std::optional<InterfaceAddress> ipv4;
    std::optional<InterfaceAddress> ipv6;
    // Static next-hop MAC; none = resolve the gateway (or peers on-link) by ARP/NDP.
    std::optional<MacAddress> gateway_mac;
    // 802.1Q VLAN id 1..4094 to tag/accept; none = untagged. Default none.
    std::optional<std::uint16_t> vlan;
    // Martian sources (loopback, 0.0.0.0/8, multicast, broadcast, class E, our own address;
    // IPv6 ::, ::1, multicast, v4-mapped) are dropped as the kernel would (reason
    // "martian_source"), except inside these CIDRs. Default none.
    std::vector<disc::Cidr> allow_martian;
    friend bool operator==(const Dpdk&, const Dpdk&) = default;
  };
  struct Socket {
    // Kernel receive / send buffer per socket, in bytes (SO_RCVBUF/SO_SNDBUF; SO_*BUFFORCE
    // when permitted, so net.core.rmem_max does not cap it). The kernel's 212 KB default
    // loses datagrams under bursts of a few thousand; the startup log says what was granted.
    // 0 = the kernel's default. Default 8388608 (8 MiB) each.
    std::uint32_t rcvbuf = 8u << 20;
    std::uint32_t sndbuf = 8u << 20;
    friend bool operator==(const Socket&, const Socket&) = default;
  };
  struct Dataplane {
    Backend backend = Backend::kSocket;  // socket | dpdk. Default socket.
    Socket socket;
    Dpdk dpdk;
    // Dataplane worker threads (1..16). 1 = one core, as before. N > 1: socket backend, N
    // SO_REUSEPORT sockets steered by source endpoint; dpdk backend, a DpdkPortGroup (RSS
    // queues or a software distributor). Worker 0 owns the table (docs/multicore.md).
    // Default 1.
    std::uint32_t workers = 1;
    friend bool operator==(const Dataplane&, const Dataplane&) = default;
  };
  struct PerProtocol {
    Duration discv4;
    Duration discv5;
    friend bool operator==(const PerProtocol&, const PerProtocol&) = default;
  };
  struct Timers {
    // How often one table entry is re-pinged, per protocol. Default 10s each.
    PerProtocol revalidate_interval = {std::chrono::seconds(10), std::chrono::seconds(10)};
    // How often a random lookup runs, per protocol. Default 30s each.
    PerProtocol lookup_interval = {std::chrono::seconds(30), std::chrono::seconds(30)};
    // How often dead entries, stale sessions and expired bonds are dropped. Default 1m.
    Duration prune_interval = std::chrono::minutes(1);
    // How often the dataplane publishes a table/counter snapshot for the API. Default 1s.
    Duration snapshot_interval = std::chrono::seconds(1);
    friend bool operator==(const Timers&, const Timers&) = default;
  };
  struct Table {
    // Entries per Kademlia bucket. Default 16.
    std::uint32_t bucket_size = 16;
    // Replacement-cache entries per bucket. Default 10.
    std::uint32_t replacements = 10;
    // At most this many entries from one /24 (IPv4) or /64 (IPv6) per bucket. Default 2.
    std::uint32_t bucket_ip_limit = 2;
    // ... and in the whole table. Default 10.
    std::uint32_t table_ip_limit = 10;
    // Sources inside these prefixes bypass both IP limits (many nodes on one host: local
    // tests and testnets, e.g. [127.0.0.0/8, "::1/128"]). Default none: on an exposed port
    // loopback and private sources count like any other.
    std::vector<disc::Cidr> ip_limit_exempt;
    friend bool operator==(const Table&, const Table&) = default;
  };
  struct Discv4 {
    // How long an endpoint proof (PING/PONG bond) lets a peer send FINDNODE. Default 12h.
    Duration bond_lifetime = std::chrono::hours(12);
    // Wait for a reply before a request counts as failed. Default 500ms.
    Duration request_timeout = std::chrono::milliseconds(500);
    // Anti-amplification: bytes we may send to endpoints without an endpoint proof beyond
    // the bytes received, per source IP and in total (docs/security.md). Default 2048, 65536.
    std::uint32_t amplification_burst_per_ip = 2048;
    std::uint32_t amplification_burst_global = 65536;
    // FindNode and ENRRequest from bonded peers per second, per source IP and per node id
    // (bursts of twice as many); over that they are dropped and counted
    // (reason="v4_request_rate_limited"). 0 = no limit. Default 100 and 10.
    std::uint32_t request_rate_per_ip = 100;
    std::uint32_t request_rate_per_node = 10;
    friend bool operator==(const Discv4&, const Discv4&) = default;
  };
  struct Discv5 {
    // Sessions kept (LRU beyond this). Default 1024.
    std::uint32_t max_sessions = 1024;
    // A session unused this long is dropped. Default 10m.
    Duration session_idle_timeout = std::chrono::minutes(10);
    // WHOAREYOU challenges sent per second, to one IP and in total. Default 5 and 2000.
    std::uint32_t whoareyou_rate_per_ip = 5;
    std::uint32_t whoareyou_rate_global = 2000;
    // FINDNODE and TALKREQ on established sessions per second, per source IP and per node id
    // (bursts of twice as many); over that they are dropped and counted
    // (reason="v5_request_rate_limited"). 0 = no limit. Default 100 and 10.
    std::uint32_t request_rate_per_ip = 100;
    std::uint32_t request_rate_per_node = 10;
    // Wait for a reply before a request counts as failed. Default 1s.
    Duration request_timeout = std::chrono::seconds(1);
    friend bool operator==(const Discv5&, const Discv5&) = default;
  };
  struct Api {
    // TCP endpoint of the HTTP API / metrics. Default 127.0.0.1:30380.
    Endpoint listen = {IpAddress::v4(127, 0, 0, 1), 30380};
    friend bool operator==(const Api&, const Api&) = default;
  };
  struct Logging {
    LogLevel level = LogLevel::kInfo;  // error | warn | info | debug. Default info.
    // Per-packet log lines (drops, bonds, handshakes: debug level) per second at most, with
    // bursts of as many; the rest are counted and reported as "N lines suppressed". 0 turns
    // the packet log off. Default 20.
    std::uint32_t packet_log_rate = 20;
    friend bool operator==(const Logging&, const Logging&) = default;
  };
  // Who the engine talks to (reloadable on SIGHUP). Banned nodes and addresses are dropped on
  // arrival, never stored and never contacted; with an allow list set, only endpoints inside it
  // are (geth's --netrestrict).
  struct Policy {
    struct Ban {
      std::vector<NodeId> node_ids;   // 64 hex digits each. Default none.
      std::vector<IpAddress> ips;     // single addresses. Default none.
      std::vector<disc::Cidr> cidrs;  // "10.0.0.0/8", "fd00::/8". Default none.
      // A file of more entries, one per line (node id, address or CIDR; '#' comments), read at
      // start and on every reload. Empty = none. Default empty.
      std::string file;
      friend bool operator==(const Ban&, const Ban&) = default;
    };
    Ban ban;
    std::vector<disc::Cidr> allow;  // CIDRs; empty = every address allowed. Default empty.
    friend bool operator==(const Policy&, const Policy&) = default;
  };
  struct NodeDb {
    // Where known nodes are saved between runs; empty = not saved. Default empty.
    std::string path;
    // How often the table is saved while running (also at shutdown), so a crash loses at
    // most this much; each save is atomic (temp file, fsync, rename, fsync of the
    // directory). At least 100ms. Default 30s.
    Duration save_interval = std::chrono::seconds(30);
    friend bool operator==(const NodeDb&, const NodeDb&) = default;
  };
  struct DnsDiscovery {
    // EIP-1459 node lists, "enrtree://<base32 key>@<domain>"; their ENRs become seeds.
    // Default none (off).
    std::vector<std::string> urls;
    // DNS server "ADDRESS[:PORT]" ("[V6]:PORT"); empty = the system resolver. Default empty.
    std::string server;
    // How often each list's root is re-read (a changed seq re-walks the changed entries).
    // Default 30m.
    Duration resync_interval = std::chrono::minutes(30);
    // Per try of one TXT query (two tries). Default 2s.
    Duration query_timeout = std::chrono::seconds(2);
    // TXT lookups per list and sync, its linked lists counted apart. Default 5000.
    std::uint32_t max_entries = 5000;
    friend bool operator==(const DnsDiscovery&, const DnsDiscovery&) = default;
  };

  struct Crawl {
    // One lookup per enabled protocol this often (100ms = 10 lookups/s each). Default 100ms.
    Duration lookup_interval = std::chrono::milliseconds(100);
    // nodes.json (go-ethereum devp2p crawler format). Default "discplane-data/nodes.json".
    std::string output = "discplane-data/nodes.json";
    // How often nodes.json is rewritten (also at shutdown). Default 30s.
    Duration write_interval = std::chrono::seconds(30);
    // How often a progress line is printed. Default 10s.
    Duration progress_interval = std::chrono::seconds(10);
    // Load an existing output file at start and merge into it. Default true.
    bool resume = true;
    // Node events buffered between the core and the control thread (more: dropped, counted).
    // Default 16384.
    std::uint32_t event_ring = 16384;
    friend bool operator==(const Crawl&, const Crawl&) = default;
  };
  struct Bootnode {
    // Bootnode mode: one self lookup per protocol this often (plus at start and 2 s later).
    // Default 5m.
    Duration refresh_interval = std::chrono::minutes(5);
    friend bool operator==(const Bootnode&, const Bootnode&) = default;
  };
  struct ForkId {
    ByteArray<4> hash{};
    std::uint64_t next = 0;  // 0: any
    friend bool operator==(const ForkId&, const ForkId&) = default;
  };
  struct ForkFilter {
    // Accepted EIP-2124 fork ids of the `eth` ENR entry; empty = filter off. Default empty.
    std::vector<ForkId> accept;
    // Also keep out records without an `eth` entry. Default false.
    bool require_eth = false;
    friend bool operator==(const ForkFilter&, const ForkFilter&) = default;
  };
  struct EnrEntry {
    std::string key;
    Bytes value;  // one complete RLP item, as stored in the record
    friend bool operator==(const EnrEntry&, const EnrEntry&) = default;
  };
  // What our record says beyond the addresses. The whole record (with both addresses, both
  // ports, an 8-byte seq and these entries) must fit EIP-778's 300 bytes: checked at load.
  struct Enr {
    // EIP-2124 fork id announced as `eth` ([[hash, next]], as go-ethereum writes it);
    // nullopt = no `eth` entry. Default none.
    std::optional<ForkId> eth;
    // More entries, key + hex RLP value ({key: "foo", value: "0x83626172"}). The keys the
    // appliance writes itself (id, secp256k1, ip, ip6, udp, udp6, tcp, tcp6, eth) are refused.
    // Default none.
    std::vector<EnrEntry> extra;
    friend bool operator==(const Enr&, const Enr&) = default;
  };

  Mode mode = Mode::kNode;  // node | bootnode | crawl. Default node.
  Identity identity;
  Network network;
  // Protocols to run, each at most once. Default both.
  std::vector<Protocol> protocols = {Protocol::kDiscv4, Protocol::kDiscv5};
  // "enode://..." URLs and "enr:..." records, kept as text. Default none.
  std::vector<std::string> bootnodes;
  Dataplane dataplane;
  Timers timers;
  Table table;
  Discv4 discv4;
  Discv5 discv5;
  Api api;
  Logging logging;
  NodeDb node_db;
  Crawl crawl;
  Bootnode bootnode;
  ForkFilter fork_filter;
  Enr enr;
  DnsDiscovery dns_discovery;
  Policy policy;

  bool runs(Protocol p) const;
  // Rules between fields (dpdk needs EAL args and an address, at least one protocol, ...).
  // The error names the key; load_config() adds the file and line.
  [[nodiscard]] Result<void, ConfigError> validate() const;

  friend bool operator==(const Config&, const Config&) = default;
};

// 64 hex digits (an optional 0x prefix), as node ids are written in logs and the API.
[[nodiscard]] std::optional<NodeId> node_id_from_hex(std::string_view text);

// Reads, parses and validates a YAML file. Unknown keys, wrong types and bad values are errors.
[[nodiscard]] Result<Config, ConfigError> load_config(const std::filesystem::path& path);
// Same from text; `name` is used as the file name in errors.
[[nodiscard]] Result<Config, ConfigError> parse_config(std::string_view yaml,
                                                       std::string_view name = "<config>");

}  // namespace discplane::control
