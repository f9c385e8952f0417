// Backoff and the retry budget, deterministic: a seeded or scripted Random
// and a ManualClock.
#include "util/backoff.h"

#include <vector>

#include <gtest/gtest.h>

#include "assist/clock.h"

namespace assist::util {
namespace {

using namespace std::chrono_literals;

// Returns the given values in turn.
class ScriptedRandom final : public Random {
 public:
  explicit ScriptedRandom(std::vector<double> values) : values_(std::move(values)) {}
  double uniform() override { return values_.at(next_++ % values_.size()); }

 private:
  std::vector<double> values_;
  std::size_t next_ = 0;
};

TEST(Backoff, CeilingGrowsGeometricallyUpToTheCap) {
  const BackoffOptions options{Millis{100}, 2.0, Millis{1000}};
  EXPECT_EQ(backoff_ceiling(options, 0), Millis{100});
  EXPECT_EQ(backoff_ceiling(options, 1), Millis{200});
  EXPECT_EQ(backoff_ceiling(options, 3), Millis{800});
  EXPECT_EQ(backoff_ceiling(options, 4), Millis{1000});
  EXPECT_EQ(backoff_ceiling(options, 200), Millis{1000});  // no overflow
}

TEST(Backoff, FullJitterScalesTheCeilingByTheRandomDraw) {
  const BackoffOptions options{Millis{100}, 2.0, Millis{1000}};
  ScriptedRandom random({0.0, 0.5, 0.999999});
  EXPECT_EQ(full_jitter(options, 2, random), Millis{0});
  EXPECT_EQ(full_jitter(options, 2, random), Millis{200});
  EXPECT_EQ(full_jitter(options, 2, random), Millis{400});
}

TEST(Backoff, SeededJitterIsReproducibleAndWithinBounds) {
  const BackoffOptions options{Millis{50}, 3.0, Millis{2000}};
  SeededRandom a(42), b(42);
  Backoff first(options), second(options);
  bool varied = false;
  Millis previous{-1};
  for (unsigned i = 0; i < 20; ++i) {
    const auto x = first.next(a);
    EXPECT_EQ(x, second.next(b));
    EXPECT_GE(x, Millis{0});
    EXPECT_LE(x, backoff_ceiling(options, i));
    varied = varied || (previous.count() >= 0 && x != previous);
    previous = x;
  }
  EXPECT_TRUE(varied) << "jitter must spread the delays";
  EXPECT_EQ(first.failures(), 20u);
}

TEST(Backoff, ResetStartsFromTheInitialDelayAgain) {
  const BackoffOptions options{Millis{100}, 2.0, Millis{10'000}};
  ScriptedRandom random({1.0});  // clamped: the ceiling itself
  Backoff backoff(options);
  EXPECT_EQ(backoff.next(random), Millis{100});
  EXPECT_EQ(backoff.next(random), Millis{200});
  EXPECT_EQ(backoff.next(random), Millis{400});
  backoff.reset();
  EXPECT_EQ(backoff.next(random), Millis{100});
}

TEST(RetryBudget, BoundsAttemptsAndTotalTime) {
  ManualClock clock;
  const auto start = clock.steady_now();
  EXPECT_TRUE(retry_allowed(1, 3, start, start, Millis{100}, Millis{1000}));
  EXPECT_FALSE(retry_allowed(3, 3, start, start, Millis{0}, Millis{1000}));
  clock.advance(900ms);
  EXPECT_TRUE(retry_allowed(1, 10, start, clock.steady_now(), Millis{100}, Millis{1000}));
  EXPECT_FALSE(retry_allowed(1, 10, start, clock.steady_now(), Millis{101}, Millis{1000}));
}

}  // namespace
}  // namespace assist::util
