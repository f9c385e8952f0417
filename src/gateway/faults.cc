#include "gateway/faults.h"

namespace assist::gateway {

FaultInjector::FaultInjector(const GatewayFaults& faults)
    : config_(faults),
      random_(faults.seed),
      handshake_refusals_(faults.refuse_handshakes),
      token_failures_(faults.fail_token_requests) {}

bool FaultInjector::drop_after_frame() {
  if (config_.drop_every_n_frames == 0 && config_.drop_probability <= 0.0) return false;
  std::lock_guard lock(mu_);
  return drop_after_frame_locked();
}

bool FaultInjector::drop_after_frame_locked() {
  ++frames_;
  if (config_.drop_every_n_frames != 0 && frames_ % config_.drop_every_n_frames == 0) return true;
  return config_.drop_probability > 0.0 && random_.uniform() < config_.drop_probability;
}

std::chrono::milliseconds FaultInjector::next_ack_delay() {
  if (config_.ack_delay_jitter.count() <= 0) return config_.ack_delay;
  std::lock_guard lock(mu_);
  const double extra = random_.uniform() * static_cast<double>(config_.ack_delay_jitter.count());
  return config_.ack_delay + std::chrono::milliseconds(static_cast<std::int64_t>(extra));
}

bool FaultInjector::draw(double p) {
  if (p <= 0.0) return false;
  if (p >= 1.0) return true;
  std::lock_guard lock(mu_);
  return random_.uniform() < p;
}

void FaultInjector::refuse_handshakes(const GatewayRefusal& refusal) {
  std::lock_guard lock(mu_);
  handshake_refusals_ = refusal;
}

void FaultInjector::fail_token_requests(const GatewayRefusal& refusal) {
  std::lock_guard lock(mu_);
  token_failures_ = refusal;
}

std::optional<GatewayRefusal> FaultInjector::take_handshake_refusal() {
  std::lock_guard lock(mu_);
  return take(handshake_refusals_);
}

std::optional<GatewayRefusal> FaultInjector::take_token_failure() {
  std::lock_guard lock(mu_);
  return take(token_failures_);
}

std::optional<GatewayRefusal> FaultInjector::take(GatewayRefusal& pending) {
  if (pending.count == 0) return std::nullopt;
  --pending.count;
  return pending;
}

}  // namespace assist::gateway
