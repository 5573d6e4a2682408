// The appliance's logger: spdlog, one logger ("discplane") writing to stderr, used by the
// control plane only (the dataplane core never logs: it hands compact events to PacketLog).
// Lines look like "2026-11-24 00:10:00.123 info discplane: <message>".
#pragma once

#include <spdlog/spdlog.h>

#include <memory>

#include "discplane/control/config.h"

namespace discplane::control {

spdlog::level::level_enum spdlog_level(LogLevel level);

// The process-wide logger (created on first use, stderr, level info).
spdlog::logger& logger();
// Any thread (spdlog levels are atomic).
void set_log_level(LogLevel level);

}  // namespace discplane::control
