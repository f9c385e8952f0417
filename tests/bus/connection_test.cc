// Connection against a real nats-server with JetStream, one per test.
#include "bus/connection.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "bus/nats_server.h"

namespace assist::bus {
namespace {

using namespace std::chrono_literals;

const StreamConfig kPrompts{"PROMPTS", {"assist.prompts.*"}, std::chrono::minutes(2)};

using ConnectionTest = testing::NatsServerTest;

TEST_F(ConnectionTest, ASecondPublishWithTheSameMsgIdIsStoredOnce) {
  ASSERT_TRUE(connection_->ensure_stream(kPrompts).ok());
  const auto first = connection_->publish("assist.prompts.3", "prompt one", "frame-1");
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_FALSE(first->duplicate);
  const auto again = connection_->publish("assist.prompts.3", "prompt one", "frame-1");
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(again->stream_sequence, first->stream_sequence);
  const auto second = connection_->publish("assist.prompts.3", "prompt two", "frame-2");
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_FALSE(second->duplicate);
  EXPECT_EQ(second->stream_sequence, first->stream_sequence + 1) << "the duplicate took no sequence";
}

TEST_F(ConnectionTest, EnsureStreamAcceptsTheSameConfigurationAndRefusesAnother) {
  ASSERT_TRUE(connection_->ensure_stream(kPrompts).ok());
  EXPECT_TRUE(connection_->ensure_stream(kPrompts).ok());
  const auto other = connection_->ensure_stream({"PROMPTS", {"other.*"}, std::chrono::minutes(2)});
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.code, BusErrc::bad_config) << other.message;
  EXPECT_NE(other.message.find("PROMPTS"), std::string::npos) << other.message;
}

TEST_F(ConnectionTest, PublishingWhereNoStreamListensIsNoStream) {
  ASSERT_TRUE(connection_->ensure_stream(kPrompts).ok());
  const auto ack = connection_->publish("elsewhere.1", "x", "frame-1");
  ASSERT_FALSE(ack);
  EXPECT_EQ(ack.error().code, BusErrc::no_stream) << ack.error().message;
  EXPECT_NE(ack.error().message.find("elsewhere.1"), std::string::npos) << ack.error().message;
}

// The server is killed (SIGKILL) and started again on its store: the hook
// sees the drop and the return, and what JetStream had stored is still
// there (publishing it again is a duplicate of the same sequence).
TEST_F(ConnectionTest, AStoredMessageSurvivesAServerKillAndTheHookSeesTheDropAndTheReturn) {
  ASSERT_TRUE(connection_->ensure_stream(kPrompts).ok());
  std::atomic<int> drops{0};
  std::atomic<int> returns{0};
  auto watched = connect([&](bool connected) { ++(connected ? returns : drops); });
  ASSERT_NE(watched, nullptr);
  const auto stored = watched->publish("assist.prompts.4", "stored", "frame-1");
  ASSERT_TRUE(stored) << stored.error().message;

  server_->restart();
  ASSERT_TRUE(server_->ready(10s)) << server_log();
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while ((drops == 0 || returns == 0) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(drops, 1);
  EXPECT_EQ(returns, 1);

  const auto again = watched->publish("assist.prompts.4", "stored", "frame-1");
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(again->stream_sequence, stored->stream_sequence);
}

TEST(BusConnect, NoServerIsUnreachableAndTheMessageNamesTheUrlWithoutItsPassword) {
  const auto port = std::to_string(testing::free_loopback_port());
  ConnectOptions options;
  options.servers = {"nats://alice:s3cret@127.0.0.1:" + port};
  options.connect_timeout = 500ms;
  const auto connection = Connection::connect(options);
  ASSERT_FALSE(connection);
  EXPECT_EQ(connection.error().code, BusErrc::unreachable) << connection.error().message;
  EXPECT_NE(connection.error().message.find("nats://127.0.0.1:" + port), std::string::npos)
      << connection.error().message;
  EXPECT_EQ(connection.error().message.find("s3cret"), std::string::npos) << connection.error().message;
}

TEST(BusConnect, AServerWithoutJetStreamIsJetStreamUnavailable) {
  const auto binary = testing::find_nats_server();
  if (!binary) GTEST_SKIP() << "nats-server is not on PATH (scripts/bootstrap.sh installs it)";
  testing::NatsServer server(*binary, std::filesystem::temp_directory_path(), testing::JetStreamMode::disabled);
  ASSERT_TRUE(server.ready(10s));
  ConnectOptions options;
  options.servers = {server.url()};
  auto connection = Connection::connect(options);
  ASSERT_TRUE(connection) << connection.error().message;
  const auto stream = connection.value()->ensure_stream(kPrompts);
  ASSERT_FALSE(stream.ok());
  EXPECT_EQ(stream.code, BusErrc::jetstream_unavailable) << stream.message;
}

TEST(BusConnect, AnUnreadableCredentialsFileIsBadConfigNamingIt) {
  ConnectOptions options;
  options.servers = {"nats://127.0.0.1:" + std::to_string(testing::free_loopback_port())};
  options.credentials_file = "/nonexistent/assist.creds";
  const auto connection = Connection::connect(options);
  ASSERT_FALSE(connection);
  EXPECT_EQ(connection.error().code, BusErrc::bad_config) << connection.error().message;
  EXPECT_NE(connection.error().message.find("/nonexistent/assist.creds"), std::string::npos)
      << connection.error().message;
}

TEST(ShownServerUrl, DropsUserInformationAndHidesWhatIsNotAUrl) {
  EXPECT_EQ(shown_server_url("nats://alice:s3cret@nats-1:4222"), "nats://nats-1:4222");
  EXPECT_EQ(shown_server_url("nats://token@nats-1:4222"), "nats://nats-1:4222");
  EXPECT_EQ(shown_server_url("tls://nats-1:4222"), "tls://nats-1:4222");
  EXPECT_EQ(shown_server_url("alice:s3cret@nats-1:4222").find("s3cret"), std::string::npos);
}

}  // namespace
}  // namespace assist::bus
