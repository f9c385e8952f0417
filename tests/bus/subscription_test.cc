// Subscription against a real nats-server, one per test.
#include "bus/subscription.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bus/nats_server.h"

namespace assist::bus {
namespace {

using namespace std::chrono_literals;

// What a subscription's callback received, (subject, data) in order.
class Received {
 public:
  Subscription::OnMessage recorder() {
    return [this](std::string_view subject, std::string_view data) {
      std::lock_guard lock(mutex_);
      messages_.emplace_back(subject, data);
      cv_.notify_all();
    };
  }
  // Waits up to `timeout` for `count` messages; all received so far.
  std::vector<std::pair<std::string, std::string>> wait_for(std::size_t count, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, timeout, [&] { return messages_.size() >= count; });
    return messages_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::pair<std::string, std::string>> messages_;
};

class SubscriptionTest : public testing::NatsServerTest {
 protected:
  void publish(const std::string& subject, const std::string& data) {
    ASSERT_EQ(natsConnection_Publish(connection_->nats_connection(), subject.c_str(), data.data(),
                                     static_cast<int>(data.size())),
              NATS_OK);
    ASSERT_EQ(natsConnection_Flush(connection_->nats_connection()), NATS_OK);
  }
};

TEST_F(SubscriptionTest, DeliversTheMessagesOfMatchingSubjectsInOrder) {
  Received received;
  auto subscription = Subscription::open(*connection_, "greetings.*", received.recorder());
  ASSERT_TRUE(subscription) << subscription.error().message;
  publish("greetings.a", "hello");
  publish("elsewhere.a", "not for it");
  publish("greetings.b", "world");
  const auto messages = received.wait_for(2, 5s);
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0], std::make_pair(std::string("greetings.a"), std::string("hello")));
  EXPECT_EQ(messages[1], std::make_pair(std::string("greetings.b"), std::string("world")));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(received.wait_for(3, 0ms).size(), 2u) << "a message of another subject came";
}

TEST_F(SubscriptionTest, DestructionWaitsForTheRunningCallbackAndEndsDelivery) {
  std::atomic<bool> entered{false};
  std::atomic<bool> returned{false};
  std::atomic<int> calls{0};
  {
    auto subscription = Subscription::open(*connection_, "slow", [&](std::string_view, std::string_view) {
      ++calls;
      entered = true;
      std::this_thread::sleep_for(300ms);
      returned = true;
    });
    ASSERT_TRUE(subscription) << subscription.error().message;
    publish("slow", "x");
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!entered && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
    ASSERT_TRUE(entered);
  }
  EXPECT_TRUE(returned) << "the destructor returned while the callback ran";
  publish("slow", "after");
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(calls, 1) << "a message came after the destruction";
}

TEST_F(SubscriptionTest, AMovedSubscriptionKeepsDelivering) {
  Received received;
  auto opened = Subscription::open(*connection_, "moved.>", received.recorder());
  ASSERT_TRUE(opened) << opened.error().message;
  Subscription moved(std::move(opened).value());
  publish("moved.a.b", "still here");
  const auto messages = received.wait_for(1, 5s);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].second, "still here");
}

TEST_F(SubscriptionTest, AnInvalidPatternIsBadConfig) {
  for (const std::string pattern : {"", "a..b"}) {
    const auto subscription = Subscription::open(*connection_, pattern, [](std::string_view, std::string_view) {});
    ASSERT_FALSE(subscription) << "pattern '" << pattern << "'";
    EXPECT_EQ(subscription.error().code, BusErrc::bad_config) << subscription.error().message;
  }
}

const StreamConfig kOutcomes{"OUTCOMES", {"outcomes.*"}, std::chrono::minutes(2)};

TEST_F(SubscriptionTest, FollowingAStreamFromWhatItStoresGivesTheStoredThenTheNewInOrder) {
  ASSERT_TRUE(connection_->ensure_stream(kOutcomes).ok());
  ASSERT_TRUE(connection_->publish("outcomes.1", "stored one", "f-1"));
  ASSERT_TRUE(connection_->publish("outcomes.2", "stored two", "f-2"));
  Received received;
  auto subscription = Subscription::follow_stream(*connection_, "OUTCOMES", "outcomes.*",
                                                  Subscription::StreamStart::stored, received.recorder());
  ASSERT_TRUE(subscription) << subscription.error().message;
  ASSERT_EQ(received.wait_for(2, 5s).size(), 2u);
  ASSERT_TRUE(connection_->publish("outcomes.1", "new one", "f-3"));
  const auto messages = received.wait_for(3, 5s);
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_EQ(messages[0], std::make_pair(std::string("outcomes.1"), std::string("stored one")));
  EXPECT_EQ(messages[1], std::make_pair(std::string("outcomes.2"), std::string("stored two")));
  EXPECT_EQ(messages[2], std::make_pair(std::string("outcomes.1"), std::string("new one")));
}

TEST_F(SubscriptionTest, FollowingAStreamFromNewOnlySkipsWhatItStores) {
  ASSERT_TRUE(connection_->ensure_stream(kOutcomes).ok());
  ASSERT_TRUE(connection_->publish("outcomes.1", "stored", "f-1"));
  Received received;
  auto subscription = Subscription::follow_stream(*connection_, "OUTCOMES", "outcomes.*",
                                                  Subscription::StreamStart::new_only, received.recorder());
  ASSERT_TRUE(subscription) << subscription.error().message;
  ASSERT_TRUE(connection_->publish("outcomes.2", "new", "f-2"));
  const auto messages = received.wait_for(1, 5s);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].second, "new");
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(received.wait_for(2, 0ms).size(), 1u);
}

TEST_F(SubscriptionTest, FollowingAMissingStreamIsNoStream) {
  const auto subscription = Subscription::follow_stream(*connection_, "MISSING", "outcomes.*",
                                                        Subscription::StreamStart::stored,
                                                        [](std::string_view, std::string_view) {});
  ASSERT_FALSE(subscription);
  EXPECT_EQ(subscription.error().code, BusErrc::no_stream) << subscription.error().message;
  EXPECT_NE(subscription.error().message.find("MISSING"), std::string::npos) << subscription.error().message;
}

}  // namespace
}  // namespace assist::bus
