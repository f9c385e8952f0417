// Rate limiting of repetitive log lines (one warning per bad frame from a
// misbehaving peer would flood the log and the logging thread): at most
// `burst` lines per `period`, and the next line let through says how many
// were suppressed meanwhile.
#ifndef ASSIST_SRC_CORE_DETAIL_LOG_RATE_LIMIT_H
#define ASSIST_SRC_CORE_DETAIL_LOG_RATE_LIMIT_H

#include <chrono>
#include <cstdint>

namespace assist::detail {

// Not thread-safe: keep one per thread or strand (e.g. one per link).
class LogRateLimit {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  LogRateLimit(std::uint32_t burst, std::chrono::steady_clock::duration period) : burst_(burst), period_(period) {}

  // True when a line about an event at `now` may be logged; `suppressed` is
  // then set to the number of lines refused since the last one let through
  // (log it as a field, e.g. "suppressed"). False: skip the line.
  bool allow(time_point now, std::uint64_t& suppressed) {
    if (now - window_start_ >= period_) {
      window_start_ = now;
      used_ = 0;
    }
    if (used_ >= burst_) {
      ++suppressed_;
      return false;
    }
    ++used_;
    suppressed = suppressed_;
    suppressed_ = 0;
    return true;
  }

 private:
  const std::uint32_t burst_;
  const std::chrono::steady_clock::duration period_;
  time_point window_start_{};
  std::uint32_t used_ = 0;
  std::uint64_t suppressed_ = 0;
};

}  // namespace assist::detail

#endif  // ASSIST_SRC_CORE_DETAIL_LOG_RATE_LIMIT_H
