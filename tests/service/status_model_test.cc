#include "service/status_model.h"

#include <spdlog/logger.h>
#include <gtest/gtest.h>

#include "metrics/metrics_registry.h"
#include "service/logging.h"

namespace assist::service {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

std::uint64_t number(const json::value& v) { return v.to_number<std::uint64_t>(); }

// The row of `label` ("acked"...) in the document's outcomes.
const json::object& outcome_row(const json::object& doc, std::string_view label) {
  for (const auto& row : doc.at("outcomes").as_array())
    if (row.at("label").as_string() == label) return row.as_object();
  throw std::runtime_error("no outcome row " + std::string(label));
}

class StatusModelTest : public ::testing::Test {
 protected:
  StatusModelOptions options() { return StatusModelOptions{60s, 5, &clock_}; }
  // One second passes, `acks` prompts are ACKed after `latency` each, and the service samples.
  void second(StatusModel& model, int acks, std::chrono::nanoseconds latency) {
    clock_.advance(1s);
    for (int i = 0; i < acks; ++i) metrics_.record_ack(latency);
    model.sample(metrics_.snapshot());
  }
  ManualClock clock_;
  Metrics metrics_;
};

TEST_F(StatusModelTest, BeforeAnySampleEverythingCountsFromTheStart) {
  StatusModel model(options());
  metrics_.record_ack(2ms);
  metrics_.record_outcome(OutcomeKind::superseded);
  clock_.advance(2s);
  const auto doc = model.document(metrics_.snapshot(), true, {});
  EXPECT_EQ(number(outcome_row(doc, "acked").at("total")), 1u);
  EXPECT_EQ(number(outcome_row(doc, "acked").at("last_minute")), 1u);
  EXPECT_EQ(number(outcome_row(doc, "superseded").at("last_minute")), 1u);
  EXPECT_EQ(outcome_row(doc, "superseded").at("outcome").as_string(), "SUPERSEDED");
  EXPECT_EQ(number(doc.at("finished")), 2u);
  EXPECT_DOUBLE_EQ(doc.at("window_seconds").to_number<double>(), 2.0);
  EXPECT_DOUBLE_EQ(doc.at("throughput").at("finished_per_second").to_number<double>(), 1.0);  // 2 in 2 s
  EXPECT_EQ(doc.at("ready").as_bool(), true);
  EXPECT_EQ(doc.at("outcomes").as_array().size(), kOutcomeKindCount);
}

TEST_F(StatusModelTest, LastMinuteFiguresLeaveOutWhatIsOlder) {
  StatusModel model(options());
  for (int s = 0; s < 30; ++s) second(model, 10, 80ms);  // slow, then
  for (int s = 0; s < 60; ++s) second(model, 5, 300us);  // a minute of fast ACKs
  clock_.advance(500ms);
  const auto doc = model.document(metrics_.snapshot(), true, {});
  const auto& acked = outcome_row(doc, "acked");
  EXPECT_EQ(number(acked.at("total")), 600u);
  EXPECT_EQ(number(acked.at("last_minute")), 300u);
  const auto& latency = doc.at("latency").as_object();
  EXPECT_EQ(number(latency.at("count")), 300u);
  EXPECT_NEAR(latency.at("p99_ms").to_number<double>(), 0.3, 0.01);  // all-time p99 would be 80 ms
  EXPECT_NEAR(latency.at("p50_ms").to_number<double>(), 0.3, 0.01);
  std::uint64_t in_bins = 0;
  for (const auto& bin : latency.at("histogram").as_array()) {
    in_bins += number(bin.at("count"));
    if (bin.at("le_ms").to_number<double>() == 0.5) {
      EXPECT_EQ(number(bin.at("count")), 300u);
    }
  }
  EXPECT_EQ(in_bins, 300u);
  EXPECT_NEAR(doc.at("window_seconds").to_number<double>(), 60.5, 1e-9);
  const auto& throughput = doc.at("throughput").as_object();
  EXPECT_NEAR(throughput.at("finished_per_second").to_number<double>(), 50.0 / 10.5, 0.05);
  const auto& series = throughput.at("series").as_array();
  EXPECT_EQ(series.size(), 61u);  // one per second, and the half second since the last sample
  EXPECT_DOUBLE_EQ(series.front().to_number<double>(), 5.0);
}

TEST_F(StatusModelTest, KeepsABoundedNumberOfSamplesWhateverThePace) {
  StatusModel model(options());
  for (int i = 0; i < 1000; ++i) model.sample(metrics_.snapshot());  // no time passes
  const auto doc = model.document(metrics_.snapshot(), true, {});
  EXPECT_LE(doc.at("throughput").at("series").as_array().size(), 2u * 60 + 2);
}

TEST_F(StatusModelTest, KeepsTheNewestWarningsAndErrorsRedacted) {
  register_secret("hunter2-secret");
  StatusModel model(options());  // keeps 5
  spdlog::logger logger("test", model.error_sink());
  logger.info("not kept: informational");
  for (int i = 0; i < 6; ++i) logger.warn("token endpoint refused attempt {}", i);
  logger.error("client_secret hunter2-secret was rejected");
  const auto doc = model.document(metrics_.snapshot(), false, {});
  const auto& errors = doc.at("errors").as_array();
  ASSERT_EQ(errors.size(), 5u);
  EXPECT_EQ(errors[0].at("level").as_string(), "error");  // newest first
  EXPECT_EQ(errors[0].at("message").as_string().find("hunter2-secret"), json::string::npos)
      << errors[0].at("message").as_string();
  EXPECT_EQ(errors[1].at("level").as_string(), "warn");
  EXPECT_EQ(errors[1].at("message").as_string(), "token endpoint refused attempt 5");
  EXPECT_EQ(errors[4].at("message").as_string(), "token endpoint refused attempt 2");
  EXPECT_GT(errors[0].at("time").to_number<double>(), 1e9);
}

TEST_F(StatusModelTest, HealthOfAStoppedSynchronizerIsFailing) {
  Synchronizer sync{SynchronizerOptions{}};  // never started: not ready, no connection
  StatusModel model(options());
  const auto m = sync.metrics();
  const auto doc = model.document(m, sync.ready(), component_health(sync, m));
  const auto& health = doc.at("health").as_array();
  ASSERT_EQ(health.size(), 4u);
  EXPECT_EQ(health[0].at("component").as_string(), "readiness");
  EXPECT_EQ(health[0].at("state").as_string(), "failing");
  EXPECT_EQ(health[0].at("detail").as_string(), "not running");
  EXPECT_EQ(health[1].at("component").as_string(), "access token");
  EXPECT_EQ(health[2].at("component").as_string(), "gateway connections");
  EXPECT_EQ(health[2].at("state").as_string(), "failing");
  EXPECT_EQ(health[3].at("component").as_string(), "audit log");
  EXPECT_EQ(health[3].at("state").as_string(), "ok");
  EXPECT_FALSE(doc.at("ready").as_bool());
}

}  // namespace
}  // namespace assist::service
