// DPDK telemetry for the appliance: `/discplane/stats`, `/discplane/peers`, `/discplane/node`,
// `/discplane/node/enr` and `/discplane/node/enode` on the EAL's telemetry socket
// (/var/run/dpdk/<file-prefix>/dpdk_telemetry.v2; `dpdk-telemetry.py -f <file-prefix>`).
//
// The callbacks run on DPDK's telemetry thread. They read only the published CoreSnapshot
// (SnapshotPublisher::acquire, pinned while a reply is rendered), never the live engine, so the
// dataplane core does not know they exist. Replies are built in two steps: a plain
// TelemetryReply from the snapshot (pure, unit-tested here), then the rte_tel_data the library
// serialises. The shapes respect DPDK 22.11's limits: names of [A-Za-z0-9_/], strings under
// 128 characters (longer ones, the ENR and enode URL, come as arrays of pieces to join, or
// whole from the single-string commands), at most 256 entries per dict, one nesting level.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "discplane/common/endpoint.h"
#include "discplane/common/result.h"
#include "discplane/control/core_snapshot.h"
#include "discplane/control/snapshot.h"

namespace discplane::control {

// DPDK 22.11 (rte_telemetry.h): RTE_TEL_MAX_STRING_LEN, RTE_TEL_MAX_DICT_ENTRIES.
inline constexpr std::size_t kTelemetryMaxString = 127;  // characters, without the NUL
inline constexpr std::size_t kTelemetryMaxEntries = 256;
inline constexpr std::size_t kTelemetryDefaultPeers = 8;
inline constexpr std::size_t kTelemetryMaxPeers = 32;  // keeps a reply far under 16 KiB

using TelemetryScalar = std::variant<std::uint64_t, std::string>;
// A nested dict (one level): name -> number or string.
using TelemetryDict = std::vector<std::pair<std::string, TelemetryScalar>>;
// An array of strings (the pieces of a long string).
using TelemetryStrings = std::vector<std::string>;
using TelemetryValue = std::variant<std::uint64_t, std::string, TelemetryDict, TelemetryStrings>;

struct TelemetryReply {
  std::vector<std::pair<std::string, TelemetryValue>> entries;  // a dict reply
  std::optional<std::string> text;  // set: the reply is this one string instead

  const TelemetryValue* find(std::string_view name) const;
  // Convenience for tests: a top-level number, or one inside a nested dict.
  std::optional<std::uint64_t> number(std::string_view name) const;
  std::optional<std::uint64_t> number(std::string_view dict, std::string_view name) const;
};

// The replies, from one snapshot. `now_mono_ns` (0: unknown) gives the snapshot's age.
[[nodiscard]] TelemetryReply telemetry_stats(const CoreSnapshot& s, std::int64_t now_mono_ns);
[[nodiscard]] TelemetryReply telemetry_peers(const CoreSnapshot& s, std::size_t limit);
// `bound`: the enode URL falls back to it before an address is announced (as at start).
[[nodiscard]] TelemetryReply telemetry_node(const CoreSnapshot& s, const Endpoint& bound);
[[nodiscard]] std::string telemetry_enr(const CoreSnapshot& s);
[[nodiscard]] std::string telemetry_enode(const CoreSnapshot& s, const Endpoint& bound);

// `/discplane/peers,N`: N in 0..kTelemetryMaxPeers (empty: kTelemetryDefaultPeers).
[[nodiscard]] Result<std::size_t, std::string> parse_telemetry_peer_limit(std::string_view params);

// Splits `text` into pieces of at most kTelemetryMaxString characters.
[[nodiscard]] TelemetryStrings split_telemetry_string(std::string_view text);

// While it lives, the /discplane/... commands answer from `snapshots`; afterwards they fail
// (the client sees null). The commands are registered with rte_telemetry_register_cmd once per
// process (DPDK has no unregister); one source at a time.
class TelemetryRegistration {
 public:
  [[nodiscard]] static Result<std::unique_ptr<TelemetryRegistration>, std::string> attach(
      const SnapshotPublisher<CoreSnapshot>& snapshots, const Endpoint& bound);
  ~TelemetryRegistration();
  TelemetryRegistration(const TelemetryRegistration&) = delete;
  TelemetryRegistration& operator=(const TelemetryRegistration&) = delete;

 private:
  TelemetryRegistration() = default;
};

// The command names, for docs and tests.
inline constexpr std::string_view kTelemetryCommands[] = {"/discplane/stats", "/discplane/peers",
                                                          "/discplane/node", "/discplane/node/enr",
                                                          "/discplane/node/enode"};

}  // namespace discplane::control
