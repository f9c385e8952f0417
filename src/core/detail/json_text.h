// JSON text for people and their tools (HTTP answers, CLI output, log
// lines): what boost::json::serialize writes, except that numbers are plain
// decimals. Boost.JSON 1.81 writes every double in exponent form (0.374 as
// 3.74E-1, 1.0 as 1E0), which is valid JSON but reads badly and trips naive
// consumers. The hot encoders (frames, audit lines) keep Boost's serializer.
#ifndef ASSIST_SRC_CORE_DETAIL_JSON_TEXT_H
#define ASSIST_SRC_CORE_DETAIL_JSON_TEXT_H

#include <string>

#include <boost/json/value.hpp>

namespace assist::detail {

// `value` as compact JSON text: doubles as the shortest decimal that reads
// back as the same double, without an exponent and with a ".0" when whole
// (0.374, 1.0, 0.0000005); NaN and infinities, which JSON cannot hold, as null.
std::string to_json_text(const boost::json::value& value);

// The same, appended to `out`.
void append_json_text(const boost::json::value& value, std::string& out);

// One double as to_json_text writes it.
std::string json_number(double value);

}  // namespace assist::detail

#endif  // ASSIST_SRC_CORE_DETAIL_JSON_TEXT_H
