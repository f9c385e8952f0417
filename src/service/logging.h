// Process-wide logging for the assist-sync service and commands: spdlog's
// default logger, human-readable on a terminal and JSON lines otherwise, with
// every line scrubbed of secrets and tokens.
#ifndef ASSIST_SRC_SERVICE_LOGGING_H
#define ASSIST_SRC_SERVICE_LOGGING_H

#include <optional>
#include <string>
#include <string_view>

namespace assist::service {

enum class LogFormat {
  automatic,  // text when stderr is a terminal, else json
  text,       // "2024-01-01 12:00:00.123 info  message"
  json,       // {"ts":"2024-01-01T12:00:00.123Z","level":"info","msg":"message"}
};

// "auto", "text" or "json"; nullopt for anything else.
std::optional<LogFormat> parse_log_format(std::string_view text);
// True for trace, debug, info, warn, error, critical and off.
bool is_log_level(std::string_view text);

struct LogOptions {
  LogFormat format = LogFormat::automatic;
  std::string level = "info";  // see is_log_level
  std::string file;            // empty: stderr; else appended to, reopened by reopen_log_files()
};

// Replaces spdlog's default logger (used by every component) according to
// `options`. Returns an empty string, or why it could not (bad level, file
// that cannot be opened); the previous logger stays in place then.
std::string setup_logging(const LogOptions& options);

// Reopens the log file after an external rotation (SIGHUP); no-op when
// logging to stderr. Thread-safe.
void reopen_log_files();

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
