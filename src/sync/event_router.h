// Where the synchronizer's events go: counted in the metrics, written to the
// audit log, told to the CRM sinks, and summed up as the health of the token,
// the connections and the audit log. Scheduler events arrive on the
// synchronizer thread; refusals, CRM reports and audit failures may come
// from any thread (those members are marked thread-safe).
#ifndef ASSIST_SRC_SYNC_EVENT_ROUTER_H
#define ASSIST_SRC_SYNC_EVENT_ROUTER_H

#include <atomic>
#include <functional>
#include <mutex>
#include <set>
#include <string>

#include "assist/audit.h"
#include "assist/crm.h"
#include "assist/synchronizer.h"
#include "audit/audit_log.h"
#include "crm/callback_pool.h"
#include "crm/webhook.h"
#include "metrics/metrics_registry.h"
#include "sync/scheduler.h"
#include "transport/pool.h"
#include "transport/token_provider.h"

namespace assist::sync {

class EventRouter final : public SchedulerSink {
 public:
  struct Hooks {
    // The audit log failed: stop sending. Any thread; called once.
    std::function<void()> audit_failed;
    // A link gave up for good (a fatal error). The synchronizer thread.
    std::function<void(std::error_code, std::string detail)> link_fatal;
    // A prompt ended (after its outcome was recorded). The synchronizer thread.
    std::function<void()> prompt_ended;
    // The pool's own counts of its links (the synchronizer thread): the
    // connection metrics and health are read from it, not counted again here.
    std::function<transport::PoolStats()> pool_stats;
  };

  // `audit`, `crm_pool` and `crm_webhook` may be null; all outlive the router.
  EventRouter(const SynchronizerOptions& options, AuditLog* audit, CrmCallbackPool* crm_pool,
              CrmWebhook* crm_webhook, Hooks hooks);

  // Thread-safe. Appends to the audit log (when there is one); a failed
  // append fails closed.
  void record(AuditEvent event);
  // Thread-safe. A prompt refused at acceptance: counted as `kind` and, for
  // validation and max_pending refusals, audited.
  void on_refused(const AssistPrompt& prompt, OutcomeKind kind, const std::string& message, bool audited);
  // Thread-safe (CRM worker threads): counts, and audits what did not arrive.
  void on_crm_report(const CrmReport& report);
  // The token provider's every result (the synchronizer thread).
  void on_token(const transport::TokenResult& result);

  // Thread-safe snapshots of the health of each part.
  ComponentStatus token_status() const;
  ComponentStatus connection_status() const;
  std::size_t links_up() const { return links_up_.load(); }

  Metrics& metrics() { return metrics_; }
  const Metrics& metrics() const { return metrics_; }
  // The synchronizer thread: queue and in-flight gauges from the scheduler.
  void set_depths(std::size_t queued, std::size_t inflight);

  // SchedulerSink
  void on_outcome(const Entry& entry, const SyncOutcome& outcome) override;
  void on_written(const Entry& entry, bool replay) override;
  std::error_code before_send(std::chrono::milliseconds budget) override;
  void on_evicted(const std::string& session_id, const std::string& agent_id) override;
  void on_feedback(const Delivered* prompt, const PromptFeedback& feedback) override;
  void on_link_state(transport::LinkId link, transport::LinkState state, std::error_code error) override;

 private:
  void notify_crm(const std::string& interaction_id, const std::string& frame_id, int priority, bool adopted);
  void audit_link_change(transport::LinkId link, transport::LinkState state, std::error_code error, bool up,
                         bool was_up);

  const SynchronizerOptions& options_;
  AuditLog* audit_;
  CrmCallbackPool* crm_pool_;
  CrmWebhook* crm_webhook_;
  Hooks hooks_;
  Metrics metrics_;
  std::string realtime_url_;  // redacted, for status details
  std::atomic<bool> audit_failed_{false};
  std::atomic<std::size_t> links_up_{0};
  // The synchronizer thread only: the links whose opening was audited, so
  // that each gets one closing line; and the pool's reconnects already counted.
  std::set<transport::LinkId> audited_up_;
  std::uint64_t reconnects_counted_ = 0;

  mutable std::mutex status_mu_;  // guards the two statuses
  ComponentStatus token_{false, {}, "no token fetched yet"};
  ComponentStatus connections_{false, {}, "no connection opened yet"};
};

}  // namespace assist::sync

#endif
