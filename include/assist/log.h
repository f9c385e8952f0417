// Where the library's log lines go. By default they go to spdlog's default
// logger (what the assist-sync command configures); a library user can hand
// them to a sink of its own, or drop them, per synchronizer.
#ifndef ASSIST_LOG_H
#define ASSIST_LOG_H

#include <functional>
#include <string_view>

namespace assist {

enum class LogLevel { debug, info, warn, error, off };

// One line. Both views are valid only during the sink's call.
struct LogLine {
  LogLevel level = LogLevel::info;
  std::string_view message;  // what happened ("connection failed"); never a secret
  // The line's fields as the text of a JSON object ({"link":3,"error":"..."}),
  // empty when it has none. Secrets are never put in a field.
  std::string_view fields;
};

// Receives the lines at or above LogOptions::level. It is called from
// whichever thread logs (the synchronizer's, a sync_prompt caller's, a CRM
// worker's), so it must be thread-safe; it must be short, must not block and
// must not call the synchronizer. An exception from it is swallowed (the line
// is lost, nothing else).
using LogSink = std::function<void(const LogLine& line)>;

struct LogOptions {
  // Empty: spdlog's default logger, at spdlog's level (the process's own
  // logging). Set: every line goes here instead, and none to spdlog.
  LogSink sink;
  // With a sink: lines below this level are neither built nor passed on;
  // LogLevel::off passes none (a silent library).
  LogLevel level = LogLevel::info;
};

}  // namespace assist

#endif  // ASSIST_LOG_H
