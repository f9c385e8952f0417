// Time and randomness behind interfaces, so expiry, backoff, freshness and
// jitter are tested deterministically (ManualClock, a seeded Random) rather
// than with sleeps. Every deadline of the client (keepalive, handshake,
// backoff, rotation, ACK deadline, drain, CRM retries) waits on the injected
// clock: a ManualClock runs hours of protocol time in milliseconds.
#ifndef ASSIST_CLOCK_H
#define ASSIST_CLOCK_H

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <unordered_map>

namespace assist {

// Two readings of time: a steady clock for durations and deadlines, and the
// wall clock (Unix seconds, fractional) for protocol timestamps.
class Clock {
 public:
  using steady_time = std::chrono::steady_clock::time_point;
  using AlarmId = std::uint64_t;
  virtual ~Clock() = default;
  virtual steady_time steady_now() const = 0;
  virtual double unix_now() const = 0;

  // True for a clock whose steady_now() is std::chrono::steady_clock::now():
  // timers then wait on the operating system. False for a clock that moves
  // only when told (ManualClock): timers wait for its alarms instead.
  virtual bool real_time() const { return true; }
  // Clocks that are not real_time(): calls `wake` once, from the thread that
  // moves the clock (at once, from this call, when `at` has passed), unless
  // cancel_alarm(id) came first. `wake` must not block; timers post from it.
  // A real_time() clock never calls `wake` and returns 0.
  virtual AlarmId set_alarm(steady_time at, std::function<void()> wake);
  virtual void cancel_alarm(AlarmId id);
};

// The real clocks. Thread-safe; lives for the whole program.
Clock& system_clock();

// A clock that moves only when told to. Thread-safe. Timers on it fire when
// advance() passes their deadline (see Clock::set_alarm).
class ManualClock final : public Clock {
 public:
  explicit ManualClock(double unix_start = 1'700'000'000.0) : unix_(unix_start) {}
  steady_time steady_now() const override;
  double unix_now() const override;
  bool real_time() const override { return false; }
  AlarmId set_alarm(steady_time at, std::function<void()> wake) override;
  void cancel_alarm(AlarmId id) override;

  // Moves both readings forward by `d`, then calls the alarms now due, in
  // deadline order (outside the clock's lock).
  void advance(std::chrono::steady_clock::duration d);
  // Moves to the earliest pending alarm's deadline (not past `limit`) and
  // calls the alarms due. False when no alarm is due by `limit`: then the
  // clock moves to `limit`.
  bool advance_to_next_alarm(steady_time limit);
  // The earliest pending alarm's deadline.
  std::optional<steady_time> next_alarm() const;
  // Moves the wall clock alone (an NTP step, an operator's mistake): the
  // steady reading and its alarms are unaffected.
  void jump_unix(double seconds);

 private:
  void fire_due();

  mutable std::mutex mu_;
  steady_time steady_{std::chrono::hours(1)};
  double unix_;
  AlarmId next_id_ = 1;
  std::multimap<steady_time, std::pair<AlarmId, std::function<void()>>> alarms_;
  std::unordered_map<AlarmId, std::multimap<steady_time, std::pair<AlarmId, std::function<void()>>>::iterator>
      by_id_;
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
