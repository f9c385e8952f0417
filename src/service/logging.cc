#include "service/logging.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include <boost/json.hpp>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/details/file_helper.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/ansicolor_sink.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

namespace assist::service {
namespace {

constexpr std::string_view kMask = "***";

std::shared_mutex secrets_mu;
std::vector<std::string>& secrets() {
  static std::vector<std::string> values;
  return values;
}

// A value after one of these prefixes runs to the next delimiter and is masked.
constexpr std::array<std::string_view, 8> kCredentialPrefixes = {
    "access_token=", "client_secret=",  "refresh_token=", "\"access_token\":\"",
    "\"client_secret\":\"", "Bearer ", "Basic ", "api_key="};

bool ends_value(char c) {
  return c == '&' || c == '"' || c == '\'' || c == ' ' || c == ',' || c == ';' || c == '\n' || c == '\r' ||
         c == '\t' || c == '}' || c == ']';
}

void mask_after_prefixes(std::string& s) {
  for (const auto prefix : kCredentialPrefixes) {
    std::size_t at = 0;
    while ((at = s.find(prefix, at)) != std::string::npos) {
      const auto begin = at + prefix.size();
      auto end = begin;
      while (end < s.size() && !ends_value(s[end])) ++end;
      if (end > begin && s.compare(begin, end - begin, kMask) != 0) s.replace(begin, end - begin, kMask);
      at = begin + kMask.size();
    }
  }
}

// scheme://user:password@host -> scheme://user:***@host
void mask_url_passwords(std::string& s) {
  std::size_t at = 0;
  while ((at = s.find("://", at)) != std::string::npos) {
    const auto auth_begin = at + 3;
    auto end = auth_begin;
    while (end < s.size() && s[end] != '/' && s[end] != '@' && !ends_value(s[end])) ++end;
    if (end < s.size() && s[end] == '@') {
      const auto colon = s.find(':', auth_begin);
      if (colon != std::string::npos && colon < end && s.compare(colon + 1, end - colon - 1, kMask) != 0) {
        s.replace(colon + 1, end - colon - 1, kMask);
        end = colon + 1 + kMask.size();
      }
    }
    at = end;
  }
}

// Appends to a file that can be reopened in place after logrotate moved it.
class ReopenableFileSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit ReopenableFileSink(const std::string& path) { file_.open(path, false); }
  void reopen() {
    std::lock_guard lock(mutex_);
    file_.reopen(false);
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t out;
    formatter_->format(msg, out);
    file_.write(out);
  }
  void flush_() override { file_.flush(); }

 private:
  spdlog::details::file_helper file_;
};

std::mutex file_sink_mu;
std::shared_ptr<ReopenableFileSink> file_sink;

// Formats a message whose payload has been redacted: the text pattern or one
// JSON object per line.
class RedactingFormatter final : public spdlog::formatter {
 public:
  explicit RedactingFormatter(bool json) : json_(json) {
    if (!json_) text_ = std::make_unique<spdlog::pattern_formatter>("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v");
  }

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto clean = redact(std::string_view(msg.payload.data(), msg.payload.size()));
    if (json_) return format_json(msg, clean, dest);
    spdlog::details::log_msg copy = msg;
    copy.payload = spdlog::string_view_t(clean.data(), clean.size());
    text_->format(copy, dest);
    msg.color_range_start = copy.color_range_start;  // the colour sink reads them from the original
    msg.color_range_end = copy.color_range_end;
  }

  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<RedactingFormatter>(json_); }

 private:
  static void format_json(const spdlog::details::log_msg& msg, const std::string& text,
                          spdlog::memory_buf_t& dest) {
    const auto since_epoch = msg.time.time_since_epoch();
    const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch).count() % 1000;
    const auto seconds = std::chrono::system_clock::to_time_t(msg.time);
    boost::json::object line;
    line["ts"] = fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03}Z", fmt::gmtime(seconds), millis);
    const auto level = spdlog::level::to_string_view(msg.level);
    line["level"] = std::string_view(level.data(), level.size());
    if (msg.logger_name.size() > 0) line["logger"] = std::string_view(msg.logger_name.data(), msg.logger_name.size());
    line["msg"] = text;
    const auto out = boost::json::serialize(line);
    dest.append(out.data(), out.data() + out.size());
    dest.push_back('\n');
  }

  bool json_;
  std::unique_ptr<spdlog::pattern_formatter> text_;
};

}  // namespace

std::optional<LogFormat> parse_log_format(std::string_view text) {
  if (text == "auto") return LogFormat::automatic;
  if (text == "text") return LogFormat::text;
  if (text == "json") return LogFormat::json;
  return std::nullopt;
}

bool is_log_level(std::string_view text) {
  static constexpr std::array<std::string_view, 7> levels = {"trace", "debug", "info", "warn",
                                                             "error", "critical", "off"};
  return std::find(levels.begin(), levels.end(), text) != levels.end();
}

std::string setup_logging(const LogOptions& options) {
  if (!is_log_level(options.level))
    return fmt::format("log level '{}' is not one of trace, debug, info, warn, error, critical, off",
                       options.level);
  spdlog::sink_ptr sink;
  std::shared_ptr<ReopenableFileSink> new_file_sink;
  bool terminal = false;
  try {
    if (options.file.empty()) {
      terminal = ::isatty(STDERR_FILENO) == 1;
      sink = std::make_shared<spdlog::sinks::ansicolor_stderr_sink_mt>(spdlog::color_mode::automatic);
    } else {
      new_file_sink = std::make_shared<ReopenableFileSink>(options.file);
      sink = new_file_sink;
    }
  } catch (const spdlog::spdlog_ex& e) {
    return fmt::format("cannot open log file {}: {}", options.file, e.what());
  }
  const bool json = options.format == LogFormat::json || (options.format == LogFormat::automatic && !terminal);
  sink->set_formatter(std::make_unique<RedactingFormatter>(json));
  auto logger = std::make_shared<spdlog::logger>("", sink);
  logger->set_level(spdlog::level::from_str(options.level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));
  std::lock_guard lock(file_sink_mu);
  file_sink = std::move(new_file_sink);
  return {};
}

void reopen_log_files() {
  std::shared_ptr<ReopenableFileSink> sink;
  {
    std::lock_guard lock(file_sink_mu);
    sink = file_sink;
  }
  if (!sink) return;
  try {
    sink->reopen();
  } catch (const spdlog::spdlog_ex& e) {
    spdlog::error("cannot reopen the log file: {}", e.what());
  }
}

void register_secret(std::string value) {
  if (value.size() < 4) return;
  std::unique_lock lock(secrets_mu);
  auto& values = secrets();
  if (std::find(values.begin(), values.end(), value) == values.end()) values.push_back(std::move(value));
}

std::string redact(std::string_view text) {
  std::string out(text);
  {
    std::shared_lock lock(secrets_mu);
    for (const auto& secret : secrets()) {
      std::size_t at = 0;
      while ((at = out.find(secret, at)) != std::string::npos) {
        out.replace(at, secret.size(), kMask);
        at += kMask.size();
      }
    }
  }
  mask_after_prefixes(out);
  mask_url_passwords(out);
  return out;
}

}  // namespace assist::service
