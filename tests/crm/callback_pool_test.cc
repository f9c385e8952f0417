#include <algorithm>
#include <future>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "crm/callback_pool.h"

namespace assist {
namespace {

CrmUpdate update_for(int i, bool adopted = false) {
  return {"INT-" + std::to_string(i), "frame-" + std::to_string(i), 1 + i % 5, adopted};
}

// Collects reports from any thread.
class Reports {
 public:
  CrmReportHandler handler() {
    return [this](const CrmReport& r) {
      std::lock_guard lock(mu_);
      reports_.push_back(r);
    };
  }
  std::vector<CrmReport> all() const {
    std::lock_guard lock(mu_);
    return reports_;
  }
  std::size_t count(CrmResult result) const {
    std::lock_guard lock(mu_);
    std::size_t n = 0;
    for (const auto& r : reports_) n += r.result == result ? 1 : 0;
    return n;
  }

 private:
  mutable std::mutex mu_;
  std::vector<CrmReport> reports_;
};

const auto kFarFuture = [] { return system_clock().steady_now() + std::chrono::hours(1); };

TEST(CrmCallbackPool, DeliversEveryUpdateWithItsInteractionId) {
  std::mutex mu;
  std::vector<std::pair<std::string, CrmUpdate>> seen;
  Reports reports;
  CrmCallbackPool pool(
      [&](const std::string& interaction_id, const CrmUpdate& update) {
        std::lock_guard lock(mu);
        seen.emplace_back(interaction_id, update);
      },
      3, 1000, reports.handler());
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(pool.submit(update_for(i, i % 2 == 0)));
  EXPECT_TRUE(pool.stop(kFarFuture()));
  ASSERT_EQ(seen.size(), 100u);
  for (const auto& [id, update] : seen) EXPECT_EQ(id, update.interaction_id);
  const auto stats = pool.stats();
  EXPECT_EQ(stats.delivered, 100u);
  EXPECT_EQ(stats.dropped, 0u);
  EXPECT_EQ(stats.queued, 0u);
  EXPECT_EQ(reports.count(CrmResult::delivered), 100u);
}

TEST(CrmCallbackPool, ASlowCallbackNeverBlocksSubmitAndAFullQueueDrops) {
  std::promise<void> entered;
  std::promise<void> release;
  const std::shared_future<void> released = release.get_future().share();
  std::atomic<int> calls{0};
  Reports reports;
  CrmCallbackPool pool(
      [&](const std::string&, const CrmUpdate&) {
        if (calls++ == 0) {
          entered.set_value();
          released.wait();  // blocks until the test says so
        }
      },
      1, 3, reports.handler());

  ASSERT_TRUE(pool.submit(update_for(0)));
  entered.get_future().wait();  // the only worker is stuck in the callback
  for (int i = 1; i <= 3; ++i) EXPECT_TRUE(pool.submit(update_for(i)));  // queued
  EXPECT_FALSE(pool.submit(update_for(4)));                              // full: dropped, not blocked
  EXPECT_FALSE(pool.submit(update_for(5)));

  auto stats = pool.stats();
  EXPECT_EQ(stats.dropped, 2u);
  EXPECT_EQ(stats.queued, 4u);
  ASSERT_EQ(reports.count(CrmResult::dropped), 2u);
  const auto dropped = reports.all();
  EXPECT_EQ(dropped[0].update, update_for(4));
  EXPECT_EQ(dropped[0].error, "queue full");

  release.set_value();
  EXPECT_TRUE(pool.stop(kFarFuture()));
  stats = pool.stats();
  EXPECT_EQ(stats.delivered, 4u);
  EXPECT_EQ(stats.dropped, 2u);
}

TEST(CrmCallbackPool, AThrowingCallbackIsCountedAndReportedAsFailed) {
  Reports reports;
  CrmCallbackPool pool([](const std::string&, const CrmUpdate&) { throw std::runtime_error("CRM is down"); }, 2,
                       10, reports.handler());
  ASSERT_TRUE(pool.submit(update_for(1)));
  pool.stop(kFarFuture());
  EXPECT_EQ(pool.stats().failed, 1u);
  const auto all = reports.all();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].result, CrmResult::failed);
  EXPECT_EQ(all[0].error, "CRM is down");
  EXPECT_EQ(all[0].update, update_for(1));
}

TEST(CrmCallbackPool, StopAtItsDeadlineDropsTheQueueAndAbandonsARunningCallback) {
  ManualClock clock;
  std::promise<void> entered;
  std::promise<void> release;
  const std::shared_future<void> released = release.get_future().share();
  std::atomic<int> calls{0};
  Reports reports;
  // `released` by value: the abandoned callback may still be waiting on it
  // when this test's locals are gone.
  CrmCallbackPool pool(
      [&calls, &entered, released](const std::string&, const CrmUpdate&) {
        if (calls++ == 0) {
          entered.set_value();
          released.wait();
        }
      },
      1, 1'000'000, reports.handler(), &clock);
  ASSERT_TRUE(pool.submit(update_for(0)));
  entered.get_future().wait();
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(pool.submit(update_for(i)));

  // The deadline is now: stop() returns without waiting for the hung
  // callback, which is reported as abandoned; the queue is dropped.
  EXPECT_FALSE(pool.stop(clock.steady_now()));
  EXPECT_FALSE(pool.submit(update_for(9)));
  const auto all = reports.all();
  const auto count = [&](CrmResult result, std::string_view error) {
    return std::count_if(all.begin(), all.end(),
                         [&](const auto& r) { return r.result == result && r.error == error; });
  };
  EXPECT_EQ(count(CrmResult::dropped, "stopped before delivery"), 3);
  EXPECT_EQ(count(CrmResult::failed, "callback still running at the stop deadline: abandoned"), 1);
  EXPECT_EQ(count(CrmResult::dropped, "pool is stopping"), 1);
  const auto stats = pool.stats();
  EXPECT_EQ(stats.delivered, 0u);
  EXPECT_EQ(stats.failed, 1u);
  EXPECT_EQ(stats.dropped, 4u);
  EXPECT_EQ(stats.queued, 0u);

  // The abandoned callback ends later and reports nothing more.
  release.set_value();
  const auto before = reports.all().size();
  EXPECT_TRUE(pool.stop(clock.steady_now()));  // already stopped: nothing more to do
  EXPECT_EQ(reports.all().size(), before);
  EXPECT_EQ(calls.load(), 1);
}

}  // namespace
}  // namespace assist
