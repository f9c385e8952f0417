// Process-wide logging for the assist-sync service and commands: spdlog's
// default logger, human-readable on a terminal and JSON lines otherwise, with
// every line scrubbed of secrets and tokens. Lines are formatted and written
// by a logging thread of their own: a thread that logs (the synchronizer's
// delivery thread included) only queues the line, and never waits, even when
// the disk or the terminal is slow (then the oldest queued lines are dropped
// and counted). Structured fields come from detail::LogRecord
// (src/core/detail/log_record.h).
#ifndef ASSIST_SRC_SERVICE_LOGGING_H
#define ASSIST_SRC_SERVICE_LOGGING_H

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace assist::service {

enum class LogFormat {
  automatic,  // text when stderr is a terminal, else json
  text,       // "2024-01-01 12:00:00.123 warn  message link=1 url=wss://…"
  json,       // {"ts":"2024-01-01T12:00:00.123Z","level":"warn","msg":"message","link":1,"url":"wss://…"}
};

// "auto", "text" or "json"; nullopt for anything else.
std::optional<LogFormat> parse_log_format(std::string_view text);
// True for trace, debug, info, warn, error, critical and off.
bool is_log_level(std::string_view text);

struct LogOptions {
  LogFormat format = LogFormat::automatic;
  std::string level = "info";  // see is_log_level; lines carry the same spelling
  std::string file;            // empty: stderr; else appended to, reopened by reopen_log_files()
  std::size_t queue_lines = 8192;  // lines waiting for the logging thread; beyond it the oldest are dropped
};

// Replaces spdlog's default logger (used by every component) according to
// `options`, after writing out what the previous one still held. Returns an
// empty string, or why it could not (bad level, file that cannot be opened);
// the previous logger stays in place then.
std::string setup_logging(const LogOptions& options);

// Writes out every line logged so far (they are written by the logging
// thread) and returns when they are: before reading the log in a test, before
// exiting. Thread-safe.
void flush_logs();

// Reopens the log file after an external rotation (SIGHUP). Returns false,
// doing nothing, when logging goes to stderr. Thread-safe.
bool reopen_log_files();

// Lines dropped so far because the logging thread was behind.
std::uint64_t log_lines_dropped();

// Registers a secret (client secret, API key, access token) that redact()
// must never let through. Values shorter than 4 bytes are ignored (they would
// scrub ordinary words). Thread-safe.
void register_secret(std::string value);

// `text` with registered secrets and the values of well-known credential
// shapes (access_token=..., client_secret=..., "Bearer ...", "Basic ...",
// URL user:password@) replaced by "***". Every log line passes through it.
std::string redact(std::string_view text);

}  // namespace assist::service

#endif  // ASSIST_SRC_SERVICE_LOGGING_H
