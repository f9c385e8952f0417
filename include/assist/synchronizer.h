// The synchronizer: the public entry point of assist-sync. It validates
// prompts, queues them per session, and delivers them over a pool of gateway
// connections with the guarantees of shared/protocol.md §3: shown at most
// once, never stale, every accepted prompt ending in exactly one audited
// outcome. See docs/architecture.md for how a prompt flows through it.
#ifndef ASSIST_SYNCHRONIZER_H
#define ASSIST_SYNCHRONIZER_H

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "assist/audit.h"
#include "assist/clock.h"
#include "assist/crm.h"
#include "assist/metrics.h"
#include "assist/outcome.h"
#include "assist/prompt.h"
#include "assist/transport.h"
#include "assist/validation.h"

namespace assist {

// Told of every accepted prompt and of its outcome, to answer "what became
// of frame X" later (the service's GET /v1/prompts/{frame_id}). Both calls
// must be short and must not block or throw: on_outcome runs on the
// synchronizer thread, on the delivery path.
class OutcomeObserver {
 public:
  virtual ~OutcomeObserver() = default;
  // `frame_id` was accepted. Runs on the thread of sync_prompt, after the
  // prompt was handed over: its on_outcome may already have run.
  virtual void on_accepted(std::string_view frame_id) noexcept = 0;
  // The prompt's final outcome (frame_id set). Runs on the synchronizer thread.
  virtual void on_outcome(const SyncOutcome& outcome) noexcept = 0;
};

struct SynchronizerOptions {
  transport::TokenOptions token;
  transport::RealtimeOptions realtime;

  SnippetPolicy snippet_policy = SnippetPolicy::reject;
  // true: relevance_score is set by the source formula (relevance_score());
  // false: the caller's score is kept (and validated).
  bool compute_relevance = true;
  double freshness_seconds = limits::default_freshness_seconds;
  // Prompts accepted and not yet finished (queued or in flight), over all
  // sessions. Beyond it sync_prompt fails fast with SubmitErrc::queue_full.
  std::size_t max_pending = 20'000;
  // One session's unsent prompts. Checked on the synchronizer thread, which
  // owns the queues: the prompt beyond it is accepted and ends at once as
  // rejected_concurrency (ticket and SYNC_REJECTED_CONCURRENCY), so one busy
  // session cannot take the whole of max_pending.
  std::size_t max_queued_per_session = 64;
  // Audit events queued and not yet written. Beyond it the disk is behind and
  // sync_prompt fails fast with SubmitErrc::queue_full (not audited: that
  // would grow the backlog); prompts already accepted still audit every
  // event, so the queue stays within this plus a few events per pending prompt.
  std::size_t max_audit_backlog = 200'000;
  // stop() waits this long for queued and in-flight prompts to finish.
  std::chrono::milliseconds stop_drain{5'000};

  // Audit log; an empty path disables it (library use without an audit trail).
  AuditOptions audit;

  // CRM updates (on ACK: adopted false; on PROMPT_FEEDBACK ADOPTED: adopted
  // true). The callback runs on a bounded worker pool, never on the delivery
  // path; failures and drops are counted and audited.
  CrmCallback crm_callback;
  std::size_t crm_workers = 2;
  std::size_t crm_queue = 4096;
  // The HTTP alternative: POST each update as JSON. An empty url: off.
  CrmWebhookOptions crm_webhook;

  // Not owned; must outlive the synchronizer. nullptr: none.
  OutcomeObserver* observer = nullptr;

  Clock* clock = nullptr;    // nullptr: system_clock()
  Random* random = nullptr;  // nullptr: seeded from the OS; used on the synchronizer thread only
};

enum class SubmitErrc {
  invalid_prompt = 1,  // see SubmitResult::violations
  queue_full,          // max_pending prompts are already waiting, or the audit log is behind
  not_running,         // before start() or after stop()
  audit_unavailable,   // the audit log cannot be written: sending is stopped (fail-closed)
};
const std::error_category& submit_category();
std::error_code make_error_code(SubmitErrc e);

// A handle on an accepted prompt's final outcome. Cheap to copy.
class PromptTicket {
 public:
  PromptTicket() = default;
  const std::string& frame_id() const;
  bool valid() const { return state_ != nullptr; }
  bool done() const;
  // Blocks until the outcome is known. Do not call on the synchronizer's thread.
  SyncOutcome wait() const;
  std::shared_future<SyncOutcome> future() const;
  // Calls `fn` once with the outcome: at once if known, else on the
  // synchronizer's thread (keep it short).
  void then(std::function<void(const SyncOutcome&)> fn) const;
  // Awaits the outcome from a coroutine on any executor, without blocking it.
  boost::asio::awaitable<SyncOutcome> async_wait() const;

  struct State;
  explicit PromptTicket(std::shared_ptr<State> state) : state_(std::move(state)) {}

 private:
  std::shared_ptr<State> state_;
};

// The answer to sync_prompt: accepted (a ticket with the frame_id) or refused
// (an error, a message naming what was wrong, and every violation).
struct SubmitResult {
  std::error_code error;
  std::string message;
  std::vector<Violation> violations;
  PromptTicket ticket;

  bool accepted() const { return !error; }
  explicit operator bool() const { return accepted(); }
};

class Synchronizer {
 public:
  explicit Synchronizer(SynchronizerOptions options);
  // stop()s.
  ~Synchronizer();
  Synchronizer(const Synchronizer&) = delete;
  Synchronizer& operator=(const Synchronizer&) = delete;

  // Opens the audit log and starts the synchronizer thread, which fetches a
  // token and opens the first connection. Returns the audit log's error if it
  // cannot be opened; connection trouble shows in metrics and outcomes.
  std::error_code start();

  // Thread-safe. Prepares (snippet policy, relevance) and validates `prompt`;
  // a timestamp of 0 means "now". Accepted: a ticket whose frame_id is final.
  SubmitResult sync_prompt(AssistPrompt prompt);

  // The awaitable form: the same answer, without blocking the caller's executor.
  boost::asio::awaitable<SubmitResult> async_sync_prompt(AssistPrompt prompt);

  // Stops accepting, lets queued and in-flight prompts finish within
  // stop_drain, fails the rest, closes connections with 1000 (abandoning a
  // token fetch or connection attempt under way), flushes and closes the
  // audit log. Every prompt accepted before it returns has its outcome; a
  // later sync_prompt is refused with not_running. Idempotent; blocks until
  // done.
  void stop();

  // True while the token is valid and at least one connection is up.
  bool ready() const;

  // Counts by outcome, latency histogram, queue depths, connections...
  // Thread-safe; see docs/metrics.md.
  MetricsSnapshot metrics() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace assist

template <>
struct std::is_error_code_enum<assist::SubmitErrc> : std::true_type {};

#endif  // ASSIST_SYNCHRONIZER_H
