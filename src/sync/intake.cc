#include "sync/intake.h"
#include "core/prompt_sync_parts.h"

#include <fmt/format.h>

#include "assist/validation.h"
#include "sync/prompt_ticket.h"

namespace assist::sync {

Intake::Intake(const SynchronizerOptions& options, Clock& clock, EventRouter& router, const AuditLog* audit,
               std::function<void()> wake, util::LoggerPtr log, std::optional<std::uint64_t> id_seed)
    : options_(options),
      clock_(clock),
      router_(router),
      audit_(audit),
      wake_(std::move(wake)),
      tickets_(std::make_shared<TicketContext>(std::move(log))),
      ids_(id_seed ? FrameIdGenerator(*id_seed) : FrameIdGenerator()) {}

void Intake::refuse_all(SubmitErrc code, std::string message) {
  std::lock_guard lock(mu_);
  if (refusing_ && refusal_ != SubmitErrc::not_running) return;  // the first real cause stays
  refusing_ = true;
  refusal_ = code;
  refusal_message_ = std::move(message);
}

void Intake::open() {
  std::lock_guard lock(mu_);
  if (closed_) return;
  refusing_ = false;
}

SubmitError submit_error(SubmitErrc code, std::string message, std::vector<Violation> violations) {
  SubmitError refused;
  refused.code = make_error_code(code);
  refused.message = std::move(message);
  refused.violations = std::move(violations);
  return refused;
}

std::vector<Violation> prepare_for_acceptance(AssistPrompt& prompt, const SynchronizerOptions& options, double now) {
  if (!prompt.timestamp) prompt.timestamp = now;
  std::vector<Violation> violations;
  if (options.compute_relevance) {
    violations = prepare(prompt, options.snippet_policy);
  } else {
    if (options.snippet_policy == SnippetPolicy::trim) trim_snippets(prompt.snippets);
    violations = validate(prompt);
  }
  if (auto ahead = check_not_future(prompt, now, options.max_future_skew_seconds)) {
    violations.push_back(std::move(*ahead));
  }
  return violations;
}

SubmitResult Intake::submit(AssistPrompt prompt, std::optional<IngestAssignment> assigned) {
  {
    std::lock_guard lock(mu_);
    if (refusing_ || closed_) return submit_error(refusing_ ? refusal_ : SubmitErrc::not_running, refusal_message_);
  }
  if (auto violations = prepare_for_acceptance(prompt, options_, clock_.unix_now()); !violations.empty()) {
    auto message = "invalid prompt: " + describe(violations);
    router_.on_refused(prompt, OutcomeKind::rejected_validation, message, true);
    return submit_error(SubmitErrc::invalid_prompt, std::move(message), std::move(violations));
  }
  if (const auto behind = audit_ ? audit_->pending() : 0; audit_ && behind >= options_.max_audit_backlog)
    return submit_error(SubmitErrc::queue_full, fmt::format("the audit log is {} events behind (max_audit_backlog)", behind));
  if (pending_.fetch_add(1) >= options_.max_pending) {
    pending_.fetch_sub(1);
    auto message = fmt::format("{} prompts already pending (max_pending)", options_.max_pending);
    // An ingested prompt stays in its stream and is submitted again: no outcome yet.
    router_.on_refused(prompt, OutcomeKind::rejected_concurrency, message, !assigned);
    return submit_error(SubmitErrc::queue_full, std::move(message));
  }
  std::string frame_id;
  if (assigned) {
    frame_id = std::move(assigned->frame_id);
  } else {
    std::lock_guard lock(ids_mu_);
    frame_id = ids_.next();
  }
  auto state = std::make_shared<PromptTicket::State>(frame_id, tickets_);
  auto entry = std::make_unique<Entry>();
  if (assigned) {
    entry->sequence_floor = assigned->sequence_floor;
    entry->redelivered = assigned->redelivered;
  }
  entry->frame_id = std::move(frame_id);
  entry->payload_json = encode_prompt_payload(prompt);  // here, on the caller's thread
  // The snippets live on in payload_json: freed here, by the thread that
  // allocated them, not one by one on the synchronizer thread.
  prompt.snippets = {};
  entry->prompt = std::move(prompt);
  entry->done = [state](const SyncOutcome& o) { state->complete(o); };
  bool first = false;
  {
    std::lock_guard lock(mu_);
    // Checked under the lock close() takes: a prompt is either in the inbox
    // before it is emptied for the last time, or refused here.
    if (refusing_ || closed_) {
      pending_.fetch_sub(1);
      return submit_error(refusing_ ? refusal_ : SubmitErrc::not_running, refusal_message_);
    }
    first = inbox_.empty();
    inbox_.push_back(std::move(entry));
  }
  // One hand-off per batch, not per prompt: a wake-up of the synchronizer
  // thread costs more than the prompt.
  if (first) wake_();
  if (options_.observer) options_.observer->on_accepted(state->frame_id);
  return TicketFactory::issue(std::move(state));
}

std::size_t Intake::room() const {
  if (audit_ && audit_->pending() >= options_.max_audit_backlog) return 0;
  const std::uint64_t pending = pending_.load();
  return pending >= options_.max_pending ? 0 : static_cast<std::size_t>(options_.max_pending - pending);
}

void Intake::take(std::vector<std::unique_ptr<Entry>>& out) {
  std::lock_guard lock(mu_);
  out.swap(inbox_);  // both keep their capacity
}

void Intake::close(std::vector<std::unique_ptr<Entry>>& out) {
  std::lock_guard lock(mu_);
  closed_ = true;
  if (!refusing_) {
    refusing_ = true;
    refusal_ = SubmitErrc::not_running;
    refusal_message_ = "synchronizer is not running";
  }
  out.swap(inbox_);
}

}  // namespace assist::sync
