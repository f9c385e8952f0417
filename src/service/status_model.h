// The figures behind the live status page (GET / and GET /v1/status): the
// synchronizer's metrics now, what changed over the last minute (from a
// small ring of metric snapshots the service samples once a second, never
// the delivery thread), the health of each component, and the latest
// warnings and errors from the log. docs/operations.md describes the JSON.
#ifndef ASSIST_SRC_SERVICE_STATUS_MODEL_H
#define ASSIST_SRC_SERVICE_STATUS_MODEL_H

#include <chrono>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/json/object.hpp>
#include <spdlog/sinks/ringbuffer_sink.h>

#include "assist/clock.h"
#include "assist/metrics.h"
#include "assist/synchronizer.h"

namespace assist::service {

struct StatusModelOptions {
  std::chrono::seconds window{60};  // the "last minute" of rates, outcomes and latency
  std::size_t recent_errors = 20;   // warnings and errors kept from the log
  const Clock* clock = nullptr;     // nullptr: system_clock()
};

// One component's health as the page shows it.
struct ComponentHealth {
  std::string component;  // "readiness", "gateway connections", "audit log"...
  std::string state;      // "ok", "degraded" or "failing"
  std::string detail;     // plain words
};

// The health of the synchronizer's components. Kept apart from the rest of
// the model: today it is derived from ready() and the gauges of `metrics`;
// Synchronizer::status() (token, connections, audit, the fatal error) feeds
// it when it exists.
std::vector<ComponentHealth> component_health(const Synchronizer& sync, const MetricsSnapshot& metrics);

// Why the synchronizer is not ready, naming the first failing part ("audit
// log: ...", "access token: ..."); "ready" when nothing fails. For /readyz.
std::string readiness_problem(const SynchronizerStatus& status);

// The metrics as sampled at one instant.
struct StatusSample {
  Clock::steady_time at;
  MetricsSnapshot metrics;
};

class StatusModel {
 public:
  // How often the service samples the metrics (HttpApi does, on its threads).
  static constexpr std::chrono::seconds kSampleInterval{1};

  // Takes the first sample's time as the start of the service.
  explicit StatusModel(StatusModelOptions options = {});
  StatusModel(const StatusModel&) = delete;
  StatusModel& operator=(const StatusModel&) = delete;

  // Records `metrics`, taken now. Keeps what covers the window, and at most
  // 2 * window / kSampleInterval + 2 samples whatever the caller's pace.
  // Thread-safe.
  void sample(const MetricsSnapshot& metrics);

  // Keeps the newest warnings and errors logged (level warn and above);
  // add it to the logger's sinks. Messages are redacted when served.
  spdlog::sink_ptr error_sink() const { return errors_; }

  // The /v1/status JSON document for `current` (the metrics taken now), with
  // the figures over the window computed against the samples. Thread-safe.
  boost::json::object document(const MetricsSnapshot& current, bool ready, const std::vector<ComponentHealth>& health) const;

 private:
  StatusModelOptions options_;
  const Clock& clock_;
  const Clock::steady_time started_;
  const double started_unix_;
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> errors_;
  mutable std::mutex mu_;
  std::deque<StatusSample> samples_;  // oldest first
};

}  // namespace assist::service

#endif  // ASSIST_SRC_SERVICE_STATUS_MODEL_H
