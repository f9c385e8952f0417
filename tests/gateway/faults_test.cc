// Injected faults and emulated desktops.
#include "gateway_fixture.h"

#include <boost/beast/websocket/error.hpp>

namespace assist::test {
namespace {

using namespace std::chrono_literals;

class GatewayFaultsTest : public GatewayTest {};

TEST_F(GatewayFaultsTest, DropEveryNthFrameWithoutCloseFrame) {
  GatewayOptions options;
  options.faults.drop_every_n_frames = 2;
  start(options);
  auto client = open();
  const auto first = ids.next();
  const auto second = ids.next();
  ASSERT_TRUE(client->send(prompt(first, 1)));
  EXPECT_EQ(client->read_json()["type"], "ACK");
  client->send(prompt(second, 2));
  EXPECT_FALSE(client->read());
  EXPECT_FALSE(client->timed_out());
  EXPECT_EQ(client->close_code(), 0) << "a close frame was sent";
  EXPECT_NE(client->error(), boost::beast::websocket::error::closed);
  // The dropped frame was shown but its ACK lost: the replay is a duplicate.
  auto again = open();
  ASSERT_TRUE(again->send(prompt(second, 2)));
  EXPECT_EQ(again->read_json()["duplicate"], true);
  EXPECT_EQ(gateway->stats().connections_dropped, 1u);
}

// Which frame (1-based) a drop-probability gateway with `seed` drops first.
int first_dropped_frame(std::uint64_t seed, ManualClock& clock, FrameIdGenerator& ids) {
  GatewayOptions options;
  options.clock = &clock;
  options.faults.drop_probability = 0.2;
  options.faults.seed = seed;
  Gateway gateway(options);
  if (!gateway.start().ok()) return -1;
  Target target{gateway.port(), {}};
  WsClient client(target);
  if (client.connect("/realtime/v1?access_token=" + fetch_token(target)) != 101) return -1;
  client.read_json();
  for (int i = 1; i <= 200; ++i) {
    PromptSync frame{ids.next(), static_cast<std::uint64_t>(i), testing::source_example_prompt()};
    frame.payload.timestamp = clock.unix_now();
    client.send(encode(frame));
    if (!client.read()) return i;
  }
  return 0;
}

TEST_F(GatewayFaultsTest, DropProbabilityIsReplayableBySeed) {
  const int a = first_dropped_frame(7, clock, ids);
  const int b = first_dropped_frame(7, clock, ids);
  EXPECT_GT(a, 0);
  EXPECT_EQ(a, b);
}

TEST_F(GatewayFaultsTest, AckDelayFollowsTheClock) {
  GatewayOptions options;
  options.faults.ack_delay = 1000ms;
  start(options);
  auto client = open();
  const auto id = ids.next();
  ASSERT_TRUE(client->send(prompt(id, 1)));
  ASSERT_TRUE(client->send("garbage"));
  // The NACK is immediate; the ACK waits for the clock.
  EXPECT_EQ(client->read_json()["type"], "NACK");
  clock.advance(1s);
  auto ack = client->read_json();
  EXPECT_EQ(ack["type"], "ACK");
  EXPECT_EQ(ack["frame_id"], boost::json::value(id));
}

TEST_F(GatewayFaultsTest, GoAwayAfterClosesWith1001) {
  GatewayOptions options;
  options.faults.go_away_after = 60s;
  start(options);
  auto client = open();
  clock.advance(60s);
  EXPECT_FALSE(client->read());
  EXPECT_EQ(client->close_code(), 1001);
}

TEST_F(GatewayFaultsTest, ConfiguredHandshakeRefusals) {
  GatewayOptions options;
  options.faults.refuse_handshakes = {1, 429, 2s};
  start(options);
  const auto token = fetch_token(target);
  WsClient refused(target);
  EXPECT_EQ(refused.connect("/realtime/v1?access_token=" + token), 429u);
  EXPECT_EQ(refused.refusal().header("retry-after"), "2");
  WsClient accepted(target);
  EXPECT_EQ(accepted.connect("/realtime/v1?access_token=" + token), 101u);
}

TEST_F(GatewayFaultsTest, DesktopFeedbackAdoptedOrDismissed) {
  for (double p : {1.0, 0.0}) {
    GatewayOptions options;
    options.desktop.send_feedback = true;
    options.desktop.adoption_probability = p;
    options.desktop.feedback_delay = 5s;
    start(options);
    auto client = open();
    const auto id = ids.next();
    ASSERT_TRUE(client->send(prompt(id, 1, "S")));
    EXPECT_EQ(client->read_json()["type"], "ACK");
    clock.advance(5s);
    auto feedback = client->read_json();
    EXPECT_EQ(feedback["type"], "PROMPT_FEEDBACK");
    EXPECT_EQ(feedback["frame_id"], boost::json::value(id));
    EXPECT_EQ(feedback["session_id"], "S");
    EXPECT_EQ(feedback["action"], p > 0 ? "ADOPTED" : "DISMISSED");
    EXPECT_EQ(gateway->stats().feedback_sent, 1u);
  }
}

TEST_F(GatewayFaultsTest, DesktopSessionLengthEndsSessionsAndFreesSlots) {
  GatewayOptions options;
  options.desktop.session_length = 30s;
  options.max_sessions = 1;
  start(options);
  auto client = open();
  ASSERT_TRUE(client->send(prompt(ids.next(), 1, "S")));
  EXPECT_EQ(client->read_json()["type"], "ACK");
  clock.advance(30s);
  auto ended = client->read_json();
  EXPECT_EQ(ended["type"], "SESSION_ENDED");
  EXPECT_EQ(ended["reason"], "interaction_completed");
  ASSERT_TRUE(client->send(prompt(ids.next(), 2, "T")));
  EXPECT_EQ(client->read_json()["type"], "ACK");
  EXPECT_EQ(gateway->stats().sessions_ended, 1u);
}

}  // namespace
}  // namespace assist::test
