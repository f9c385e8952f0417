// Scale-out ingest against a real nats-server and the gateway emulator, in
// one process: the route publishes, the partitions' owner delivers, the
// ticket completes from the outcomes stream (docs/scale-out.md).
#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "assist/gateway.h"
#include "assist/synchronizer.h"
#include "bus/connection.h"
#include "bus/partition.h"
#include "bus/pull_consumer.h"
#include "bus/subscription.h"
#include "bus/nats_server.h"
#include "ingest/jetstream_ingest.h"
#include "ingest/partition_worker.h"
#include "ingest/prompt_stream.h"
#include "support/gateway_client.h"
#include "support/prompt_gen.h"

namespace assist {
namespace {

using namespace std::chrono_literals;

template <class F>
bool eventually(F&& done, std::chrono::milliseconds timeout = 20s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

AssistPrompt prompt(const std::string& session, const std::string& interaction) {
  auto p = testing::source_example_prompt();
  p.session_id = session;
  p.interaction_id = interaction;
  p.priority_override = false;
  p.timestamp.reset();
  return p;
}

TEST(PromptStream, APromptMessageIsTheContractsFrameAndReadsBack) {
  auto p = prompt("S1", "I1");
  p.timestamp = 1733300000.25;
  const auto text = ingest::encode_prompt_message("7f1c0d1e-5b9a-4c3e-8f21-0a6b2d9e4c10", p);
  EXPECT_NE(text.find("\"type\":\"PROMPT_SYNC\""), std::string::npos) << text;
  const auto back = ingest::decode_prompt_message(text);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->frame_id, "7f1c0d1e-5b9a-4c3e-8f21-0a6b2d9e4c10");
  EXPECT_EQ(back->payload, p);
  EXPECT_FALSE(ingest::decode_prompt_message("{\"type\":\"ACK\",\"frame_id\":\"x\",\"sequence\":1,\"duplicate\":false}"));
  EXPECT_FALSE(ingest::decode_prompt_message("not json"));
}

TEST(PromptStream, AnOutcomeMessageReadsBackAndIgnoresWhatItDoesNotKnow) {
  SyncOutcome o;
  o.kind = OutcomeKind::nacked;
  o.frame_id = "7f1c0d1e-5b9a-4c3e-8f21-0a6b2d9e4c10";
  o.sequence = 42;
  o.nack_code = NackCode::stale;
  o.latency_seconds = 0.001234;
  o.reason = "too old";
  const auto text = ingest::encode_outcome_message(o, "web-3", 7);
  EXPECT_NE(text.find("\"instance\":\"web-3\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"partition\":7"), std::string::npos) << text;
  const auto back = ingest::decode_outcome_message(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->kind, OutcomeKind::nacked);
  EXPECT_EQ(back->frame_id, o.frame_id);
  EXPECT_EQ(back->sequence, 42u);
  EXPECT_EQ(back->nack_code, NackCode::stale);
  EXPECT_DOUBLE_EQ(back->latency_seconds, 0.001234);
  EXPECT_EQ(back->reason, "too old");
  EXPECT_FALSE(ingest::decode_outcome_message("{\"frame_id\":\"x\",\"outcome\":\"SHOWN\"}"));
  EXPECT_FALSE(ingest::decode_outcome_message("[]"));
}

class IngestTest : public testing::NatsServerTest {
 protected:
  void SetUp() override {
    NatsServerTest::SetUp();
    if (IsSkipped()) return;
    gateway_ = std::make_unique<Gateway>(GatewayOptions{});
    ASSERT_TRUE(gateway_->start().ok());
  }
  void TearDown() override {
    ingests_.clear();
    syncs_.clear();
    gateway_.reset();
    NatsServerTest::TearDown();
  }

  SynchronizerOptions sync_options() {
    auto o = testing::options_for(*gateway_);
    o.log.level = LogLevel::warn;
    return o;
  }

  ingest::IngestOptions ingest_options(const std::string& instance) {
    ingest::IngestOptions o;
    o.connect.servers = {server_->url()};
    o.partitions = 4;
    o.lease_ttl = 1500ms;
    o.ack_wait = 3s;
    o.instance_id = instance;
    o.retry_initial = 100ms;
    o.acceptance = sync_options();
    return o;
  }

  // A started synchronizer and an ingest beside it.
  ingest::JetStreamIngest& start_instance(ingest::IngestOptions o, std::optional<SynchronizerOptions> so = {}) {
    syncs_.push_back(std::make_unique<Synchronizer>(so ? *so : sync_options()));
    EXPECT_TRUE(syncs_.back()->start().ok());
    ingests_.push_back(std::make_unique<ingest::JetStreamIngest>(std::move(o), *syncs_.back()));
    EXPECT_TRUE(ingests_.back()->start().ok());
    return *ingests_.back();
  }

  static SubmitResult submit(ingest::JetStreamIngest& ingest, AssistPrompt p) {
    std::promise<SubmitResult> answer;
    ingest.submit(std::move(p), [&](SubmitResult r) { answer.set_value(std::move(r)); });
    return answer.get_future().get();
  }

  std::unique_ptr<Gateway> gateway_;
  std::vector<std::unique_ptr<Synchronizer>> syncs_;
  std::vector<std::unique_ptr<ingest::JetStreamIngest>> ingests_;
};

TEST_F(IngestTest, APromptGoesThroughTheStreamAndItsTicketGetsTheOutcome) {
  auto& ingest = start_instance(ingest_options("a"));
  ASSERT_TRUE(eventually([&] { return ingest.health().ok() && ingest.stats().partitions_held == 4; }))
      << ingest.health().message;
  std::vector<PromptTicket> tickets;
  for (int i = 0; i < 100; ++i) {
    auto r = submit(ingest, prompt(testing::numbered("S", i % 10), testing::numbered("I", i)));
    ASSERT_TRUE(r) << r.error().message;
    tickets.push_back(r.value());
  }
  for (auto& t : tickets) {
    const auto o = t.wait();
    EXPECT_EQ(o.kind, OutcomeKind::acked) << o.reason;
    EXPECT_GE(o.sequence, std::uint64_t{1} << ingest::kSequenceShift);
  }
  EXPECT_EQ(gateway_->stats().prompts_delivered, 100u);
  EXPECT_EQ(gateway_->stats().order_violations, 0u);
  ASSERT_TRUE(eventually([&] { return ingest.stats().acknowledged == 100; })) << ingest.stats().acknowledged;
  EXPECT_EQ(ingest.stats().published, 100u);
  EXPECT_EQ(ingest.stats().consumed, 100u);
}

TEST_F(IngestTest, AnInvalidPromptIsRefusedBeforeItIsPublished) {
  auto& ingest = start_instance(ingest_options("a"));
  auto p = prompt("S1", "I1");
  p.priority_level = 9;
  const auto r = submit(ingest, p);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, SubmitErrc::invalid_prompt);
  EXPECT_FALSE(r.error().violations.empty());
  EXPECT_EQ(ingest.stats().published, 0u);
}

TEST_F(IngestTest, TwoInstancesShareThePartitionsAndEitherAnswersForTheOther) {
  auto& a = start_instance(ingest_options("a"));
  auto& b = start_instance(ingest_options("b"));
  ASSERT_TRUE(eventually([&] { return a.stats().partitions_held == 2 && b.stats().partitions_held == 2; }))
      << a.stats().partitions_held << " " << b.stats().partitions_held;
  std::vector<PromptTicket> tickets;
  for (int i = 0; i < 200; ++i) {
    auto r = submit(i % 2 ? a : b, prompt(testing::numbered("S", i % 40), testing::numbered("I", i)));
    ASSERT_TRUE(r) << r.error().message;
    tickets.push_back(r.value());
  }
  for (auto& t : tickets) EXPECT_EQ(t.wait().kind, OutcomeKind::acked);
  EXPECT_GT(a.stats().consumed, 0u);
  EXPECT_GT(b.stats().consumed, 0u);
  EXPECT_EQ(a.stats().consumed + b.stats().consumed, 200u);
  EXPECT_EQ(gateway_->stats().prompts_delivered, 200u);
  EXPECT_EQ(gateway_->stats().order_violations, 0u);
}

// A message taken by an owner that died (fetched, never acknowledged) comes
// back after AckWait; stale by then, it ends unconfirmed: its first owner may
// have shown it.
TEST_F(IngestTest, AMessageItsOwnerNeverAcknowledgedEndsUnconfirmedOnRedelivery) {
  auto o = ingest_options("a");
  o.partitions = 1;
  o.ack_wait = 2500ms;  // past the freshness threshold: the redelivery finds it stale
  const bus::StreamConfig stream{o.stream, {std::string(ingest::kPromptSubjects)}};
  ASSERT_TRUE(connection_->ensure_stream(stream).ok());
  auto p = prompt("S1", "I1");
  p.timestamp = system_clock().unix_now();
  const std::string id = "0b1c2d3e-4f5a-4b6c-9d7e-8f9a0b1c2d3e";
  ASSERT_TRUE(connection_->publish(ingest::prompt_subject(0), ingest::encode_prompt_message(id, p), id));
  {
    // The first owner: fetches it and dies before acknowledging.
    auto consumer = bus::PullConsumer::open(*connection_, {o.stream, "partition-0", ingest::prompt_subject(0), o.ack_wait, {}});
    ASSERT_TRUE(consumer) << consumer.error().message;
    auto fetched = consumer->fetch(1, 2s);
    ASSERT_TRUE(fetched && fetched->size() == 1);
  }
  std::mutex mu;
  std::vector<SyncOutcome> published;
  auto feed = bus::Subscription::open(*connection_, std::string(ingest::kOutcomeSubjects),
                                      [&](std::string_view, std::string_view data) {
                                        std::lock_guard lock(mu);
                                        if (auto outcome = ingest::decode_outcome_message(data)) published.push_back(*outcome);
                                      });
  ASSERT_TRUE(feed) << feed.error().message;
  auto& ingest = start_instance(o);
  ASSERT_TRUE(eventually([&] { return ingest.stats().redelivered == 1 && ingest.stats().acknowledged == 1; }))
      << ingest.stats().redelivered << " " << ingest.stats().acknowledged;
  EXPECT_EQ(gateway_->stats().frames_received, 0u);
  std::lock_guard lock(mu);
  ASSERT_EQ(published.size(), 1u);
  EXPECT_EQ(published[0].frame_id, id);
  EXPECT_EQ(published[0].kind, OutcomeKind::unconfirmed);
  EXPECT_EQ(published[0].reason.rfind("redelivered", 0), 0u) << published[0].reason;
}

TEST_F(IngestTest, StartRefusesAnAckWaitWithinTheFreshnessThreshold) {
  auto o = ingest_options("a");
  o.ack_wait = 2s;
  Synchronizer sync(sync_options());
  ingest::JetStreamIngest ingest(o, sync);
  const auto started = ingest.start();
  EXPECT_FALSE(started.ok());
  EXPECT_NE(started.message.find("ack_wait"), std::string::npos) << started.message;
}

// [ingest] max_age_seconds reaches both streams; a prompt stream whose max
// age an operator edited is set back at start.
TEST_F(IngestTest, BothStreamsGetTheConfiguredMaxAgeAndAnEditedOneIsSetBack) {
  const auto max_age_of = [&](const char* stream) {
    jsStreamInfo* info = nullptr;
    if (js_GetStreamInfo(&info, connection_->jetstream(), stream, nullptr, nullptr) != NATS_OK) return std::int64_t{-1};
    const auto age = info->Config->MaxAge;
    jsStreamInfo_Destroy(info);
    return age;
  };
  bus::StreamConfig edited{"ASSIST_PROMPTS", {std::string(ingest::kPromptSubjects)}};
  edited.max_age = std::chrono::hours(5);  // what an operator left
  ASSERT_TRUE(connection_->ensure_stream(edited).ok());

  auto o = ingest_options("a");
  o.max_age = std::chrono::hours(1);
  auto& ingest = start_instance(o);
  ASSERT_TRUE(eventually([&] { return ingest.health().ok(); })) << ingest.health().message;
  const auto hour = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::hours(1)).count();
  EXPECT_EQ(max_age_of("ASSIST_PROMPTS"), hour);
  EXPECT_EQ(max_age_of("ASSIST_PROMPTS_OUTCOMES"), hour);
}

TEST_F(IngestTest, StartRefusesReplicasOrAMaxAgeOutOfRange) {
  Synchronizer sync(sync_options());
  auto o = ingest_options("a");
  o.replicas = 6;
  EXPECT_NE(ingest::JetStreamIngest(o, sync).start().message.find("replicas 6"), std::string::npos);
  o = ingest_options("a");
  o.max_age = 60s;
  const auto started = ingest::JetStreamIngest(o, sync).start();
  EXPECT_NE(started.message.find("duplicate window"), std::string::npos) << started.message;
}

TEST_F(IngestTest, NatsDownAtStartIsRetriedAndUntilThenPromptsAreRefused) {
  server_->kill();
  auto& ingest = start_instance(ingest_options("a"));
  const auto down = ingest.health();
  EXPECT_FALSE(down.ok());
  const auto refused = submit(ingest, prompt("S1", "I1"));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, SubmitErrc::ingest_unavailable);
  server_->restart();
  ASSERT_TRUE(eventually([&] { return ingest.health().ok(); }, 30s)) << ingest.health().message;
  auto r = submit(ingest, prompt("S1", "I1"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->wait().kind, OutcomeKind::acked);
}


// NATS lost mid-run: health says so (/readyz 503) and new prompts are refused
// (503 to the caller, who retries); what JetStream stored before is
// delivered once the server is back, and nothing is lost or shown twice.
TEST_F(IngestTest, NatsLostMidRunRefusesNewPromptsAndLosesNothingStored) {
  auto& ingest = start_instance(ingest_options("a"));
  ASSERT_TRUE(eventually([&] { return ingest.health().ok() && ingest.stats().partitions_held == 4; }));
  gateway_->set_stalled(true);  // stored and taken, not yet answered when the server dies
  std::vector<PromptTicket> before;
  for (int i = 0; i < 20; ++i) before.push_back(submit(ingest, prompt(testing::numbered("S", i), "I1")).value());
  server_->kill();
  ASSERT_TRUE(eventually([&] { return !ingest.health().ok(); })) << "health still ok";
  const auto refused = submit(ingest, prompt("S1", "I2"));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, SubmitErrc::ingest_unavailable);
  gateway_->set_stalled(false);
  server_->restart();
  ASSERT_TRUE(eventually([&] { return ingest.health().ok(); }, 30s)) << ingest.health().message;
  auto after = submit(ingest, prompt("S1", "I3"));
  ASSERT_TRUE(after) << after.error().message;
  EXPECT_EQ(after->wait().kind, OutcomeKind::acked);
  // Each stored prompt was shown once. Acknowledgements sent while the server
  // was down are lost, and a restarted server redelivers at once what was
  // pending: fresh still, those are written again, and the gateway suppresses
  // the second display by frame_id.
  EXPECT_EQ(gateway_->stats().prompts_delivered, 21u);
  EXPECT_EQ(gateway_->stats().acks_sent, 21u + gateway_->stats().duplicates_suppressed);
}

// A lease lost while frames are in flight: a second instance joins, the
// first releases half its partitions with prompts of them still unanswered;
// those finish and are acknowledged where they were taken, the new owner
// takes the rest, and no prompt is shown twice.
TEST_F(IngestTest, PromptsInFlightWhenAPartitionMovesFinishWhereTheyWereTaken) {
  auto& a = start_instance(ingest_options("a"));
  ASSERT_TRUE(eventually([&] { return a.stats().partitions_held == 4; }));
  gateway_->set_stalled(true);
  std::vector<PromptTicket> tickets;
  for (int i = 0; i < 40; ++i) tickets.push_back(submit(a, prompt(testing::numbered("S", i), "I1")).value());
  ASSERT_TRUE(eventually([&] { return a.stats().consumed == 40; }));
  auto& b = start_instance(ingest_options("b"));
  ASSERT_TRUE(eventually([&] { return a.stats().partitions_held == 2 && b.stats().partitions_held == 2; }));
  gateway_->set_stalled(false);
  for (auto& t : tickets) EXPECT_EQ(t.wait().kind, OutcomeKind::acked);
  for (int i = 0; i < 40; ++i) tickets.push_back(submit(b, prompt(testing::numbered("S", i), "I2")).value());
  for (auto& t : tickets) EXPECT_EQ(t.wait().kind, OutcomeKind::acked);
  ASSERT_TRUE(eventually([&] { return a.stats().acknowledged + b.stats().acknowledged == 80; }));
  EXPECT_EQ(a.stats().redelivered + b.stats().redelivered, 0u);
  EXPECT_GT(b.stats().consumed, 0u);
  EXPECT_EQ(gateway_->stats().prompts_delivered, 80u);
  EXPECT_EQ(gateway_->stats().order_violations, 0u);
}

// A slow instance (its gateway stalled past the freshness threshold) keeps
// its partitions, the leases being renewed on a thread of their own; what
// went stale meanwhile ends as such, recorded, never shown late.
TEST_F(IngestTest, ASlowInstanceKeepsItsPartitionsAndNeverShowsAStalePrompt) {
  auto o = sync_options();
  o.realtime.max_inflight = 1;  // the rest queue behind the stall
  auto& a = start_instance(ingest_options("a"), o);
  ASSERT_TRUE(eventually([&] { return a.stats().partitions_held == 4; }));
  gateway_->set_stalled(true);
  std::vector<PromptTicket> tickets;
  for (int i = 0; i < 200; ++i) tickets.push_back(submit(a, prompt(testing::numbered("S", i % 20), testing::numbered("I", i))).value());
  std::this_thread::sleep_for(2500ms);  // past the freshness threshold and the lease TTL (1.5 s)
  EXPECT_EQ(a.stats().partitions_held, 4u);
  gateway_->set_stalled(false);
  std::map<OutcomeKind, int> kinds;
  for (auto& t : tickets) ++kinds[t.wait().kind];
  EXPECT_EQ(kinds[OutcomeKind::acked] + kinds[OutcomeKind::rejected_freshness], 200) << kinds.size();
  EXPECT_GT(kinds[OutcomeKind::rejected_freshness], 0);
  EXPECT_EQ(gateway_->stats().stale_arrivals, 0u);
  EXPECT_LE(gateway_->stats().max_prompt_age_at_delivery_s, o.freshness_seconds);
}

}  // namespace
}  // namespace assist
