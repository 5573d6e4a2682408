// SIGHUP reload: what changed between the running config and the re-read file, and what can
// be applied live. Pure (no I/O): the program prints one line per changed key and the
// appliance applies the plan.
//
// Live: bootnodes (new ones are seeded; removed ones stay known until a restart), the ban and
// allow lists, logging.level and logging.packet_log_rate. Everything else (listen address,
// backend, key file, protocols, timers, table and protocol limits, API, node DB path) needs a
// restart: the engine fixes its limits at construction.
#pragma once

#include <string>
#include <vector>

#include "discplane/control/config.h"

namespace discplane::control {

enum class ReloadAction : std::uint8_t { kApplied, kNeedsRestart };

struct ReloadChange {
  std::string key;  // dotted, as in the YAML ("policy.ban.cidrs")
  ReloadAction action = ReloadAction::kApplied;
  std::string detail;  // "info -> debug", "2 new seeded", ...
  // "policy.ban.cidrs: applied (1 -> 2 entries)" / "network.listen: ignored, needs a restart"
  std::string to_string() const;
};

struct ReloadPlan {
  std::vector<ReloadChange> changes;  // in the order of the config's sections
  // What to apply:
  std::vector<std::string> new_bootnodes;  // in next, not in running
  bool policy = false;   // rebuild the NetPolicy (also whenever a ban file is set)
  bool logging = false;  // level or packet_log_rate
  bool empty() const { return changes.empty(); }
};

// `running` is what the appliance runs with (its live fields updated by earlier reloads).
[[nodiscard]] ReloadPlan plan_reload(const Config& running, const Config& next);

// `running` with the live fields of `next` (what the appliance runs with after the plan).
[[nodiscard]] Config apply_live_fields(const Config& running, const Config& next);

}  // namespace discplane::control
