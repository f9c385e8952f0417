// The library's logger: one per synchronizer, shared by its parts (token
// provider, pool, links, connections, CRM webhook), so a LogOptions::sink
// set by a library user receives every line of that synchronizer and
// spdlog's default logger none. Built from LogOptions; without a sink it is
// spdlog's default logger, which the assist-sync command configures.
//
//   if (log->should_log(LogLevel::debug))
//     log->debug(detail::LogRecord("session placed").with("link", id));
#ifndef ASSIST_SRC_UTIL_LOGGER_H
#define ASSIST_SRC_UTIL_LOGGER_H

#include <memory>

#include "assist/log.h"
#include "core/detail/log_record.h"

namespace assist::util {

// Thread-safe (the sink must be, see LogSink). Immutable once built.
class Logger {
 public:
  explicit Logger(LogOptions options);

  // spdlog's default logger (no sink), shared: for parts built without one.
  static std::shared_ptr<const Logger> process_default();

  // Whether a line at `level` would go anywhere: check it before building a
  // record on a hot path.
  bool should_log(LogLevel level) const noexcept;
  // Hands the record to the sink or to spdlog. Never throws (a throwing
  // sink loses the line).
  void log(LogLevel level, const detail::LogRecord& record) const noexcept;

  void debug(const detail::LogRecord& record) const noexcept { log(LogLevel::debug, record); }
  void info(const detail::LogRecord& record) const noexcept { log(LogLevel::info, record); }
  void warn(const detail::LogRecord& record) const noexcept { log(LogLevel::warn, record); }
  void error(const detail::LogRecord& record) const noexcept { log(LogLevel::error, record); }

 private:
  LogOptions options_;
};

using LoggerPtr = std::shared_ptr<const Logger>;

}  // namespace assist::util

#endif  // ASSIST_SRC_UTIL_LOGGER_H
