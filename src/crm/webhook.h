// The HTTP(S) sink behind SynchronizerOptions::crm_webhook (internal).
#ifndef ASSIST_SRC_CRM_WEBHOOK_H
#define ASSIST_SRC_CRM_WEBHOOK_H

#include <memory>

#include "assist/clock.h"
#include "assist/crm.h"
#include "assist/status.h"

namespace assist {

// POSTs each update as JSON {"interaction_id","frame_id","priority","adopted"}
// to a URL, one request at a time on its own I/O thread, in submission order.
// 2xx: delivered. 408, 429, 5xx, timeouts and connection errors: retried after
// a delay uniform in [0, min(max_backoff, initial_backoff * 2^(attempt-1)))
// (full jitter, as the transport's reconnects), up to max_attempts. Other
// statuses: failed at once. Thread-safe.
class CrmWebhook {
 public:
  explicit CrmWebhook(CrmWebhookOptions options);
  // stop()s with an immediate deadline.
  ~CrmWebhook();
  CrmWebhook(const CrmWebhook&) = delete;
  CrmWebhook& operator=(const CrmWebhook&) = delete;

  // Checks the URL (and TLS setup) and starts the I/O thread. A failure's
  // code is CrmErrc::bad_url or tls_setup, its message names the URL's fault.
  // A second call does nothing.
  Status start();

  // Queues `update`; never waits. False (and a `dropped` report) when the
  // queue is full, the webhook is not started, or it is stopping.
  bool submit(CrmUpdate update);

  // Refuses new updates, delivers queued ones until `deadline` (the clock's
  // steady time), then abandons the rest (reported as dropped, or failed for one
  // in progress) and joins the I/O thread. True when nothing was lost.
  bool stop(Clock::steady_time deadline);

  CrmStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace assist

#endif
