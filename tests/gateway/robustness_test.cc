// Bad input: malformed HTTP, oversized parts, slow requests, abrupt
// disconnects. Each gets an answer or a close, and others keep being served.
#include "gateway_fixture.h"

namespace assist::test {
namespace {

using namespace std::chrono_literals;

class GatewayRobustnessTest : public GatewayTest {
 protected:
  void SetUp() override {
    GatewayOptions options;
    options.request_timeout = 300ms;
    start(options);
  }
  void expect_still_serving() {
    EXPECT_EQ(token_request(target, "grant_type=client_credentials").status, 200u);
  }
};

TEST_F(GatewayRobustnessTest, MalformedRequestGets400AndClose) {
  RawClient raw(target.port);
  ASSERT_TRUE(raw.write("BLAH\x01 / HTTP/9\r\n\r\n"));
  const auto reply = raw.read_until_closed();
  EXPECT_TRUE(raw.closed());
  EXPECT_EQ(reply.rfind("HTTP/1.1 400", 0), 0u) << reply;
  EXPECT_EQ(gateway->stats().bad_requests, 1u);
  expect_still_serving();
}

TEST_F(GatewayRobustnessTest, OversizedBodyGets413) {
  auto reply = http_request(target, "POST", "/oauth/token",
                            {{"Content-Type", "application/x-www-form-urlencoded"}},
                            "grant_type=client_credentials&pad=" + std::string(20000, 'a'));
  EXPECT_EQ(reply.status, 413u);
  expect_still_serving();
}

TEST_F(GatewayRobustnessTest, OversizedHeadersGet431) {
  RawClient raw(target.port);
  ASSERT_TRUE(raw.write("GET /stats HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(10000, 'a') + "\r\n\r\n"));
  const auto reply = raw.read_until_closed();
  EXPECT_EQ(reply.rfind("HTTP/1.1 431", 0), 0u) << reply.substr(0, 80);
  expect_still_serving();
}

TEST_F(GatewayRobustnessTest, SlowPartialRequestIsCutOff) {
  RawClient raw(target.port);
  ASSERT_TRUE(raw.write("POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\ngrant"));
  raw.read_until_closed();
  EXPECT_TRUE(raw.closed());
  expect_still_serving();
}

TEST_F(GatewayRobustnessTest, UnknownPathsAndPlainGetOfTheSocket) {
  EXPECT_EQ(http_request(target, "GET", "/nope").status, 404u);
  auto reply = http_request(target, "GET", "/realtime/v1");
  EXPECT_EQ(reply.status, 426u);
  EXPECT_EQ(reply.header("upgrade"), "websocket");
  EXPECT_EQ(http_request(target, "POST", "/stats").status, 405u);
}

TEST_F(GatewayRobustnessTest, AbruptDisconnectMidFrameLeavesOthersServed) {
  auto survivor = open();
  {
    const auto token = fetch_token(target);
    RawClient raw(target.port);
    ASSERT_TRUE(raw.write("GET /realtime/v1?access_token=" + token +
                          " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"));
    // A masked text frame header announcing 126+ bytes, then only a few of them.
    ASSERT_TRUE(raw.write(std::string("\x81\xfe\x01\x00\x01\x02\x03\x04{\"ty", 12)));
  }  // the socket closes here
  auto garbage = open();
  garbage->send(std::string("\xff\xfe", 2));  // not UTF-8: Beast fails the connection (1007)
  EXPECT_FALSE(garbage->read());
  ASSERT_TRUE(survivor->send(prompt(ids.next(), 1)));
  EXPECT_EQ(survivor->read_json()["type"], "ACK");
  expect_still_serving();
}

TEST_F(GatewayRobustnessTest, ManyKeepAliveRequestsOnOneConnection) {
  RawClient raw(target.port);
  std::string requests;
  for (int i = 0; i < 3; ++i) requests += "GET /stats HTTP/1.1\r\nHost: x\r\n\r\n";
  requests += "GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  ASSERT_TRUE(raw.write(requests));
  const auto replies = raw.read_until_closed();
  std::size_t count = 0;
  for (auto pos = replies.find("HTTP/1.1 200"); pos != std::string::npos;
       pos = replies.find("HTTP/1.1 200", pos + 1)) {
    ++count;
  }
  EXPECT_EQ(count, 4u);
}

TEST_F(GatewayRobustnessTest, DedupMemoryIsBoundedByCapacity) {
  GatewayOptions options;
  options.dedup_capacity = 2;
  start(options);
  auto client = open();
  const auto first = ids.next();
  ASSERT_TRUE(client->send(prompt(first, 1)));
  ASSERT_TRUE(client->send(prompt(ids.next(), 2)));
  ASSERT_TRUE(client->send(prompt(ids.next(), 3)));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(client->read_json()["duplicate"], false);
  // The oldest frame_id was forgotten to stay within capacity.
  ASSERT_TRUE(client->send(prompt(first, 1)));
  EXPECT_EQ(client->read_json()["duplicate"], false);
}

TEST_F(GatewayRobustnessTest, ConnectionsBeyondTheCapAreClosedAtOnce) {
  GatewayOptions options;
  options.max_connections = 1;
  start(options);
  RawClient held(target.port);
  ASSERT_TRUE(held.connected());
  ASSERT_TRUE(held.write("GET /stats HTTP/1.1\r\nHost: x\r\n\r\n"));  // served: the slot is taken
  RawClient extra(target.port);
  extra.read_until_closed();
  EXPECT_TRUE(extra.closed());
}

}  // namespace
}  // namespace assist::test
