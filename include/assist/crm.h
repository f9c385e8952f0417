// CRM updates: the synchronizer tells a CRM that a prompt reached the agent
// (on ACK, adopted = false) and that the agent adopted it (on PROMPT_FEEDBACK
// ADOPTED, adopted = true). Two sinks, both off the delivery path: an
// in-process callback on a bounded worker pool, and an HTTP(S) webhook.
// Neither ever blocks the caller; a full queue drops the update, counts it
// and reports it.
#ifndef ASSIST_CRM_H
#define ASSIST_CRM_H

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "assist/clock.h"
#include "assist/log.h"
#include "assist/status.h"

namespace assist {

struct CrmUpdate {
  std::string interaction_id;
  std::string frame_id;
  int priority = 0;  // the prompt's priority_level, 1..5
  bool adopted = false;

  bool operator==(const CrmUpdate&) const = default;
};

enum class CrmResult {
  delivered,  // the callback returned / the webhook answered 2xx
  dropped,    // never attempted: the queue was full, or the sink was stopping
  failed,     // the callback threw / the webhook gave up (error says why)
};
std::string_view to_string(CrmResult result);

// The fate of one update, for auditing (failed and dropped) and metrics.
struct CrmReport {
  CrmUpdate update;
  CrmResult result = CrmResult::delivered;
  std::string error;      // empty when delivered
  unsigned attempts = 0;  // webhook requests made (callbacks: 0 or 1)
};

// Called once per submitted update with its result: from a worker thread
// after an attempt, or from the thread calling submit() when it is dropped.
// Must be cheap and must not call back into the sink.
using CrmReportHandler = std::function<void(const CrmReport&)>;

struct CrmStats {
  std::uint64_t delivered = 0;
  std::uint64_t dropped = 0;
  std::uint64_t failed = 0;
  std::size_t queued = 0;  // accepted, not yet finished
};

// The source's callback signature: (interaction_id, {frame_id, priority, adopted}).
using CrmCallback = std::function<void(const std::string& interaction_id, const CrmUpdate& update)>;

// Runs `callback` on `workers` threads fed by a queue of at most
// `queue_capacity` updates, so a slow callback never stalls the synchronizer.
// An exception from the callback counts as a failure (its what() is the
// error). Thread-safe.
class CrmCallbackPool {
 public:
  CrmCallbackPool(CrmCallback callback, std::size_t workers, std::size_t queue_capacity,
                  CrmReportHandler on_report = {}, Clock* clock = nullptr);
  // stop()s with an immediate deadline.
  ~CrmCallbackPool();
  CrmCallbackPool(const CrmCallbackPool&) = delete;
  CrmCallbackPool& operator=(const CrmCallbackPool&) = delete;

  // Queues `update`; never waits. False (and a `dropped` report) when the
  // queue is full or the pool is stopping.
  bool submit(CrmUpdate update);

  // Refuses new updates, runs queued ones until `deadline` (the clock's steady
  // time), drops the rest (reported), and waits for running callbacks to
  // return until the deadline: one still running then is abandoned (reported
  // failed; its thread ends on its own and reports nothing more). True when
  // nothing was dropped or abandoned. Idempotent. Not from a worker thread.
  bool stop(Clock::steady_time deadline);
  // True on one of the pool's worker threads (inside a callback).
  bool on_worker_thread() const;

  CrmStats stats() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

struct CrmWebhookOptions {
  // http://host[:port]/path or https://... (certificate and host name verified
  // against the system store, or `ca_file`).
  std::string url;
  std::string ca_file;
  // Extra request headers (e.g. Authorization). Their values are never logged
  // or reported.
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::milliseconds timeout{5000};  // per attempt: resolve, connect, request, response
  unsigned max_attempts = 4;                // first try included
  std::chrono::milliseconds initial_backoff{200};
  std::chrono::milliseconds max_backoff{5000};
  std::size_t queue_capacity = 1024;
  CrmReportHandler on_report;
  Random* random = nullptr;  // backoff jitter; nullptr: seeded from the OS
  Clock* clock = nullptr;    // retry waits and the stop deadline; nullptr: system_clock()
  // Where its log lines go. A synchronizer's webhook logs where the
  // synchronizer does: it sets this to SynchronizerOptions::log.
  LogOptions log;
};

enum class CrmErrc {
  bad_url = 1,  // not an absolute http(s) URL with a host and no credentials
  tls_setup,    // the TLS context could not be built (e.g. unreadable ca_file)
};
const std::error_category& crm_category() noexcept;
std::error_code make_error_code(CrmErrc e) noexcept;

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

namespace std {
template <>
struct is_error_code_enum<assist::CrmErrc> : true_type {};
}  // namespace std

#endif  // ASSIST_CRM_H
