// spdlog's default logger replaced, for a test's life, by one that writes
// into a string at debug level: what reached spdlog can be checked. Header
// only; the suite links spdlog.
#ifndef ASSIST_TESTS_SUPPORT_SPDLOG_CAPTURE_H
#define ASSIST_TESTS_SUPPORT_SPDLOG_CAPTURE_H

#include <memory>
#include <sstream>
#include <string>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

namespace assist::testing {

class SpdlogCapture {
 public:
  SpdlogCapture() : previous_(spdlog::default_logger()) {
    auto logger = std::make_shared<spdlog::logger>("capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(out_));
    logger->set_pattern("%l %v");
    logger->set_level(spdlog::level::debug);
    spdlog::set_default_logger(logger);
  }
  ~SpdlogCapture() { spdlog::set_default_logger(previous_); }
  SpdlogCapture(const SpdlogCapture&) = delete;
  SpdlogCapture& operator=(const SpdlogCapture&) = delete;

  // Everything written so far: "<level> <payload>" per line.
  std::string text() {
    spdlog::default_logger()->flush();
    return out_.str();
  }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
};

}  // namespace assist::testing

#endif
