// Fault injection: the decisions behind --drop-every, --drop-probability,
// --ack-delay, --refuse-handshakes, --fail-token-requests. Seeded, so a run
// can be replayed.
#ifndef ASSIST_SRC_GATEWAY_FAULTS_H
#define ASSIST_SRC_GATEWAY_FAULTS_H

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>

#include "assist/clock.h"
#include "assist/gateway.h"

namespace assist::gateway {

// Thread-safe. Every random draw comes from one SeededRandom, in the order the
// gateway makes them (deterministic with one connection on one thread).
class FaultInjector {
 public:
  explicit FaultInjector(const GatewayFaults& faults);

  // Counts one received frame; true when its connection must now be dropped
  // without a close frame (every Nth frame gateway-wide, or by probability).
  bool drop_after_frame();
  // The delay for the next ACK: the fixed part plus a random share of the jitter.
  std::chrono::milliseconds next_ack_delay();
  // True with probability `p` (0 never draws, 1 always true).
  bool draw(double p);

  // Replaces the pending handshake refusals / token failures.
  void refuse_handshakes(const GatewayRefusal& refusal);
  void fail_token_requests(const GatewayRefusal& refusal);
  // Consumes one pending refusal / failure, if any is left.
  std::optional<GatewayRefusal> take_handshake_refusal();
  std::optional<GatewayRefusal> take_token_failure();

 private:
  std::optional<GatewayRefusal> take(GatewayRefusal& pending);
  bool drop_after_frame_locked();

  const GatewayFaults config_;
  std::mutex mu_;
  SeededRandom random_;
  std::uint64_t frames_ = 0;
  GatewayRefusal handshake_refusals_;
  GatewayRefusal token_failures_;
};

}  // namespace assist::gateway

#endif
