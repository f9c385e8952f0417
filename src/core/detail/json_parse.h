// JSON parsing with exact numbers.
#ifndef ASSIST_SRC_CORE_DETAIL_JSON_PARSE_H
#define ASSIST_SRC_CORE_DETAIL_JSON_PARSE_H

#include <string_view>

#include <boost/json/storage_ptr.hpp>
#include <boost/json/value.hpp>
#include <boost/system/error_code.hpp>

namespace assist::detail {

// Parses one JSON document like boost::json::parse, except that every
// floating-point number is converted with correct rounding (std::from_chars).
// Boost 1.81's parser rounds some doubles by one unit in the last place, which
// would break decode(encode(x)) == x for timestamps and scores. Trailing
// non-whitespace, invalid UTF-8 and nesting deeper than 64 are errors.
boost::json::value parse_json_exact(std::string_view text, boost::system::error_code& ec,
                                    boost::json::storage_ptr sp = {});

}  // namespace assist::detail

#endif
