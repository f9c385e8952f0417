#include "sync/event_router.h"

#include <fmt/format.h>

#include "net/endpoint.h"

namespace assist::sync {

namespace {

AuditEventType terminal_event(OutcomeKind kind) {
  switch (kind) {
    case OutcomeKind::acked: return AuditEventType::sync_acked;
    case OutcomeKind::nacked: return AuditEventType::sync_nacked;
    case OutcomeKind::rejected_validation: return AuditEventType::sync_rejected_validation;
    case OutcomeKind::rejected_freshness: return AuditEventType::sync_rejected_freshness;
    case OutcomeKind::rejected_concurrency: return AuditEventType::sync_rejected_concurrency;
    case OutcomeKind::superseded: return AuditEventType::sync_superseded;
    case OutcomeKind::failed: return AuditEventType::sync_failed;
    case OutcomeKind::unconfirmed: return AuditEventType::sync_unconfirmed;
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

EventRouter::EventRouter(const SynchronizerOptions& options, AuditLog* audit, CrmCallbackPool* crm_pool,
                         CrmWebhook* crm_webhook, Hooks hooks)
    : options_(options),
      audit_(audit),
      crm_pool_(crm_pool),
      crm_webhook_(crm_webhook),
      hooks_(std::move(hooks)),
      realtime_url_(net::redact_url(options.realtime.realtime_url)) {}

void EventRouter::record(AuditEvent event) {
  if (audit_ == nullptr) return;
  if (auto ec = audit_->append(std::move(event)); ec && !audit_failed_.exchange(true) && hooks_.audit_failed)
    hooks_.audit_failed();
}

void EventRouter::on_refused(const AssistPrompt& prompt, OutcomeKind kind, const std::string& message, bool audited) {
  metrics_.record_outcome(kind);
  if (!audited) return;
  auto e = prompt_event(terminal_event(kind), prompt, {}, 0);
  e.code = std::string(to_string(kind));
  e.reason = message;
  record(std::move(e));
}

void EventRouter::set_depths(std::size_t queued, std::size_t inflight) {
  metrics_.queue_depth.set(static_cast<std::int64_t>(queued));
  metrics_.in_flight.set(static_cast<std::int64_t>(inflight));
}

void EventRouter::on_outcome(const Entry& entry, const SyncOutcome& o) {
  if (options_.observer) options_.observer->on_outcome(o);
  if (o.kind == OutcomeKind::acked)
    metrics_.record_ack(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(o.latency_seconds)),
        o.duplicate);
  else if (o.kind == OutcomeKind::nacked) metrics_.record_nack(o.nack_code);
  else metrics_.record_outcome(o.kind);
  auto e = prompt_event(terminal_event(o.kind), entry.prompt, entry.frame_id, o.sequence);
  e.success = o.kind == OutcomeKind::acked;
  if (o.kind == OutcomeKind::acked || o.kind == OutcomeKind::nacked) e.latency_seconds = o.latency_seconds;
  if (o.kind == OutcomeKind::nacked) e.code = std::string(to_string(o.nack_code));
  else if (o.kind != OutcomeKind::acked) e.code = std::string(to_string(o.kind));
  e.reason = !o.duplicate ? o.reason : o.reason.empty() ? "duplicate: already shown" : o.reason + "; duplicate: already shown";
  record(std::move(e));
  if (o.kind == OutcomeKind::acked)
    notify_crm(entry.prompt.interaction_id, entry.frame_id, entry.prompt.priority_level, false);
  if (hooks_.prompt_ended) hooks_.prompt_ended();
}

void EventRouter::on_written(const Entry& entry, bool replay) {
  metrics_.broadcasts.inc();
  auto e = prompt_event(AuditEventType::sync_broadcast, entry.prompt, entry.frame_id, entry.sequence);
  e.success = true;
  if (replay) e.reason = "replayed after reconnect";
  record(std::move(e));
}

// The write-ahead rule: the SYNC_BROADCAST lines of the burst are in the
// file (or fsynced, per AuditOptions::before_send) before its bytes are sent.
std::error_code EventRouter::before_send(std::chrono::milliseconds budget) {
  if (audit_ == nullptr) return {};
  const auto ec = audit_->commit(budget);
  if (ec == AuditErrc::stalled) return ec;  // this burst is not sent; the log has not failed
  if (ec && !audit_failed_.exchange(true) && hooks_.audit_failed) hooks_.audit_failed();
  return ec;
}

void EventRouter::on_evicted(const std::string& session_id, const std::string& agent_id) {
  AuditEvent e;
  e.type = AuditEventType::session_evicted;
  e.session_id = session_id;
  e.agent_id = agent_id;
  e.success = true;
  e.reason = "least recently used idle session evicted to free a slot";
  record(std::move(e));
}

void EventRouter::on_feedback(const Delivered* d, const PromptFeedback& f) {
  const bool adopted = f.action == FeedbackAction::adopted;
  metrics_.record_feedback(f.action);
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

void EventRouter::on_link_state(transport::LinkId link, transport::LinkState state, std::error_code error) {
  const bool up = state == transport::LinkState::up;
  const bool was_up = audited_up_.count(link) > 0;
  if (up) audited_up_.insert(link);
  else if (state != transport::LinkState::rotating) audited_up_.erase(link);
  const transport::PoolStats pool = hooks_.pool_stats();
  links_up_.store(pool.links_open);
  metrics_.connections.set(static_cast<std::int64_t>(pool.links_open));
  metrics_.reconnects.inc(pool.reconnects - reconnects_counted_);
  reconnects_counted_ = pool.reconnects;
  {
    std::lock_guard lock(status_mu_);
    if (pool.links_open > 0)
      connections_ = {true, {}, fmt::format("{} connection(s) up to {}", pool.links_open, realtime_url_)};
    else if (error) connections_ = {false, error, fmt::format("link {} {} ({}): {}", link, link_state_name(state), realtime_url_, error.message())};
    else connections_ = {false, {}, fmt::format("no connection up to {}", realtime_url_)};
  }
  if (state == transport::LinkState::failed && transport::is_fatal(error) && hooks_.link_fatal) {
    // The token provider's own words when the token failed (they name the
    // token endpoint and what it answered), else the connection's.
    std::string detail;
    {
      std::lock_guard lock(status_mu_);
      if (!token_.ok && token_.error == error) detail = token_.detail;
    }
    hooks_.link_fatal(error, detail.empty() ? fmt::format("{} ({})", error.message(), realtime_url_) : detail);
  }
  audit_link_change(link, state, error, up, was_up);
}

// A rotation opens the link's next connection while the current one still
// serves: the link stays up, so neither a close nor an open is audited
// (TOKEN_REFRESHED records why it happened).
void EventRouter::audit_link_change(transport::LinkId link, transport::LinkState state, std::error_code error,
                                    bool up, bool was_up) {
  if (state == transport::LinkState::rotating) return;
  if (up == was_up && state != transport::LinkState::failed) return;
  AuditEvent e;
  e.type = up ? AuditEventType::connection_opened : AuditEventType::connection_closed;
  e.success = up;
  e.detail = fmt::format("link {} {}", link, link_state_name(state));
  if (error) e.reason = error.message();
  record(std::move(e));
}

void EventRouter::on_token(const transport::TokenResult& result) {
  if (!result) {
    std::lock_guard lock(status_mu_);
    token_ = {false, result.error, result.detail.empty() ? result.error.message() : result.detail};
    return;
  }
  const auto& t = *result.token;
  metrics_.token_refreshes.inc();
  {
    std::lock_guard lock(status_mu_);
    token_ = {true, {}, fmt::format("token valid, lifetime {} s, scope '{}'",
                                    std::chrono::duration_cast<std::chrono::seconds>(t.lifetime).count(), t.scope)};
  }
  AuditEvent e;  // never the token itself
  e.type = AuditEventType::token_refreshed;
  e.success = true;
  e.detail = fmt::format("lifetime {} s, scope '{}'",
                         std::chrono::duration_cast<std::chrono::seconds>(t.lifetime).count(), t.scope);
  record(std::move(e));
}

ComponentStatus EventRouter::token_status() const {
  std::lock_guard lock(status_mu_);
  return token_;
}

ComponentStatus EventRouter::connection_status() const {
  std::lock_guard lock(status_mu_);
  return connections_;
}

void EventRouter::notify_crm(const std::string& interaction_id, const std::string& frame_id, int priority,
                             bool adopted) {
  const CrmUpdate update{interaction_id, frame_id, priority, adopted};
  if (crm_pool_) crm_pool_->submit(update);
  if (crm_webhook_) crm_webhook_->submit(update);
}

void EventRouter::on_crm_report(const CrmReport& r) {
  switch (r.result) {
    case CrmResult::delivered: metrics_.crm_delivered.inc(); return;
    case CrmResult::dropped: metrics_.crm_dropped.inc(); break;
    case CrmResult::failed: metrics_.crm_failed.inc(); break;
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

}  // namespace assist::sync
