// The counters behind MetricsSnapshot (internal): lock-free counters and
// gauges, a latency histogram with bounded relative error, and the registry
// of everything the synchronizer reports. Record from any thread; read them
// through snapshot().
#ifndef ASSIST_SRC_METRICS_METRICS_REGISTRY_H
#define ASSIST_SRC_METRICS_METRICS_REGISTRY_H

#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "assist/frame.h"
#include "assist/metrics.h"
#include "assist/outcome.h"

namespace assist {

// A monotonically increasing count. Thread-safe, lock-free.
class Counter {
 public:
  void inc(std::uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// A value that goes up and down. Thread-safe, lock-free.
class Gauge {
 public:
  void set(std::int64_t v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void add(std::int64_t delta) noexcept { value_.fetch_add(delta, std::memory_order_relaxed); }
  std::int64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> value_{0};
};

// The log-linear bucket layout of LatencyHistogram: values below 128 have a
// bucket each; above, 64 buckets per power of two.
namespace latency_buckets {
constexpr std::size_t index(std::uint64_t nanos, std::uint64_t max) noexcept {
  if (nanos > max) nanos = max;
  if (nanos < 128) return static_cast<std::size_t>(nanos);
  const int shift = 63 - std::countl_zero(nanos) - 6;
  return static_cast<std::size_t>(64 * shift) + static_cast<std::size_t>(nanos >> shift);
}
constexpr std::uint64_t low(std::size_t index) noexcept {
  if (index < 128) return index;
  const std::size_t shift = index / 64 - 1;
  return static_cast<std::uint64_t>(index - 64 * shift) << shift;
}
constexpr std::uint64_t high(std::size_t index) noexcept {
  if (index < 128) return index;
  const std::size_t shift = index / 64 - 1;
  return (static_cast<std::uint64_t>(index - 64 * shift + 1) << shift) - 1;
}
}  // namespace latency_buckets

// Latencies from 0 to 60 s (larger values fall in the last fine bucket, but
// are summed and counted against the `le` bounds exactly) in log-linear
// buckets: exact below 128 ns, then 64 buckets per power of two, so a
// bucket's width is at most 1/64 of its lower bound. Recording is a few
// relaxed atomic operations, no lock. Thread-safe.
class LatencyHistogram {
 public:
  static constexpr std::uint64_t kMaxNanos = 60'000'000'000;
  // Prometheus `le` boundaries, in seconds.
  static constexpr std::array<double, 16> kBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                     0.25,   0.5,   1.0,    2.5,   5.0,  10.0,  30.0,  60.0};

  // The fine bucket of a value in nanoseconds (clamped to kMaxNanos), and
  // the smallest and largest value (ns) of a fine bucket.
  static constexpr std::size_t bucket_index(std::uint64_t nanos) noexcept {
    return latency_buckets::index(nanos, kMaxNanos);
  }
  static constexpr std::uint64_t bucket_low(std::size_t index) noexcept { return latency_buckets::low(index); }
  static constexpr std::uint64_t bucket_high(std::size_t index) noexcept { return latency_buckets::high(index); }
  static constexpr std::size_t kBucketCount = latency_buckets::index(kMaxNanos, kMaxNanos) + 1;

  // Records one observation; negative durations count as 0.
  void record(std::chrono::nanoseconds latency) noexcept;
  HistogramSnapshot snapshot() const;

 private:
  std::array<std::atomic<std::uint64_t>, kBucketCount> buckets_{};
  std::array<std::atomic<std::uint64_t>, kBounds.size() + 1> bounded_{};  // per `le` interval, last is +Inf
  std::atomic<std::uint64_t> sum_nanos_{0};
  std::atomic<std::uint64_t> min_nanos_{UINT64_MAX};
  std::atomic<std::uint64_t> max_nanos_{0};
};

// Everything the synchronizer reports. Thread-safe: record from any thread;
// snapshot() reads each value atomically (not all values at one instant).
class Metrics {
 public:
  // A prompt was ACKed `latency` after its frame was written.
  void record_ack(std::chrono::nanoseconds latency, bool duplicate = false) noexcept;
  // A prompt was NACKed with `code`.
  void record_nack(NackCode code) noexcept;
  // A prompt reached `outcome` (use record_ack / record_nack for those two
  // when the latency or code is known).
  void record_outcome(OutcomeKind outcome) noexcept;
  // The agent adopted or dismissed a delivered prompt.
  void record_feedback(FeedbackAction action) noexcept;

  Counter broadcasts;
  Counter reconnects;
  Counter token_refreshes;
  Counter crm_delivered;
  Counter crm_dropped;
  Counter crm_failed;
  Gauge queue_depth;
  Gauge in_flight;
  Gauge connections;
  Gauge sessions;
  Gauge audit_queue_depth;
  Gauge crm_queue_depth;

  MetricsSnapshot snapshot() const;

 private:
  std::array<Counter, kOutcomeKindCount> outcomes_;
  std::array<Counter, kNackCodeCount> nacks_;
  Counter duplicate_acks_;
  Counter adopted_;
  Counter dismissed_;
  LatencyHistogram ack_latency_;
};

}  // namespace assist

#endif  // ASSIST_SRC_METRICS_METRICS_REGISTRY_H
