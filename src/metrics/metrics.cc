#include "metrics/metrics_registry.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include <fmt/format.h>

namespace assist {

// ----- LatencyHistogram --------------------------------------------------------

namespace {

constexpr double kNanosPerSecond = 1e9;

// The kBounds in nanoseconds, for exact `le` counting.
constexpr std::array<std::uint64_t, LatencyHistogram::kBounds.size()> bounds_nanos() {
  std::array<std::uint64_t, LatencyHistogram::kBounds.size()> out{};
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<std::uint64_t>(LatencyHistogram::kBounds[i] * kNanosPerSecond + 0.5);
  return out;
}
constexpr auto kBoundsNanos = bounds_nanos();

void store_min(std::atomic<std::uint64_t>& slot, std::uint64_t v) noexcept {
  std::uint64_t current = slot.load(std::memory_order_relaxed);
  while (v < current && !slot.compare_exchange_weak(current, v, std::memory_order_relaxed)) {
  }
}

void store_max(std::atomic<std::uint64_t>& slot, std::uint64_t v) noexcept {
  std::uint64_t current = slot.load(std::memory_order_relaxed);
  while (v > current && !slot.compare_exchange_weak(current, v, std::memory_order_relaxed)) {
  }
}

}  // namespace

void LatencyHistogram::record(std::chrono::nanoseconds latency) noexcept {
  const std::int64_t raw = latency.count();
  const std::uint64_t nanos = raw <= 0 ? 0 : static_cast<std::uint64_t>(raw);
  buckets_[bucket_index(nanos)].fetch_add(1, std::memory_order_relaxed);  // clamps to 60 s
  const auto bound = std::lower_bound(kBoundsNanos.begin(), kBoundsNanos.end(), nanos);
  bounded_[static_cast<std::size_t>(bound - kBoundsNanos.begin())].fetch_add(1, std::memory_order_relaxed);
  sum_nanos_.fetch_add(nanos, std::memory_order_relaxed);
  store_min(min_nanos_, nanos);
  store_max(max_nanos_, nanos);
}

HistogramSnapshot LatencyHistogram::snapshot() const {
  HistogramSnapshot s;
  s.buckets.resize(kBucketCount);
  for (std::size_t i = 0; i < kBucketCount; ++i) s.buckets[i] = buckets_[i].load(std::memory_order_relaxed);
  std::uint64_t running = 0;
  for (std::size_t i = 0; i < bounded_.size(); ++i) {
    running += bounded_[i].load(std::memory_order_relaxed);
    const double bound = i < kBounds.size() ? kBounds[i] : std::numeric_limits<double>::infinity();
    s.cumulative.emplace_back(bound, running);
  }
  s.count = running;
  s.sum_seconds = static_cast<double>(sum_nanos_.load(std::memory_order_relaxed)) / kNanosPerSecond;
  if (s.count > 0) {
    s.min_seconds = static_cast<double>(min_nanos_.load(std::memory_order_relaxed)) / kNanosPerSecond;
    s.max_seconds = static_cast<double>(max_nanos_.load(std::memory_order_relaxed)) / kNanosPerSecond;
  }
  return s;
}

double HistogramSnapshot::quantile(double p) const {
  std::uint64_t total = 0;
  for (const auto n : buckets) total += n;
  if (total == 0) return 0.0;
  p = std::clamp(p, 0.0, 1.0);
  // The smallest value with at least ceil(p * total) observations at or below it.
  const auto rank = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::ceil(p * static_cast<double>(total))));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    seen += buckets[i];
    if (seen < rank) continue;
    const double low = static_cast<double>(LatencyHistogram::bucket_low(i));
    const double high = static_cast<double>(LatencyHistogram::bucket_high(i));
    const double mid = (low + high) / 2.0 / kNanosPerSecond;
    return max_seconds > 0.0 ? std::clamp(mid, min_seconds, max_seconds) : mid;
  }
  return max_seconds;
}

// ----- Metrics -----------------------------------------------------------------

std::string_view outcome_label(OutcomeKind outcome) {
  switch (outcome) {
    case OutcomeKind::acked: return "acked";
    case OutcomeKind::nacked: return "nacked";
    case OutcomeKind::rejected_validation: return "rejected_validation";
    case OutcomeKind::rejected_freshness: return "rejected_freshness";
    case OutcomeKind::rejected_concurrency: return "rejected_concurrency";
    case OutcomeKind::superseded: return "superseded";
    case OutcomeKind::failed: return "failed";
    case OutcomeKind::unconfirmed: return "unconfirmed";
  }
  return "unknown";
}

void Metrics::record_ack(std::chrono::nanoseconds latency, bool duplicate) noexcept {
  record_outcome(OutcomeKind::acked);
  if (duplicate) duplicate_acks_.inc();
  ack_latency_.record(latency);
}

void Metrics::record_nack(NackCode code) noexcept {
  record_outcome(OutcomeKind::nacked);
  nacks_[static_cast<std::size_t>(code)].inc();
}

void Metrics::record_outcome(OutcomeKind outcome) noexcept { outcomes_[static_cast<std::size_t>(outcome)].inc(); }

void Metrics::record_feedback(FeedbackAction action) noexcept {
  (action == FeedbackAction::adopted ? adopted_ : dismissed_).inc();
}

MetricsSnapshot Metrics::snapshot() const {
  MetricsSnapshot s;
  for (std::size_t i = 0; i < kOutcomeKindCount; ++i) {
    s.outcomes[i] = outcomes_[i].value();
    s.syncs_total += s.outcomes[i];
  }
  for (std::size_t i = 0; i < kNackCodeCount; ++i) s.nacks[i] = nacks_[i].value();
  s.syncs_successful = s.outcomes[static_cast<std::size_t>(OutcomeKind::acked)];
  s.syncs_failed = s.syncs_total - s.syncs_successful - s.outcomes[static_cast<std::size_t>(OutcomeKind::superseded)];
  s.broadcasts = broadcasts.value();
  s.duplicate_acks = duplicate_acks_.value();
  s.adopted = adopted_.value();
  s.dismissed = dismissed_.value();
  s.ack_latency = ack_latency_.snapshot();
  s.average_latency_seconds = s.ack_latency.mean_seconds();
  s.adoption_rate =
      s.syncs_successful == 0 ? 0.0 : static_cast<double>(s.adopted) / static_cast<double>(s.syncs_successful);
  s.queue_depth = queue_depth.value();
  s.in_flight = in_flight.value();
  s.connections = connections.value();
  s.sessions = sessions.value();
  s.audit_queue_depth = audit_queue_depth.value();
  s.crm_queue_depth = crm_queue_depth.value();
  s.reconnects = reconnects.value();
  s.token_refreshes = token_refreshes.value();
  s.crm_delivered = crm_delivered.value();
  s.crm_dropped = crm_dropped.value();
  s.crm_failed = crm_failed.value();
  return s;
}

// ----- Prometheus text exposition ----------------------------------------------

namespace {

// A sample value in the exposition format: shortest round-trip decimal,
// "+Inf", "-Inf" or "NaN".
std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

class Exposition {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += fmt::format("# HELP assist_sync_{} {}\n# TYPE assist_sync_{} {}\n", name, help, name, type);
  }
  template <typename T>
  void sample(std::string_view name, T value, std::string_view labels = {}) {
    std::string text;
    if constexpr (std::is_floating_point_v<T>) text = number(value);
    else text = fmt::format("{}", value);
    if (labels.empty()) out_ += fmt::format("assist_sync_{} {}\n", name, text);
    else out_ += fmt::format("assist_sync_{}{{{}}} {}\n", name, labels, text);
  }
  template <typename T>
  void single(std::string_view name, std::string_view type, std::string_view help, T value) {
    family(name, type, help);
    sample(name, value);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace

std::string prometheus_text(const MetricsSnapshot& s) {
  Exposition e;
  e.single("syncs_total", "counter", "Prompts that reached an outcome (acked, nacked, rejected, superseded, failed).",
           s.syncs_total);
  e.single("syncs_successful_total", "counter", "Prompts acknowledged by the gateway.", s.syncs_successful);
  e.single("syncs_failed_total", "counter", "Prompts that ended neither acked nor superseded.", s.syncs_failed);

  e.family("outcomes_total", "counter", "Prompts by outcome.");
  for (std::size_t i = 0; i < kOutcomeKindCount; ++i)
    e.sample("outcomes_total", s.outcomes[i], fmt::format("outcome=\"{}\"", outcome_label(static_cast<OutcomeKind>(i))));

  e.family("nacks_total", "counter", "NACKs by code.");
  for (std::size_t i = 0; i < kNackCodeCount; ++i)
    e.sample("nacks_total", s.nacks[i], fmt::format("code=\"{}\"", to_string(static_cast<NackCode>(i))));

  e.single("broadcasts_total", "counter", "PROMPT_SYNC frames written, replays included.", s.broadcasts);
  e.single("duplicate_acks_total", "counter", "ACKs with duplicate:true (already shown, not shown again).",
           s.duplicate_acks);

  e.family("feedback_total", "counter", "PROMPT_FEEDBACK by action.");
  e.sample("feedback_total", s.adopted, "action=\"adopted\"");
  e.sample("feedback_total", s.dismissed, "action=\"dismissed\"");
  e.single("adoption_ratio", "gauge", "Adopted prompts per acknowledged prompt.", s.adoption_rate);
  e.single("ack_latency_average_seconds", "gauge", "Mean time from writing a frame to its ACK.",
           s.average_latency_seconds);

  e.family("ack_latency_seconds", "histogram", "Time from writing a frame to its ACK.");
  for (const auto& [bound, count] : s.ack_latency.cumulative)
    e.sample("ack_latency_seconds_bucket", count, fmt::format("le=\"{}\"", number(bound)));
  e.sample("ack_latency_seconds_sum", s.ack_latency.sum_seconds);
  e.sample("ack_latency_seconds_count", s.ack_latency.count);

  e.family("ack_latency_quantile_seconds", "gauge",
           "ACK latency quantiles from the fine histogram (relative error under 1%).");
  for (const double q : {0.5, 0.9, 0.99, 0.999})
    e.sample("ack_latency_quantile_seconds", s.ack_latency.quantile(q), fmt::format("quantile=\"{}\"", number(q)));

  e.single("queue_depth", "gauge", "Prompts queued, not yet written.", s.queue_depth);
  e.single("in_flight", "gauge", "Frames written and awaiting ACK or NACK.", s.in_flight);
  e.single("connections", "gauge", "Open gateway connections.", s.connections);
  e.single("sessions", "gauge", "Sessions holding a slot on a gateway connection.", s.sessions);
  e.single("audit_queue_depth", "gauge", "Audit events queued, not yet written.", s.audit_queue_depth);
  e.single("audit_refusals_dropped_total", "counter",
           "Refusals not written to the audit log: no space could be reserved ahead (the headroom is kept for "
           "the outcomes of frames already sent).",
           s.audit_refusals_dropped);
  e.single("crm_queue_depth", "gauge", "CRM updates queued, not yet delivered.", s.crm_queue_depth);
  e.single("reconnects_total", "counter", "Gateway reconnections after a lost connection.", s.reconnects);
  e.single("token_refreshes_total", "counter", "OAuth access tokens obtained.", s.token_refreshes);

  e.family("crm_updates_total", "counter", "CRM updates by result.");
  e.sample("crm_updates_total", s.crm_delivered, "result=\"delivered\"");
  e.sample("crm_updates_total", s.crm_dropped, "result=\"dropped\"");
  e.sample("crm_updates_total", s.crm_failed, "result=\"failed\"");
  e.single("callback_errors_total", "counter", "Exceptions thrown by outcome callbacks (caught and logged).",
           s.callback_errors);
  return e.take();
}

}  // namespace assist
