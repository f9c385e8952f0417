#include "util/logger.h"

#include <string>
#include <utility>

#include <spdlog/spdlog.h>

namespace assist::util {
namespace {

spdlog::level::level_enum spdlog_level(LogLevel level) {
  switch (level) {
    case LogLevel::debug: return spdlog::level::debug;
    case LogLevel::info: return spdlog::level::info;
    case LogLevel::warn: return spdlog::level::warn;
    case LogLevel::error: return spdlog::level::err;
    case LogLevel::off: return spdlog::level::off;
  }
  return spdlog::level::off;
}

}  // namespace

Logger::Logger(LogOptions options) : options_(std::move(options)) {}

std::shared_ptr<const Logger> Logger::process_default() {
  static const auto logger = std::make_shared<const Logger>(LogOptions{});
  return logger;
}

bool Logger::should_log(LogLevel level) const noexcept {
  if (level == LogLevel::off) return false;
  if (options_.sink) return level >= options_.level;
  return spdlog::should_log(spdlog_level(level));
}

void Logger::log(LogLevel level, const detail::LogRecord& record) const noexcept {
  if (!should_log(level)) return;
  try {
    const std::string text = record.text();
    if (!options_.sink) {
      spdlog::default_logger_raw()->log(spdlog_level(level), text);
      return;
    }
    const auto [message, fields] = detail::split_log_payload(text);
    options_.sink(LogLine{level, message, fields});
  } catch (...) {
    // A sink that throws (or no memory for the text) loses this line only.
  }
}

}  // namespace assist::util
