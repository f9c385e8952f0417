#include "assist/clock.h"

#include <vector>

namespace assist {
namespace {

class SystemClock final : public Clock {
 public:
  steady_time steady_now() const override { return std::chrono::steady_clock::now(); }
  double unix_now() const override {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  }
};

}  // namespace

Clock::AlarmId Clock::set_alarm(steady_time, std::function<void()>) { return 0; }
void Clock::cancel_alarm(AlarmId) {}

Clock& system_clock() {
  static SystemClock clock;
  return clock;
}

Clock::steady_time ManualClock::steady_now() const {
  std::lock_guard lock(mu_);
  return steady_;
}

double ManualClock::unix_now() const {
  std::lock_guard lock(mu_);
  return unix_;
}

Clock::AlarmId ManualClock::set_alarm(steady_time at, std::function<void()> wake) {
  {
    std::lock_guard lock(mu_);
    if (at > steady_) {
      const AlarmId id = next_id_++;
      by_id_.emplace(id, alarms_.emplace(at, std::make_pair(id, std::move(wake))));
      return id;
    }
  }
  wake();  // already due
  return 0;
}

void ManualClock::cancel_alarm(AlarmId id) {
  std::lock_guard lock(mu_);
  if (const auto it = by_id_.find(id); it != by_id_.end()) {
    alarms_.erase(it->second);
    by_id_.erase(it);
  }
}

void ManualClock::advance(std::chrono::steady_clock::duration d) {
  {
    std::lock_guard lock(mu_);
    steady_ += d;
    unix_ += std::chrono::duration<double>(d).count();
  }
  fire_due();
}

bool ManualClock::advance_to_next_alarm(steady_time limit) {
  steady_time target = limit;
  bool due = false;
  {
    std::lock_guard lock(mu_);
    if (!alarms_.empty() && alarms_.begin()->first <= limit) {
      target = alarms_.begin()->first;
      due = true;
    }
  }
  const auto now = steady_now();
  if (target > now) advance(target - now);
  else fire_due();
  return due;
}

std::optional<Clock::steady_time> ManualClock::next_alarm() const {
  std::lock_guard lock(mu_);
  if (alarms_.empty()) return std::nullopt;
  return alarms_.begin()->first;
}

void ManualClock::jump_unix(double seconds) {
  std::lock_guard lock(mu_);
  unix_ += seconds;
}

void ManualClock::fire_due() {
  std::vector<std::function<void()>> due;
  {
    std::lock_guard lock(mu_);
    while (!alarms_.empty() && alarms_.begin()->first <= steady_) {
      auto node = alarms_.extract(alarms_.begin());
      by_id_.erase(node.mapped().first);
      due.push_back(std::move(node.mapped().second));
    }
  }
  for (auto& wake : due) wake();
}

std::uint64_t entropy_seed() {
  std::random_device device;
  return (static_cast<std::uint64_t>(device()) << 32) ^ device();
}

}  // namespace assist
