// The outcomes of recent prompts by frame_id, for GET /v1/prompts/{frame_id}:
// a fixed-capacity table fed by the synchronizer (an OutcomeObserver). It
// remembers the newest `capacity` accepted prompts, each for at most
// `max_age` after its acceptance; older ones are forgotten (the audit log
// keeps everything). Memory is fixed at construction: recording allocates
// nothing and costs a lock, a hash lookup and a copy of a few bytes.
#ifndef ASSIST_SRC_SERVICE_OUTCOME_TABLE_H
#define ASSIST_SRC_SERVICE_OUTCOME_TABLE_H

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>

#include "assist/clock.h"
#include "assist/synchronizer.h"

namespace assist::service {

struct OutcomeTableOptions {
  std::size_t capacity = 32'768;       // prompts remembered, the newest
  std::chrono::seconds max_age{600};   // and for at most this long after acceptance
  const Clock* clock = nullptr;        // nullptr: system_clock()
};

// What is known of one prompt.
struct PromptStatus {
  bool finished = false;  // false: accepted, no outcome yet
  SyncOutcome outcome;    // frame_id always; the rest once finished (reason
                          // cut to OutcomeTable::kReasonBytes)
};

class OutcomeTable final : public OutcomeObserver {
 public:
  // Longer reasons are cut (on a UTF-8 boundary) and end with "…".
  static constexpr std::size_t kReasonBytes = 120;

  explicit OutcomeTable(OutcomeTableOptions options = {});
  ~OutcomeTable() override;
  OutcomeTable(const OutcomeTable&) = delete;
  OutcomeTable& operator=(const OutcomeTable&) = delete;

  // OutcomeObserver. Thread-safe; either may come first for a frame_id.
  // Ids that are not 36 characters long are ignored (none is ever accepted).
  void on_accepted(std::string_view frame_id) noexcept override;
  void on_outcome(const SyncOutcome& outcome) noexcept override;

  // The prompt's status, or nullopt when it was never recorded or is
  // forgotten (beyond capacity or max_age). Thread-safe.
  std::optional<PromptStatus> find(std::string_view frame_id) const;

  const OutcomeTableOptions& options() const { return options_; }

 private:
  struct Slot;
  struct Index;

  // The slot of `frame_id`, a new one (evicting the oldest) when absent.
  Slot& slot_for(std::string_view frame_id, bool& created);

  OutcomeTableOptions options_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::unique_ptr<Slot[]> slots_;  // a ring in acceptance order
  std::unique_ptr<Index> index_;   // frame_id -> slot
  std::uint64_t recorded_ = 0;     // slots ever filled; the next is recorded_ % capacity
};

}  // namespace assist::service

#endif  // ASSIST_SRC_SERVICE_OUTCOME_TABLE_H
