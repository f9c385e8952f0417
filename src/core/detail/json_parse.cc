#include "core/detail/json_parse.h"

#include <array>
#include <charconv>
#include <string>

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/error.hpp>
#include <boost/json/value_stack.hpp>

namespace assist::detail {
namespace json = boost::json;
using boost::system::error_code;

namespace {

// Builds a json::value like Boost's own parser handler, but converts doubles
// from their text.
class ExactHandler {
 public:
  static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);

  // The stack's scratch space (members and elements not yet assembled) is
  // the handler's own array, not the heap, unless a document needs more.
  explicit ExactHandler(json::storage_ptr sp) : stack({}, scratch.data(), scratch.size()) {
    stack.reset(std::move(sp));
  }

  bool on_document_begin(error_code&) { return true; }
  bool on_document_end(error_code&) { return true; }
  bool on_array_begin(error_code&) { return true; }
  bool on_array_end(std::size_t n, error_code&) { stack.push_array(n); return true; }
  bool on_object_begin(error_code&) { return true; }
  bool on_object_end(std::size_t n, error_code&) { stack.push_object(n); return true; }
  bool on_string_part(json::string_view s, std::size_t, error_code&) { stack.push_chars(s); return true; }
  bool on_string(json::string_view s, std::size_t, error_code&) { stack.push_string(s); return true; }
  bool on_key_part(json::string_view s, std::size_t, error_code&) { stack.push_chars(s); return true; }
  bool on_key(json::string_view s, std::size_t, error_code&) { stack.push_key(s); return true; }
  bool on_number_part(json::string_view s, error_code&) { number.append(s.data(), s.size()); return true; }
  bool on_int64(std::int64_t i, json::string_view, error_code&) { number.clear(); stack.push_int64(i); return true; }
  bool on_uint64(std::uint64_t u, json::string_view, error_code&) { number.clear(); stack.push_uint64(u); return true; }
  bool on_double(double d, json::string_view s, error_code&) {
    number.append(s.data(), s.size());
    double exact = d;
    // from_chars rounds correctly; out of range (1e999) keeps Boost's infinity.
    const auto r = std::from_chars(number.data(), number.data() + number.size(), exact);
    stack.push_double(r.ec == std::errc{} ? exact : d);
    number.clear();
    return true;
  }
  bool on_bool(bool b, error_code&) { stack.push_bool(b); return true; }
  bool on_null(error_code&) { stack.push_null(); return true; }
  bool on_comment_part(json::string_view, error_code&) { return true; }
  bool on_comment(json::string_view, error_code&) { return true; }

  std::array<unsigned char, 2048> scratch;
  json::value_stack stack;
  std::string number;  // text of a number split across parts
};

}  // namespace

json::value parse_json_exact(std::string_view text, error_code& ec, json::storage_ptr sp) {
  json::parse_options options;
  options.max_depth = 64;
  json::basic_parser<ExactHandler> parser(options, std::move(sp));
  const auto used = parser.write_some(false, text.data(), text.size(), ec);
  if (ec) return nullptr;
  if (used != text.size()) {
    ec = json::error::extra_data;
    return nullptr;
  }
  return parser.handler().stack.release();
}

}  // namespace assist::detail
