#include <algorithm>
#include <charconv>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>

#include <gtest/gtest.h>

#include "metrics/metrics_registry.h"

namespace assist {
namespace {

using std::chrono::milliseconds;

void record_sample(Metrics& m) {
  m.record_ack(milliseconds(10));
  m.record_ack(milliseconds(30));
  m.record_ack(milliseconds(20), /*duplicate=*/true);
  m.record_ack(milliseconds(40));
  m.record_nack(NackCode::stale);
  m.record_nack(NackCode::session_limit);
  m.record_nack(NackCode::stale);
  m.record_outcome(OutcomeKind::rejected_freshness);
  m.record_outcome(OutcomeKind::superseded);
  m.record_outcome(OutcomeKind::failed);
  m.record_feedback(FeedbackAction::adopted);
  m.record_feedback(FeedbackAction::dismissed);
  m.record_feedback(FeedbackAction::adopted);
  m.broadcasts.inc(9);
  m.reconnects.inc();
  m.token_refreshes.inc(2);
  m.queue_depth.set(5);
  m.in_flight.add(3);
  m.in_flight.add(-1);
  m.connections.set(2);
  m.sessions.set(7);
  m.crm_delivered.inc(4);
  m.crm_dropped.inc();
}

TEST(Metrics, SnapshotHoldsTheSourcesFiguresAndMore) {
  Metrics m;
  record_sample(m);
  const auto s = m.snapshot();
  EXPECT_EQ(s.syncs_total, 10u);
  EXPECT_EQ(s.syncs_successful, 4u);
  EXPECT_EQ(s.syncs_failed, 5u);  // 3 nacked, 1 rejected, 1 failed; superseded is neither
  EXPECT_EQ(s.outcomes[static_cast<std::size_t>(OutcomeKind::nacked)], 3u);
  EXPECT_EQ(s.nacks[static_cast<std::size_t>(NackCode::stale)], 2u);
  EXPECT_EQ(s.nacks[static_cast<std::size_t>(NackCode::session_limit)], 1u);
  EXPECT_EQ(s.duplicate_acks, 1u);
  EXPECT_NEAR(s.average_latency_seconds, 0.025, 1e-12);
  EXPECT_DOUBLE_EQ(s.adoption_rate, 0.5);  // 2 adopted of 4 acked
  EXPECT_EQ(s.adopted, 2u);
  EXPECT_EQ(s.dismissed, 1u);
  EXPECT_EQ(s.ack_latency.count, 4u);
  EXPECT_EQ(s.broadcasts, 9u);
  EXPECT_EQ(s.in_flight, 2);
  EXPECT_EQ(s.queue_depth, 5);
  EXPECT_EQ(s.connections, 2);
  EXPECT_EQ(s.sessions, 7);
  EXPECT_EQ(s.reconnects, 1u);
  EXPECT_EQ(s.token_refreshes, 2u);
  EXPECT_EQ(s.crm_delivered, 4u);
  EXPECT_EQ(s.crm_dropped, 1u);
}

TEST(Metrics, AdoptionRateIsZeroBeforeAnyAck) {
  Metrics m;
  m.record_feedback(FeedbackAction::adopted);
  EXPECT_EQ(m.snapshot().adoption_rate, 0.0);
  EXPECT_EQ(m.snapshot().average_latency_seconds, 0.0);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool is_metric_name(std::string_view name) {
  if (!name.starts_with("assist_sync_") || name.size() == 12) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; });
}

// A sample line: name, its {labels} text (empty when none), value text.
struct Sample {
  std::string name, labels, value;
};

// Parses `name{label="value",...} number` strictly; nullopt if malformed.
std::optional<Sample> parse_sample(std::string_view line) {
  Sample out;
  const auto name_end = line.find_first_of("{ ");
  if (name_end == std::string_view::npos) return std::nullopt;
  out.name = std::string(line.substr(0, name_end));
  if (!is_metric_name(out.name)) return std::nullopt;
  std::size_t at = name_end;
  if (line[at] == '{') {
    for (;;) {
      ++at;
      const auto eq = line.find('=', at);
      if (eq == std::string_view::npos || eq == at) return std::nullopt;
      for (std::size_t i = at; i < eq; ++i)
        if (!((line[i] >= 'a' && line[i] <= 'z') || line[i] == '_')) return std::nullopt;
      if (eq + 1 >= line.size() || line[eq + 1] != '"') return std::nullopt;
      const auto close = line.find('"', eq + 2);
      if (close == std::string_view::npos) return std::nullopt;
      if (line.substr(eq + 2, close - eq - 2).find_first_of("\\\n") != std::string_view::npos) return std::nullopt;
      at = close + 1;
      if (at >= line.size()) return std::nullopt;
      if (line[at] == '}') break;
      if (line[at] != ',') return std::nullopt;
    }
    out.labels = std::string(line.substr(name_end, at + 1 - name_end));
    ++at;
  }
  if (at >= line.size() || line[at] != ' ') return std::nullopt;
  out.value = std::string(line.substr(at + 1));
  if (out.value == "+Inf" || out.value == "-Inf" || out.value == "NaN") return out;
  double number = 0;
  const auto* first = out.value.data();
  const auto* last = first + out.value.size();
  const auto [ptr, ec] = std::from_chars(first, last, number);
  if (out.value.empty() || ec != std::errc() || ptr != last) return std::nullopt;
  return out;
}

// Checks the exposition format 0.0.4 line by line and returns the samples
// ("name{labels}" -> value text).
std::map<std::string, std::string> parse_exposition(const std::string& text) {
  EXPECT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  std::map<std::string, std::string> samples;
  std::map<std::string, std::string> types;
  std::set<std::string> helped;
  std::string current_family;
  for (const auto& line : lines_of(text)) {
    if (line.starts_with("# HELP ")) {
      const auto rest = std::string_view(line).substr(7);
      const auto space = rest.find(' ');
      const std::string name(rest.substr(0, space));
      EXPECT_TRUE(is_metric_name(name) && space != std::string_view::npos && space + 1 < rest.size()) << line;
      EXPECT_TRUE(helped.insert(name).second) << "second HELP for " << name;
      current_family = name;
    } else if (line.starts_with("# TYPE ")) {
      const auto rest = std::string_view(line).substr(7);
      const auto space = rest.find(' ');
      if (space == std::string_view::npos) {
        ADD_FAILURE() << "malformed TYPE line: " << line;
        continue;
      }
      const std::string name(rest.substr(0, space));
      const std::string type(rest.substr(space + 1));
      EXPECT_EQ(name, current_family) << "TYPE without its HELP: " << line;
      EXPECT_TRUE(type == "counter" || type == "gauge" || type == "histogram") << line;
      EXPECT_TRUE(types.emplace(name, type).second) << "second TYPE for " << name;
      if (type == "counter") {
        EXPECT_TRUE(name.ends_with("_total")) << line;
      }
    } else if (const auto sample = parse_sample(line)) {
      const auto& family_type = types[current_family];
      if (family_type == "histogram") {
        EXPECT_TRUE(sample->name == current_family + "_bucket" || sample->name == current_family + "_sum" ||
                    sample->name == current_family + "_count")
            << line;
      } else {
        EXPECT_EQ(sample->name, current_family) << "sample outside its family: " << line;
      }
      EXPECT_TRUE(samples.emplace(sample->name + sample->labels, sample->value).second) << "duplicate " << line;
    } else {
      ADD_FAILURE() << "not an exposition line: '" << line << "'";
    }
  }
  return samples;
}

TEST(Prometheus, TheLineParserRejectsMalformedSamples) {
  EXPECT_TRUE(parse_sample("assist_sync_x_total{a=\"b\",c=\"d\"} 1.5e-05"));
  EXPECT_FALSE(parse_sample("assist_sync_x_total{a=\"b\"}1"));
  EXPECT_FALSE(parse_sample("assist_sync_x_total{a=b} 1"));
  EXPECT_FALSE(parse_sample("assist_sync_x_total 1 2"));
  EXPECT_FALSE(parse_sample("other_x_total 1"));
  EXPECT_FALSE(parse_sample("assist_sync_x_total 8E-1x"));
}

TEST(Prometheus, TextExpositionIsWellFormedLineByLine) {
  Metrics m;
  record_sample(m);
  const auto text = prometheus_text(m.snapshot());
  const auto samples = parse_exposition(text);
  EXPECT_EQ(samples.at("assist_sync_syncs_total"), "10");
  EXPECT_EQ(samples.at("assist_sync_syncs_successful_total"), "4");
  EXPECT_EQ(samples.at("assist_sync_syncs_failed_total"), "5");
  EXPECT_EQ(samples.at("assist_sync_outcomes_total{outcome=\"rejected_freshness\"}"), "1");
  EXPECT_EQ(samples.at("assist_sync_nacks_total{code=\"STALE\"}"), "2");
  EXPECT_EQ(samples.at("assist_sync_nacks_total{code=\"INFLIGHT_LIMIT\"}"), "0");
  EXPECT_EQ(samples.at("assist_sync_adoption_ratio"), "0.5");
  EXPECT_EQ(samples.at("assist_sync_ack_latency_average_seconds"), "0.025");
  EXPECT_EQ(samples.at("assist_sync_feedback_total{action=\"adopted\"}"), "2");
  EXPECT_EQ(samples.at("assist_sync_in_flight"), "2");
  EXPECT_EQ(samples.at("assist_sync_reconnects_total"), "1");
  EXPECT_EQ(samples.at("assist_sync_token_refreshes_total"), "2");
  EXPECT_EQ(samples.at("assist_sync_crm_updates_total{result=\"dropped\"}"), "1");
  EXPECT_EQ(samples.at("assist_sync_ack_latency_seconds_count"), "4");
  EXPECT_EQ(samples.at("assist_sync_ack_latency_seconds_sum"), "0.1");
  EXPECT_EQ(samples.at("assist_sync_ack_latency_seconds_bucket{le=\"0.01\"}"), "1");
  EXPECT_EQ(samples.at("assist_sync_ack_latency_seconds_bucket{le=\"0.025\"}"), "2");
  EXPECT_EQ(samples.at("assist_sync_ack_latency_seconds_bucket{le=\"0.05\"}"), "4");
  EXPECT_EQ(samples.at("assist_sync_ack_latency_seconds_bucket{le=\"+Inf\"}"), "4");
  for (const char* q : {"0.5", "0.9", "0.99", "0.999"})
    EXPECT_TRUE(samples.contains(std::string("assist_sync_ack_latency_quantile_seconds{quantile=\"") + q + "\"}")) << q;
}

TEST(Prometheus, HistogramBucketsAreCumulativeAndEndAtCount) {
  Metrics m;
  for (int i = 1; i <= 200; ++i) m.record_ack(std::chrono::microseconds(i * i * 10));
  const auto text = prometheus_text(m.snapshot());
  std::uint64_t previous = 0;
  std::string last_le;
  std::uint64_t buckets = 0;
  for (const auto& line : lines_of(text)) {
    const auto sample = parse_sample(line);
    if (!sample || sample->name != "assist_sync_ack_latency_seconds_bucket") continue;
    const auto value = std::stoull(sample->value);
    EXPECT_GE(value, previous) << line;
    previous = value;
    last_le = sample->labels;
    ++buckets;
  }
  EXPECT_EQ(buckets, LatencyHistogram::kBounds.size() + 1);
  EXPECT_EQ(last_le, "{le=\"+Inf\"}");
  EXPECT_EQ(previous, 200u);
}

TEST(Prometheus, AnEmptySnapshotIsWellFormed) {
  const auto samples = parse_exposition(prometheus_text(Metrics().snapshot()));
  EXPECT_EQ(samples.at("assist_sync_syncs_total"), "0");
  EXPECT_EQ(samples.at("assist_sync_ack_latency_quantile_seconds{quantile=\"0.99\"}"), "0");
}

}  // namespace
}  // namespace assist
