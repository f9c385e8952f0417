#include <algorithm>
#include <cmath>
#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "metrics/metrics_registry.h"

namespace assist {
namespace {

using std::chrono::nanoseconds;

TEST(LatencyHistogram, BucketsCoverEveryValueWithBoundedWidth) {
  std::mt19937_64 rng(7);
  std::vector<std::uint64_t> values{0, 1, 127, 128, 129, 255, 256, 1000, 1'000'000, LatencyHistogram::kMaxNanos};
  for (int i = 0; i < 10'000; ++i) values.push_back(rng() % LatencyHistogram::kMaxNanos);
  for (const auto v : values) {
    const auto index = LatencyHistogram::bucket_index(v);
    ASSERT_LT(index, LatencyHistogram::kBucketCount);
    const auto low = LatencyHistogram::bucket_low(index);
    const auto high = LatencyHistogram::bucket_high(index);
    ASSERT_LE(low, v);
    ASSERT_GE(high, v);
    if (low >= 128) {
      ASSERT_LE(static_cast<double>(high - low + 1) / static_cast<double>(low), 1.0 / 64) << v;
    }
  }
  // Consecutive buckets tile the range.
  for (std::size_t i = 1; i < LatencyHistogram::kBucketCount; ++i)
    ASSERT_EQ(LatencyHistogram::bucket_low(i), LatencyHistogram::bucket_high(i - 1) + 1) << i;
}

TEST(LatencyHistogram, EmptyHistogramReportsZero) {
  LatencyHistogram h;
  const auto s = h.snapshot();
  EXPECT_EQ(s.count, 0u);
  EXPECT_EQ(s.quantile(0.99), 0.0);
  EXPECT_EQ(s.mean_seconds(), 0.0);
}

// Quantiles of a sample against the exact order statistics.
void expect_quantiles_close(const std::vector<double>& seconds) {
  LatencyHistogram h;
  for (const double v : seconds) h.record(nanoseconds(static_cast<std::int64_t>(v * 1e9)));
  std::vector<double> sorted = seconds;
  std::sort(sorted.begin(), sorted.end());
  const auto s = h.snapshot();
  ASSERT_EQ(s.count, seconds.size());
  for (const double p : {0.5, 0.9, 0.99, 0.999}) {
    const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size()))) - 1;
    const double exact = sorted[rank];
    EXPECT_NEAR(s.quantile(p), exact, exact * 0.01) << "p" << p;
  }
  EXPECT_NEAR(s.max_seconds, sorted.back(), 1e-9);  // recorded in whole nanoseconds
}

TEST(LatencyHistogram, QuantilesOfAUniformDistribution) {
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<double> dist(0.001, 0.100);
  std::vector<double> values(100'000);
  for (auto& v : values) v = dist(rng);
  expect_quantiles_close(values);
}

TEST(LatencyHistogram, QuantilesOfALogNormalDistribution) {
  std::mt19937_64 rng(2);
  std::lognormal_distribution<double> dist(std::log(0.005), 1.0);  // median 5 ms, long tail
  std::vector<double> values(100'000);
  for (auto& v : values) v = std::min(dist(rng), 59.0);
  expect_quantiles_close(values);
}

TEST(LatencyHistogram, QuantilesOfAKnownStepDistribution) {
  LatencyHistogram h;
  for (int i = 0; i < 900; ++i) h.record(std::chrono::milliseconds(1));
  for (int i = 0; i < 90; ++i) h.record(std::chrono::milliseconds(10));
  for (int i = 0; i < 9; ++i) h.record(std::chrono::milliseconds(100));
  h.record(std::chrono::seconds(1));
  const auto s = h.snapshot();
  EXPECT_NEAR(s.quantile(0.5), 0.001, 0.001 * 0.01);
  EXPECT_NEAR(s.quantile(0.9), 0.001, 0.001 * 0.01);
  EXPECT_NEAR(s.quantile(0.99), 0.010, 0.010 * 0.01);
  EXPECT_NEAR(s.quantile(0.999), 0.100, 0.100 * 0.01);
  EXPECT_NEAR(s.quantile(1.0), 1.0, 0.01);
  EXPECT_NEAR(s.sum_seconds, 0.9 + 0.9 + 0.9 + 1.0, 1e-9);
}

TEST(LatencyHistogram, PrometheusBoundsAreExact) {
  LatencyHistogram h;
  h.record(std::chrono::milliseconds(1));      // exactly on le="0.001"
  h.record(std::chrono::microseconds(1001));   // just above
  h.record(std::chrono::seconds(90));          // beyond the last finite bound
  const auto s = h.snapshot();
  ASSERT_EQ(s.cumulative.size(), LatencyHistogram::kBounds.size() + 1);
  EXPECT_EQ(s.cumulative[0], (std::pair<double, std::uint64_t>{0.0005, 0}));
  EXPECT_EQ(s.cumulative[1], (std::pair<double, std::uint64_t>{0.001, 1}));
  EXPECT_EQ(s.cumulative[2].second, 2u);
  EXPECT_EQ(s.cumulative[LatencyHistogram::kBounds.size() - 1].second, 2u);  // le="60"
  EXPECT_TRUE(std::isinf(s.cumulative.back().first));
  EXPECT_EQ(s.cumulative.back().second, 3u);
  EXPECT_EQ(s.count, 3u);
  EXPECT_NEAR(s.sum_seconds, 90.002001, 1e-9);
}

TEST(LatencyHistogram, NegativeDurationsCountAsZero) {
  LatencyHistogram h;
  h.record(nanoseconds(-5));
  const auto s = h.snapshot();
  EXPECT_EQ(s.count, 1u);
  EXPECT_EQ(s.buckets[0], 1u);
  EXPECT_EQ(s.quantile(0.5), 0.0);
}

TEST(LatencyHistogram, ConcurrentRecordingLosesNothing) {
  LatencyHistogram h;
  constexpr int kThreads = 4;
  constexpr int kEach = 50'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&h, t] {
      for (int i = 0; i < kEach; ++i) h.record(std::chrono::microseconds(1 + (i + t) % 5000));
    });
  }
  for (auto& t : threads) t.join();
  const auto s = h.snapshot();
  EXPECT_EQ(s.count, static_cast<std::uint64_t>(kThreads * kEach));
  std::uint64_t fine = 0;
  for (const auto n : s.buckets) fine += n;
  EXPECT_EQ(fine, s.count);
  EXPECT_DOUBLE_EQ(s.min_seconds, 1e-6);
  EXPECT_DOUBLE_EQ(s.max_seconds, 5000e-6);
}

}  // namespace
}  // namespace assist
