// Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date.
#ifndef ASSIST_SRC_TRANSPORT_RETRY_AFTER_H
#define ASSIST_SRC_TRANSPORT_RETRY_AFTER_H

#include <optional>
#include <string_view>

#include "assist/transport.h"

namespace assist::transport {

// The wait a Retry-After value asks for, at `unix_now` (Unix seconds), capped
// at `cap`. A date in the past gives zero. nullopt when the value is neither a
// non-negative integer nor an HTTP-date (IMF-fixdate, RFC 850 or asctime form).
std::optional<Millis> parse_retry_after(std::string_view value, double unix_now, Millis cap);

}  // namespace assist::transport

#endif
