#include "core/detail/log_record.h"

#include <fmt/format.h>

#include "core/detail/json_text.h"

namespace assist::detail {

boost::json::string_view LogRecord::field_name(std::string_view key) {
  key_.assign(key);
  if (key == "ts" || key == "level" || key == "msg") key_.insert(0, "field_");
  return key_;
}

LogRecord& LogRecord::with(std::string_view key, std::string_view value) {
  fields_[field_name(key)] = boost::json::string_view(value.data(), value.size());
  return *this;
}

LogRecord& LogRecord::with(std::string_view key, bool value) {
  fields_[field_name(key)] = value;
  return *this;
}

LogRecord& LogRecord::with(std::string_view key, double value) {
  fields_[field_name(key)] = value;
  return *this;
}

LogRecord& LogRecord::with_integer(std::string_view key, std::int64_t value) {
  fields_[field_name(key)] = value;
  return *this;
}

LogRecord& LogRecord::with_unsigned(std::string_view key, std::uint64_t value) {
  fields_[field_name(key)] = value;
  return *this;
}

LogRecord& LogRecord::with(std::string_view key, std::chrono::nanoseconds value) {
  return with(fmt::format("{}_ms", key), std::chrono::duration<double, std::milli>(value).count());
}

LogRecord& LogRecord::error(const std::error_code& ec) {
  if (!ec) return *this;
  with("error", ec.message());
  return with("error_code", fmt::format("{}:{}", ec.category().name(), ec.value()));
}

std::string LogRecord::text() const {
  if (fields_.empty()) return message_;
  std::string out = message_;
  out += kLogFieldsSeparator;
  append_json_text(fields_, out);
  return out;
}

std::pair<std::string_view, std::string_view> split_log_payload(std::string_view payload) {
  const auto at = payload.find(kLogFieldsSeparator);
  if (at == std::string_view::npos) return {payload, {}};
  return {payload.substr(0, at), payload.substr(at + 1)};
}

}  // namespace assist::detail
