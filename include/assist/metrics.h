// Synchronizer metrics as a user reads them: a point-in-time snapshot
// (Synchronizer::metrics()) with the ACK latency histogram, and its
// Prometheus text exposition (format 0.0.4). docs/metrics.md lists every
// metric. The counters behind them are the library's own (src/metrics).
#ifndef ASSIST_METRICS_H
#define ASSIST_METRICS_H

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "assist/frame.h"
#include "assist/outcome.h"

namespace assist {

// A histogram snapshot: fine buckets for quantiles, and cumulative counts at
// fixed Prometheus boundaries.
struct HistogramSnapshot {
  std::uint64_t count = 0;   // observations (equals the +Inf bucket)
  double sum_seconds = 0.0;
  double min_seconds = 0.0;  // 0 when empty
  double max_seconds = 0.0;
  // Per fine bucket, in the library's log-linear layout (exact below 128 ns,
  // then 64 buckets per power of two): what quantile() reads.
  std::vector<std::uint64_t> buckets;
  // (upper bound in seconds, observations <= bound), ascending; the last bound
  // is +infinity.
  std::vector<std::pair<double, std::uint64_t>> cumulative;

  // The value at quantile `p` in [0, 1], in seconds, within the bucket
  // resolution (relative error <= 1/128); 0 when empty.
  double quantile(double p) const;
  double mean_seconds() const { return count == 0 ? 0.0 : sum_seconds / static_cast<double>(count); }
};

// How a prompt ended is an OutcomeKind (assist/outcome.h); there are this many.
inline constexpr std::size_t kOutcomeKindCount = static_cast<std::size_t>(OutcomeKind::unconfirmed) + 1;
// Label spelling: "acked", "rejected_freshness"...
std::string_view outcome_label(OutcomeKind outcome);

inline constexpr std::size_t kNackCodeCount = static_cast<std::size_t>(NackCode::unknown) + 1;

struct MetricsSnapshot {
  std::uint64_t syncs_total = 0;       // prompts that reached an outcome
  std::uint64_t syncs_successful = 0;  // acked
  std::uint64_t syncs_failed = 0;      // not acked and not superseded
  std::array<std::uint64_t, kOutcomeKindCount> outcomes{};  // by OutcomeKind
  std::array<std::uint64_t, kNackCodeCount> nacks{};        // by NackCode
  std::uint64_t broadcasts = 0;        // PROMPT_SYNC frames written, replays included
  std::uint64_t duplicate_acks = 0;
  std::uint64_t adopted = 0;           // PROMPT_FEEDBACK ADOPTED
  std::uint64_t dismissed = 0;         // PROMPT_FEEDBACK DISMISSED
  double average_latency_seconds = 0.0;  // mean send -> ACK
  double adoption_rate = 0.0;            // adopted / acked; 0 before any ACK
  HistogramSnapshot ack_latency;
  std::int64_t queue_depth = 0;
  std::int64_t in_flight = 0;
  std::int64_t connections = 0;
  std::int64_t sessions = 0;           // sessions holding a slot on a connection
  std::int64_t audit_queue_depth = 0;
  std::uint64_t audit_refusals_dropped = 0;  // refusal lines not written: no disk space ahead
  std::int64_t crm_queue_depth = 0;
  std::uint64_t reconnects = 0;
  std::uint64_t token_refreshes = 0;
  std::uint64_t crm_delivered = 0;
  std::uint64_t crm_dropped = 0;  // queue full or shut down
  std::uint64_t crm_failed = 0;   // callback threw / webhook gave up
  std::uint64_t callback_errors = 0;  // exceptions thrown by outcome callbacks (PromptTicket::then)
};

// Prometheus text exposition format 0.0.4: HELP and TYPE lines, counters
// ending in _total, the ACK latency as a histogram (le buckets, _sum, _count)
// and as quantile gauges (0.5, 0.9, 0.99, 0.999). Names start with assist_sync_.
std::string prometheus_text(const MetricsSnapshot& snapshot);

}  // namespace assist

#endif  // ASSIST_METRICS_H
