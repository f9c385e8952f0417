#include "service/status_model.h"

#include <algorithm>
#include <array>
#include <cmath>

#include <boost/json/array.hpp>
#include <fmt/format.h>

#include "metrics/metrics_registry.h"
#include "service/logging.h"

namespace assist::service {
namespace {

namespace json = boost::json;
using Seconds = std::chrono::duration<double>;

// The page's latency histogram: upper bounds in milliseconds, 1-2-5 steps
// from 10 µs to the histogram's 60 s ceiling (finer than the Prometheus
// buckets, which start at 0.5 ms: a local gateway answers faster).
constexpr std::array<double, 21> kDisplayBoundsMs = {0.01, 0.02, 0.05, 0.1,  0.2,  0.5,   1,     2,     5,     10,   20,
                                                     50,   100,  200,  500,  1000, 2000, 5000, 10000, 20000, 60000};

// The audit backlog docs/operations.md suggests alerting on.
constexpr std::int64_t kAuditBacklogWarning = 10'000;

// `x` rounded to `digits` decimals, so the JSON carries no float noise.
double rounded(double x, int digits = 3) {
  const double scale = std::pow(10.0, digits);
  return std::round(x * scale) / scale;
}

double unix_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<Seconds>(t.time_since_epoch()).count();
}

std::string_view level_name(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::warn: return "warn";
    case spdlog::level::err: return "error";
    case spdlog::level::critical: return "critical";
    default: return "info";
  }
}

// Per second, between two readings of a counter `seconds` apart.
double per_second(std::uint64_t later, std::uint64_t earlier, double seconds) {
  return seconds > 0 && later >= earlier ? static_cast<double>(later - earlier) / seconds : 0.0;
}

// The observations of `now` that were not in `base` yet (fine buckets only).
HistogramSnapshot since(const HistogramSnapshot& now, const HistogramSnapshot& base) {
  HistogramSnapshot delta;
  delta.buckets = now.buckets;
  if (base.buckets.size() == delta.buckets.size())
    for (std::size_t i = 0; i < delta.buckets.size(); ++i)
      delta.buckets[i] -= std::min(delta.buckets[i], base.buckets[i]);
  for (const auto n : delta.buckets) delta.count += n;
  delta.sum_seconds = std::max(0.0, now.sum_seconds - base.sum_seconds);
  return delta;
}

json::object latency_json(const HistogramSnapshot& window) {
  std::array<std::uint64_t, kDisplayBoundsMs.size()> bins{};
  for (std::size_t i = 0; i < window.buckets.size(); ++i) {
    if (window.buckets[i] == 0) continue;
    const double mid_ms = static_cast<double>(LatencyHistogram::bucket_low(i) + LatencyHistogram::bucket_high(i)) / 2e6;
    const auto bin = std::lower_bound(kDisplayBoundsMs.begin(), kDisplayBoundsMs.end(), mid_ms);
    bins[std::min<std::size_t>(static_cast<std::size_t>(bin - kDisplayBoundsMs.begin()), bins.size() - 1)] +=
        window.buckets[i];
  }
  json::array histogram;
  for (std::size_t i = 0; i < bins.size(); ++i)
    histogram.push_back(json::object{{"le_ms", kDisplayBoundsMs[i]}, {"count", bins[i]}});
  return json::object{{"count", window.count},
                      {"p50_ms", rounded(window.quantile(0.50) * 1e3)},
                      {"p99_ms", rounded(window.quantile(0.99) * 1e3)},
                      {"mean_ms", rounded(window.mean_seconds() * 1e3)},
                      {"histogram", std::move(histogram)}};
}

json::array outcomes_json(const MetricsSnapshot& now, const MetricsSnapshot& base) {
  json::array out;
  for (std::size_t i = 0; i < kOutcomeKindCount; ++i) {
    const auto kind = static_cast<OutcomeKind>(i);
    out.push_back(json::object{{"outcome", to_string(kind)},
                               {"label", outcome_label(kind)},
                               {"total", now.outcomes[i]},
                               {"last_minute", now.outcomes[i] - std::min(now.outcomes[i], base.outcomes[i])}});
  }
  return out;
}

json::array nacks_json(const MetricsSnapshot& now) {
  json::array out;
  for (std::size_t i = 0; i < kNackCodeCount; ++i)
    if (now.nacks[i] > 0) out.push_back(json::object{{"code", to_string(static_cast<NackCode>(i))}, {"total", now.nacks[i]}});
  return out;
}

json::array health_json(const std::vector<ComponentHealth>& health) {
  json::array out;
  for (const auto& h : health)
    out.push_back(json::object{{"component", h.component}, {"state", h.state}, {"detail", h.detail}});
  return out;
}

// The figures over the window (outcomes, latency) and the rates, for `now`
// against `samples` (oldest first; the first is the window's base).
void add_window_figures(const std::deque<StatusSample>& samples, const StatusSample& now, json::object& doc) {
  const auto& base = samples.front();
  const Seconds window = now.at - base.at;
  // The rate over the last 10 s: against the newest sample at least that old.
  const StatusSample* recent = &base;
  for (const auto& s : samples)
    if (s.at <= now.at - std::chrono::seconds(10)) recent = &s;
  const double recent_seconds = Seconds(now.at - recent->at).count();
  json::array series;  // finished prompts per second, one value per interval, oldest first
  auto rate = [](const StatusSample& later, const StatusSample& earlier) {
    return rounded(per_second(later.metrics.syncs_total, earlier.metrics.syncs_total,
                              Seconds(later.at - earlier.at).count()), 1);
  };
  for (std::size_t i = 1; i < samples.size(); ++i) series.push_back(rate(samples[i], samples[i - 1]));
  series.push_back(rate(now, samples.back()));
  doc["window_seconds"] = rounded(window.count(), 1);
  doc["outcomes"] = outcomes_json(now.metrics, base.metrics);
  doc["latency"] = latency_json(since(now.metrics.ack_latency, base.metrics.ack_latency));
  doc["throughput"] = json::object{
      {"finished_per_second", rounded(per_second(now.metrics.syncs_total, recent->metrics.syncs_total, recent_seconds), 1)},
      {"written_per_second", rounded(per_second(now.metrics.broadcasts, recent->metrics.broadcasts, recent_seconds), 1)},
      {"over_seconds", rounded(recent_seconds, 1)},
      {"series", std::move(series)}};
}

}  // namespace

std::vector<ComponentHealth> component_health(const Synchronizer& sync, const MetricsSnapshot& m) {
  const bool ready = sync.ready();
  const SynchronizerStatus st = sync.status();
  std::vector<ComponentHealth> out;
  out.push_back({"readiness", ready ? "ok" : "failing",
                 ready ? "a valid token, a gateway connection and a writable audit log" : readiness_problem(st)});
  out.push_back({"access token", st.token.ok ? "ok" : "failing",
                 st.token.ok ? fmt::format("{} tokens obtained since start", m.token_refreshes) : st.token.detail});
  out.push_back({"gateway connections", m.connections > 0 ? "ok" : "failing",
                 st.connections.ok ? fmt::format("{} open, {} reconnects since start", m.connections, m.reconnects)
                                   : fmt::format("{} open: {}", m.connections, st.connections.detail)});
  const char* audit_state = !st.audit.ok ? "failing" : m.audit_queue_depth > kAuditBacklogWarning ? "degraded" : "ok";
  out.push_back({"audit log", audit_state,
                 st.audit.ok ? fmt::format("{} events waiting to be written", m.audit_queue_depth) : st.audit.detail});
  return out;
}

std::string readiness_problem(const SynchronizerStatus& st) {
  if (!st.fatal.ok()) return "gave up: " + st.fatal.message;
  if (!st.running) return "not running";
  if (!st.audit.ok) return "audit log: " + st.audit.detail;
  if (!st.token.ok) return "access token: " + st.token.detail;
  if (!st.connections.ok || st.connections_up == 0)
    return "gateway connections: " + (st.connections.detail.empty() ? std::string("none open") : st.connections.detail);
  return "ready";
}

StatusModel::StatusModel(StatusModelOptions options)
    : options_(options),
      clock_(options.clock ? *options.clock : system_clock()),
      started_(clock_.steady_now()),
      started_unix_(clock_.unix_now()),
      errors_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(std::max<std::size_t>(1, options.recent_errors))) {
  errors_->set_level(spdlog::level::warn);
  samples_.push_back({started_, MetricsSnapshot{}});  // nothing had happened yet
}

void StatusModel::sample(const MetricsSnapshot& metrics) {
  const auto at = clock_.steady_now();
  const auto max_samples = static_cast<std::size_t>(2 * options_.window / kSampleInterval + 2);
  std::lock_guard lock(mu_);
  samples_.push_back({at, metrics});
  // Keep the newest sample at least a window old: it is the window's base.
  while (samples_.size() > 2 && samples_[1].at <= at - options_.window) samples_.pop_front();
  while (samples_.size() > max_samples) samples_.pop_front();
}

json::object StatusModel::document(const MetricsSnapshot& now, bool ready,
                                  const std::vector<ComponentHealth>& health) const {
  const auto at = clock_.steady_now();
  json::object doc;
  {
    std::lock_guard lock(mu_);
    add_window_figures(samples_, StatusSample{at, now}, doc);
  }
  doc["generated_at"] = rounded(clock_.unix_now());
  doc["started_at"] = rounded(started_unix_);
  doc["uptime_seconds"] = rounded(Seconds(at - started_).count(), 1);
  doc["ready"] = ready;
  doc["health"] = health_json(health);
  doc["connections"] = json::object{{"open", now.connections}, {"reconnects", now.reconnects},
                                    {"token_refreshes", now.token_refreshes}};
  doc["sessions"] = now.sessions;
  doc["queue"] = json::object{{"queued", now.queue_depth}, {"in_flight", now.in_flight},
                              {"crm_queued", now.crm_queue_depth}};
  doc["finished"] = now.syncs_total;
  doc["nacks"] = nacks_json(now);
  doc["adoption"] = json::object{{"adopted", now.adopted}, {"dismissed", now.dismissed},
                                 {"rate", rounded(now.adoption_rate, 4)}};
  doc["audit"] = json::object{{"queue_depth", now.audit_queue_depth}};
  json::array errors;  // newest first
  const auto logged = errors_->last_raw();
  for (auto it = logged.rbegin(); it != logged.rend(); ++it)
    errors.push_back(json::object{{"time", rounded(unix_seconds(it->time))},
                                  {"level", level_name(it->level)},
                                  {"message", redact(std::string_view(it->payload.data(), it->payload.size()))}});
  doc["errors"] = std::move(errors);
  return doc;
}

}  // namespace assist::service
