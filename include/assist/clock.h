// Time and randomness behind interfaces, so expiry, backoff, freshness and
// jitter are tested deterministically (ManualClock, a seeded Random) rather
// than with sleeps.
#ifndef ASSIST_CLOCK_H
#define ASSIST_CLOCK_H

#include <chrono>
#include <cstdint>
#include <mutex>
#include <random>

namespace assist {

// Two readings of time: a steady clock for durations and deadlines, and the
// wall clock (Unix seconds, fractional) for protocol timestamps.
class Clock {
 public:
  using steady_time = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  virtual steady_time steady_now() const = 0;
  virtual double unix_now() const = 0;
};

// The real clocks. Thread-safe; lives for the whole program.
Clock& system_clock();

// A clock that moves only when told to. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(double unix_start = 1'700'000'000.0) : unix_(unix_start) {}
  steady_time steady_now() const override {
    std::lock_guard lock(mu_);
    return steady_;
  }
  double unix_now() const override {
    std::lock_guard lock(mu_);
    return unix_;
  }
  // Moves both readings forward by `d`.
  void advance(std::chrono::steady_clock::duration d) {
    std::lock_guard lock(mu_);
    steady_ += d;
    unix_ += std::chrono::duration<double>(d).count();
  }

 private:
  mutable std::mutex mu_;
  steady_time steady_{std::chrono::hours(1)};
  double unix_;
};

// A source of uniform random numbers, for jitter and fault injection.
class Random {
 public:
  virtual ~Random() = default;
  // Uniform in [0, 1).
  virtual double uniform() = 0;
};

// A seeded 64-bit Mersenne Twister. Not thread-safe.
class SeededRandom final : public Random {
 public:
  explicit SeededRandom(std::uint64_t seed) : engine_(seed) {}
  double uniform() override { return std::uniform_real_distribution<double>(0.0, 1.0)(engine_); }

 private:
  std::mt19937_64 engine_;
};

// Seeded from the OS entropy source.
std::uint64_t entropy_seed();

}  // namespace assist

#endif  // ASSIST_CLOCK_H
