#include "service/outcome_table.h"

#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "assist/frame_id.h"

namespace assist::service {
namespace {

using namespace std::chrono_literals;

SyncOutcome nacked(const std::string& frame_id) {
  SyncOutcome o;
  o.kind = OutcomeKind::nacked;
  o.frame_id = frame_id;
  o.sequence = 42;
  o.nack_code = NackCode::stale;
  o.reason = "STALE: older than its ttl";
  o.latency_seconds = 0.0125;
  return o;
}

class OutcomeTableTest : public ::testing::Test {
 protected:
  OutcomeTable table(std::size_t capacity = 16, std::chrono::seconds max_age = 60s) {
    return OutcomeTable(OutcomeTableOptions{capacity, max_age, &clock_});
  }
  std::vector<std::string> ids(std::size_t n) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < n; ++i) out.push_back(ids_.next());
    return out;
  }
  ManualClock clock_;
  FrameIdGenerator ids_{7};
};

TEST_F(OutcomeTableTest, AcceptedIsPendingUntilItsOutcome) {
  auto t = table();
  const auto id = ids(1)[0];
  t.on_accepted(id);
  auto found = t.find(id);
  ASSERT_TRUE(found);
  EXPECT_FALSE(found->finished);
  EXPECT_EQ(found->outcome.frame_id, id);

  t.on_outcome(nacked(id));
  found = t.find(id);
  ASSERT_TRUE(found);
  EXPECT_TRUE(found->finished);
  EXPECT_EQ(found->outcome.kind, OutcomeKind::nacked);
  EXPECT_EQ(found->outcome.nack_code, NackCode::stale);
  EXPECT_EQ(found->outcome.sequence, 42u);
  EXPECT_EQ(found->outcome.reason, "STALE: older than its ttl");
  EXPECT_DOUBLE_EQ(found->outcome.latency_seconds, 0.0125);
  EXPECT_FALSE(found->outcome.duplicate);
}

TEST_F(OutcomeTableTest, AnOutcomeBeforeItsAcceptanceStaysFinished) {
  auto t = table();
  const auto id = ids(1)[0];
  t.on_outcome(nacked(id));  // the synchronizer thread was quicker than sync_prompt's caller
  t.on_accepted(id);
  const auto found = t.find(id);
  ASSERT_TRUE(found);
  EXPECT_TRUE(found->finished);
  EXPECT_EQ(found->outcome.kind, OutcomeKind::nacked);
}

TEST_F(OutcomeTableTest, UnknownAndMalformedIdsAreNotFound) {
  auto t = table();
  t.on_accepted("short");  // ignored
  EXPECT_FALSE(t.find(ids(1)[0]));
  EXPECT_FALSE(t.find("short"));
  EXPECT_FALSE(t.find(""));
}

TEST_F(OutcomeTableTest, ForgetsTheOldestBeyondItsCapacity) {
  auto t = table(3);
  const auto id = ids(5);
  for (int i = 0; i < 3; ++i) t.on_accepted(id[i]);
  t.on_outcome(nacked(id[0]));  // an update: takes no new slot
  EXPECT_TRUE(t.find(id[0]));
  t.on_accepted(id[3]);
  t.on_outcome(nacked(id[4]));  // an outcome of an unseen prompt takes a slot too
  EXPECT_FALSE(t.find(id[0]));
  EXPECT_FALSE(t.find(id[1]));
  for (int i = 2; i < 5; ++i) EXPECT_TRUE(t.find(id[i])) << i;
}

TEST_F(OutcomeTableTest, ForgetsWhatIsOlderThanMaxAge) {
  auto t = table(16, 60s);
  const auto id = ids(2);
  t.on_accepted(id[0]);
  clock_.advance(30s);
  t.on_accepted(id[1]);
  t.on_outcome(nacked(id[0]));  // finishing does not make it younger
  clock_.advance(30s);
  EXPECT_TRUE(t.find(id[0]));
  clock_.advance(1s);
  EXPECT_FALSE(t.find(id[0]));
  EXPECT_TRUE(t.find(id[1]));
}

TEST_F(OutcomeTableTest, LongReasonsAreCutOnACharacterBoundary) {
  auto t = table();
  const auto id = ids(1)[0];
  auto o = nacked(id);
  o.reason = "x";
  for (int i = 0; i < 100; ++i) o.reason += "\u00e9";  // two bytes each: the cut falls inside one
  t.on_outcome(o);
  const auto reason = t.find(id)->outcome.reason;
  EXPECT_LE(reason.size(), OutcomeTable::kReasonBytes);
  EXPECT_GE(reason.size(), OutcomeTable::kReasonBytes - 1);
  EXPECT_TRUE(reason.ends_with("\u00e9\u2026")) << reason;
}

TEST_F(OutcomeTableTest, RecordsFromManyThreadsAtOnce) {
  auto t = table(4096);
  std::vector<std::vector<std::string>> per_thread;
  for (int i = 0; i < 4; ++i) per_thread.push_back(ids(500));
  std::vector<std::thread> threads;
  for (const auto& mine : per_thread) {
    threads.emplace_back([&t, &mine] {
      for (const auto& id : mine) {
        t.on_accepted(id);
        t.on_outcome(nacked(id));
        EXPECT_TRUE(t.find(id));
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const auto& mine : per_thread)
    for (const auto& id : mine) ASSERT_TRUE(t.find(id) && t.find(id)->finished) << id;
}

}  // namespace
}  // namespace assist::service
