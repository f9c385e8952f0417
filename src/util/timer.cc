#include "util/timer.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace assist::util {

namespace asio = boost::asio;

struct Timer::State : std::enable_shared_from_this<State> {
  State(const asio::any_io_executor& ex, Clock& c) : timer(ex, Clock::steady_time::max()), clock(c) {}
  ~State() { clock.cancel_alarm(alarm); }

  asio::steady_timer timer;  // real time: the deadline; manual time: a wake-up signal
  Clock& clock;
  Clock::steady_time deadline = Clock::steady_time::max();
  Clock::AlarmId alarm = 0;
  std::uint64_t generation = 0;  // bumped by every expires_*: a late alarm of an older deadline is ignored
  bool fired = false;            // manual time: the current deadline passed
};

Timer::Timer(const asio::any_io_executor& executor, Clock& clock)
    : state_(std::make_shared<State>(executor, clock)) {}

Timer::~Timer() {
  state_->clock.cancel_alarm(std::exchange(state_->alarm, 0));
  state_->timer.cancel();
}

void Timer::expires_at(Clock::steady_time at) {
  State& s = *state_;
  s.clock.cancel_alarm(std::exchange(s.alarm, 0));
  s.deadline = at;
  s.fired = false;
  const std::uint64_t generation = ++s.generation;
  if (s.clock.real_time()) {
    s.timer.expires_at(at);
    return;
  }
  s.timer.expires_at(Clock::steady_time::max());  // ends a pending wait, as a real timer would
  if (at == Clock::steady_time::max()) return;
  // The alarm may fire on another thread (whoever advances the clock): it
  // posts to the timer's executor, where the state is owned.
  s.alarm = s.clock.set_alarm(at, [weak = std::weak_ptr<State>(state_), executor = s.timer.get_executor(),
                                   generation] {
    asio::post(executor, [weak, generation] {
      const auto state = weak.lock();
      if (!state || state->generation != generation) return;
      state->alarm = 0;
      state->fired = true;
      state->timer.cancel();
    });
  });
}

void Timer::expires_after(Clock::steady_time::duration delay) {
  expires_at(delay == Clock::steady_time::duration::max() ? Clock::steady_time::max()
                                                          : state_->clock.steady_now() + delay);
}

void Timer::expires_never() { expires_at(Clock::steady_time::max()); }

void Timer::cancel() { state_->timer.cancel(); }

Clock::steady_time Timer::expiry() const { return state_->deadline; }

asio::awaitable<bool> Timer::wait() {
  const auto state = state_;  // the timer may be destroyed while this waits
  if (state->clock.real_time()) {
    auto [ec] = co_await state->timer.async_wait(asio::as_tuple(asio::use_awaitable));
    co_return !ec;
  }
  if (state->fired) co_return true;
  const std::uint64_t generation = state->generation;
  co_await state->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return state->fired && state->generation == generation;
}

}  // namespace assist::util
