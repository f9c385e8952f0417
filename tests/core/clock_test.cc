#include "assist/clock.h"

#include <gtest/gtest.h>

namespace assist {
namespace {

TEST(Clock, ManualClockMovesOnlyWhenAdvanced) {
  ManualClock clock(1000.0);
  const auto t0 = clock.steady_now();
  EXPECT_EQ(clock.steady_now(), t0);
  clock.advance(std::chrono::milliseconds(1500));
  EXPECT_EQ(clock.steady_now() - t0, std::chrono::milliseconds(1500));
  EXPECT_DOUBLE_EQ(clock.unix_now(), 1001.5);
}

TEST(Clock, SystemClockIsNearNow) {
  auto& c = system_clock();
  EXPECT_GT(c.unix_now(), 1.7e9);
  const auto a = c.steady_now();
  EXPECT_LE(a, c.steady_now());
}

TEST(Random, SeededIsReproducibleAndInRange) {
  SeededRandom a(9), b(9);
  for (int i = 0; i < 1000; ++i) {
    const double x = a.uniform();
    ASSERT_EQ(x, b.uniform());
    ASSERT_GE(x, 0.0);
    ASSERT_LT(x, 1.0);
  }
}

}  // namespace
}  // namespace assist
