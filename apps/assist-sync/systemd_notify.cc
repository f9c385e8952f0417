#include "systemd_notify.h"

#include <cstdint>
#include <string>

#include <fmt/format.h>
#include <systemd/sd-daemon.h>

namespace assist::cli {

SystemdNotifier::SystemdNotifier() {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0)
    watchdog_interval_ = std::chrono::microseconds(static_cast<std::int64_t>(usec / 2));
}

void SystemdNotifier::ready(std::string_view status) const {
  sd_notify(0, fmt::format("READY=1\nSTATUS={}", status).c_str());
}

void SystemdNotifier::stopping(std::string_view status) const {
  sd_notify(0, fmt::format("STOPPING=1\nSTATUS={}", status).c_str());
}

void SystemdNotifier::watchdog() const { sd_notify(0, "WATCHDOG=1"); }

}  // namespace assist::cli
