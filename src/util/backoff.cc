#include "util/backoff.h"

#include <algorithm>
#include <cmath>

namespace assist::util {

Millis backoff_ceiling(const BackoffOptions& options, unsigned attempt) {
  const double cap = static_cast<double>(options.cap.count());
  const double grown = static_cast<double>(options.initial.count()) *
                       std::pow(std::max(options.multiplier, 1.0), static_cast<double>(attempt));
  return Millis{static_cast<Millis::rep>(std::min(cap, grown))};
}

Millis full_jitter(const BackoffOptions& options, unsigned attempt, Random& random) {
  const double ceiling = static_cast<double>(backoff_ceiling(options, attempt).count());
  const double u = std::clamp(random.uniform(), 0.0, 1.0);
  return Millis{static_cast<Millis::rep>(std::llround(u * ceiling))};
}

bool retry_allowed(unsigned attempts_made, unsigned max_attempts, Clock::steady_time started,
                   Clock::steady_time now, Millis delay, Millis max_total) {
  if (attempts_made >= max_attempts) return false;
  return (now + delay) - started <= max_total;
}

}  // namespace assist::util
