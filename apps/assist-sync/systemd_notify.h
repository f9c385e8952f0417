// systemd's readiness protocol (sd_notify(3)) for `run` under Type=notify:
// READY=1 once the HTTP API serves, STOPPING=1 when a stop begins, STATUS=
// lines saying what it does, and WATCHDOG=1 keep-alives when the unit sets
// WatchdogSec=. Outside systemd (NOTIFY_SOCKET unset) every call does nothing.
#ifndef ASSIST_APPS_SYSTEMD_NOTIFY_H
#define ASSIST_APPS_SYSTEMD_NOTIFY_H

#include <chrono>
#include <string_view>

namespace assist::cli {

class SystemdNotifier {
 public:
  // Reads WATCHDOG_USEC (and WATCHDOG_PID) from the environment.
  SystemdNotifier();

  // READY=1 with a STATUS= line.
  void ready(std::string_view status) const;
  // STOPPING=1 with a STATUS= line.
  void stopping(std::string_view status) const;
  // WATCHDOG=1: the service is alive. Call every watchdog_interval().
  void watchdog() const;

  // Half of WatchdogSec=, as sd_watchdog_enabled(3) advises; zero when the
  // unit has no watchdog.
  std::chrono::microseconds watchdog_interval() const { return watchdog_interval_; }

 private:
  std::chrono::microseconds watchdog_interval_{0};
};

}  // namespace assist::cli

#endif  // ASSIST_APPS_SYSTEMD_NOTIFY_H
