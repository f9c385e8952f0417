// GET /realtime/v1: protocol §2 handshake, frames and closes.
#include "gateway_fixture.h"

namespace assist::test {
namespace {

using namespace std::chrono_literals;

class GatewayRealtimeTest : public GatewayTest {};

TEST_F(GatewayRealtimeTest, HelloOnOpenWithQueryToken) {
  GatewayOptions options;
  options.token_ttl = 120s;
  options.max_sessions = 7;
  start(options);
  const auto token = fetch_token(target);
  WsClient client(target);
  ASSERT_EQ(client.connect("/realtime/v1?access_token=" + token), 101u);
  auto hello = client.read_json();
  EXPECT_EQ(hello["type"], "HELLO");
  EXPECT_TRUE(is_uuid_v4(hello["connection_id"].as_string()));
  EXPECT_EQ(hello["max_sessions"], 7);
  EXPECT_EQ(hello["max_snippets"], 10);
  EXPECT_EQ(hello["max_inflight"], 1000);
  EXPECT_EQ(hello["max_frame_bytes"], 65536);
  EXPECT_EQ(hello["token_expires_at"], static_cast<std::int64_t>(clock.unix_now()) + 120);
  EXPECT_EQ(gateway->stats().connections_opened, 1u);
}

TEST_F(GatewayRealtimeTest, BearerHeaderIsAccepted) {
  start();
  WsClient client(target);
  ASSERT_EQ(client.connect("/realtime/v1", {{"Authorization", "Bearer " + fetch_token(target)}}), 101u);
  EXPECT_EQ(client.read_json()["type"], "HELLO");
}

TEST_F(GatewayRealtimeTest, HandshakeRefusals) {
  GatewayOptions options;
  options.clients = {{"demo-client", "demo-secret", {"realtime:read", "agentassist:write"}},
                     {"writer", "w", {"agentassist:write"}}};
  options.token_ttl = 60s;
  start(options);
  {
    WsClient client(target);
    EXPECT_EQ(client.connect("/realtime/v1"), 401u);
    EXPECT_NE(client.refusal().header("www-authenticate").find("Bearer"), std::string::npos);
  }
  {
    WsClient client(target);
    EXPECT_EQ(client.connect("/realtime/v1?access_token=nonsense"), 401u);
    EXPECT_EQ(client.refusal().json()["error"], "invalid_token");
  }
  {
    WsClient client(target);
    EXPECT_EQ(client.connect("/realtime/v1?access_token=" + fetch_token(target, {}, "writer", "w")), 403u);
    EXPECT_EQ(client.refusal().json()["error"], "insufficient_scope");
  }
  const auto token = fetch_token(target);
  {
    WsClient client(target);
    EXPECT_EQ(client.connect("/realtime/v1?access_token=" + token, {{"Authorization", "Bearer " + token}}),
              400u);
  }
  clock.advance(61s);
  {
    WsClient client(target);
    EXPECT_EQ(client.connect("/realtime/v1?access_token=" + token), 401u);
    EXPECT_EQ(client.refusal().json()["error_description"], "token expired");
  }
  EXPECT_EQ(gateway->stats().handshakes_refused, 5u);
  EXPECT_EQ(gateway->stats().connections_opened, 0u);
}

TEST_F(GatewayRealtimeTest, TooManyConnectionsForOneClientIs429) {
  GatewayOptions options;
  options.max_connections_per_client = 1;
  options.connection_retry_after = 9s;
  start(options);
  auto first = open();
  WsClient second(target);
  EXPECT_EQ(second.connect("/realtime/v1?access_token=" + fetch_token(target)), 429u);
  EXPECT_EQ(second.refusal().header("retry-after"), "9");
  // Closing the first frees the slot.
  first->close();
  const auto token = fetch_token(target);
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  unsigned status = 0;
  while (status != 101 && std::chrono::steady_clock::now() < deadline) {
    WsClient third(target);
    status = third.connect("/realtime/v1?access_token=" + token);
  }
  EXPECT_EQ(status, 101u);
}

TEST_F(GatewayRealtimeTest, InjectedHandshakeRefusalsThenSuccess) {
  start();
  const auto token = fetch_token(target);
  gateway->refuse_next_handshakes(2, 503, 4s);
  for (int i = 0; i < 2; ++i) {
    WsClient client(target);
    EXPECT_EQ(client.connect("/realtime/v1?access_token=" + token), 503u);
    EXPECT_EQ(client.refusal().header("retry-after"), "4");
  }
  WsClient client(target);
  EXPECT_EQ(client.connect("/realtime/v1?access_token=" + token), 101u);
}

TEST_F(GatewayRealtimeTest, PromptIsAckedOnceAndDuplicatesAreSuppressed) {
  start();
  auto client = open();
  const auto id = ids.next();
  ASSERT_TRUE(client->send(prompt(id, 1)));
  auto ack = client->read_json();
  EXPECT_EQ(ack["type"], "ACK");
  EXPECT_EQ(ack["frame_id"], boost::json::value(id));
  EXPECT_EQ(ack["sequence"], 1);
  EXPECT_EQ(ack["duplicate"], false);
  // A replay on another connection (after a reconnect) is not shown again.
  auto other = open();
  ASSERT_TRUE(other->send(prompt(id, 1)));
  ack = other->read_json();
  EXPECT_EQ(ack["duplicate"], true);
  const auto stats = gateway->stats();
  EXPECT_EQ(stats.prompts_delivered, 1u);
  EXPECT_EQ(stats.duplicates_suppressed, 1u);
  EXPECT_EQ(stats.frames_received, 2u);
}

TEST_F(GatewayRealtimeTest, DedupWindowExpires) {
  GatewayOptions options;
  options.dedup_window = 600s;
  options.token_ttl = 3600s;
  start(options);
  auto client = open();
  const auto id = ids.next();
  ASSERT_TRUE(client->send(prompt(id, 1)));
  EXPECT_EQ(client->read_json()["duplicate"], false);
  clock.advance(601s);
  ASSERT_TRUE(client->send(prompt(id, 1)));
  EXPECT_EQ(client->read_json()["duplicate"], false);
  EXPECT_EQ(gateway->stats().prompts_delivered, 2u);
}

TEST_F(GatewayRealtimeTest, UnparsableFrameIsNackedAndTheConnectionStaysOpen) {
  start();
  auto client = open();
  ASSERT_TRUE(client->send("{not json"));
  auto nack = client->read_json();
  EXPECT_EQ(nack["type"], "NACK");
  EXPECT_EQ(nack["code"], "INVALID_FRAME");
  EXPECT_EQ(nack["frame_id"], "");
  const std::string reason(nack["reason"].as_string());
  EXPECT_TRUE(reason.starts_with("malformed JSON: ")) << reason;
  EXPECT_EQ(reason.find("malformed JSON: malformed JSON"), std::string::npos) << reason;
  const auto id = ids.next();
  ASSERT_TRUE(client->send(prompt(id, 2)));
  EXPECT_EQ(client->read_json()["type"], "ACK");
}

TEST_F(GatewayRealtimeTest, SchemaAndConstraintViolationsAreInvalidFrame) {
  start();
  auto client = open();
  const auto id = ids.next();
  auto bad_priority = prompt(id, 3);
  bad_priority.replace(bad_priority.find("\"priority_level\":5"), 18, "\"priority_level\":9");
  ASSERT_TRUE(client->send(bad_priority));
  auto nack = client->read_json();
  EXPECT_EQ(nack["code"], "INVALID_FRAME");
  EXPECT_EQ(nack["frame_id"], boost::json::value(id));
  EXPECT_EQ(nack["sequence"], 3);
  EXPECT_NE(nack["reason"].as_string().find("priority"), boost::json::string::npos);

  ASSERT_TRUE(client->send(prompt("not-a-uuid", 4)));
  nack = client->read_json();
  EXPECT_EQ(nack["code"], "INVALID_FRAME");
  EXPECT_EQ(nack["frame_id"], "not-a-uuid");

  auto wrong_type = prompt(ids.next(), 5);
  wrong_type.replace(wrong_type.find("\"sequence\":5"), 12, "\"sequence\":\"5\"");
  ASSERT_TRUE(client->send(wrong_type));
  EXPECT_EQ(client->read_json()["code"], "INVALID_FRAME");

  ASSERT_TRUE(client->send_binary(prompt(ids.next(), 6)));
  nack = client->read_json();
  EXPECT_EQ(nack["code"], "INVALID_FRAME");
  EXPECT_NE(nack["reason"].as_string().find("binary"), boost::json::string::npos);
  EXPECT_EQ(gateway->stats().nacks_by_code.at("INVALID_FRAME"), 4u);
  EXPECT_EQ(gateway->stats().prompts_delivered, 0u);
}

TEST_F(GatewayRealtimeTest, UnknownFrameTypesAreIgnored) {
  start();
  auto client = open();
  ASSERT_TRUE(client->send(R"({"type":"TELEMETRY","x":1})"));
  const auto id = ids.next();
  ASSERT_TRUE(client->send(prompt(id, 1)));
  auto next = client->read_json();
  EXPECT_EQ(next["type"], "ACK");
  EXPECT_EQ(next["frame_id"], boost::json::value(id));
}

TEST_F(GatewayRealtimeTest, ServerFrameTypesFromTheClientAreIgnoredEvenWhenBroken) {
  start();
  auto client = open();
  for (const auto* frame : {R"({"type":"ACK"})", R"({"type":"HELLO","connection_id":7})",
                            R"({"type":"NACK","frame_id":"x"})",
                            R"({"type":"PROMPT_FEEDBACK","frame_id":"x","session_id":"s","action":"LIKED"})",
                            R"({"type":"SESSION_ENDED","session_id":"s"})"})
    ASSERT_TRUE(client->send(frame));
  const auto id = ids.next();
  ASSERT_TRUE(client->send(prompt(id, 1)));
  auto next = client->read_json();
  EXPECT_EQ(next["type"], "ACK") << next;
  EXPECT_EQ(next["frame_id"], boost::json::value(id));
  EXPECT_TRUE(gateway->stats().nacks_by_code.empty());
}

TEST_F(GatewayRealtimeTest, TwoAuthorizationHeadersAreRefusedWith400) {
  start();
  const auto token = fetch_token(target);
  WsClient client(target);
  EXPECT_EQ(client.connect("/realtime/v1", {{"Authorization", "Bearer " + token}, {"Authorization", "Bearer other"}}),
            400u);
  EXPECT_EQ(client.refusal().json()["error_description"], "more than one Authorization header");
}

TEST_F(GatewayRealtimeTest, StalePromptIsNacked) {
  start();
  auto client = open();
  ASSERT_TRUE(client->send(prompt(ids.next(), 1, "SESS-1", 46.0)));  // ttl 45 s
  auto nack = client->read_json();
  EXPECT_EQ(nack["code"], "STALE");
  ASSERT_TRUE(client->send(prompt(ids.next(), 2, "SESS-1", 44.0)));
  EXPECT_EQ(client->read_json()["type"], "ACK");
  const auto stats = gateway->stats();
  EXPECT_EQ(stats.stale_arrivals, 1u);
  EXPECT_EQ(stats.nacks_by_code.at("STALE"), 1u);
  EXPECT_DOUBLE_EQ(stats.max_prompt_age_at_delivery_s, 44.0);
}

TEST_F(GatewayRealtimeTest, SessionLimitAndSessionEnd) {
  GatewayOptions options;
  options.max_sessions = 2;
  start(options);
  auto client = open();
  ASSERT_TRUE(client->send(prompt(ids.next(), 1, "A")));
  ASSERT_TRUE(client->send(prompt(ids.next(), 2, "B")));
  ASSERT_TRUE(client->send(prompt(ids.next(), 3, "C")));
  EXPECT_EQ(client->read_json()["type"], "ACK");
  EXPECT_EQ(client->read_json()["type"], "ACK");
  EXPECT_EQ(client->read_json()["code"], "SESSION_LIMIT");
  // A further prompt of a held session still fits.
  ASSERT_TRUE(client->send(prompt(ids.next(), 4, "A")));
  EXPECT_EQ(client->read_json()["type"], "ACK");
  ASSERT_TRUE(client->send(R"({"type":"SESSION_END","session_id":"A"})"));
  ASSERT_TRUE(client->send(prompt(ids.next(), 5, "C")));
  EXPECT_EQ(client->read_json()["type"], "ACK");
  // Slots are per connection.
  auto other = open();
  ASSERT_TRUE(other->send(prompt(ids.next(), 6, "D")));
  EXPECT_EQ(other->read_json()["type"], "ACK");
}

TEST_F(GatewayRealtimeTest, TokenWithoutWriteScopeIsForbidden) {
  start();
  auto client = open("realtime:read");
  ASSERT_TRUE(client->send(prompt(ids.next(), 1)));
  EXPECT_EQ(client->read_json()["code"], "FORBIDDEN");
}

TEST_F(GatewayRealtimeTest, InflightLimitWhileStalledThenHeldAcksAreReleased) {
  GatewayOptions options;
  options.max_inflight = 2;
  start(options);
  auto client = open();
  gateway->set_stalled(true);
  const auto a = ids.next();
  const auto b = ids.next();
  ASSERT_TRUE(client->send(prompt(a, 1)));
  ASSERT_TRUE(client->send(prompt(b, 2)));
  ASSERT_TRUE(client->send(prompt(ids.next(), 3)));
  auto nack = client->read_json();
  EXPECT_EQ(nack["code"], "INFLIGHT_LIMIT");
  EXPECT_EQ(nack["sequence"], 3);
  gateway->set_stalled(false);
  EXPECT_EQ(client->read_json()["frame_id"], boost::json::value(a));
  EXPECT_EQ(client->read_json()["frame_id"], boost::json::value(b));
  EXPECT_EQ(gateway->stats().prompts_delivered, 2u);
}

TEST_F(GatewayRealtimeTest, TokenExpiryClosesWith4001) {
  GatewayOptions options;
  options.token_ttl = 30s;
  start(options);
  auto client = open();
  clock.advance(31s);
  EXPECT_FALSE(client->read());
  EXPECT_FALSE(client->timed_out());
  EXPECT_EQ(client->close_code(), 4001);
  EXPECT_EQ(gateway->stats().closes_4001, 1u);
}

TEST_F(GatewayRealtimeTest, OversizedFrameClosesWith1009) {
  GatewayOptions options;
  options.max_frame_bytes = 1024;
  start(options);
  auto client = open();
  client->send(std::string(2048, 'x'));
  EXPECT_FALSE(client->read());
  EXPECT_EQ(client->close_code(), 1009);
  EXPECT_TRUE(stats_eventually([](const GatewayStats& s) { return s.closes_1009 == 1; }));
}

TEST_F(GatewayRealtimeTest, OversizedFragmentedMessageClosesWith1009NotAReset) {
  start();  // max_frame_bytes 65536
  auto client = open();
  // 16 MiB in 32 KiB fragments, more than the sockets buffer: the gateway
  // stops after 64 KiB while the client is still sending. It must read and
  // discard the rest, or its close leaves unread data, the kernel resets the
  // connection, and the client's writes and the close frame are lost.
  EXPECT_TRUE(client->send_fragmented(std::string(16 << 20, 'x'), 32 << 10));
  EXPECT_FALSE(client->read());
  EXPECT_EQ(client->close_code(), 1009) << client->error().message();
  EXPECT_TRUE(stats_eventually([](const GatewayStats& s) { return s.closes_1009 == 1; }));
}

TEST_F(GatewayRealtimeTest, PingIsAnswered) {
  start();
  auto client = open();
  ASSERT_TRUE(client->ping());
  ASSERT_TRUE(client->send(prompt(ids.next(), 1)));
  EXPECT_EQ(client->read_json()["type"], "ACK");  // the pong is read on the way
  EXPECT_TRUE(client->pong_received());
}

TEST_F(GatewayRealtimeTest, SilentPeerIsPingedThenDropped) {
  GatewayOptions options;
  options.idle_timeout = 300ms;
  start(options);
  const auto token = fetch_token(target);
  RawClient raw(target.port);
  ASSERT_TRUE(raw.connected());
  ASSERT_TRUE(raw.write("GET /realtime/v1?access_token=" + token +
                        " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"));
  // The peer never answers pings: the gateway gives up on it.
  const auto received = raw.read_until_closed();
  EXPECT_TRUE(raw.closed());
  EXPECT_NE(received.find("101 Switching Protocols"), std::string::npos);
  EXPECT_NE(received.find('\x89'), std::string::npos) << "no ping frame seen";
}

TEST_F(GatewayRealtimeTest, OrderViolationsAreCounted) {
  start();
  auto client = open();
  ASSERT_TRUE(client->send(prompt(ids.next(), 5, "S")));
  ASSERT_TRUE(client->send(prompt(ids.next(), 3, "S")));
  ASSERT_TRUE(client->send(prompt(ids.next(), 4, "T")));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(client->read_json()["type"], "ACK");
  EXPECT_EQ(gateway->stats().order_violations, 1u);
}

TEST_F(GatewayRealtimeTest, CloseAllAndEndSession) {
  start();
  auto client = open();
  ASSERT_TRUE(client->send(prompt(ids.next(), 1, "S")));
  EXPECT_EQ(client->read_json()["type"], "ACK");
  gateway->end_session("S");
  auto ended = client->read_json();
  EXPECT_EQ(ended["type"], "SESSION_ENDED");
  EXPECT_EQ(ended["session_id"], "S");
  EXPECT_EQ(ended["reason"], "ended_by_gateway");
  gateway->close_all(1001);
  EXPECT_FALSE(client->read());
  EXPECT_EQ(client->close_code(), 1001);
  EXPECT_EQ(gateway->stats().closes_1001, 1u);
}

TEST_F(GatewayRealtimeTest, ActiveConnectionsAreCountedUntilClosedOrStopped) {
  start();
  auto closed = open();
  auto open_at_stop = open();
  EXPECT_EQ(gateway->stats().connections_active, 2u);
  closed->close();
  EXPECT_TRUE(stats_eventually([](const GatewayStats& s) { return s.connections_active == 1; }));
  // stop() destroys the connections still open; they no longer count.
  gateway->stop();
  EXPECT_EQ(gateway->stats().connections_active, 0u);
}

TEST_F(GatewayRealtimeTest, StatsEndpointServesJson) {
  start();
  auto client = open();
  ASSERT_TRUE(client->send(prompt(ids.next(), 1)));
  EXPECT_EQ(client->read_json()["type"], "ACK");
  auto reply = http_request(target, "GET", "/stats");
  ASSERT_EQ(reply.status, 200u);
  auto json = reply.json();
  EXPECT_EQ(json["prompts_delivered"], 1);
  EXPECT_EQ(json["frames_received"], 1);
  EXPECT_EQ(json["connections_opened"], 1);
  EXPECT_TRUE(json["nacks_by_code"].is_object());
  EXPECT_EQ(gateway->stats().to_json(), reply.body);
}

TEST_F(GatewayRealtimeTest, StartFailsOnABusyPortNamingTheAddress) {
  start();
  GatewayOptions options;
  options.port = gateway->port();
  Gateway second(options);
  const Status started = second.start();
  ASSERT_FALSE(started.ok()) << "bound a busy port";
  EXPECT_EQ(started.code, std::errc::address_in_use);
  EXPECT_NE(started.message.find("127.0.0.1:" + std::to_string(gateway->port())), std::string::npos)
      << started.message;
}

}  // namespace
}  // namespace assist::test
