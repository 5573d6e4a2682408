// The appliance's spdlog logger (see log.h).
#include "discplane/control/log.h"

#include <spdlog/sinks/stdout_sinks.h>

namespace discplane::control {

spdlog::level::level_enum spdlog_level(LogLevel level) {
  switch (level) {
    case LogLevel::kError:
      return spdlog::level::err;
    case LogLevel::kWarn:
      return spdlog::level::warn;
    case LogLevel::kInfo:
      return spdlog::level::info;
    case LogLevel::kDebug:
      return spdlog::level::debug;
  }
  return spdlog::level::info;
}

spdlog::logger& logger() {
  static const std::shared_ptr<spdlog::logger> instance = [] {
    auto l = std::make_shared<spdlog::logger>("discplane",
                                              std::make_shared<spdlog::sinks::stderr_sink_mt>());
    l->set_pattern("%Y-%m-%d %H:%M:%S.%e %l discplane: %v");
    l->set_level(spdlog::level::info);
    l->flush_on(spdlog::level::trace);  // every line reaches the pipe at once (tests, journald)
    return l;
  }();
  return *instance;
}

void set_log_level(LogLevel level) {
  logger().set_level(spdlog_level(level));
}

}  // namespace discplane::control
