// The config's policy section (ban lists, ban file, allow list) to the engine's NetPolicySpec.
// The ban file is read here, at start and on every reload; its errors name the file and line.
#pragma once

#include <memory>
#include <string>

#include "discplane/common/result.h"
#include "discplane/control/config.h"
#include "discplane/discovery/net_policy.h"

namespace discplane::control {

// Parses a ban file's text: one entry per line (a node id of 64 hex digits, an IP address or a
// CIDR), blank lines and '#' comments ignored. Errors: file = `name`, line, key policy.ban.file.
[[nodiscard]] Result<void, ConfigError> parse_ban_list(std::string_view text, std::string_view name,
                                                       disc::NetPolicySpec& out);

// Everything in config.policy (the ban file read from disk) as one spec.
[[nodiscard]] Result<disc::NetPolicySpec, ConfigError> policy_spec_of(const Config::Policy& policy);

// One line for the log: "policy: 2 banned ids, 3 banned ranges, allow list of 1 range".
std::string describe(const disc::NetPolicy& policy);

}  // namespace discplane::control
