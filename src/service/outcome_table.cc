#include "service/outcome_table.h"

#include <algorithm>
#include <array>
#include <cstring>

#include <boost/unordered/unordered_flat_map.hpp>

#include "core/detail/frame_key.h"

namespace assist::service {

using detail::FrameKey;
using detail::FrameKeyHash;

// Members without initializers: the slots are allocated untouched, so the
// table becomes resident as it fills, not at start.
struct OutcomeTable::Slot {
  std::array<char, FrameKey::size> frame_id;
  std::int64_t recorded_at;  // steady clock, nanoseconds since its epoch
  std::uint64_t sequence;
  double latency_seconds;
  OutcomeKind kind;
  NackCode nack_code;
  bool finished;
  bool duplicate;
  std::uint8_t reason_size;
  std::array<char, kReasonBytes> reason;
};

static_assert(OutcomeTable::kReasonBytes <= UINT8_MAX, "reason_size is a byte");

struct OutcomeTable::Index {
  boost::unordered_flat_map<FrameKey, std::uint32_t, FrameKeyHash> slots;
};

namespace {

std::int64_t steady_nanos(Clock::steady_time t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// `text` cut to `room` bytes on a UTF-8 character boundary, ending with "…"
// when cut; returns the bytes written to `out`.
std::size_t copy_cut(std::string_view text, char* out, std::size_t room) {
  if (text.size() <= room) {
    std::memcpy(out, text.data(), text.size());
    return text.size();
  }
  constexpr std::string_view ellipsis = "\u2026";
  std::size_t keep = room - ellipsis.size();
  while (keep > 0 && (static_cast<unsigned char>(text[keep]) & 0xC0) == 0x80) --keep;  // a continuation byte
  std::memcpy(out, text.data(), keep);
  std::memcpy(out + keep, ellipsis.data(), ellipsis.size());
  return keep + ellipsis.size();
}

}  // namespace

OutcomeTable::OutcomeTable(OutcomeTableOptions options)
    : options_(options),
      clock_(options.clock ? *options.clock : system_clock()),
      slots_(new Slot[std::max<std::size_t>(1, options.capacity)]),
      index_(std::make_unique<Index>()) {
  options_.capacity = std::max<std::size_t>(1, options_.capacity);
  index_->slots.reserve(options_.capacity);
}

OutcomeTable::~OutcomeTable() = default;

OutcomeTable::Slot& OutcomeTable::slot_for(std::string_view frame_id, bool& created) {
  const auto key = *FrameKey::of(frame_id);
  if (const auto it = index_->slots.find(key); it != index_->slots.end()) {
    created = false;
    return slots_[it->second];
  }
  const auto at = static_cast<std::uint32_t>(recorded_ % options_.capacity);
  Slot& slot = slots_[at];
  if (recorded_ >= options_.capacity)  // the oldest is forgotten
    index_->slots.erase(*FrameKey::of(std::string_view(slot.frame_id.data(), FrameKey::size)));
  ++recorded_;
  index_->slots.emplace(key, at);
  std::memcpy(slot.frame_id.data(), frame_id.data(), FrameKey::size);
  slot.finished = false;
  created = true;
  return slot;
}

void OutcomeTable::on_accepted(std::string_view frame_id) noexcept {
  if (frame_id.size() != FrameKey::size) return;
  const auto now = steady_nanos(clock_.steady_now());
  std::lock_guard lock(mu_);
  bool created = false;
  Slot& slot = slot_for(frame_id, created);
  if (created) slot.recorded_at = now;  // else its outcome came first
}

void OutcomeTable::on_outcome(const SyncOutcome& outcome) noexcept {
  if (outcome.frame_id.size() != FrameKey::size) return;
  const auto now = steady_nanos(clock_.steady_now());
  std::lock_guard lock(mu_);
  bool created = false;
  Slot& slot = slot_for(outcome.frame_id, created);
  if (created) slot.recorded_at = now;
  slot.finished = true;
  slot.kind = outcome.kind;
  slot.nack_code = outcome.nack_code;
  slot.sequence = outcome.sequence;
  slot.latency_seconds = outcome.latency_seconds;
  slot.duplicate = outcome.duplicate;
  slot.reason_size = static_cast<std::uint8_t>(copy_cut(outcome.reason, slot.reason.data(), kReasonBytes));
}

std::optional<PromptStatus> OutcomeTable::find(std::string_view frame_id) const {
  const auto key = FrameKey::of(frame_id);
  if (!key) return std::nullopt;
  const auto oldest = steady_nanos(clock_.steady_now() - options_.max_age);
  std::lock_guard lock(mu_);
  const auto it = index_->slots.find(*key);
  if (it == index_->slots.end()) return std::nullopt;
  const Slot& slot = slots_[it->second];
  if (slot.recorded_at < oldest) return std::nullopt;
  PromptStatus status;
  status.finished = slot.finished;
  status.outcome.frame_id = std::string(frame_id);
  if (!slot.finished) return status;
  status.outcome.kind = slot.kind;
  status.outcome.nack_code = slot.nack_code;
  status.outcome.sequence = slot.sequence;
  status.outcome.latency_seconds = slot.latency_seconds;
  status.outcome.duplicate = slot.duplicate;
  status.outcome.reason.assign(slot.reason.data(), slot.reason_size);
  return status;
}

}  // namespace assist::service
