#include "service/process_metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "assist/version.h"
#include "core/detail/json_text.h"
#include "service/logging.h"

namespace assist::service {
namespace {

// The fields of /proc/self/stat after the command name (which may hold
// spaces): [0] is field 3 of proc(5), "state".
std::vector<std::string> stat_fields() {
  std::ifstream in("/proc/self/stat");
  std::string text;
  std::getline(in, text);
  const auto close = text.rfind(')');
  if (close == std::string::npos) return {};
  std::istringstream rest(text.substr(close + 1));
  std::vector<std::string> fields;
  for (std::string field; rest >> field;) fields.push_back(field);
  return fields;
}

// The kernel's boot time (btime in /proc/stat), Unix seconds.
std::optional<double> boot_time() {
  std::ifstream in("/proc/stat");
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("btime ")) return std::stod(line.substr(6));
  return std::nullopt;
}

std::uint64_t count_open_fds() {
  std::error_code ec;
  std::uint64_t n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++n;
  return n > 0 ? n - 1 : 0;  // the directory iterator's own descriptor
}

// proc(5) field numbers, counted from 3 in stat_fields().
constexpr std::size_t kStartTime = 22 - 3;
constexpr std::size_t kVirtualBytes = 23 - 3;
constexpr std::size_t kResidentPages = 24 - 3;

}  // namespace

std::optional<ProcessStats> read_process_stats() {
  const auto fields = stat_fields();
  const auto boot = boot_time();
  if (fields.size() <= kResidentPages || !boot) return std::nullopt;
  const auto ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  ProcessStats s;
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  s.cpu_seconds = seconds(usage.ru_utime) + seconds(usage.ru_stime);
  s.virtual_bytes = std::stoull(fields[kVirtualBytes]);
  s.resident_bytes = std::stoull(fields[kResidentPages]) * page;
  s.start_time_seconds = *boot + std::stod(fields[kStartTime]) / ticks;
  s.open_fds = count_open_fds();
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) s.max_fds = static_cast<std::uint64_t>(limit.rlim_cur);
  return s;
}

std::string process_prometheus_text() {
  std::string out;
  auto metric = [&out](std::string_view name, std::string_view type, std::string_view help, std::string_view value,
                       std::string_view labels = {}) {
    out += fmt::format("# HELP {0} {1}\n# TYPE {0} {2}\n{0}{3} {4}\n", name, help, type, labels, value);
  };
  if (const auto p = read_process_stats()) {
    metric("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.",
           detail::json_number(p->cpu_seconds));
    metric("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
           std::to_string(p->resident_bytes));
    metric("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", std::to_string(p->virtual_bytes));
    metric("process_open_fds", "gauge", "Number of open file descriptors.", std::to_string(p->open_fds));
    metric("process_max_fds", "gauge", "Maximum number of open file descriptors.", std::to_string(p->max_fds));
    metric("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.",
           detail::json_number(p->start_time_seconds));
  }
  metric("assist_sync_build_info", "gauge", "Always 1; the version label says which build is running.", "1",
         fmt::format("{{version=\"{}\"}}", assist::version()));
  metric("assist_sync_log_lines_dropped_total", "counter",
         "Log lines dropped because the logging thread was behind (the delivery path never waits for it).",
         std::to_string(log_lines_dropped()));
  return out;
}

}  // namespace assist::service
