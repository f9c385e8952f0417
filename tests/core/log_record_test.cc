#include "core/detail/log_record.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "core/detail/log_rate_limit.h"

namespace assist::detail {
namespace {

using namespace std::chrono_literals;

TEST(LogRecordTest, AMessageWithoutFieldsIsJustTheMessage) {
  EXPECT_EQ(LogRecord("serving").text(), "serving");
  const auto [message, fields] = split_log_payload("serving");
  EXPECT_EQ(message, "serving");
  EXPECT_TRUE(fields.empty());
}

TEST(LogRecordTest, FieldsTravelAsJsonAfterASeparator) {
  const auto text = LogRecord("connection failed")
                        .with("link", 2)
                        .with("url", std::string("wss://gw/realtime/v1"))
                        .with("up", false)
                        .with("waited", std::chrono::milliseconds(1500))
                        .with("msg", "renamed")
                        .error(std::make_error_code(std::errc::timed_out))
                        .error(std::error_code())  // no error: no fields
                        .text();
  const auto [message, fields] = split_log_payload(text);
  EXPECT_EQ(message, "connection failed");
  const auto o = boost::json::parse(fields).as_object();
  EXPECT_EQ(o.at("link").as_int64(), 2);
  EXPECT_EQ(o.at("url").as_string(), "wss://gw/realtime/v1");
  EXPECT_EQ(o.at("up").as_bool(), false);
  EXPECT_EQ(o.at("waited_ms").as_double(), 1500.0);
  EXPECT_EQ(o.at("field_msg").as_string(), "renamed");  // "msg" belongs to the line
  EXPECT_EQ(o.at("error_code").as_string(), "generic:110");
  EXPECT_EQ(o.size(), 7u) << fields;
}

TEST(LogRateLimitTest, LetsABurstThroughPerPeriodAndCountsTheRest) {
  LogRateLimit limit(3, 10s);
  const std::chrono::steady_clock::time_point t0{std::chrono::seconds(100)};
  std::uint64_t suppressed = 99;
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(limit.allow(t0 + std::chrono::seconds(i), suppressed));
    EXPECT_EQ(suppressed, 0u);
  }
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(limit.allow(t0 + 5s, suppressed));
  EXPECT_TRUE(limit.allow(t0 + 10s, suppressed));  // a new period
  EXPECT_EQ(suppressed, 5u);                       // says what was left out
  EXPECT_TRUE(limit.allow(t0 + 11s, suppressed));
  EXPECT_EQ(suppressed, 0u);
}

}  // namespace
}  // namespace assist::detail
