#include "assist/clock.h"

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

Clock& system_clock() {
  static SystemClock clock;
  return clock;
}

std::uint64_t entropy_seed() {
  std::random_device device;
  return (static_cast<std::uint64_t>(device()) << 32) ^ device();
}

}  // namespace assist
