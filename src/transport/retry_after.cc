#include "transport/retry_after.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>
#include <iomanip>
#include <locale>
#include <sstream>
#include <string>

namespace assist::transport {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// HTTP-date to Unix seconds; the three forms RFC 9110 §5.6.7 requires a recipient to accept.
std::optional<std::time_t> parse_http_date(std::string_view text) {
  static constexpr const char* formats[] = {
      "%a, %d %b %Y %H:%M:%S GMT",  // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
      "%A, %d-%b-%y %H:%M:%S GMT",  // RFC 850:     Sunday, 06-Nov-94 08:49:37 GMT
      "%a %b %e %H:%M:%S %Y",       // asctime:     Sun Nov  6 08:49:37 1994
  };
  for (const char* format : formats) {
    std::istringstream in{std::string(text)};
    in.imbue(std::locale::classic());
    std::tm tm{};
    in >> std::get_time(&tm, format);
    if (in.fail()) continue;
    in >> std::ws;
    if (!in.eof()) continue;
    return timegm(&tm);
  }
  return std::nullopt;
}

}  // namespace

std::optional<Millis> parse_retry_after(std::string_view value, double unix_now, Millis cap) {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    std::uint64_t seconds = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    // Too many digits to represent is a very long wait: the cap.
    if (ec == std::errc::result_out_of_range || seconds > static_cast<std::uint64_t>(cap.count()) / 1000 + 1) {
      return cap;
    }
    if (ec != std::errc{} || end != value.data() + value.size()) return std::nullopt;
    return std::min(cap, Millis{static_cast<Millis::rep>(seconds * 1000)});
  }
  const auto when = parse_http_date(value);
  if (!when) return std::nullopt;
  const double wait_s = static_cast<double>(*when) - unix_now;
  if (wait_s <= 0) return Millis{0};
  if (wait_s * 1000.0 >= static_cast<double>(cap.count())) return cap;
  return Millis{static_cast<Millis::rep>(std::llround(wait_s * 1000.0))};
}

}  // namespace assist::transport
