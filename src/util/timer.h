// A timer on the injected Clock (assist/clock.h). On a real-time clock it is
// an asio::steady_timer; on a clock that moves only when told (ManualClock),
// the clock's alarm wakes it. So one code path serves production and the
// deterministic tests: nothing in the client waits on real time directly.
#ifndef ASSIST_SRC_UTIL_TIMER_H
#define ASSIST_SRC_UTIL_TIMER_H

#include <memory>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "assist/clock.h"

namespace assist::util {

// Not thread-safe: every call on the executor's thread. May be destroyed with
// a wait pending (the wait completes as cancelled).
class Timer {
 public:
  Timer(const boost::asio::any_io_executor& executor, Clock& clock);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // Sets the deadline, in the clock's steady time. A pending wait ends
  // as cancelled (false), as with asio::steady_timer.
  void expires_at(Clock::steady_time at);
  void expires_after(Clock::steady_time::duration delay);
  // No deadline: wait() ends only with cancel() (a wake-up signal).
  void expires_never();
  // Ends a pending wait as cancelled; the deadline stays.
  void cancel();
  // True when the deadline has passed; false when cancelled first.
  boost::asio::awaitable<bool> wait();

  Clock::steady_time expiry() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace assist::util

#endif
