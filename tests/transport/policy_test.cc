// Pure transport policies, deterministic: backoff and jitter with a seeded or
// scripted Random, Retry-After and token expiry with a ManualClock.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>

#include <gtest/gtest.h>

#include "assist/clock.h"
#include "assist/transport.h"
#include "transport/backoff.h"
#include "transport/endpoint.h"
#include "transport/retry_after.h"
#include "transport/token_provider.h"

namespace assist::transport {
namespace {

using namespace std::chrono_literals;

// Returns the given values in turn.
class ScriptedRandom final : public Random {
 public:
  explicit ScriptedRandom(std::vector<double> values) : values_(std::move(values)) {}
  double uniform() override { return values_.at(next_++ % values_.size()); }

 private:
  std::vector<double> values_;
  std::size_t next_ = 0;
};

TEST(Backoff, CeilingGrowsGeometricallyUpToTheCap) {
  const BackoffOptions options{Millis{100}, 2.0, Millis{1000}};
  EXPECT_EQ(backoff_ceiling(options, 0), Millis{100});
  EXPECT_EQ(backoff_ceiling(options, 1), Millis{200});
  EXPECT_EQ(backoff_ceiling(options, 3), Millis{800});
  EXPECT_EQ(backoff_ceiling(options, 4), Millis{1000});
  EXPECT_EQ(backoff_ceiling(options, 200), Millis{1000});  // no overflow
}

TEST(Backoff, FullJitterScalesTheCeilingByTheRandomDraw) {
  const BackoffOptions options{Millis{100}, 2.0, Millis{1000}};
  ScriptedRandom random({0.0, 0.5, 0.999999});
  EXPECT_EQ(full_jitter(options, 2, random), Millis{0});
  EXPECT_EQ(full_jitter(options, 2, random), Millis{200});
  EXPECT_EQ(full_jitter(options, 2, random), Millis{400});
}

TEST(Backoff, SeededJitterIsReproducibleAndWithinBounds) {
  const BackoffOptions options{Millis{50}, 3.0, Millis{2000}};
  SeededRandom a(42), b(42);
  Backoff first(options), second(options);
  bool varied = false;
  Millis previous{-1};
  for (unsigned i = 0; i < 20; ++i) {
    const auto x = first.next(a);
    EXPECT_EQ(x, second.next(b));
    EXPECT_GE(x, Millis{0});
    EXPECT_LE(x, backoff_ceiling(options, i));
    varied = varied || (previous.count() >= 0 && x != previous);
    previous = x;
  }
  EXPECT_TRUE(varied) << "jitter must spread the delays";
  EXPECT_EQ(first.failures(), 20u);
}

TEST(Backoff, ResetStartsFromTheInitialDelayAgain) {
  const BackoffOptions options{Millis{100}, 2.0, Millis{10'000}};
  ScriptedRandom random({1.0});  // clamped: the ceiling itself
  Backoff backoff(options);
  EXPECT_EQ(backoff.next(random), Millis{100});
  EXPECT_EQ(backoff.next(random), Millis{200});
  EXPECT_EQ(backoff.next(random), Millis{400});
  backoff.reset();
  EXPECT_EQ(backoff.next(random), Millis{100});
}

TEST(RetryBudget, BoundsAttemptsAndTotalTime) {
  ManualClock clock;
  const auto start = clock.steady_now();
  EXPECT_TRUE(retry_allowed(1, 3, start, start, Millis{100}, Millis{1000}));
  EXPECT_FALSE(retry_allowed(3, 3, start, start, Millis{0}, Millis{1000}));
  clock.advance(900ms);
  EXPECT_TRUE(retry_allowed(1, 10, start, clock.steady_now(), Millis{100}, Millis{1000}));
  EXPECT_FALSE(retry_allowed(1, 10, start, clock.steady_now(), Millis{101}, Millis{1000}));
}

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

TEST(Endpoint, ParsesWebSocketAndHttpUrls) {
  std::string error;
  auto ws = parse_endpoint("wss://api.example.com/realtime/v1?tenant=a", Scheme::websocket, error);
  ASSERT_TRUE(ws) << error;
  EXPECT_TRUE(ws->tls);
  EXPECT_EQ(ws->host, "api.example.com");
  EXPECT_EQ(ws->port, "443");
  EXPECT_EQ(ws->host_header, "api.example.com");
  EXPECT_EQ(ws->target, "/realtime/v1?tenant=a");
  auto http = parse_endpoint("http://[::1]:8080", Scheme::http, error);
  ASSERT_TRUE(http) << error;
  EXPECT_FALSE(http->tls);
  EXPECT_EQ(http->host, "::1");
  EXPECT_EQ(http->port, "8080");
  EXPECT_EQ(http->host_header, "[::1]:8080");
  EXPECT_EQ(http->target, "/");
  EXPECT_FALSE(parse_endpoint("https://x/", Scheme::websocket, error));
  EXPECT_FALSE(parse_endpoint("ws://x/", Scheme::http, error));
  EXPECT_FALSE(parse_endpoint("not a url", Scheme::http, error));
  EXPECT_FALSE(parse_endpoint("https://user:pw@x/", Scheme::http, error));
}

// "host:" with an empty port means the scheme's default (RFC 3986 §3.2.3);
// a port beyond 65535 was accepted and failed only in the resolver.
TEST(Endpoint, PortsAreCheckedAndAnEmptyOneIsTheDefault) {
  std::string error;
  auto empty = parse_endpoint("http://127.0.0.1:/t", Scheme::http, error);
  ASSERT_TRUE(empty) << error;
  EXPECT_EQ(empty->port, "80");
  EXPECT_EQ(empty->host_header, "127.0.0.1");
  for (const char* url : {"http://h:0/", "http://h:65536/", "http://h:99999/"}) {
    EXPECT_FALSE(parse_endpoint(url, Scheme::http, error)) << url;
  }
  auto top = parse_endpoint("http://h:65535/", Scheme::http, error);
  ASSERT_TRUE(top) << error;
  EXPECT_EQ(top->port, "65535");
}

TEST(Endpoint, QueryTokenIsEncodedAndRedactedWhereverLogged) {
  const auto target = target_with_token("/realtime/v1?tenant=a", "to k+en/=");
  EXPECT_NE(target.find("tenant=a"), std::string::npos);
  EXPECT_NE(target.find("access_token="), std::string::npos);
  EXPECT_EQ(target.find("to k+en/="), std::string::npos);  // encoded
  const auto redacted = redact_url(target);
  EXPECT_EQ(redacted, "/realtime/v1?tenant=a&access_token=REDACTED");
  EXPECT_EQ(redact_url("wss://h/r?access_token=secret123&x=1"), "wss://h/r?access_token=REDACTED&x=1");
}

TEST(Secret, FromTheEnvironmentOrAFileWithoutItsNewline) {
  std::error_code error;
  std::string detail;
  ::setenv("ASSIST_TRANSPORT_TEST_SECRET", "s3cr3t", 1);
  EXPECT_EQ(load_secret({"ASSIST_TRANSPORT_TEST_SECRET", ""}, error, detail), "s3cr3t");
  EXPECT_FALSE(error);
  ::unsetenv("ASSIST_TRANSPORT_TEST_SECRET");

  const auto dir = std::filesystem::temp_directory_path() / ("assist-secret-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto file = (dir / "secret").string();
  std::ofstream(file) << "from-file\r\n";
  EXPECT_EQ(load_secret({"ASSIST_TRANSPORT_TEST_SECRET", file}, error, detail), "from-file");
  EXPECT_FALSE(error);

  std::ofstream(file, std::ios::trunc) << "\n";
  EXPECT_EQ(load_secret({"", file}, error, detail), "");
  EXPECT_EQ(error, TransportErrc::secret_unavailable);
  EXPECT_NE(detail.find("empty"), std::string::npos);

  EXPECT_EQ(load_secret({"ASSIST_TRANSPORT_TEST_SECRET", (dir / "none").string()}, error, detail), "");
  EXPECT_EQ(error, TransportErrc::secret_unavailable);
  EXPECT_NE(detail.find("none"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace assist::transport
