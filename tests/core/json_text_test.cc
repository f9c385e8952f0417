#include "core/detail/json_text.h"

#include <cstdlib>
#include <limits>

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace assist::detail {
namespace {

TEST(JsonTextTest, DoublesArePlainDecimalsThatReadBackExactly) {
  EXPECT_EQ(json_number(0.374), "0.374");
  EXPECT_EQ(json_number(1.0), "1.0");
  EXPECT_EQ(json_number(0.0), "0.0");
  EXPECT_EQ(json_number(-2.5), "-2.5");
  EXPECT_EQ(json_number(5e-7), "0.0000005");
  EXPECT_EQ(json_number(12345678.5), "12345678.5");
  EXPECT_EQ(json_number(1e21), "1000000000000000000000.0");
  EXPECT_EQ(json_number(std::numeric_limits<double>::infinity()), "null");
  EXPECT_EQ(json_number(std::numeric_limits<double>::quiet_NaN()), "null");
  // Exactly, by strtod (Boost.JSON 1.81's parser overflows on 309 integer digits).
  for (const double v : {0.1, 1.0 / 3.0, 1712345678.123456, 2.2250738585072014e-308, 1.7976931348623157e308})
    EXPECT_EQ(std::strtod(json_number(v).c_str(), nullptr), v) << json_number(v);
  for (const double v : {0.1, 1.0 / 3.0, 1712345678.123456, 1.0}) {
    const auto back = boost::json::parse(json_number(v));
    ASSERT_TRUE(back.is_double()) << v;
    EXPECT_EQ(back.get_double(), v);
  }
}

TEST(JsonTextTest, ValuesAreWrittenAsBoostWritesThemExceptDoubles) {
  const boost::json::value v = {{"s", "a \"quoted\"\n\u00e9"}, {"i", -3},   {"u", 18446744073709551615ull},
                                {"d", 0.5},                       {"b", true}, {"n", nullptr},
                                {"a", {1, 2.0, "x"}},             {"o", boost::json::object{}}};
  EXPECT_EQ(to_json_text(v), R"({"s":"a \"quoted\"\n)" "\u00e9" R"(","i":-3,"u":18446744073709551615,"d":0.5,)"
                             R"("b":true,"n":null,"a":[1,2.0,"x"],"o":{}})");
  EXPECT_EQ(boost::json::parse(to_json_text(v)), v);
}

}  // namespace
}  // namespace assist::detail
