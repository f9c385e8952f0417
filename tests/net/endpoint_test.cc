#include "net/endpoint.h"

#include <string>

#include <gtest/gtest.h>

namespace assist::net {
namespace {

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

}  // namespace
}  // namespace assist::net
