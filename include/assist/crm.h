// CRM updates: the synchronizer tells a CRM that a prompt reached the agent
// (on ACK, adopted = false) and that the agent adopted it (on PROMPT_FEEDBACK
// ADOPTED, adopted = true). Two sinks, both off the delivery path, set in
// SynchronizerOptions: an in-process callback (`crm_callback`) on a bounded
// worker pool, and an HTTP(S) webhook (`crm_webhook`). Neither ever blocks
// the synchronizer; a full queue drops the update, counts it and reports it.
#ifndef ASSIST_CRM_H
#define ASSIST_CRM_H

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "assist/clock.h"
#include "assist/log.h"

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
// Runs on one of the crm_workers threads, never on the delivery path: it may
// block that worker (the queue then fills and drops, reported), must not
// call the synchronizer's stop() and wait for it, and reports a failure by
// throwing (its what() is the reason audited).
using CrmCallback = std::function<void(const std::string& interaction_id, const CrmUpdate& update)>;

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

}  // namespace assist

namespace std {
template <>
struct is_error_code_enum<assist::CrmErrc> : true_type {};
}  // namespace std

#endif  // ASSIST_CRM_H
