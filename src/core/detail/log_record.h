// Structured log lines without spdlog in any header: a LogRecord is a message
// and named fields (link, url, error, frame_id...) packed into one string
// that the library hands to spdlog as the payload. The service's formatter
// (src/service/logging.cc) unpacks it: JSON lines get each field as a member,
// text lines get `key=value` pairs after the message. Any other spdlog sink
// shows the message, a unit-separator character and the fields as JSON.
//
//   if (spdlog::should_log(spdlog::level::warn))
//     spdlog::warn(detail::LogRecord("connection failed").with("link", id)
//                      .with("url", net::redact_url(url)).error(ec).text());
//
// Build records only on paths that log (check should_log for debug lines on
// hot paths), and never put a secret in a field: fields are redacted like
// messages, as a second line of defence only.
#ifndef ASSIST_SRC_CORE_DETAIL_LOG_RECORD_H
#define ASSIST_SRC_CORE_DETAIL_LOG_RECORD_H

#include <chrono>
#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <boost/json/object.hpp>

namespace assist::detail {

// Separates the message from its fields in a LogRecord's text. A control
// character (US, "unit separator") that no message contains.
inline constexpr char kLogFieldsSeparator = '\x1f';

class LogRecord {
 public:
  explicit LogRecord(std::string_view message) : message_(message) {}

  // Adds (or replaces) field `key`. Keys are snake_case; "ts", "level" and
  // "msg" are taken by the line itself and are renamed "field_ts"...
  LogRecord& with(std::string_view key, std::string_view value);
  LogRecord& with(std::string_view key, const char* value) { return with(key, std::string_view(value)); }
  LogRecord& with(std::string_view key, const std::string& value) { return with(key, std::string_view(value)); }
  LogRecord& with(std::string_view key, bool value);
  LogRecord& with(std::string_view key, double value);
  template <std::integral T>
    requires(!std::same_as<T, bool>)
  LogRecord& with(std::string_view key, T value) {
    if constexpr (std::is_signed_v<T>) return with_integer(key, static_cast<std::int64_t>(value));
    else return with_unsigned(key, static_cast<std::uint64_t>(value));
  }
  // A duration as "<key>_ms" (milliseconds, fractional).
  LogRecord& with(std::string_view key, std::chrono::nanoseconds value);
  // The error as two fields: "error" (its message) and "error_code"
  // ("category:value", e.g. "system:111" or "assist.transport:3").
  // Nothing when `ec` is not an error.
  LogRecord& error(const std::error_code& ec);

  // The payload for spdlog: the message, then kLogFieldsSeparator and the
  // fields as a JSON object when there are any.
  std::string text() const;

 private:
  LogRecord& with_integer(std::string_view key, std::int64_t value);
  LogRecord& with_unsigned(std::string_view key, std::uint64_t value);
  boost::json::string_view field_name(std::string_view key);

  std::string message_;
  std::string key_;  // scratch for field_name
  boost::json::object fields_;
};

// A payload split into its message and the fields' JSON text (empty when the
// payload did not come from a LogRecord).
std::pair<std::string_view, std::string_view> split_log_payload(std::string_view payload);

}  // namespace assist::detail

#endif  // ASSIST_SRC_CORE_DETAIL_LOG_RECORD_H
