#include "sync/synchronizer_core.h"

#include <cmath>

#include <boost/asio/post.hpp>
#include <fmt/format.h>

#include "core/detail/log_record.h"
#include "core/detail/thread.h"
#include "util/spawn.h"

namespace assist::sync {

namespace asio = boost::asio;

namespace {

constexpr const char* kStoppedBeforeDelivery = "synchronizer stopped before delivery";
constexpr const char* kStoppedUnanswered = "written, no answer before the synchronizer stopped";
// CRM sinks get at least this long at stop(), even when the drain used up stop_drain.
constexpr auto kCrmStopGrace = std::chrono::milliseconds(200);
// Prompts handed from the inbox to the scheduler per turn of the synchronizer thread.
constexpr std::size_t kIntakeSlice = 256;

std::unique_ptr<AuditLog> make_audit(SynchronizerOptions& options, Clock& clock, std::function<void()> failed) {
  if (options.audit.path.empty()) return nullptr;
  if (!options.audit.clock) options.audit.clock = &clock;
  // Stop sending as soon as the writer fails, not at the next append; the
  // caller's own hook still runs.
  options.audit.on_failure = [failed = std::move(failed), caller = std::move(options.audit.on_failure)](
                                 const std::string& message) {
    failed();
    if (caller) caller(message);
  };
  return std::make_unique<AuditLog>(options.audit);
}

std::unique_ptr<CrmWebhook> make_webhook(SynchronizerOptions& options, Clock& clock, CrmReportHandler report) {
  if (options.crm_webhook.url.empty()) return nullptr;
  if (!options.crm_webhook.clock) options.crm_webhook.clock = &clock;
  options.crm_webhook.log = options.log;
  options.crm_webhook.on_report = [report = std::move(report), caller = std::move(options.crm_webhook.on_report)](
                                      const CrmReport& r) {
    report(r);
    if (caller) caller(r);
  };
  return std::make_unique<CrmWebhook>(options.crm_webhook);
}

bool positive(double x) { return std::isfinite(x) && x > 0.0; }

}  // namespace

SynchronizerCore::SynchronizerCore(SynchronizerOptions options, Seams seams)
    : options_(std::move(options)),
      seams_(std::move(seams)),
      clock_(options_.clock ? *options_.clock : system_clock()),
      owned_random_(entropy_seed()),
      random_(options_.random ? *options_.random : owned_random_),
      log_(std::make_shared<const util::Logger>(options_.log)),
      audit_(make_audit(options_, clock_, [this] { fail_closed(); })),
      crm_pool_(options_.crm_callback
                    ? std::make_unique<CrmCallbackPool>(options_.crm_callback, options_.crm_workers,
                                                        options_.crm_queue,
                                                        [this](const CrmReport& r) { router_.on_crm_report(r); },
                                                        &clock_)
                    : nullptr),
      crm_webhook_(make_webhook(options_, clock_, [this](const CrmReport& r) { router_.on_crm_report(r); })),
      router_(options_, audit_.get(), crm_pool_.get(), crm_webhook_.get(),
              EventRouter::Hooks{[this] { fail_closed(); },
                                 [this](std::error_code e, std::string detail) { give_up(e, std::move(detail)); },
                                 [this] { on_prompt_ended(); },
                                 [this] { return pool_.stats(); }}),
      intake_(options_, clock_, router_, audit_.get(), [this] { asio::post(io_, [this] { take_inbox(); }); },
              log_, seams_.frame_id_seed),
      tokens_(io_.get_executor(), options_.token, clock_, random_, seams_.token_transport, log_),
      scheduler_(SchedulerOptions{options_.freshness_seconds, options_.freshness_margin_seconds,
                                  options_.max_queued_per_session},
                 *this, clock_, router_),
      pool_(io_.get_executor(), tokens_, options_.realtime, scheduler_, clock_, random_, seams_.connect, log_),
      settled_(io_.get_executor(), clock_) {
  tokens_.on_result([this](const transport::TokenResult& r) { router_.on_token(r); });
}

SynchronizerCore::~SynchronizerCore() { stop(); }

// ----- start -----------------------------------------------------------------

Status SynchronizerCore::check_options() {
  const auto bad = [this](OptionErrc code, std::string detail) {
    std::lock_guard lock(mu_);
    fatal_ = {make_error_code(code), std::move(detail)};
    return fatal_;
  };
  const auto& t = options_.token;
  const auto& r = options_.realtime;
  if (t.client_id.empty()) return bad(OptionErrc::client_id, "token.client_id is empty");
  if (t.client_secret.empty()) return bad(OptionErrc::client_secret, "token.client_secret is empty");
  if (const auto& bad_token = tokens_.config_status(); !bad_token.ok())
    return bad(bad_token.code == transport::TransportErrc::tls ? OptionErrc::tls : OptionErrc::token_url,
               bad_token.message);
  if (const auto& bad_pool = pool_.config_status(); !bad_pool.ok())
    return bad(bad_pool.code == transport::TransportErrc::tls ? OptionErrc::tls : OptionErrc::realtime_url,
               bad_pool.message);
  if (!positive(options_.freshness_seconds) || !std::isfinite(options_.freshness_margin_seconds) ||
      options_.freshness_margin_seconds < 0.0 || options_.freshness_margin_seconds >= options_.freshness_seconds)
    return bad(OptionErrc::limits, "freshness_seconds must be positive, freshness_margin_seconds in [0, freshness)");
  if (!std::isfinite(options_.max_future_skew_seconds) || options_.max_future_skew_seconds < 0.0)
    return bad(OptionErrc::limits, "max_future_skew_seconds must be a number >= 0");
  if (options_.max_pending == 0 || options_.max_queued_per_session == 0)
    return bad(OptionErrc::limits, "max_pending and max_queued_per_session must be at least 1");
  if (options_.stop_drain.count() < 0) return bad(OptionErrc::limits, "stop_drain must not be negative");
  if (r.max_connections == 0) return bad(OptionErrc::limits, "realtime.max_connections must be at least 1");
  if (r.max_inflight == 0u) return bad(OptionErrc::limits, "realtime.max_inflight, when set, must be at least 1");
  if (r.ack_timeout.count() <= 0 || r.ping_interval.count() <= 0 || r.pong_timeout.count() <= 0 ||
      r.handshake_timeout.count() <= 0)
    return bad(OptionErrc::limits, "realtime timeouts (ack, ping, pong, handshake) must be positive");
  return {};
}

Status SynchronizerCore::flush_audit() {
  if (!audit_) return {};
  if (const auto ec = audit_->flush()) return Status{ec, audit_->status_message()};
  return {};
}

Status SynchronizerCore::start() {
  {
    std::lock_guard lock(mu_);
    if (phase_ == Phase::running) return {};
    if (phase_ != Phase::created)
      return {make_error_code(SubmitErrc::not_running), "stopped: a synchronizer does not restart"};
  }
  if (auto bad = check_options(); !bad.ok()) {
    log_->error(detail::LogRecord("invalid synchronizer options").with("detail", bad.message).error(bad.code));
    return bad;
  }
  if (audit_) {
    if (auto ec = audit_->open(); ec) {
      Status failed{ec, audit_->status_message()};
      log_->error(detail::LogRecord("cannot open the audit log").with("detail", failed.message).error(ec));
      return failed;
    }
  }
  if (crm_webhook_) {
    if (auto failed = crm_webhook_->start(); !failed.ok()) {
      log_->error(detail::LogRecord("cannot start the CRM webhook").with("detail", failed.message).error(failed.code));
      return failed;
    }
  }
  {
    std::lock_guard lock(mu_);
    phase_ = Phase::running;
  }
  intake_.open();
  if (seams_.own_thread) thread_ = detail::named_thread("assist-sync", [this] { run_io(); });
  asio::post(io_, [this] { pool_.start(); });
  return {};
}

// A handler that throws (a bug, or a user callback outside the isolated
// ones) must not end the synchronizer thread: logged, and the loop goes on.
void SynchronizerCore::run_io() {
  for (;;) {
    try {
      io_.run();
      return;
    } catch (...) {
      log_->error(detail::LogRecord("a handler on the synchronizer thread threw")
                        .with("exception", util::describe(std::current_exception())));
    }
  }
}

// ----- delivery --------------------------------------------------------------

// Hands accepted prompts to the scheduler, at most kIntakeSlice per turn:
// a flood of submissions then takes turns with the writers' and readers'
// completions on this thread instead of holding it for milliseconds.
void SynchronizerCore::take_inbox() {
  if (taken_next_ == taken_.size()) {
    taken_.clear();
    taken_next_ = 0;
    intake_.take(taken_);
    if (taken_.empty()) return;
  }
  // After give_up's work (not merely its cause) new prompts end at once: before
  // it, they queue, to end after the frames in flight (whose lines come first).
  std::string fatal;
  if (gave_up_) {
    std::lock_guard lock(mu_);
    fatal = fatal_.message;
  }
  const std::size_t end = std::min(taken_.size(), taken_next_ + kIntakeSlice);
  for (; taken_next_ < end; ++taken_next_) {
    auto& entry = taken_[taken_next_];
    if (!fatal.empty()) scheduler_.end_unaccepted(std::move(entry), OutcomeKind::failed, "the synchronizer gave up: " + fatal);
    else scheduler_.accept(std::move(entry));
  }
  router_.set_depths(scheduler_.queued(), scheduler_.inflight());
  if (taken_next_ < taken_.size()) asio::post(io_, [this] { take_inbox(); });
}

// Everything accepted so far, handed over now (stop, fatal error).
void SynchronizerCore::take_whole_inbox() {
  do {
    take_inbox();
  } while (taken_next_ < taken_.size());
}

void SynchronizerCore::on_prompt_ended() {
  intake_.finished();
  router_.set_depths(scheduler_.queued(), scheduler_.inflight());
  if (draining_ && scheduler_.queued() + scheduler_.inflight() == 0) settled_.cancel();
}

std::optional<transport::LinkId> SynchronizerCore::place_session(const std::string& sid) {
  auto link = pool_.place_session(sid);
  router_.metrics().sessions.set(static_cast<std::int64_t>(pool_.sessions()));
  return link;
}
void SynchronizerCore::release_session(const std::string& sid) {
  pool_.release_session(sid);
  router_.metrics().sessions.set(static_cast<std::int64_t>(pool_.sessions()));
}
std::size_t SynchronizerCore::sessions_on(transport::LinkId link) const { return pool_.sessions_on(link); }
void SynchronizerCore::wake(transport::LinkId link) { pool_.wake(link); }

// The audit log failed (or has no space left ahead): stop sending
// (fail-closed) and say why, once. From the writer thread the pause reaches
// the synchronizer thread with its next turn; on the synchronizer thread it
// is immediate, so no frame after the one in hand is written. Then give up:
// nothing can be sent until the disk is fixed, so what is pending ends now
// (recorded in the headroom the log keeps) instead of waiting for deadlines.
void SynchronizerCore::fail_closed() {
  if (audit_failed_.exchange(true)) return;
  const std::string why = audit_ ? audit_->status_message() : std::string("audit log failed");
  const std::error_code code = audit_ && audit_->status() ? audit_->status() : make_error_code(AuditErrc::closed);
  log_->error(detail::LogRecord("audit log failed: sending stopped").with("detail", why).error(code));
  intake_.refuse_all(SubmitErrc::audit_unavailable, "audit log cannot be written, sending is stopped: " + why);
  if (io_.get_executor().running_in_this_thread()) scheduler_.set_paused(true);
  else asio::post(io_, [this] { scheduler_.set_paused(true); });
  // Each prompt's outcome line repeats the cause: the short one keeps those
  // lines within the headroom (the path and OS error are in the log and status).
  give_up(code, "audit log: " + code.message());
}

// A link gave up for good (credentials, permissions, a peer that is no
// gateway): so would every other. The cause is recorded at once (status()
// and a stop() that races this see it); then, posted since the scheduler is
// in the middle of reporting the link's state: end what is pending with the
// cause, refuse new prompts, close the links, and tell the owner.
void SynchronizerCore::give_up(std::error_code error, std::string why) {
  {
    std::lock_guard lock(mu_);
    if (!fatal_.ok()) return;
    fatal_ = {error, why};
  }
  log_->error(detail::LogRecord("synchronizer giving up").with("detail", why).error(error));
  asio::post(io_, [this, why = std::move(why)] {
    gave_up_ = true;
    intake_.refuse_all(SubmitErrc::failed, "the synchronizer gave up: " + why);
    // Frames already written end first: when the audit disk is full, the
    // headroom holds their lines before those of prompts never sent.
    scheduler_.fail_all("the synchronizer gave up: " + why, "written, no answer before the synchronizer gave up: " + why);
    take_whole_inbox();
    tokens_.stop();
    util::spawn(io_.get_executor(), pool_.stop(std::chrono::milliseconds(0)), "pool stop after a fatal error", log_);
    report_fatal();
  });
}

// Tells the owner, once: from give_up's posted work, or from finish_stop()
// when a stop() that raced it ended the thread before that work ran.
void SynchronizerCore::report_fatal() {
  if (!options_.on_fatal || fatal_reported_.exchange(true)) return;
  try {
    options_.on_fatal(status());
  } catch (...) {
    log_->error(detail::LogRecord("the on_fatal callback threw")
                      .with("exception", util::describe(std::current_exception())));
  }
}

// ----- stop ------------------------------------------------------------------

bool SynchronizerCore::on_own_threads() const {
  return work_.get_executor().running_in_this_thread() || (crm_pool_ && crm_pool_->on_worker_thread());
}

void SynchronizerCore::begin_stop() {
  Clock::steady_time deadline;
  {
    std::lock_guard lock(mu_);
    if (phase_ != Phase::running) return;
    phase_ = Phase::stopping;
    deadline = stop_deadline_ = clock_.steady_now() + options_.stop_drain;
  }
  intake_.refuse_all(SubmitErrc::not_running, "synchronizer is not running");
  util::spawn(
      io_.get_executor(),
      [](SynchronizerCore* self, Clock::steady_time until) -> asio::awaitable<void> {
        co_await self->drain_and_close(until);
        self->drained_.store(true);
        self->drain_done_.set_value();
      }(this, deadline),
      "synchronizer stop", log_, [this](std::exception_ptr) {
        if (drained_.exchange(true)) return;
        drain_done_.set_value();
      });
}

// Queued and in-flight prompts get until `deadline` to finish; the rest end
// (queued: failed; written: unconfirmed); then links close within what is left.
asio::awaitable<void> SynchronizerCore::drain_and_close(Clock::steady_time deadline) {
  take_whole_inbox();
  draining_ = true;
  while (scheduler_.queued() + scheduler_.inflight() > 0 && clock_.steady_now() < deadline) {
    settled_.expires_at(deadline);
    co_await settled_.wait();
    take_whole_inbox();  // a sync_prompt that raced the refusal
  }
  draining_ = false;
  std::vector<std::unique_ptr<Entry>> left;
  intake_.close(left);  // accepted just before stop(): ended below with the rest
  for (auto& entry : left) scheduler_.end_unaccepted(std::move(entry), OutcomeKind::failed, kStoppedBeforeDelivery);
  scheduler_.fail_all(kStoppedBeforeDelivery, kStoppedUnanswered);
  tokens_.stop();  // a link still waiting for a token gives up now, not after the endpoint's retries
  const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_.steady_now());
  co_await pool_.stop(std::max(remaining, std::chrono::milliseconds(0)));
}

void SynchronizerCore::stop() {
  std::unique_lock lock(mu_);
  if (phase_ == Phase::created) {
    phase_ = Phase::stopped;
    lock.unlock();
    intake_.refuse_all(SubmitErrc::not_running, "synchronizer is not running");
    if (audit_) audit_->close();
    return;
  }
  if (phase_ == Phase::running) {
    lock.unlock();
    begin_stop();
    lock.lock();
  }
  if (phase_ == Phase::stopped) return;
  if (on_own_threads()) return;  // a callback cannot wait for the thread it runs on; the destructor finishes
  // Driven by its caller (the simulation): it runs io() until stop_drained(), then calls stop() again.
  if (!seams_.own_thread && !drained_.load()) return;
  if (finishing_) {
    stopped_cv_.wait(lock, [this] { return phase_ == Phase::stopped; });
    return;
  }
  finishing_ = true;
  lock.unlock();
  if (seams_.own_thread) {
    drain_done_.get_future().wait();
    work_.reset();
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }
  finish_stop();
  lock.lock();
  phase_ = Phase::stopped;
  stopped_cv_.notify_all();
}

// After the synchronizer thread has ended: CRM sinks and the audit log close.
void SynchronizerCore::finish_stop() {
  // A prompt that raced the close of the inbox ends here, the thread being gone.
  std::vector<std::unique_ptr<Entry>> left;
  intake_.close(left);
  for (auto& entry : left) scheduler_.end_unaccepted(std::move(entry), OutcomeKind::failed, kStoppedBeforeDelivery);
  Clock::steady_time deadline;
  {
    std::lock_guard lock(mu_);
    deadline = std::max(stop_deadline_, clock_.steady_now() + kCrmStopGrace);
  }
  if (crm_pool_) crm_pool_->stop(deadline);
  if (crm_webhook_) crm_webhook_->stop(deadline);
  if (audit_) audit_->close();
  bool gave_up = false;
  {
    std::lock_guard lock(mu_);
    gave_up = !fatal_.ok();
  }
  if (gave_up) report_fatal();
}

// ----- observing -------------------------------------------------------------

SynchronizerStatus SynchronizerCore::status() const {
  SynchronizerStatus s;
  {
    std::lock_guard lock(mu_);
    s.running = phase_ == Phase::running;
    s.fatal = fatal_;
  }
  s.token = router_.token_status();
  s.connections = router_.connection_status();
  s.connections_up = router_.links_up();
  if (!audit_) s.audit = {true, {}, "no audit log configured"};
  else if (auto ec = audit_->status()) s.audit = {false, ec, audit_->status_message()};
  else s.audit = {true, {}, "writing " + options_.audit.path};
  return s;
}

bool SynchronizerCore::ready() const {
  std::lock_guard lock(mu_);
  return phase_ == Phase::running && fatal_.ok() && !audit_failed_.load() && router_.links_up() > 0;
}

MetricsSnapshot SynchronizerCore::metrics() const {
  auto snapshot = router_.metrics().snapshot();
  if (audit_) {
    snapshot.audit_queue_depth = static_cast<std::int64_t>(audit_->pending());
    snapshot.audit_refusals_dropped = audit_->refusals_dropped();
  }
  std::size_t crm_queued = 0;
  if (crm_pool_) crm_queued += crm_pool_->stats().queued;
  if (crm_webhook_) crm_queued += crm_webhook_->stats().queued;
  snapshot.crm_queue_depth = static_cast<std::int64_t>(crm_queued);
  snapshot.callback_errors = intake_.callback_errors();
  return snapshot;
}

}  // namespace assist::sync
