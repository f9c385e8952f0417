// Exponential backoff with full jitter, and the retry budget of a bounded
// retry loop. Pure: randomness and time come from the caller.
#ifndef ASSIST_SRC_UTIL_BACKOFF_H
#define ASSIST_SRC_UTIL_BACKOFF_H

#include <chrono>

#include "assist/clock.h"
#include "assist/transport.h"  // BackoffOptions, a plain struct of the public options

namespace assist::util {

using Millis = std::chrono::milliseconds;
using transport::BackoffOptions;

// The ceiling of attempt `attempt` (0-based): min(cap, initial * multiplier^attempt).
Millis backoff_ceiling(const BackoffOptions& options, unsigned attempt);

// Full jitter ("Exponential Backoff and Jitter", AWS architecture blog, 2015):
// uniform in [0, backoff_ceiling(options, attempt)].
Millis full_jitter(const BackoffOptions& options, unsigned attempt, Random& random);

// Counts consecutive failures and gives the next delay. reset() after success.
class Backoff {
 public:
  explicit Backoff(BackoffOptions options) : options_(options) {}
  // The delay before the next attempt; counts one failure.
  Millis next(Random& random) { return full_jitter(options_, attempt_++, random); }
  void reset() { attempt_ = 0; }
  unsigned failures() const { return attempt_; }

 private:
  BackoffOptions options_;
  unsigned attempt_ = 0;
};

// Whether a retry loop that has made `attempts_made` attempts since `started`
// may sleep `delay` and try again: fewer than `max_attempts` attempts, and the
// retry would start no later than `max_total` after `started`.
bool retry_allowed(unsigned attempts_made, unsigned max_attempts, Clock::steady_time started,
                   Clock::steady_time now, Millis delay, Millis max_total);

}  // namespace assist::util

#endif
