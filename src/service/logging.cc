#include "service/logging.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include <boost/json.hpp>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/async.h>
#include <spdlog/async_logger.h>
#include <spdlog/details/file_helper.h>
#include <spdlog/sinks/ansicolor_sink.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include "core/detail/json_text.h"
#include "core/detail/log_record.h"
#include "core/detail/thread.h"

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

// The level as the --log-level flag and log.level spell it.
std::string_view level_name(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace: return "trace";
    case spdlog::level::debug: return "debug";
    case spdlog::level::info: return "info";
    case spdlog::level::warn: return "warn";
    case spdlog::level::err: return "error";
    case spdlog::level::critical: return "critical";
    default: return "off";
  }
}

// The fields of a detail::LogRecord, string values redacted.
boost::json::object parse_fields(std::string_view text) {
  if (text.empty()) return {};
  boost::system::error_code ec;
  auto parsed = boost::json::parse(boost::json::string_view(text.data(), text.size()), ec);
  if (ec || !parsed.is_object()) return {{"fields", redact(text)}};
  auto& fields = parsed.as_object();
  for (auto& [key, value] : fields)
    if (value.is_string()) value = redact(std::string_view(value.get_string().data(), value.get_string().size()));
  return std::move(fields);
}

// A field value in a text line: bare when it is a simple word, else quoted.
void append_text_value(const boost::json::value& value, std::string& out) {
  if (!value.is_string()) return detail::append_json_text(value, out);
  const std::string_view s(value.get_string().data(), value.get_string().size());
  const bool bare = !s.empty() && std::none_of(s.begin(), s.end(), [](char c) {
    return c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20;
  });
  if (bare) out += s;
  else detail::append_json_text(value, out);
}

// Formats one line from a redacted message and its fields: the text layout
// (local time, colour on the level for a terminal) or one JSON object.
class LineFormatter final : public spdlog::formatter {
 public:
  explicit LineFormatter(bool json) : json_(json) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto [message, fields_text] =
        detail::split_log_payload(std::string_view(msg.payload.data(), msg.payload.size()));
    const auto text = redact(message);
    const auto fields = parse_fields(fields_text);
    const auto since_epoch = msg.time.time_since_epoch();
    const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch).count() % 1000;
    const auto seconds = std::chrono::system_clock::to_time_t(msg.time);
    const auto level = level_name(msg.level);
    std::string out;
    if (json_) {
      boost::json::object line;
      line["ts"] = fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03}Z", fmt::gmtime(seconds), millis);
      line["level"] = boost::json::string_view(level.data(), level.size());
      line["msg"] = text;
      for (const auto& [key, value] : fields) line.emplace(key, value);
      detail::append_json_text(line, out);
    } else {
      out = fmt::format("{:%Y-%m-%d %H:%M:%S}.{:03} ", fmt::localtime(seconds), millis);
      msg.color_range_start = out.size();  // the colour sink reads them from the message
      msg.color_range_end = out.size() + level.size();
      out += fmt::format("{:<5} {}", level, text);
      for (const auto& [key, value] : fields) {
        out += fmt::format(" {}=", std::string_view(key.data(), key.size()));
        append_text_value(value, out);
      }
    }
    out += '\n';
    dest.append(out.data(), out.data() + out.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<LineFormatter>(json_); }

 private:
  bool json_;
};

// Counts the flushes the logging thread has done for flush_logs(): the
// barrier logger's only sink.
class FlushBarrierSink final : public spdlog::sinks::sink {
 public:
  void log(const spdlog::details::log_msg&) override {}
  void flush() override {
    std::lock_guard lock(mu);
    ++flushed;
    cv.notify_all();
  }
  void set_pattern(const std::string&) override {}
  void set_formatter(std::unique_ptr<spdlog::formatter>) override {}

  std::mutex mu;
  std::condition_variable cv;
  std::uint64_t flushed = 0;
  std::uint64_t requested = 0;  // guarded by mu
};

// One logging set-up: its thread, the default logger, and the barrier
// logger on the same thread (a flush queued on it runs after everything
// queued on the default logger before).
struct Backend {
  std::shared_ptr<spdlog::details::thread_pool> pool;
  std::shared_ptr<spdlog::async_logger> logger;
  std::shared_ptr<spdlog::async_logger> barrier;
  std::shared_ptr<FlushBarrierSink> barrier_sink;
  std::shared_ptr<ReopenableFileSink> file_sink;
};

std::mutex backend_mu;
std::shared_ptr<Backend> current_backend;            // guarded by backend_mu
std::vector<std::shared_ptr<Backend>> retired;       // kept alive: a thread may still hold their logger
std::uint64_t retired_dropped = 0;                   // guarded by backend_mu

void flush_backend(Backend& b) {
  std::unique_lock lock(b.barrier_sink->mu);
  const auto target = ++b.barrier_sink->requested;
  b.logger->flush();
  b.barrier->flush();
  // Bounded: a barrier pushed out of a full queue (overrun) never arrives.
  b.barrier_sink->cv.wait_for(lock, std::chrono::seconds(5), [&] { return b.barrier_sink->flushed >= target; });
}

std::shared_ptr<Backend> make_backend(const spdlog::sink_ptr& sink, const LogOptions& options) {
  auto b = std::make_shared<Backend>();
  b->pool = std::make_shared<spdlog::details::thread_pool>(std::max<std::size_t>(options.queue_lines, 16), 1,
                                                           [] { detail::name_this_thread("assist-log"); });
  // overrun_oldest: a full queue drops its oldest line; a thread that logs never waits.
  b->logger = std::make_shared<spdlog::async_logger>("", sink, b->pool, spdlog::async_overflow_policy::overrun_oldest);
  b->logger->set_level(spdlog::level::from_str(options.level));
  b->logger->flush_on(spdlog::level::info);
  b->barrier_sink = std::make_shared<FlushBarrierSink>();
  b->barrier = std::make_shared<spdlog::async_logger>("assist-log-barrier", b->barrier_sink, b->pool,
                                                      spdlog::async_overflow_policy::overrun_oldest);
  return b;
}

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
  std::shared_ptr<ReopenableFileSink> file_sink;
  bool terminal = false;
  try {
    if (options.file.empty()) {
      terminal = ::isatty(STDERR_FILENO) == 1;
      sink = std::make_shared<spdlog::sinks::ansicolor_stderr_sink_mt>(spdlog::color_mode::automatic);
    } else {
      file_sink = std::make_shared<ReopenableFileSink>(options.file);
      sink = file_sink;
    }
  } catch (const spdlog::spdlog_ex& e) {
    return fmt::format("cannot open log file {}: {}", options.file, e.what());
  }
  const bool json = options.format == LogFormat::json || (options.format == LogFormat::automatic && !terminal);
  sink->set_formatter(std::make_unique<LineFormatter>(json));
  auto backend = make_backend(sink, options);
  backend->file_sink = std::move(file_sink);
  std::lock_guard lock(backend_mu);
  if (current_backend) {
    flush_backend(*current_backend);
    retired_dropped += current_backend->pool->overrun_counter();
    retired.push_back(current_backend);
  }
  spdlog::set_default_logger(backend->logger);
  current_backend = std::move(backend);
  return {};
}

void flush_logs() {
  std::shared_ptr<Backend> backend;
  {
    std::lock_guard lock(backend_mu);
    backend = current_backend;
  }
  if (backend) flush_backend(*backend);
  else spdlog::default_logger()->flush();
}

bool reopen_log_files() {
  std::shared_ptr<ReopenableFileSink> sink;
  {
    std::lock_guard lock(backend_mu);
    if (current_backend) sink = current_backend->file_sink;
  }
  if (!sink) return false;
  try {
    sink->reopen();
  } catch (const spdlog::spdlog_ex& e) {
    spdlog::error(detail::LogRecord("cannot reopen the log file").with("error", e.what()).text());
  }
  return true;
}

std::uint64_t log_lines_dropped() {
  std::lock_guard lock(backend_mu);
  return retired_dropped + (current_backend ? current_backend->pool->overrun_counter() : 0);
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
