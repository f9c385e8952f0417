// Pure transport policies, deterministic: Retry-After and token expiry with
// a ManualClock, token responses and errors, the secret's sources.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>

#include <gtest/gtest.h>

#include "assist/clock.h"
#include "assist/transport.h"
#include "transport/retry_after.h"
#include "transport/token_provider.h"

namespace assist::transport {
namespace {

using namespace std::chrono_literals;

TEST(RetryAfter, DelaySeconds) {
  EXPECT_EQ(parse_retry_after("3", 0, Millis{60'000}), Millis{3000});
  EXPECT_EQ(parse_retry_after(" 0 ", 0, Millis{60'000}), Millis{0});
  EXPECT_EQ(parse_retry_after("120", 0, Millis{60'000}), Millis{60'000});  // capped
  EXPECT_EQ(parse_retry_after("99999999999999999999999", 0, Millis{5000}), Millis{5000});
}

TEST(RetryAfter, HttpDateInAllThreeFormsMeasuredFromTheInjectedClock) {
  ManualClock clock(784111777.0);  // Sun, 06 Nov 1994 08:49:37 GMT
  clock.advance(-10s);
  const double now = clock.unix_now();
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now, Millis{60'000}), Millis{10'000});
  EXPECT_EQ(parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now, Millis{60'000}), Millis{10'000});
  EXPECT_EQ(parse_retry_after("Sun Nov  6 08:49:37 1994", now, Millis{60'000}), Millis{10'000});
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now, Millis{3000}), Millis{3000});
  clock.advance(20s);  // the date is now in the past
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", clock.unix_now(), Millis{60'000}), Millis{0});
}

TEST(RetryAfter, RejectsGarbage) {
  EXPECT_FALSE(parse_retry_after("", 0, Millis{1000}));
  EXPECT_FALSE(parse_retry_after("-1", 0, Millis{1000}));
  EXPECT_FALSE(parse_retry_after("1.5", 0, Millis{1000}));
  EXPECT_FALSE(parse_retry_after("soon", 0, Millis{1000}));
  EXPECT_FALSE(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT trailing", 0, Millis{1000}));
}

TEST(TokenSchedule, RefreshesTheMarginBeforeExpiry) {
  ManualClock clock;
  const auto sent = clock.steady_now();
  const auto s = token_schedule(sent, std::chrono::seconds{1800}, std::chrono::seconds{60});
  EXPECT_EQ(s.expires_at, sent + 1800s);
  EXPECT_EQ(s.refresh_at, sent + 1740s);
}

TEST(TokenSchedule, ShortLifetimeRefreshesAtHalfInsteadOfLooping) {
  ManualClock clock;
  const auto sent = clock.steady_now();
  const auto s = token_schedule(sent, std::chrono::seconds{4}, std::chrono::seconds{60});
  EXPECT_EQ(s.refresh_at, sent + 2s);
  EXPECT_EQ(s.expires_at, sent + 4s);
  // Exactly twice the margin still uses the margin.
  EXPECT_EQ(token_schedule(sent, 120s, 60s).refresh_at, sent + 60s);
  EXPECT_EQ(token_schedule(sent, 119s, 60s).refresh_at, sent + 59500ms);
}

TEST(TokenResponse, ExpiryIsAnchoredAtTheSendTimeNotTheArrival) {
  ManualClock clock;
  const auto sent = clock.steady_now();
  clock.advance(5s);  // a slow answer
  const std::vector<std::string> scopes{"realtime:read", "agentassist:write"};
  auto result = parse_token_response(
      R"({"access_token":"abc","token_type":"bearer","expires_in":300,"scope":"agentassist:write realtime:read"})",
      scopes, sent, 60s);
  ASSERT_TRUE(result) << result.detail;
  EXPECT_EQ(result.token->expires_at, sent + 300s);
  EXPECT_EQ(result.token->refresh_at, sent + 240s);
  EXPECT_EQ(result.token->access_token, "abc");
}

TEST(TokenResponse, NamesTheMissingScope) {
  const std::vector<std::string> scopes{"realtime:read", "agentassist:write", "interactions:read"};
  auto result = parse_token_response(
      R"({"access_token":"abc","token_type":"Bearer","expires_in":300,"scope":"realtime:read"})", scopes,
      Clock::steady_time{}, 60s);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error, TransportErrc::missing_scope);
  EXPECT_NE(result.detail.find("agentassist:write interactions:read"), std::string::npos) << result.detail;
  EXPECT_EQ(result.detail.find("abc"), std::string::npos);
}

TEST(TokenResponse, OmittedScopeMeansTheRequestedOne) {
  auto result = parse_token_response(R"({"access_token":"t","token_type":"Bearer","expires_in":10})",
                                     {"realtime:read"}, Clock::steady_time{}, 60s);
  ASSERT_TRUE(result);
  EXPECT_EQ(result.token->scope, "realtime:read");
}

TEST(TokenResponse, RejectsUnusableBodies) {
  for (const char* body : {"", "[]", R"({"token_type":"Bearer","expires_in":10})",
                           R"({"access_token":"t","token_type":"MAC","expires_in":10})",
                           R"({"access_token":"t","token_type":"Bearer","expires_in":0})",
                           R"({"access_token":"t","token_type":"Bearer"})",
                           R"({"access_token":"t","token_type":"Bearer","expires_in":10,"scope":5})"}) {
    auto result = parse_token_response(body, {"realtime:read"}, Clock::steady_time{}, 60s);
    EXPECT_EQ(result.error, TransportErrc::bad_token_response) << body;
  }
}

// A token living under a second was due for refresh the moment it arrived
// (fuzz/token_response checks refresh_at > sent_at for every body).
TEST(TokenResponse, RejectsLifetimesUnderOneSecond) {
  for (const char* body : {R"({"access_token":"t","token_type":"Bearer","expires_in":0.5})",
                           R"({"access_token":"t","token_type":"Bearer","expires_in":0.0004})"}) {
    auto result = parse_token_response(body, {"realtime:read"}, Clock::steady_time{}, 60s);
    EXPECT_EQ(result.error, TransportErrc::bad_token_response) << body;
  }
  auto result = parse_token_response(R"({"access_token":"t","token_type":"Bearer","expires_in":1})",
                                     {"realtime:read"}, Clock::steady_time{}, 60s);
  ASSERT_TRUE(result) << result.detail;
  EXPECT_GT(result.token->refresh_at, Clock::steady_time{});
}

// The code ends up in the error detail, which is logged: no line breaks.
TEST(TokenErrors, OAuthErrorCodeIsKeptOnlyWhenPrintable) {
  EXPECT_EQ(oauth_error_of(R"({"error":"invalid_client","error_description":"x"})"), "invalid_client");
  EXPECT_EQ(oauth_error_of(R"({"error":"invalid_client\nforged log line"})"), "");
  EXPECT_EQ(oauth_error_of(R"({"error":")" + std::string(65, 'x') + R"("})"), "");
  EXPECT_EQ(oauth_error_of(R"({"error":""})"), "");
  EXPECT_EQ(oauth_error_of(R"({"error":5})"), "");
  EXPECT_EQ(oauth_error_of("not json"), "");
}

TEST(TokenErrors, MapTheOAuthErrorCode) {
  EXPECT_EQ(token_error_for(401, "invalid_client"), TransportErrc::invalid_client);
  EXPECT_EQ(token_error_for(401, ""), TransportErrc::invalid_client);
  EXPECT_EQ(token_error_for(400, "invalid_scope"), TransportErrc::invalid_scope);
  EXPECT_EQ(token_error_for(400, "invalid_request"), TransportErrc::invalid_request);
  EXPECT_EQ(token_error_for(400, "unsupported_grant_type"), TransportErrc::unsupported_grant_type);
  EXPECT_EQ(token_error_for(400, "something_else"), TransportErrc::token_rejected);
  EXPECT_EQ(make_error_code(TransportErrc::invalid_scope).message(), "token endpoint: invalid_scope");
}

TEST(Secret, FromTheEnvironmentOrAFileWithoutItsNewline) {
  ::setenv("ASSIST_TRANSPORT_TEST_SECRET", "s3cr3t", 1);
  auto loaded = load_secret({"ASSIST_TRANSPORT_TEST_SECRET", ""});
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded.value(), "s3cr3t");
  ::unsetenv("ASSIST_TRANSPORT_TEST_SECRET");

  const auto dir = std::filesystem::temp_directory_path() / ("assist-secret-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto file = (dir / "secret").string();
  std::ofstream(file) << "from-file\r\n";
  loaded = load_secret({"ASSIST_TRANSPORT_TEST_SECRET", file});
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded.value(), "from-file");

  std::ofstream(file, std::ios::trunc) << "\n";
  loaded = load_secret({"", file});
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code, TransportErrc::secret_unavailable);
  EXPECT_NE(loaded.error().message.find("empty"), std::string::npos);

  loaded = load_secret({"ASSIST_TRANSPORT_TEST_SECRET", (dir / "none").string()});
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code, TransportErrc::secret_unavailable);
  EXPECT_NE(loaded.error().message.find("none"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace assist::transport
