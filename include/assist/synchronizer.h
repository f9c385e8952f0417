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

#include "assist/audit.h"
#include "assist/clock.h"
#include "assist/crm.h"
#include "assist/log.h"
#include "assist/metrics.h"
#include "assist/outcome.h"
#include "assist/prompt.h"
#include "assist/status.h"
#include "assist/transport.h"
#include "assist/validation.h"

namespace assist {

namespace sync {
class SynchronizerCore;
}

// The health of one part of the synchronizer, for probes and status pages.
// A health report, not an error: `detail` describes the part when ok too.
struct ComponentStatus {
  bool ok = true;
  std::error_code error;  // why it is not ok (the latest failure)
  std::string detail;     // for people: its state, or what failed naming the URL or file; never a secret
};

// What the synchronizer knows of its parts. A snapshot; thread-safe to take.
struct SynchronizerStatus {
  bool running = false;
  ComponentStatus token;        // a valid access token is held
  ComponentStatus connections;  // at least one gateway connection is up
  ComponentStatus audit;        // the audit log is writable (ok when there is none)
  std::size_t connections_up = 0;
  // Set when the synchronizer has given up for good: options that cannot
  // work (start()'s error), credentials or permissions refused, a peer that
  // is not a usable gateway. Every prompt pending then has ended with it, and
  // sync_prompt refuses with SubmitErrc::failed. Only a restart with other
  // settings cures it.
  Status fatal;
};

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
  // A frame is written only while its age is at most freshness_seconds minus
  // this: the allowance for the time from the check to the agent's desktop
  // (the burst's gathering and the network), so what arrives is not stale.
  double freshness_margin_seconds = 0.005;
  // A timestamp further ahead of the clock than this is refused at acceptance
  // (protocol §3): a prompt from the future would pass every age check.
  double max_future_skew_seconds = 1.0;
  // Prompts accepted and not yet finished (queued or in flight), over all
  // sessions. Beyond it sync_prompt fails fast with SubmitErrc::queue_full
  // (room() says when to submit again). Enough to fill the windows of a few
  // connections at 100 k prompts/s; a deeper queue only adds waiting (a prompt
  // behind 20,000 others waits 0.2-4 s, against a freshness of 2 s) and a
  // working set beyond the caches (docs/performance.md: 1.2x the throughput
  // of `run` at 5,000 than at 20,000).
  std::size_t max_pending = 5'000;
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

  // Called once, on the synchronizer's thread, when it gives up for good
  // (SynchronizerStatus::fatal): a service ends or alerts here. Must not block
  // (it may call stop(), which then returns at once and finishes in the background).
  std::function<void(const SynchronizerStatus&)> on_fatal;

  // Not owned; must outlive the synchronizer. nullptr: none.
  OutcomeObserver* observer = nullptr;

  // Where this synchronizer's log lines go (its token fetches, connections,
  // CRM webhook, callback failures): by default spdlog's default logger; a
  // sink of the caller's, or LogLevel::off for none. See assist/log.h.
  LogOptions log;

  Clock* clock = nullptr;    // nullptr: system_clock(); every timer and deadline runs on it
  Random* random = nullptr;  // nullptr: seeded from the OS; used on the synchronizer thread only
};

enum class SubmitErrc {
  invalid_prompt = 1,  // see SubmitResult::violations
  queue_full,          // max_pending prompts are already waiting, or the audit log is behind
  not_running,         // before start() or after stop()
  audit_unavailable,   // the audit log cannot be written: sending is stopped (fail-closed)
  failed,              // the synchronizer gave up for good (SynchronizerStatus::fatal says why)
  ingest_unavailable,  // scale-out: the prompt stream did not store it (NATS unreachable or slow); retry
};
const std::error_category& submit_category();
std::error_code make_error_code(SubmitErrc e);

// Why start() refused the options: the code names the option (its message:
// "invalid option: token_url"); SynchronizerStatus::fatal.message says what
// is wrong with it.
enum class OptionErrc {
  token_url = 1,   // token.token_url: not an absolute http(s) URL with a host
  realtime_url,    // realtime.realtime_url: not an absolute ws(s) URL with a host
  client_id,       // token.client_id: empty
  client_secret,   // token.client_secret: empty
  tls,             // a TLS setting (ca_file, pin) that cannot be used
  limits,          // a number out of its range (freshness, bounds, timeouts)
};
const std::error_category& option_category();
std::error_code make_error_code(OptionErrc e);

// A handle on an accepted prompt's final outcome. Cheap to copy.
class PromptTicket {
 public:
  PromptTicket() = default;
  const std::string& frame_id() const;
  bool valid() const { return state_ != nullptr; }
  bool done() const;
  // Blocks until the outcome is known. Do not call on the synchronizer's
  // thread. On an invalid ticket (a refused prompt's) returns at once a
  // `failed` outcome saying so.
  SyncOutcome wait() const;
  std::shared_future<SyncOutcome> future() const;
  // Calls `fn` once with the outcome: at once if known, else on the
  // synchronizer's thread (keep it short; never block). An exception from
  // `fn` is caught, logged and counted (callback_errors), never propagated.
  // Thread-safe. The Asio form, with cancellation: assist::async_wait
  // (assist/asio.h).
  void then(std::function<void(const SyncOutcome&)> fn) const;

  struct State;  // the library's (src/sync/prompt_ticket.h)

 private:
  friend struct TicketFactory;  // the library issues tickets; a user only copies them
  explicit PromptTicket(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

// Why sync_prompt refused a prompt: the code (SubmitErrc), a message naming
// what was wrong, and every violation (for SubmitErrc::invalid_prompt).
struct SubmitError : Status {
  std::vector<Violation> violations;
};

// What scale-out ingest fixed before this synchronizer saw a prompt: it was
// validated and given its frame_id by the instance that took it, and stored
// in JetStream (docs/scale-out.md).
struct IngestAssignment {
  // The UUID given at ingest, kept: the gateway suppresses a second display of it.
  std::string frame_id;
  // The frame's sequence is at least this, and above every earlier frame of
  // its session written by this synchronizer: with floors that grow in
  // stream order, a session's sequence grows across instances too.
  std::uint64_t sequence_floor = 0;
  // An earlier owner may have written it: ending here without a write
  // (stale, superseded, failed) it is recorded as unconfirmed, since it may
  // have been shown.
  bool redelivered = false;
};

// The answer to sync_prompt: accepted (a ticket with the final frame_id) or
// refused (the SubmitError).
using SubmitResult = Result<PromptTicket, SubmitError>;

class Synchronizer {
 public:
  explicit Synchronizer(SynchronizerOptions options);
  // stop()s. Must not run on the synchronizer's own thread (a callback).
  ~Synchronizer();
  Synchronizer(const Synchronizer&) = delete;
  Synchronizer& operator=(const Synchronizer&) = delete;

  // Checks the options (URLs, TLS files, limits: an error names the option,
  // status().fatal.message says what is wrong), opens the audit log and
  // starts the synchronizer thread, which fetches a token and opens the
  // first connection. Connection trouble later shows in status(), metrics
  // and outcomes. REQUIRES: not called concurrently with itself. A second
  // call while running does nothing and returns no error; one after stop()
  // returns SubmitErrc::not_running (a synchronizer does not restart: make a
  // new one); one after a refused start checks again.
  Status start();

  // Thread-safe; never blocks on the network. Prepares (snippet policy,
  // relevance) and validates `prompt`; a prompt without a timestamp is
  // stamped "now". Accepted: a ticket whose frame_id is final. The Asio form:
  // assist::async_sync_prompt (assist/asio.h).
  SubmitResult sync_prompt(AssistPrompt prompt);
  // The same for a prompt taken from scale-out ingest: its frame_id and
  // sequence floor come from `assigned` (a frame_id that is not a UUID ends
  // at once as failed). REQUIRES: no two prompts with one frame_id pending at
  // once.
  SubmitResult sync_prompt(AssistPrompt prompt, IngestAssignment assigned);

  // How many more prompts sync_prompt would take now before refusing with
  // SubmitErrc::queue_full: max_pending less the prompts pending, 0 while the
  // audit log is max_audit_backlog events behind. A hint for a caller that
  // would rather wait for room than be refused (other threads may take it
  // first). Thread-safe, never blocks.
  std::size_t room() const;

  // Waits until the audit lines of every outcome reported so far (a ticket
  // completed, an observer told) are written, and fsynced unless the
  // durability is `never`: what acknowledging upstream must wait for. Ok at
  // once without an audit log; the log's error once it has failed.
  // Thread-safe; blocks: not on the synchronizer's thread.
  Status flush_audit();

  // Stops accepting, lets queued and in-flight prompts finish within
  // stop_drain, ends the rest (queued: failed; written: unconfirmed), closes
  // connections with 1000 (abandoning a token fetch or connection attempt
  // under way), stops CRM delivery and flushes and closes the audit log, all
  // within stop_drain plus a little. Every prompt accepted before it returns
  // has its outcome; a later sync_prompt is refused with not_running.
  // Thread-safe and idempotent: a concurrent second call waits for the first.
  // Called from a callback (the synchronizer's or a CRM worker's thread), it
  // starts the stop and returns at once; the destructor waits for the end.
  void stop();

  // True while running, with a valid token and at least one connection up,
  // the audit log writable and no fatal error. Thread-safe.
  bool ready() const;

  // The health of token, connections and audit, and the fatal error if any.
  // Thread-safe.
  SynchronizerStatus status() const;

  // Counts by outcome, latency histogram, queue depths, connections...
  // Thread-safe; see docs/metrics.md.
  MetricsSnapshot metrics() const;

 private:
  std::unique_ptr<sync::SynchronizerCore> core_;
};

}  // namespace assist

template <>
struct std::is_error_code_enum<assist::SubmitErrc> : std::true_type {};
template <>
struct std::is_error_code_enum<assist::OptionErrc> : std::true_type {};

#endif  // ASSIST_SYNCHRONIZER_H
