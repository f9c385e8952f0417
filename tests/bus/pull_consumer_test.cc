// PullConsumer against a real nats-server with JetStream, one per test.
#include "bus/pull_consumer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "bus/nats_server.h"

namespace assist::bus {
namespace {

using namespace std::chrono_literals;

ConsumerConfig partition_consumer(std::string subject, std::chrono::milliseconds ack_wait = 30s) {
  return {"PROMPTS", "partition-" + subject.substr(subject.rfind('.') + 1), std::move(subject), ack_wait, std::nullopt};
}

class PullConsumerTest : public testing::NatsServerTest {
 protected:
  void SetUp() override {
    NatsServerTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    const auto stream = connection_->ensure_stream({"PROMPTS", {"assist.prompts.*"}, std::chrono::minutes(2)});
    ASSERT_TRUE(stream.ok()) << stream.message;
  }

  void publish(std::string_view subject, std::string_view data, std::string_view msg_id) {
    const auto ack = connection_->publish(subject, data, msg_id);
    ASSERT_TRUE(ack) << ack.error().message;
  }

  PullConsumer open_consumer(const ConsumerConfig& config) {
    auto consumer = PullConsumer::open(*connection_, config);
    if (!consumer) ADD_FAILURE() << consumer.error().message;
    return std::move(consumer).value();
  }

  std::vector<Delivery> fetch(PullConsumer& consumer, int batch, std::chrono::milliseconds timeout) {
    auto deliveries = consumer.fetch(batch, timeout);
    if (!deliveries) {
      ADD_FAILURE() << deliveries.error().message;
      return {};
    }
    return std::move(deliveries).value();
  }
};

TEST_F(PullConsumerTest, DeliversItsPartitionWithSequenceAndMsgIdAndADuplicateOnlyOnce) {
  publish("assist.prompts.2", "other partition", "frame-0");
  publish("assist.prompts.3", "prompt one", "frame-1");
  publish("assist.prompts.3", "prompt one", "frame-1");
  publish("assist.prompts.3", "prompt two", "frame-2");
  auto consumer = open_consumer(partition_consumer("assist.prompts.3"));
  auto deliveries = fetch(consumer, 10, 500ms);
  ASSERT_EQ(deliveries.size(), 2u);
  EXPECT_EQ(deliveries[0].msg_id(), "frame-1");
  EXPECT_EQ(deliveries[0].data(), "prompt one");
  EXPECT_EQ(deliveries[0].stream_sequence(), 2u);
  EXPECT_EQ(deliveries[0].delivery_count(), 1u);
  EXPECT_EQ(deliveries[1].msg_id(), "frame-2");
  EXPECT_EQ(deliveries[1].stream_sequence(), 3u);
}

TEST_F(PullConsumerTest, AnAckedMessageIsNotDeliveredAgain) {
  publish("assist.prompts.0", "p", "frame-1");
  auto consumer = open_consumer(partition_consumer("assist.prompts.0", 1s));
  auto deliveries = fetch(consumer, 1, 1s);
  ASSERT_EQ(deliveries.size(), 1u);
  const auto acked = deliveries[0].ack();
  ASSERT_TRUE(acked.ok()) << acked.message;
  // Longer than AckWait: an unacked message would be back by then.
  EXPECT_TRUE(fetch(consumer, 1, 1500ms).empty());
}

TEST_F(PullConsumerTest, AsyncAckedMessagesAreNotDeliveredAgain) {
  for (int i = 0; i < 5; ++i) publish("assist.prompts.0", "p", "frame-" + std::to_string(i));
  auto consumer = open_consumer(partition_consumer("assist.prompts.0", 1s));
  auto deliveries = fetch(consumer, 5, 1s);
  ASSERT_EQ(deliveries.size(), 5u);
  for (auto& delivery : deliveries) {
    const auto acked = delivery.ack_async();
    ASSERT_TRUE(acked.ok()) << acked.message;
  }
  // Longer than AckWait: an unacked message would be back by then.
  EXPECT_TRUE(fetch(consumer, 5, 1500ms).empty());
}

TEST_F(PullConsumerTest, ANakedMessageIsDeliveredAgainWithDeliveryCountTwo) {
  publish("assist.prompts.0", "p", "frame-1");
  auto consumer = open_consumer(partition_consumer("assist.prompts.0"));
  auto first = fetch(consumer, 1, 1s);
  ASSERT_EQ(first.size(), 1u);
  ASSERT_TRUE(first[0].nak(0ms).ok());
  auto again = fetch(consumer, 1, 2s);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].delivery_count(), 2u);
  EXPECT_EQ(again[0].stream_sequence(), first[0].stream_sequence());
  EXPECT_EQ(again[0].msg_id(), "frame-1");
}

TEST_F(PullConsumerTest, AnUnackedMessageIsDeliveredAgainAfterAckWait) {
  publish("assist.prompts.0", "p", "frame-1");
  auto consumer = open_consumer(partition_consumer("assist.prompts.0", 1s));
  const auto fetched = std::chrono::steady_clock::now();
  auto first = fetch(consumer, 1, 1s);
  ASSERT_EQ(first.size(), 1u);
  auto again = fetch(consumer, 1, 5s);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_GE(std::chrono::steady_clock::now() - fetched, 900ms) << "redelivered before AckWait";
  EXPECT_EQ(again[0].delivery_count(), 2u);
  EXPECT_EQ(again[0].msg_id(), "frame-1");
}

TEST_F(PullConsumerTest, InProgressKeepsAMessageFromRedeliveryPastAckWait) {
  publish("assist.prompts.0", "p", "frame-1");
  auto consumer = open_consumer(partition_consumer("assist.prompts.0", 1s));
  auto first = fetch(consumer, 1, 1s);
  ASSERT_EQ(first.size(), 1u);
  // Twice AckWait, marking it in progress every 300 ms: never redelivered.
  for (int i = 0; i < 7; ++i) {
    ASSERT_TRUE(first[0].in_progress().ok());
    ASSERT_TRUE(fetch(consumer, 1, 300ms).empty()) << "redelivered while in progress, after " << (i + 1) * 300 << " ms";
  }
  auto again = fetch(consumer, 1, 5s);
  ASSERT_EQ(again.size(), 1u) << "not redelivered once no longer marked";
  EXPECT_EQ(again[0].delivery_count(), 2u);
}

TEST_F(PullConsumerTest, MaxDeliverStopsRedelivery) {
  publish("assist.prompts.0", "p", "frame-1");
  auto config = partition_consumer("assist.prompts.0");
  config.max_deliver = 2;
  auto consumer = open_consumer(config);
  for (std::uint64_t delivery = 1; delivery <= 2; ++delivery) {
    auto deliveries = fetch(consumer, 1, 2s);
    ASSERT_EQ(deliveries.size(), 1u) << "delivery " << delivery;
    EXPECT_EQ(deliveries[0].delivery_count(), delivery);
    ASSERT_TRUE(deliveries[0].nak(0ms).ok());
  }
  EXPECT_TRUE(fetch(consumer, 1, 500ms).empty());
}

// A partition moving to another instance: the new owner opens the same
// durable consumer and gets what the old one had not acked.
TEST_F(PullConsumerTest, ANewOwnerOfTheDurableConsumerGetsWhatTheOldOneDidNotAck) {
  publish("assist.prompts.5", "acked", "frame-1");
  publish("assist.prompts.5", "in flight", "frame-2");
  const auto config = partition_consumer("assist.prompts.5", 1s);
  {
    auto old_owner = open_consumer(config);
    auto deliveries = fetch(old_owner, 2, 1s);
    ASSERT_EQ(deliveries.size(), 2u);
    ASSERT_TRUE(deliveries[0].ack().ok());
  }
  auto other_instance = connect();
  ASSERT_NE(other_instance, nullptr);
  auto new_owner = PullConsumer::open(*other_instance, config);
  ASSERT_TRUE(new_owner) << new_owner.error().message;
  auto deliveries = new_owner->fetch(2, 5s);
  ASSERT_TRUE(deliveries) << deliveries.error().message;
  ASSERT_EQ(deliveries->size(), 1u);
  EXPECT_EQ(deliveries->at(0).msg_id(), "frame-2");
  EXPECT_EQ(deliveries->at(0).delivery_count(), 2u);
  EXPECT_TRUE(deliveries->at(0).ack().ok());
}

TEST_F(PullConsumerTest, OpeningAConsumerOnAMissingStreamIsNoStream) {
  auto consumer = PullConsumer::open(*connection_, {"MISSING", "partition-0", "missing.0", 30s, std::nullopt});
  ASSERT_FALSE(consumer);
  EXPECT_EQ(consumer.error().code, BusErrc::no_stream) << consumer.error().message;
  EXPECT_NE(consumer.error().message.find("MISSING/partition-0"), std::string::npos) << consumer.error().message;
}

}  // namespace
}  // namespace assist::bus
