// The token provider against the gateway emulator's token endpoint.
#include <memory>
#include <optional>

#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <gtest/gtest.h>

#include "transport/token_provider.h"
#include "transport_fixture.h"

namespace assist::transport {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::run_test;
using testing::sleep_ms;
using testing::token_options;

GatewayOptions gateway_options() {
  GatewayOptions options;
  return options;
}

TEST(TokenProvider, OneThousandConcurrentCallersCauseExactlyOneRequest) {
  Gateway gateway(gateway_options());
  ASSERT_TRUE(gateway.start().ok());
  asio::io_context ioc;
  SeededRandom random(1);
  TokenProvider tokens(ioc.get_executor(), token_options(gateway), system_clock(), random);
  std::vector<TokenResult> results(1000);
  for (auto& result : results) {
    asio::co_spawn(ioc, [&]() -> asio::awaitable<void> { result = co_await tokens.token(); }, asio::detached);
  }
  ioc.run();
  for (const auto& result : results) {
    ASSERT_TRUE(result) << result.detail;
    EXPECT_EQ(result.token, results.front().token);  // one shared result
  }
  EXPECT_EQ(gateway.stats().token_requests, 1u);
  EXPECT_EQ(tokens.requests_sent(), 1u);
}

TEST(TokenProvider, CachesUntilTheRefreshTimeOfTheInjectedClock) {
  Gateway gateway(gateway_options());  // 1800 s tokens
  ASSERT_TRUE(gateway.start().ok());
  asio::io_context ioc;
  ManualClock clock;
  SeededRandom random(1);
  TokenProvider tokens(ioc.get_executor(), token_options(gateway), clock, random);
  run_test(ioc, [&]() -> asio::awaitable<void> {
    auto first = co_await tokens.token();
    EXPECT_TRUE(first) << first.detail;
    EXPECT_EQ(first.token->lifetime, 1800s);
    clock.advance(1739s);
    auto cached = co_await tokens.token();
    EXPECT_EQ(cached.token, first.token);
    EXPECT_EQ(gateway.stats().token_requests, 1u);
    clock.advance(1s);  // refresh_margin (60 s) before expiry
    auto refreshed = co_await tokens.token();
    EXPECT_TRUE(refreshed);
    EXPECT_NE(refreshed.token, first.token);
    EXPECT_EQ(gateway.stats().token_requests, 2u);
  });
}

TEST(TokenProvider, ShortLivedTokenRefreshesAtHalfItsLifetime) {
  auto options = gateway_options();
  options.token_ttl = 4s;  // under twice the 60 s margin
  Gateway gateway(options);
  ASSERT_TRUE(gateway.start().ok());
  asio::io_context ioc;
  ManualClock clock;
  SeededRandom random(1);
  TokenProvider tokens(ioc.get_executor(), token_options(gateway), clock, random);
  run_test(ioc, [&]() -> asio::awaitable<void> {
    auto first = co_await tokens.token();
    EXPECT_TRUE(first) << first.detail;
    clock.advance(1999ms);
    EXPECT_EQ((co_await tokens.token()).token, first.token);
    EXPECT_EQ((co_await tokens.token()).token, first.token);  // no loop on the endpoint
    EXPECT_EQ(gateway.stats().token_requests, 1u);
    clock.advance(1ms);
    EXPECT_NE((co_await tokens.token()).token, first.token);
    EXPECT_EQ(gateway.stats().token_requests, 2u);
  });
}

TEST(TokenProvider, InvalidateForgetsOnlyTheRefusedToken) {
  Gateway gateway(gateway_options());
  ASSERT_TRUE(gateway.start().ok());
  asio::io_context ioc;
  SeededRandom random(1);
  TokenProvider tokens(ioc.get_executor(), token_options(gateway), system_clock(), random);
  run_test(ioc, [&]() -> asio::awaitable<void> {
    auto first = co_await tokens.token();
    tokens.invalidate("not-the-cached-one");
    EXPECT_EQ((co_await tokens.token()).token, first.token);
    tokens.invalidate(first.token->access_token);
    EXPECT_NE((co_await tokens.token()).token, first.token);
    EXPECT_EQ(gateway.stats().token_requests, 2u);
  });
}

TEST(TokenProvider, RetriesServerErrorsWithBackoff) {
  Gateway gateway(gateway_options());
  ASSERT_TRUE(gateway.start().ok());
  gateway.fail_next_token_requests(3, 503);
  asio::io_context ioc;
  SeededRandom random(1);
  TokenProvider tokens(ioc.get_executor(), token_options(gateway), system_clock(), random);
  run_test(ioc, [&]() -> asio::awaitable<void> {
    auto result = co_await tokens.token();
    EXPECT_TRUE(result) << result.detail;
  });
  EXPECT_EQ(gateway.stats().token_requests, 4u);
}

TEST(TokenProvider, GivesUpOnServerErrorsAfterMaxAttempts) {
  Gateway gateway(gateway_options());
  ASSERT_TRUE(gateway.start().ok());
  gateway.fail_next_token_requests(100, 500);
  asio::io_context ioc;
  SeededRandom random(1);
  auto options = token_options(gateway);
  options.max_attempts = 3;
  TokenProvider tokens(ioc.get_executor(), options, system_clock(), random);
  run_test(ioc, [&]() -> asio::awaitable<void> {
    auto result = co_await tokens.token();
    EXPECT_FALSE(result);
    EXPECT_EQ(result.error, TransportErrc::server_error);
    EXPECT_NE(result.detail.find("3 request"), std::string::npos) << result.detail;
  });
  EXPECT_EQ(gateway.stats().token_requests, 3u);
}

TEST(TokenProvider, GivesUpWhenTheTotalTimeBudgetIsSpent) {
  Gateway gateway(gateway_options());
  ASSERT_TRUE(gateway.start().ok());
  gateway.fail_next_token_requests(100, 429, 30s);
  asio::io_context ioc;
  SeededRandom random(1);
  auto options = token_options(gateway);
  options.retry_after_cap = Millis{60'000};  // the 30 s Retry-After is honoured...
  options.max_total = Millis{10'000};        // ...but exceeds the budget: stop now, not in 30 s
  TokenProvider tokens(ioc.get_executor(), options, system_clock(), random);
  run_test(ioc, [&]() -> asio::awaitable<void> {
    auto result = co_await tokens.token();
    EXPECT_EQ(result.error, TransportErrc::rate_limited);
  });
  EXPECT_EQ(gateway.stats().token_requests, 1u);
}

TEST(TokenProvider, A429StormIsRetriedHonouringRetryAfterCapped) {
  Gateway gateway(gateway_options());
  ASSERT_TRUE(gateway.start().ok());
  gateway.fail_next_token_requests(4, 429, 1s);  // capped at 20 ms by the options
  asio::io_context ioc;
  SeededRandom random(1);
  TokenProvider tokens(ioc.get_executor(), token_options(gateway), system_clock(), random);
  run_test(ioc, [&]() -> asio::awaitable<void> {
    auto result = co_await tokens.token();
    EXPECT_TRUE(result) << result.detail;
  });
  EXPECT_EQ(gateway.stats().token_requests, 5u);
}

TEST(TokenProvider, WrongSecretFailsAtOnceAsInvalidClientWithoutTheSecret) {
  Gateway gateway(gateway_options());
  ASSERT_TRUE(gateway.start().ok());
  asio::io_context ioc;
  SeededRandom random(1);
  auto options = token_options(gateway);
  options.client_secret = "wrong-secret-value";
  TokenProvider tokens(ioc.get_executor(), options, system_clock(), random);
  run_test(ioc, [&]() -> asio::awaitable<void> {
    auto result = co_await tokens.token();
    EXPECT_EQ(result.error, TransportErrc::invalid_client);
    EXPECT_NE(result.detail.find("invalid_client"), std::string::npos);
    EXPECT_EQ(result.detail.find("wrong-secret-value"), std::string::npos);
    EXPECT_EQ(result.error.message().find("wrong-secret-value"), std::string::npos);
  });
  EXPECT_EQ(gateway.stats().token_requests, 1u);
}

TEST(TokenProvider, NarrowerGrantNamesTheMissingScopeAndNoneAllowedIsInvalidScope) {
  auto gateway_opts = gateway_options();
  gateway_opts.clients = {{"demo-client", "demo-secret", {"realtime:read"}}};
  Gateway gateway(gateway_opts);
  ASSERT_TRUE(gateway.start().ok());
  asio::io_context ioc;
  SeededRandom random(1);
  TokenProvider narrowed(ioc.get_executor(), token_options(gateway), system_clock(), random);
  auto unknown_options = token_options(gateway);
  unknown_options.scopes = {"billing:admin"};
  TokenProvider unknown(ioc.get_executor(), unknown_options, system_clock(), random);
  run_test(ioc, [&]() -> asio::awaitable<void> {
    auto result = co_await narrowed.token();
    EXPECT_EQ(result.error, TransportErrc::missing_scope);
    EXPECT_NE(result.detail.find("agentassist:write"), std::string::npos) << result.detail;
    EXPECT_NE(result.detail.find("interactions:read"), std::string::npos) << result.detail;
    auto refused = co_await unknown.token();
    EXPECT_EQ(refused.error, TransportErrc::invalid_scope);
  });
  EXPECT_EQ(gateway.stats().token_requests, 2u);  // neither retried
}

TEST(TokenProvider, ClientSecretPostIsAnOption) {
  Gateway gateway(gateway_options());
  ASSERT_TRUE(gateway.start().ok());
  asio::io_context ioc;
  SeededRandom random(1);
  auto options = token_options(gateway);
  options.auth = ClientAuth::post;
  TokenProvider tokens(ioc.get_executor(), options, system_clock(), random);
  run_test(ioc, [&]() -> asio::awaitable<void> {
    auto result = co_await tokens.token();
    EXPECT_TRUE(result) << result.detail;
  });
}

TEST(TokenProvider, TimesOutOnASilentServerAndRetriesBoundedly) {
  asio::io_context ioc;
  asio::ip::tcp::acceptor silent(ioc, {asio::ip::make_address("127.0.0.1"), 0});
  std::vector<std::shared_ptr<asio::ip::tcp::socket>> held;
  std::function<void()> accept = [&] {
    silent.async_accept([&](boost::system::error_code ec, asio::ip::tcp::socket socket) {
      if (ec) return;
      held.push_back(std::make_shared<asio::ip::tcp::socket>(std::move(socket)));
      accept();
    });
  };
  accept();
  TokenOptions options;
  options.token_url = "http://127.0.0.1:" + std::to_string(silent.local_endpoint().port()) + "/oauth/token";
  options.client_id = "c";
  options.client_secret = "s";
  options.request_timeout = Millis{50};
  options.max_attempts = 2;
  options.backoff = {Millis{1}, 2.0, Millis{2}};
  SeededRandom random(1);
  TokenProvider tokens(ioc.get_executor(), options, system_clock(), random);
  run_test(ioc, [&]() -> asio::awaitable<void> {
    auto result = co_await tokens.token();
    EXPECT_EQ(result.error, TransportErrc::timeout);
    silent.close();
  });
  EXPECT_EQ(held.size(), 2u);
  EXPECT_EQ(tokens.requests_sent(), 2u);
}

class TokenProviderTls : public ::testing::Test {
 protected:
  TokenProviderTls() : gateway_(tls_options()) { EXPECT_TRUE(gateway_.start().ok()); }
  static GatewayOptions tls_options() {
    GatewayOptions options;
    options.tls = true;
    return options;
  }
  TokenResult fetch(TlsOptions tls) {
    asio::io_context ioc;
    SeededRandom random(1);
    auto options = token_options(gateway_);
    options.tls = std::move(tls);
    TokenProvider tokens(ioc.get_executor(), options, system_clock(), random);
    TokenResult result;
    run_test(ioc, [&]() -> asio::awaitable<void> { result = co_await tokens.token(); });
    return result;
  }
  Gateway gateway_;
};

TEST_F(TokenProviderTls, VerifiesByDefaultAndRefusesAnUntrustedCertificate) {
  auto result = fetch({});
  EXPECT_EQ(result.error, TransportErrc::tls) << result.detail;
  EXPECT_EQ(gateway_.stats().token_requests, 0u);
}

TEST_F(TokenProviderTls, TrustsAGivenCaFileWithHostNameCheck) {
  auto result = fetch({true, gateway_.certificate_file(), ""});
  EXPECT_TRUE(result) << result.detail;
}

TEST_F(TokenProviderTls, TrustsAPinnedFingerprintOnly) {
  auto pinned = fetch({true, "", gateway_.certificate_sha256()});
  EXPECT_TRUE(pinned) << pinned.detail;
  auto wrong = fetch({true, "", std::string(64, 'a')});
  EXPECT_EQ(wrong.error, TransportErrc::tls);
}

TEST(TokenProvider, StopEndsTheFetchItsCallersWaitOnAtOnce) {
  asio::io_context ioc;
  asio::ip::tcp::acceptor silent(ioc, {asio::ip::make_address("127.0.0.1"), 0});  // the kernel accepts; nobody answers
  TokenOptions options;
  options.token_url = "http://127.0.0.1:" + std::to_string(silent.local_endpoint().port()) + "/oauth/token";
  options.client_id = "c";
  options.client_secret = "s";
  options.request_timeout = Millis{60'000};
  SeededRandom random(1);
  TokenProvider tokens(ioc.get_executor(), options, system_clock(), random);
  std::optional<TokenResult> waited;
  run_test(ioc, [&]() -> asio::awaitable<void> {
    asio::co_spawn(ioc, [&]() -> asio::awaitable<void> { waited = co_await tokens.token(); }, asio::detached);
    co_await sleep_ms(20);
    EXPECT_FALSE(waited);  // the endpoint never answers
    tokens.stop();
    for (int i = 0; i < 2000 && !waited; ++i) co_await sleep_ms(1);
    EXPECT_TRUE(waited) << "the waiter still waits for the silent endpoint";
    EXPECT_EQ(waited.value_or(TokenResult{}).error, TransportErrc::stopped);
    const auto later = co_await tokens.token();
    EXPECT_EQ(later.error, TransportErrc::stopped);
    EXPECT_EQ(tokens.requests_sent(), 1u);
    ioc.stop();  // abandons the unanswered request
  });
}

}  // namespace
}  // namespace assist::transport
