// The delivery ledger: which prompts reached a desktop (deduplication by
// frame_id over a window), per-session order, and the gateway's counters.
#ifndef ASSIST_SRC_GATEWAY_LEDGER_H
#define ASSIST_SRC_GATEWAY_LEDGER_H

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

#include <boost/unordered/unordered_flat_map.hpp>

#include "assist/clock.h"
#include "assist/frame.h"
#include "assist/gateway.h"
#include "core/detail/frame_key.h"

namespace assist::gateway {

// Thread-safe; one lock per call.
class DeliveryLedger {
 public:
  DeliveryLedger(Clock& clock, std::chrono::seconds window, std::size_t capacity);

  enum class Outcome { delivered, duplicate, refused };
  // Shows `frame` (whose frame_id is `id`) on a desktop unless that frame_id
  // was delivered within the window (then counts a suppressed duplicate,
  // whatever `admit` would say). A new frame_id is first put to `admit()` (a
  // callable returning true to admit; it runs under the ledger's lock, so it
  // must not call back into the ledger): refused, it leaves no trace. A
  // delivery records the prompt's age and an order violation when its session
  // already showed a higher sequence. One hash lookup per frame, and no
  // allocation for the frame_id.
  template <typename Admit>
  Outcome deliver(const detail::FrameKey& id, const PromptSync& frame, double age_seconds, Admit&& admit) {
    const auto now = clock_.steady_now();
    std::lock_guard lock(mu_);
    auto [it, inserted] = delivered_.try_emplace(id, now);
    if (!inserted && now - it->second < window_) {
      ++stats_.duplicates_suppressed;
      return Outcome::duplicate;
    }
    if (!admit()) {
      delivered_.erase(it);  // new, or remembered past its window: forgotten either way
      return Outcome::refused;
    }
    it->second = now;
    record_delivery_locked(id, frame, age_seconds, now);
    return Outcome::delivered;
  }

  // Adds `n` to one counter.
  void add(std::uint64_t GatewayStats::*counter, std::uint64_t n = 1);
  void subtract(std::uint64_t GatewayStats::*counter, std::uint64_t n = 1);
  void add_nack(NackCode code);

  // Forgets deliveries and sessions older than the window.
  void prune();

  GatewayStats snapshot() const;

 private:
  void prune_locked(Clock::steady_time now);
  // The rest of a delivery once its frame_id is in delivered_ (stamped `now`).
  void record_delivery_locked(const detail::FrameKey& id, const PromptSync& frame, double age_seconds,
                              Clock::steady_time now);

  struct SessionOrder {
    std::uint64_t highest_sequence = 0;
    Clock::steady_time last_delivery;
  };

  Clock& clock_;
  const std::chrono::seconds window_;
  const std::size_t capacity_;
  mutable std::mutex mu_;
  GatewayStats stats_;
  // Keyed inline (core/detail/frame_key.h): nothing allocated per frame_id.
  boost::unordered_flat_map<detail::FrameKey, Clock::steady_time, detail::FrameKeyHash> delivered_;
  std::deque<std::pair<Clock::steady_time, detail::FrameKey>> delivery_order_;
  std::unordered_map<std::string, SessionOrder> sessions_;
};

}  // namespace assist::gateway

#endif
