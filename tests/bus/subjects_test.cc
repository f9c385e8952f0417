// The subjects and streams of the bus; the outcomes stream against a real nats-server.
#include "bus/subjects.h"

#include <gtest/gtest.h>

#include "bus/nats_server.h"
#include "bus/partition.h"

namespace assist::bus {
namespace {

TEST(Subjects, NameThePartitionAndTheFrame) {
  EXPECT_EQ(prompt_subject(0), "assist.prompts.0");
  EXPECT_EQ(prompt_subject(63), "assist.prompts.63");
  EXPECT_EQ(outcome_subject(3, "6f1c2a9e-0b7d-4c1e-9a53-2f0e8d7c6b5a"),
            "assist.outcomes.3.6f1c2a9e-0b7d-4c1e-9a53-2f0e8d7c6b5a");
  EXPECT_EQ(prompt_subject(partition_of("session-1", 64)).rfind("assist.prompts.", 0), 0u);
}

TEST(Subjects, TheOutcomesStreamIsNamedAfterThePromptStream) {
  const auto config = outcomes_stream_config("ASSIST_PROMPTS");
  EXPECT_EQ(config.name, "ASSIST_PROMPTS_OUTCOMES");
  ASSERT_EQ(config.subjects.size(), 1u);
  EXPECT_EQ(config.subjects[0], "assist.outcomes.*.*");
  EXPECT_EQ(config.duplicate_window, StreamConfig{}.duplicate_window);
}

using OutcomesStreamTest = testing::NatsServerTest;

TEST_F(OutcomesStreamTest, StoresAnOutcomeOnceByFrameId) {
  ASSERT_TRUE(connection_->ensure_stream(outcomes_stream_config("ASSIST_PROMPTS")).ok());
  const auto subject = outcome_subject(3, "frame-1");
  const auto first = connection_->publish(subject, R"({"frame_id":"frame-1","outcome":"ACKED"})", "frame-1");
  ASSERT_TRUE(first) << first.error().message;
  const auto again = connection_->publish(subject, R"({"frame_id":"frame-1","outcome":"ACKED"})", "frame-1");
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(again->duplicate);
  const auto elsewhere = connection_->publish("assist.outcomes.3", "x", "frame-2");
  ASSERT_FALSE(elsewhere) << "a subject without the frame token was stored";
  EXPECT_EQ(elsewhere.error().code, BusErrc::no_stream);
}

}  // namespace
}  // namespace assist::bus
