// POST /oauth/token: protocol §1, RFC 6749 §4.4 / §5.
#include "gateway_fixture.h"

namespace assist::test {
namespace {

class GatewayTokenTest : public GatewayTest {
 protected:
  void SetUp() override {
    GatewayOptions options;
    options.token_ttl = std::chrono::seconds(600);
    options.clients = {
        {"demo-client", "demo-secret", {"realtime:read", "agentassist:write", "interactions:read"}},
        {"reader", "s3cr:t+%", {"realtime:read"}},
    };
    start(options);
  }

  HttpReply post(const std::string& body, Headers headers) {
    headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
    return http_request(target, "POST", "/oauth/token", headers, body);
  }
};

TEST_F(GatewayTokenTest, BasicAuthGrantsEveryAllowedScopeByDefault) {
  auto reply = token_request(target, "grant_type=client_credentials");
  ASSERT_EQ(reply.status, 200u) << reply.body;
  auto json = reply.json();
  EXPECT_EQ(json["token_type"], "Bearer");
  EXPECT_EQ(json["expires_in"], 600);
  EXPECT_EQ(json["scope"], "realtime:read agentassist:write interactions:read");
  EXPECT_EQ(json["access_token"].as_string().size(), 64u);
  EXPECT_EQ(reply.header("cache-control"), "no-store");
  EXPECT_EQ(gateway->stats().tokens_issued, 1u);
}

TEST_F(GatewayTokenTest, ClientSecretPostIsAccepted) {
  auto reply = post("grant_type=client_credentials&client_id=demo-client&client_secret=demo-secret"
                    "&scope=realtime%3Aread+agentassist:write",
                    {});
  ASSERT_EQ(reply.status, 200u) << reply.body;
  EXPECT_EQ(reply.json()["scope"], "realtime:read agentassist:write");
}

TEST_F(GatewayTokenTest, BasicCredentialsAreFormDecoded) {
  // RFC 6749 §2.3.1: id and secret are form-urlencoded before base64.
  auto reply = token_request(target, "grant_type=client_credentials", "reader", "s3cr%3At%2B%25");
  ASSERT_EQ(reply.status, 200u) << reply.body;
  EXPECT_EQ(reply.json()["scope"], "realtime:read");
}

TEST_F(GatewayTokenTest, GrantedScopeIsTheAllowedPartOfTheRequest) {
  auto reply = token_request(target, "grant_type=client_credentials&scope=realtime:read+agentassist:write",
                             "reader", "s3cr%3At%2B%25");
  ASSERT_EQ(reply.status, 200u) << reply.body;
  EXPECT_EQ(reply.json()["scope"], "realtime:read");
}

TEST_F(GatewayTokenTest, NoAllowedScopeIsInvalidScope) {
  auto reply = token_request(target, "grant_type=client_credentials&scope=billing:write");
  EXPECT_EQ(reply.status, 400u);
  EXPECT_EQ(reply.json()["error"], "invalid_scope");
  reply = token_request(target, "grant_type=client_credentials&scope=bad%22scope");
  EXPECT_EQ(reply.json()["error"], "invalid_scope");
}

TEST_F(GatewayTokenTest, GrantTypeErrors) {
  auto reply = token_request(target, "grant_type=password");
  EXPECT_EQ(reply.status, 400u);
  EXPECT_EQ(reply.json()["error"], "unsupported_grant_type");
  reply = token_request(target, "scope=realtime:read");
  EXPECT_EQ(reply.status, 400u);
  EXPECT_EQ(reply.json()["error"], "invalid_request");
  reply = token_request(target, "grant_type=client_credentials&grant_type=client_credentials");
  EXPECT_EQ(reply.json()["error"], "invalid_request");
}

TEST_F(GatewayTokenTest, WrongContentTypeIsInvalidRequest) {
  auto reply = http_request(target, "POST", "/oauth/token",
                            {{"Content-Type", "application/json"},
                             {"Authorization", basic_auth("demo-client", "demo-secret")}},
                            R"({"grant_type":"client_credentials"})");
  EXPECT_EQ(reply.status, 400u);
  EXPECT_EQ(reply.json()["error"], "invalid_request");
}

TEST_F(GatewayTokenTest, TwoAuthenticationMethodsAreInvalidRequest) {
  auto reply = post("grant_type=client_credentials&client_id=demo-client&client_secret=demo-secret",
                    {{"Authorization", basic_auth("demo-client", "demo-secret")}});
  EXPECT_EQ(reply.status, 400u);
  EXPECT_EQ(reply.json()["error"], "invalid_request");
}

TEST_F(GatewayTokenTest, TwoAuthorizationHeadersAreInvalidRequest) {
  // The first would have won: a proxy and the server could disagree on who asks.
  auto reply = post("grant_type=client_credentials", {{"Authorization", basic_auth("demo-client", "demo-secret")},
                                                      {"Authorization", basic_auth("reader", "s3cr:t+%")}});
  EXPECT_EQ(reply.status, 400u) << reply.body;
  EXPECT_EQ(reply.json()["error"], "invalid_request");
  EXPECT_EQ(reply.json()["error_description"], "more than one Authorization header");
}

TEST_F(GatewayTokenTest, BadCredentialsAreInvalidClient) {
  for (const auto& reply : {token_request(target, "grant_type=client_credentials", "demo-client", "wrong"),
                            token_request(target, "grant_type=client_credentials", "nobody", "demo-secret"),
                            post("grant_type=client_credentials", {}),
                            post("grant_type=client_credentials", {{"Authorization", "Basic !!!"}}),
                            post("grant_type=client_credentials&client_id=demo-client", {})}) {
    EXPECT_EQ(reply.status, 401u) << reply.body;
    EXPECT_EQ(reply.json()["error"], "invalid_client");
    EXPECT_NE(reply.header("www-authenticate").find("Basic"), std::string::npos);
    EXPECT_EQ(reply.body.find("demo-secret"), std::string::npos);
  }
  EXPECT_EQ(gateway->stats().token_errors, 5u);
}

TEST_F(GatewayTokenTest, OnlyPostIsAllowed) {
  auto reply = http_request(target, "GET", "/oauth/token");
  EXPECT_EQ(reply.status, 405u);
  EXPECT_EQ(reply.header("allow"), "POST");
}

TEST_F(GatewayTokenTest, InjectedFailuresCarryRetryAfterThenRecover) {
  gateway->fail_next_token_requests(2, 429, std::chrono::seconds(7));
  for (int i = 0; i < 2; ++i) {
    auto reply = token_request(target, "grant_type=client_credentials");
    EXPECT_EQ(reply.status, 429u);
    EXPECT_EQ(reply.header("retry-after"), "7");
  }
  gateway->fail_next_token_requests(1, 502);
  EXPECT_EQ(token_request(target, "grant_type=client_credentials").status, 502u);
  EXPECT_EQ(token_request(target, "grant_type=client_credentials").status, 200u);
  const auto stats = gateway->stats();
  EXPECT_EQ(stats.token_requests, 4u);
  EXPECT_EQ(stats.tokens_issued, 1u);
}

TEST_F(GatewayTokenTest, ConfiguredFailuresApplyFromStart) {
  GatewayOptions options;
  options.faults.fail_token_requests = {1, 503, std::chrono::seconds(3)};
  start(options);
  auto reply = token_request(target, "grant_type=client_credentials");
  EXPECT_EQ(reply.status, 503u);
  EXPECT_EQ(reply.header("retry-after"), "3");
  EXPECT_EQ(token_request(target, "grant_type=client_credentials").status, 200u);
}

}  // namespace
}  // namespace assist::test
