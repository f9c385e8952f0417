#include "core/detail/json_text.h"

#include <array>
#include <charconv>
#include <cmath>

#include <boost/json/serialize.hpp>

namespace assist::detail {

std::string json_number(double value) {
  if (!std::isfinite(value)) return "null";
  // Fixed notation, shortest round trip: at most 17 significant digits plus
  // the zeros of the largest or smallest exponent a double has.
  std::array<char, 400> text;
  const auto [end, ec] = std::to_chars(text.data(), text.data() + text.size(), value, std::chars_format::fixed);
  std::string out(text.data(), ec == std::errc() ? end : text.data());
  if (out.find('.') == std::string::npos) out += ".0";  // stays a double when read back
  return out;
}

void append_json_text(const boost::json::value& value, std::string& out) {
  switch (value.kind()) {
    case boost::json::kind::null: out += "null"; return;
    case boost::json::kind::bool_: out += value.get_bool() ? "true" : "false"; return;
    case boost::json::kind::int64: out += std::to_string(value.get_int64()); return;
    case boost::json::kind::uint64: out += std::to_string(value.get_uint64()); return;
    case boost::json::kind::double_: out += json_number(value.get_double()); return;
    case boost::json::kind::string: out += boost::json::serialize(value.get_string()); return;
    case boost::json::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& item : value.get_array()) {
        if (!first) out += ',';
        first = false;
        append_json_text(item, out);
      }
      out += ']';
      return;
    }
    case boost::json::kind::object: {
      out += '{';
      bool first = true;
      for (const auto& [key, item] : value.get_object()) {
        if (!first) out += ',';
        first = false;
        out += boost::json::serialize(key);
        out += ':';
        append_json_text(item, out);
      }
      out += '}';
      return;
    }
  }
}

std::string to_json_text(const boost::json::value& value) {
  std::string out;
  append_json_text(value, out);
  return out;
}

}  // namespace assist::detail
