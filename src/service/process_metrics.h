// The process's own metrics on /metrics: the process_* family as the
// Prometheus client libraries name it (CPU, memory, file descriptors, start
// time; Linux /proc), the build (assist_sync_build_info) and the logging
// thread's drops. docs/metrics.md lists them.
#ifndef ASSIST_SRC_SERVICE_PROCESS_METRICS_H
#define ASSIST_SRC_SERVICE_PROCESS_METRICS_H

#include <cstdint>
#include <optional>
#include <string>

namespace assist::service {

struct ProcessStats {
  double cpu_seconds = 0.0;            // user + system
  std::uint64_t resident_bytes = 0;
  std::uint64_t virtual_bytes = 0;
  std::uint64_t open_fds = 0;
  std::uint64_t max_fds = 0;           // the soft RLIMIT_NOFILE
  double start_time_seconds = 0.0;     // Unix time
};

// This process, now; nullopt where /proc cannot be read.
std::optional<ProcessStats> read_process_stats();

// Prometheus text: the process_* metrics (left out when /proc cannot be
// read), assist_sync_build_info{version} 1 and
// assist_sync_log_lines_dropped_total.
std::string process_prometheus_text();

}  // namespace assist::service

#endif  // ASSIST_SRC_SERVICE_PROCESS_METRICS_H
