#include "assist/synchronizer.h"

#include <atomic>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "assist/frame_id.h"
#include "core/detail/thread.h"
#include "sync/prompt_ticket.h"
#include "sync/scheduler.h"
#include "transport/pool.h"
#include "transport/token_provider.h"

namespace assist {
namespace asio = boost::asio;

namespace {

class SubmitCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "assist.submit"; }
  std::string message(int ev) const override {
    switch (static_cast<SubmitErrc>(ev)) {
      case SubmitErrc::invalid_prompt: return "invalid prompt";
      case SubmitErrc::queue_full: return "too many prompts pending";
      case SubmitErrc::not_running: return "synchronizer is not running";
      case SubmitErrc::audit_unavailable: return "audit log unavailable; sending stopped";
    }
    return "unknown submit error";
  }
};

constexpr const char* kStoppedBeforeDelivery = "synchronizer stopped before delivery";

AuditEventType terminal_event(OutcomeKind kind) {
  switch (kind) {
    case OutcomeKind::acked: return AuditEventType::sync_acked;
    case OutcomeKind::nacked: return AuditEventType::sync_nacked;
    case OutcomeKind::rejected_validation: return AuditEventType::sync_rejected_validation;
    case OutcomeKind::rejected_freshness: return AuditEventType::sync_rejected_freshness;
    case OutcomeKind::rejected_concurrency: return AuditEventType::sync_rejected_concurrency;
    case OutcomeKind::superseded: return AuditEventType::sync_superseded;
    case OutcomeKind::failed: return AuditEventType::sync_failed;
  }
  return AuditEventType::sync_failed;
}

AuditEvent prompt_event(AuditEventType type, const AssistPrompt& p, const std::string& frame_id,
                        std::uint64_t sequence) {
  AuditEvent e;
  e.type = type;
  e.session_id = p.session_id;
  e.agent_id = p.agent_id;
  e.interaction_id = p.interaction_id;
  e.frame_id = frame_id;
  if (sequence != 0) e.sequence = sequence;
  e.priority_override = p.priority_override;
  e.relevance_score = p.relevance_score;
  return e;
}

std::string_view link_state_name(transport::LinkState s) {
  switch (s) {
    case transport::LinkState::connecting: return "connecting";
    case transport::LinkState::up: return "up";
    case transport::LinkState::rotating: return "rotating";
    case transport::LinkState::down: return "down";
    case transport::LinkState::failed: return "failed";
    case transport::LinkState::closed: return "closed";
  }
  return "unknown";
}

}  // namespace

const std::error_category& submit_category() {
  static const SubmitCategory category;
  return category;
}
std::error_code make_error_code(SubmitErrc e) { return {static_cast<int>(e), submit_category()}; }

// Everything below runs on the synchronizer thread unless marked thread-safe.
struct Synchronizer::Impl final : sync::SchedulerSink, sync::Placement {
  explicit Impl(SynchronizerOptions o)
      : options(std::move(o)),
        clock(options.clock ? *options.clock : system_clock()),
        owned_random(entropy_seed()),
        random(options.random ? *options.random : owned_random),
        tokens(io.get_executor(), options.token, clock, random),
        scheduler(sync::SchedulerOptions{options.freshness_seconds, options.max_queued_per_session},
                  *this, clock, *this),
        pool(io.get_executor(), tokens, options.realtime, scheduler, clock, random) {
    if (!options.audit.path.empty()) {
      if (!options.audit.clock) options.audit.clock = &clock;
      // Stop sending as soon as the writer fails, not at the next append.
      options.audit.on_failure = [this, caller = std::move(options.audit.on_failure)](const std::string& message) {
        fail_closed();
        if (caller) caller(message);
      };
      audit = std::make_unique<AuditLog>(options.audit);
    }
    auto report = [this](const CrmReport& r) { on_crm_report(r); };
    if (options.crm_callback)
      crm_pool = std::make_unique<CrmCallbackPool>(options.crm_callback, options.crm_workers, options.crm_queue,
                                                   report, &clock);
    if (!options.crm_webhook.url.empty()) {
      options.crm_webhook.on_report = report;
      crm_webhook = std::make_unique<CrmWebhook>(options.crm_webhook);
    }
    tokens.on_fetched([this](const transport::Token& t) { on_token(t); });
  }

  // ----- thread-safe ---------------------------------------------------------

  void record(AuditEvent event) {
    if (!audit) return;
    if (auto ec = audit->append(std::move(event)); ec) fail_closed();
  }

  // The audit log failed: stop sending (fail-closed) and say why, once. From
  // the writer thread (AuditOptions::on_failure) the pause reaches the
  // synchronizer thread with its next turn; on the synchronizer thread (an
  // event of the delivery path failed to append) it is immediate, so no frame
  // after the one in hand is written.
  void fail_closed() {
    if (audit_failed.exchange(true)) return;
    spdlog::error("audit log failed ({}): sending stopped", audit->status_message());
    if (io.get_executor().running_in_this_thread()) scheduler.set_paused(true);
    else asio::post(io, [this] { scheduler.set_paused(true); });
  }

  // A refusal before acceptance; audited when `event` is given.
  SubmitResult refuse(SubmitErrc code, std::string message, const AssistPrompt& prompt,
                      std::optional<AuditEventType> event, std::vector<Violation> violations = {}) {
    if (event) {
      auto e = prompt_event(*event, prompt, {}, 0);
      e.code = std::string(to_string(code == SubmitErrc::invalid_prompt ? OutcomeKind::rejected_validation
                                                                       : OutcomeKind::rejected_concurrency));
      e.reason = message;
      record(std::move(e));
    }
    SubmitResult r;
    r.error = make_error_code(code);
    r.message = std::move(message);
    r.violations = std::move(violations);
    return r;
  }

  SubmitResult submit(AssistPrompt prompt) {
    if (!running.load()) return refuse(SubmitErrc::not_running, "synchronizer is not running", prompt, std::nullopt);
    if (audit_failed.load())
      return refuse(SubmitErrc::audit_unavailable,
                    "audit log cannot be written, sending is stopped: " + audit->status_message(), prompt,
                    std::nullopt);
    if (prompt.timestamp == 0.0) prompt.timestamp = clock.unix_now();
    std::vector<Violation> violations;
    if (options.compute_relevance) {
      violations = prepare(prompt, options.snippet_policy);
    } else {
      if (options.snippet_policy == SnippetPolicy::trim) trim_snippets(prompt.snippets);
      violations = validate(prompt);
    }
    if (!violations.empty()) {
      auto message = "invalid prompt: " + describe(violations);
      return refuse(SubmitErrc::invalid_prompt, std::move(message), prompt,
                    AuditEventType::sync_rejected_validation, std::move(violations));
    }
    if (const auto behind = audit ? audit->pending() : 0; audit && behind >= options.max_audit_backlog)
      return refuse(SubmitErrc::queue_full,
                    fmt::format("the audit log is {} events behind (max_audit_backlog)", behind), prompt,
                    std::nullopt);
    if (pending.fetch_add(1) >= options.max_pending) {
      pending.fetch_sub(1);
      return refuse(SubmitErrc::queue_full,
                    fmt::format("{} prompts already pending (max_pending)", options.max_pending), prompt,
                    AuditEventType::sync_rejected_concurrency);
    }
    std::string frame_id;
    {
      std::lock_guard lock(ids_mu);
      frame_id = ids.next();
    }
    auto state = std::make_shared<PromptTicket::State>(frame_id);
    auto entry = std::make_unique<sync::Entry>();
    entry->frame_id = frame_id;
    entry->payload_json = encode_prompt_payload(prompt);  // here, on the caller's thread
    // The snippets live on in payload_json: freed here, by the thread that
    // allocated them, not one by one on the synchronizer thread.
    prompt.snippets = {};
    entry->prompt = std::move(prompt);
    entry->done = [state](const SyncOutcome& o) { state->complete(o); };
    bool first = false;
    {
      std::lock_guard lock(inbox_mu);
      // Checked under the lock stop() closes the inbox with: a prompt is
      // either in the inbox before stop() empties it for the last time, or
      // refused here; none is accepted and then left without an outcome.
      if (inbox_closed) {
        pending.fetch_sub(1);
        return refuse(SubmitErrc::not_running, "synchronizer is not running", entry->prompt, std::nullopt);
      }
      first = inbox.empty();
      inbox.push_back(std::move(entry));
    }
    // One hand-off per batch, not per prompt: a post is a queue operation and
    // often a wake-up of the synchronizer thread.
    if (first) asio::post(io, [this] { take_inbox(); });
    if (options.observer) options.observer->on_accepted(state->frame_id);
    SubmitResult r;
    r.ticket = PromptTicket(std::move(state));
    return r;
  }

  // Hands every prompt accepted since the last call to the scheduler, in
  // acceptance order.
  void take_inbox() {
    {
      std::lock_guard lock(inbox_mu);
      taken.swap(inbox);  // both keep their capacity
    }
    if (taken.empty()) return;
    for (auto& entry : taken) scheduler.accept(std::move(entry));
    taken.clear();
    update_gauges();
  }

  // ----- sync::Placement -----------------------------------------------------

  std::optional<transport::LinkId> place_session(const std::string& sid) override {
    auto link = pool.place_session(sid);
    metrics.sessions.set(static_cast<std::int64_t>(pool.sessions()));
    return link;
  }
  void release_session(const std::string& sid) override {
    pool.release_session(sid);
    metrics.sessions.set(static_cast<std::int64_t>(pool.sessions()));
  }
  void wake(transport::LinkId link) override { pool.wake(link); }

  // ----- sync::SchedulerSink -------------------------------------------------

  void on_outcome(const sync::Entry& entry, const SyncOutcome& o) override {
    pending.fetch_sub(1);
    if (options.observer) options.observer->on_outcome(o);
    if (o.kind == OutcomeKind::acked)
      metrics.record_ack(std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::duration<double>(o.latency_seconds)),
                         o.duplicate);
    else if (o.kind == OutcomeKind::nacked) metrics.record_nack(o.nack_code);
    else metrics.record_outcome(o.kind);
    update_gauges();
    auto e = prompt_event(terminal_event(o.kind), entry.prompt, entry.frame_id, o.sequence);
    e.success = o.kind == OutcomeKind::acked;
    if (o.kind == OutcomeKind::acked || o.kind == OutcomeKind::nacked) e.latency_seconds = o.latency_seconds;
    if (o.kind == OutcomeKind::nacked) e.code = std::string(to_string(o.nack_code));
    else if (o.kind != OutcomeKind::acked) e.code = std::string(to_string(o.kind));
    e.reason = o.duplicate ? "duplicate: already shown" : o.reason;
    record(std::move(e));
    if (o.kind == OutcomeKind::acked) notify_crm(entry.prompt.interaction_id, entry.frame_id,
                                                 entry.prompt.priority_level, false);
  }

  void on_written(const sync::Entry& entry, bool replay) override {
    metrics.broadcasts.inc();
    update_gauges();
    auto e = prompt_event(AuditEventType::sync_broadcast, entry.prompt, entry.frame_id, entry.sequence);
    e.success = true;
    if (replay) e.reason = "replayed after reconnect";
    record(std::move(e));
  }

  void on_evicted(const std::string& session_id, const std::string& agent_id) override {
    AuditEvent e;
    e.type = AuditEventType::session_evicted;
    e.session_id = session_id;
    e.agent_id = agent_id;
    e.success = true;
    e.reason = "least recently used idle session evicted to free a slot";
    record(std::move(e));
  }

  void on_feedback(const sync::Delivered* d, const PromptFeedback& f) override {
    const bool adopted = f.action == FeedbackAction::adopted;
    metrics.record_feedback(f.action);
    AuditEvent e;
    e.type = adopted ? AuditEventType::prompt_adopted : AuditEventType::prompt_dismissed;
    e.session_id = f.session_id;
    e.frame_id = f.frame_id;
    e.success = true;
    if (d != nullptr) {
      e.agent_id = d->agent_id;
      e.interaction_id = d->interaction_id;
      e.sequence = d->sequence;
      e.priority_override = d->priority_override;
      e.relevance_score = d->relevance_score;
      if (adopted) notify_crm(d->interaction_id, f.frame_id, d->priority_level, true);
    } else {
      e.reason = "feedback for a prompt no longer remembered";
    }
    record(std::move(e));
  }

  void on_link_state(transport::LinkId link, transport::LinkState state, std::error_code error) override {
    const bool up = state == transport::LinkState::up;
    const bool was_up = links_up_set.count(link) > 0;
    if (up && !was_up) {
      links_up_set.insert(link);
      if (!ever_up.insert(link).second) metrics.reconnects.inc();
    } else if (!up && state != transport::LinkState::rotating && was_up) {
      links_up_set.erase(link);
    }
    links_up.store(links_up_set.size());
    metrics.connections.set(static_cast<std::int64_t>(links_up_set.size()));
    // A rotation opens the link's next connection while the current one
    // still serves: the link stays up, so neither a close nor an open is
    // audited (TOKEN_REFRESHED records why it happened).
    if (state == transport::LinkState::rotating) return;
    if (up == was_up && state != transport::LinkState::failed) return;
    AuditEvent e;
    e.type = up ? AuditEventType::connection_opened : AuditEventType::connection_closed;
    e.success = up;
    e.detail = fmt::format("link {} {}", link, link_state_name(state));
    if (error) e.reason = error.message();
    record(std::move(e));
  }

  void update_gauges() {
    metrics.queue_depth.set(static_cast<std::int64_t>(scheduler.queued()));
    metrics.in_flight.set(static_cast<std::int64_t>(scheduler.inflight()));
  }

  void notify_crm(const std::string& interaction_id, const std::string& frame_id, int priority, bool adopted) {
    const CrmUpdate update{interaction_id, frame_id, priority, adopted};
    if (crm_pool) crm_pool->submit(update);
    if (crm_webhook) crm_webhook->submit(update);
  }

  // From CRM worker threads: count, and audit what did not arrive.
  void on_crm_report(const CrmReport& r) {
    switch (r.result) {
      case CrmResult::delivered: metrics.crm_delivered.inc(); return;
      case CrmResult::dropped: metrics.crm_dropped.inc(); break;
      case CrmResult::failed: metrics.crm_failed.inc(); break;
    }
    AuditEvent e;
    e.type = AuditEventType::crm_callback_failed;
    e.interaction_id = r.update.interaction_id;
    e.frame_id = r.update.frame_id;
    e.code = std::string(to_string(r.result));
    e.reason = r.error;
    e.detail = fmt::format("adopted={} attempts={}", r.update.adopted, r.attempts);
    record(std::move(e));
  }

  // A new access token (on the synchronizer thread). Never audit the token itself.
  void on_token(const transport::Token& t) {
    metrics.token_refreshes.inc();
    AuditEvent e;
    e.type = AuditEventType::token_refreshed;
    e.success = true;
    e.detail = fmt::format("lifetime {} s, scope '{}'",
                           std::chrono::duration_cast<std::chrono::seconds>(t.lifetime).count(), t.scope);
    record(std::move(e));
  }

  // ----- lifecycle -----------------------------------------------------------

  std::error_code start() {
    if (audit) {
      if (auto ec = audit->open(); ec) {
        spdlog::error("cannot open the audit log: {}", audit->status_message());
        return ec;
      }
    }
    if (crm_webhook) {
      std::string why;
      if (auto ec = crm_webhook->start(why); ec) {
        spdlog::error("cannot start the CRM webhook: {}", why);
        return ec;
      }
    }
    running.store(true);
    thread = detail::named_thread("assist-sync", [this] { io.run(); });
    asio::post(io, [this] { pool.start(); });
    return {};
  }

  void stop() {
    if (!running.exchange(false)) return;
    std::promise<void> stopped;
    asio::co_spawn(io, drain_and_close(), [&stopped](std::exception_ptr) { stopped.set_value(); });
    stopped.get_future().wait();
    work.reset();
    io.stop();
    if (thread.joinable()) thread.join();
    fail_late_arrivals();
    const auto crm_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    if (crm_pool) crm_pool->stop(clock.steady_now() + std::chrono::seconds(1));
    if (crm_webhook) crm_webhook->stop(crm_deadline);
    if (audit) audit->close();
  }

  // Prompts accepted by a sync_prompt that raced with stop() and reached the
  // inbox after the drain: ended here (the synchronizer thread is gone), so
  // none is left without an outcome. The inbox closes here: later ones are
  // refused.
  void fail_late_arrivals() {
    {
      std::lock_guard lock(inbox_mu);
      inbox_closed = true;
      taken.swap(inbox);
    }
    for (auto& entry : taken) scheduler.end_unaccepted(std::move(entry), OutcomeKind::failed, kStoppedBeforeDelivery);
    taken.clear();
  }

  asio::awaitable<void> drain_and_close() {
    const auto deadline = std::chrono::steady_clock::now() + options.stop_drain;
    take_inbox();  // counted in queued() from here on
    asio::steady_timer timer(io);
    while (scheduler.queued() + scheduler.inflight() > 0 && std::chrono::steady_clock::now() < deadline) {
      timer.expires_after(std::chrono::milliseconds(5));
      co_await timer.async_wait(asio::use_awaitable);
    }
    take_inbox();  // accepted just before stop(): ended below with the rest
    scheduler.fail_all(OutcomeKind::failed, kStoppedBeforeDelivery);
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    tokens.stop();  // a link still waiting for a token gives up now, not after the endpoint's retries
    co_await pool.stop(std::max(left, std::chrono::milliseconds(0)));
  }

  SynchronizerOptions options;
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  Clock& clock;
  SeededRandom owned_random;
  Random& random;
  transport::TokenProvider tokens;
  sync::Scheduler scheduler;
  transport::Pool pool;
  std::unique_ptr<AuditLog> audit;
  std::mutex ids_mu;
  FrameIdGenerator ids;
  std::mutex inbox_mu;
  std::vector<std::unique_ptr<sync::Entry>> inbox;  // accepted, not yet taken (guarded by inbox_mu)
  bool inbox_closed = false;                        // by stop(), for good (guarded by inbox_mu)
  std::vector<std::unique_ptr<sync::Entry>> taken;  // synchronizer thread only
  std::thread thread;
  std::atomic<bool> running{false};
  std::atomic<bool> audit_failed{false};
  std::atomic<std::uint64_t> pending{0};
  std::atomic<std::size_t> links_up{0};
  std::set<transport::LinkId> links_up_set;
  std::set<transport::LinkId> ever_up;  // a link seen up before: its next up is a reconnect
  Metrics metrics;
  std::unique_ptr<CrmCallbackPool> crm_pool;
  std::unique_ptr<CrmWebhook> crm_webhook;
};

Synchronizer::Synchronizer(SynchronizerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Synchronizer::~Synchronizer() { stop(); }
std::error_code Synchronizer::start() { return impl_->start(); }
SubmitResult Synchronizer::sync_prompt(AssistPrompt prompt) { return impl_->submit(std::move(prompt)); }
asio::awaitable<SubmitResult> Synchronizer::async_sync_prompt(AssistPrompt prompt) {
  co_return impl_->submit(std::move(prompt));  // never blocks: validation and a post
}
void Synchronizer::stop() { impl_->stop(); }
bool Synchronizer::ready() const { return impl_->running.load() && !impl_->audit_failed.load() && impl_->links_up.load() > 0; }
MetricsSnapshot Synchronizer::metrics() const {
  auto snapshot = impl_->metrics.snapshot();
  if (impl_->audit) snapshot.audit_queue_depth = static_cast<std::int64_t>(impl_->audit->pending());
  std::size_t crm_queued = 0;
  if (impl_->crm_pool) crm_queued += impl_->crm_pool->stats().queued;
  if (impl_->crm_webhook) crm_queued += impl_->crm_webhook->stats().queued;
  snapshot.crm_queue_depth = static_cast<std::int64_t>(crm_queued);
  return snapshot;
}

}  // namespace assist
