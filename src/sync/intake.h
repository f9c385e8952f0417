// Acceptance: what happens to a prompt on the caller's thread. A timestamp of
// 0 becomes "now"; the snippet policy, the relevance formula, validation and
// the future-timestamp rule run; the pending and audit-backlog bounds apply;
// an accepted prompt gets its frame_id, its ticket and its encoded payload,
// and waits in the inbox for the synchronizer thread. Thread-safe.
#ifndef ASSIST_SRC_SYNC_INTAKE_H
#define ASSIST_SRC_SYNC_INTAKE_H

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "assist/audit.h"
#include "assist/frame_id.h"
#include "assist/synchronizer.h"
#include "audit/audit_log.h"
#include "sync/event_router.h"
#include "sync/prompt_ticket.h"
#include "sync/scheduler.h"
#include "util/logger.h"

namespace assist::sync {

// What acceptance does to a prompt before its checks pass: the timestamp
// (now when unset), the snippet policy and relevance formula of `options`;
// returns every violation, the future-timestamp rule's included. Pure; the
// scale-out ingest runs it too, before publishing.
std::vector<Violation> prepare_for_acceptance(AssistPrompt& prompt, const SynchronizerOptions& options, double now);

// The refusal of a prompt: `code`, the message naming what was wrong, the
// violations (for invalid_prompt). Shared with the scale-out ingest's route.
SubmitError submit_error(SubmitErrc code, std::string message, std::vector<Violation> violations = {});

class Intake {
 public:
  // `wake` is called (from a submitting thread) when the inbox goes from
  // empty to not empty: the synchronizer thread should take() it. `audit`
  // may be null. All referenced objects outlive the intake. `id_seed` seeds
  // the frame_id generator (the simulation's replays); nullopt: the OS.
  Intake(const SynchronizerOptions& options, Clock& clock, EventRouter& router, const AuditLog* audit,
         std::function<void()> wake, util::LoggerPtr log, std::optional<std::uint64_t> id_seed = std::nullopt);

  // See Synchronizer::sync_prompt (both forms).
  SubmitResult submit(AssistPrompt prompt, std::optional<IngestAssignment> assigned = std::nullopt);

  // From now on every prompt is refused with `code` and `message`
  // (not_running before start, audit_unavailable, failed). The first
  // refusal set stays.
  void refuse_all(SubmitErrc code, std::string message);
  // Accepting (after start()).
  void open();

  // Moves the prompts accepted since the last call to `out`, in acceptance
  // order (the synchronizer thread).
  void take(std::vector<std::unique_ptr<Entry>>& out);
  // Closes the inbox for good (later prompts are refused with not_running)
  // and moves what it still held to `out`: a prompt is either taken or
  // refused, never accepted and then forgotten.
  void close(std::vector<std::unique_ptr<Entry>>& out);

  // See Synchronizer::room.
  std::size_t room() const;

  // A prompt accepted by submit() ended: its pending slot is free.
  void finished() { pending_.fetch_sub(1); }
  std::uint64_t pending() const { return pending_.load(); }
  // The count of exceptions thrown by ticket callbacks (PromptTicket::then).
  std::uint64_t callback_errors() const { return tickets_->callback_errors.load(); }

 private:

  const SynchronizerOptions& options_;
  Clock& clock_;
  EventRouter& router_;
  const AuditLog* audit_;
  std::function<void()> wake_;
  std::atomic<std::uint64_t> pending_{0};
  const std::shared_ptr<TicketContext> tickets_;

  std::mutex ids_mu_;
  FrameIdGenerator ids_;

  mutable std::mutex mu_;  // guards what follows
  std::vector<std::unique_ptr<Entry>> inbox_;
  bool closed_ = false;
  SubmitErrc refusal_ = SubmitErrc::not_running;  // meaningful while refusing_
  bool refusing_ = true;
  std::string refusal_message_ = "synchronizer is not running";
};

}  // namespace assist::sync

#endif
