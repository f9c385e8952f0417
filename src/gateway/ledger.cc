#include "gateway/ledger.h"

#include <algorithm>

namespace assist::gateway {

DeliveryLedger::DeliveryLedger(Clock& clock, std::chrono::seconds window, std::size_t capacity)
    : clock_(clock), window_(window), capacity_(std::max<std::size_t>(capacity, 1)) {
  // Sized for its bound up front (48-byte slots, resident as they fill):
  // growing it rehashes every entry at once, which stalled all connections
  // for ~15 ms at 85 k entries.
  delivered_.reserve(capacity_ + 1);  // a delivery inserts before it forgets the oldest
}

void DeliveryLedger::record_delivery_locked(const detail::FrameKey& id, const PromptSync& frame, double age_seconds,
                                            Clock::steady_time now) {
  if (delivered_.size() > capacity_) prune_locked(now);
  // Past capacity, the oldest are forgotten early. The new frame_id is not
  // in delivery_order_ yet, so it is never the one forgotten.
  while (delivered_.size() > capacity_ && !delivery_order_.empty()) {
    auto oldest = delivered_.find(delivery_order_.front().second);
    if (oldest != delivered_.end() && oldest->second == delivery_order_.front().first) {
      delivered_.erase(oldest);
    }
    delivery_order_.pop_front();
  }
  delivery_order_.emplace_back(now, id);

  ++stats_.prompts_delivered;
  stats_.max_prompt_age_at_delivery_s = std::max(stats_.max_prompt_age_at_delivery_s, age_seconds);
  if (sessions_.size() >= capacity_ && !sessions_.contains(frame.payload.session_id)) {
    sessions_.erase(sessions_.begin());  // past capacity: forget an arbitrary session
  }
  auto [session, fresh] = sessions_.try_emplace(frame.payload.session_id);
  if (!fresh && frame.sequence < session->second.highest_sequence) ++stats_.order_violations;
  session->second.highest_sequence = std::max(session->second.highest_sequence, frame.sequence);
  session->second.last_delivery = now;
}

void DeliveryLedger::add(std::uint64_t GatewayStats::*counter, std::uint64_t n) {
  std::lock_guard lock(mu_);
  stats_.*counter += n;
}

void DeliveryLedger::subtract(std::uint64_t GatewayStats::*counter, std::uint64_t n) {
  std::lock_guard lock(mu_);
  stats_.*counter -= std::min(stats_.*counter, n);
}

void DeliveryLedger::add_nack(NackCode code) {
  std::lock_guard lock(mu_);
  ++stats_.nacks_by_code[std::string(to_string(code))];
  if (code == NackCode::stale) ++stats_.stale_arrivals;
}

void DeliveryLedger::prune() {
  const auto now = clock_.steady_now();
  std::lock_guard lock(mu_);
  prune_locked(now);
}

void DeliveryLedger::prune_locked(Clock::steady_time now) {
  while (!delivery_order_.empty() && now - delivery_order_.front().first >= window_) {
    // A frame_id delivered again after its window has a newer entry; keep it.
    auto it = delivered_.find(delivery_order_.front().second);
    if (it != delivered_.end() && it->second == delivery_order_.front().first) delivered_.erase(it);
    delivery_order_.pop_front();
  }
  std::erase_if(sessions_, [&](const auto& entry) { return now - entry.second.last_delivery >= window_; });
}

GatewayStats DeliveryLedger::snapshot() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace assist::gateway
