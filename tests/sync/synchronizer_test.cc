// The synchronizer end to end against the real gateway emulator on
// 127.0.0.1: one test per delivery property (issue 5 §10).
#include "assist/synchronizer.h"
#include "assist/asio.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <latch>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
// g++ 12 at -O1 (the asan preset) warns that Asio's own promise handler may
// use its allocator uninitialized, inside the header: a false positive that
// -Werror made fatal. Silenced for this header only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/asio/use_future.hpp>
#pragma GCC diagnostic pop
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "assist/frame_id.h"
#include "assist/gateway.h"
#include "support/gateway_client.h"
#include "support/prompt_gen.h"
#include "support/spdlog_capture.h"

namespace assist {
namespace {

using namespace std::chrono_literals;

// Polls `pred` until true or 20 s pass (real time; conditions here are
// reached within milliseconds unless the code under test is broken).
template <class Pred>
bool eventually(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return pred();
}

// Delegates to the real Env; appends fail once `broken` is set, and the
// audit writer thread's appends wait while `stalled` is (a disk that stopped
// answering the writer, which then holds the file: `writer_stuck` says so). With a `capacity`, the
// disk holds that many bytes of audit files: reservations beyond it fail with
// ENOSPC, and so does an append beyond it (after writing what fits).
class BreakableEnv final : public Env {
 public:
  std::atomic<bool> broken{false};
  std::atomic<bool> stalled{false};
  std::atomic<bool> writer_stuck{false};
  std::uint64_t capacity = 0;  // 0: unlimited; set before the log opens

  Status open_appendable(const std::string& path, std::unique_ptr<WritableFile>& out) override {
    std::unique_ptr<WritableFile> inner;
    auto s = base().open_appendable(path, inner);
    std::uint64_t size = 0;
    base().file_size(path, size);
    if (s.ok()) out = std::make_unique<File>(std::move(inner), *this, size);
    return s;
  }
  Status read_at(const std::string& p, std::uint64_t o, std::size_t n, std::string& out) override {
    return base().read_at(p, o, n, out);
  }
  Status read_file(const std::string& p, std::string& out) override { return base().read_file(p, out); }
  Status file_size(const std::string& p, std::uint64_t& size) override { return base().file_size(p, size); }
  bool file_exists(const std::string& p) override { return base().file_exists(p); }
  Status rename_file(const std::string& f, const std::string& t) override { return base().rename_file(f, t); }
  Status remove_file(const std::string& p) override { return base().remove_file(p); }
  Status truncate_file(const std::string& p, std::uint64_t size) override { return base().truncate_file(p, size); }
  Status list_dir(const std::string& d, std::vector<std::string>& n) override { return base().list_dir(d, n); }
  Status sync_dir(const std::string& d) override { return base().sync_dir(d); }

 private:
  static Env& base() { return default_env(); }
  class File final : public WritableFile {
   public:
    File(std::unique_ptr<WritableFile> inner, BreakableEnv& env, std::uint64_t size)
        : inner_(std::move(inner)), env_(env), size_(size) {}
    Status append(std::string_view data) override {
      if (env_.stalled && on_audit_writer_thread()) {
        env_.writer_stuck = true;
        while (env_.stalled) std::this_thread::sleep_for(1ms);
        env_.writer_stuck = false;
      }
      if (env_.broken) return Status::from_errno(ENOSPC, "write", "audit.jsonl");
      if (env_.capacity > 0 && size_ + data.size() > env_.capacity) {
        const auto fits = env_.capacity > size_ ? env_.capacity - size_ : 0;
        size_ += fits;
        inner_->append(data.substr(0, fits));
        return Status::from_errno(ENOSPC, "write", "audit.jsonl");
      }
      size_ += data.size();
      return inner_->append(data);
    }
    Status flush() override { return inner_->flush(); }
    Status sync() override { return inner_->sync(); }
    Status reserve(std::uint64_t offset, std::uint64_t length) override {
      if (env_.capacity > 0 && offset + length > env_.capacity)
        return Status::from_errno(ENOSPC, "fallocate", "audit.jsonl");
      return {};  // within the capacity: the append will fit
    }
    Status close() override { return inner_->close(); }

   private:
    static bool on_audit_writer_thread() {
      char name[16] = {};
      ::pthread_getname_np(::pthread_self(), name, sizeof name);
      return std::string_view(name) == "assist-audit";
    }
    std::unique_ptr<WritableFile> inner_;
    BreakableEnv& env_;
    std::uint64_t size_;
  };
};

class SynchronizerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           (testing::numbered("assist-sync-test-", ::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    sync_.reset();
    gateway_.reset();
    std::filesystem::remove_all(dir_);
  }

  void start_gateway(GatewayOptions options = {}) {
    if (!options.clock) options.clock = clock_;
    gateway_ = std::make_unique<Gateway>(options);
    ASSERT_TRUE(gateway_->start().ok());
  }

  SynchronizerOptions sync_options() {
    auto o = testing::options_for(*gateway_);
    o.realtime.reconnect = {std::chrono::milliseconds(5), 2.0, std::chrono::milliseconds(50)};
    o.audit.path = audit_path();
    o.clock = clock_;
    return o;
  }

  // The gateway, and a synchronizer logging to `sink` from `level` up.
  void start_with_log_sink(LogSink sink, LogLevel level) {
    start_gateway();
    auto o = sync_options();
    o.log = {std::move(sink), level};
    start_sync(std::move(o));
  }

  void start_sync(SynchronizerOptions o) {
    sync_ = std::make_unique<Synchronizer>(std::move(o));
    ASSERT_TRUE(sync_->start().ok());
    ASSERT_TRUE(eventually([&] { return sync_->ready(); })) << "no connection came up";
  }

  // Options whose audit log is on a 200 KB disk (`env`), with 16 KB reserved
  // at a time and 64 KB of headroom.
  SynchronizerOptions on_a_small_disk(BreakableEnv& env) {
    env.capacity = 200 * 1024;
    auto o = sync_options();
    o.audit.env = &env;
    o.audit.reserve_bytes = 16 * 1024;
    o.audit.headroom_bytes = 64 * 1024;
    return o;
  }

  void start_sync_with_audit_env(Env& env) {
    auto o = sync_options();
    o.audit.env = &env;
    start_sync(o);
  }

  AssistPrompt prompt(const std::string& session, const std::string& interaction = "INT-1") {
    auto p = testing::source_example_prompt();
    p.session_id = session;
    p.interaction_id = interaction;
    p.priority_override = false;
    p.timestamp.reset();  // now, by the synchronizer's clock
    return p;
  }

  PromptTicket submit(AssistPrompt p) {
    auto r = sync_->sync_prompt(std::move(p));
    EXPECT_TRUE(r) << r.error().message;
    return r.value();
  }

  std::string audit_path() const { return (dir_ / "audit.jsonl").string(); }

  // Terminal audit events per frame_id, read back from the file.
  std::map<std::string, std::vector<std::string>> terminal_events() {
    std::map<std::string, std::vector<std::string>> out;
    std::ifstream in(audit_path());
    for (std::string line; std::getline(in, line);) {
      const auto v = boost::json::parse(line).as_object();
      const std::string type(v.at("event_type").as_string());
      if (type.rfind("SYNC_", 0) == 0 && type != "SYNC_BROADCAST" && !v.at("frame_id").as_string().empty())
        out[std::string(v.at("frame_id").as_string())].push_back(type);
    }
    return out;
  }

  std::size_t count_events(std::string_view type) {
    std::size_t n = 0;
    std::ifstream in(audit_path());
    for (std::string line; std::getline(in, line);)
      if (boost::json::parse(line).as_object().at("event_type").as_string() == type) ++n;
    return n;
  }

  // Sends 1500 prompts over 30 sessions to a gateway that drops connections,
  // and checks that every ACK is a prompt shown once, in order.
  void expect_replays_show_nothing_twice();

  std::filesystem::path dir_;
  ManualClock manual_clock_;
  Clock* clock_ = &system_clock();
  std::unique_ptr<Gateway> gateway_;
  std::unique_ptr<Synchronizer> sync_;
};

// The connection figures are the pool's own counts: each close of the one
// link is one reconnect, and the link is counted once however often it
// comes back.
TEST_F(SynchronizerTest, ConnectionFiguresAreThePoolsCounts) {
  start_gateway();
  start_sync(sync_options());
  EXPECT_EQ(submit(prompt("S1")).wait().kind, OutcomeKind::acked);
  for (std::uint64_t drops = 1; drops <= 2; ++drops) {
    gateway_->close_all(1001);
    ASSERT_TRUE(eventually([&] { return sync_->metrics().reconnects == drops && sync_->ready(); })) << drops;
  }
  const auto m = sync_->metrics();
  EXPECT_EQ(m.reconnects, 2u);
  EXPECT_EQ(m.connections, 1);
  EXPECT_EQ(sync_->status().connections_up, 1u);
  EXPECT_EQ(submit(prompt("S1")).wait().kind, OutcomeKind::acked);
}

TEST_F(SynchronizerTest, SourceExampleIsAckedAndAudited) {
  start_gateway();
  start_sync(sync_options());
  auto example = testing::source_example_prompt();
  example.timestamp.reset();  // produced now
  auto t = submit(example);
  EXPECT_TRUE(is_uuid_v4(t.frame_id())) << t.frame_id();
  const auto o = t.wait();
  EXPECT_EQ(o.kind, OutcomeKind::acked) << o.reason;
  EXPECT_GT(o.sequence, 0u);
  const auto m = sync_->metrics();
  EXPECT_EQ(m.connections, 1);
  EXPECT_EQ(m.sessions, 1);
  EXPECT_EQ(m.reconnects, 0u);
  EXPECT_EQ(m.syncs_successful, 1u);
  sync_->stop();
  EXPECT_EQ(gateway_->stats().prompts_delivered, 1u);
  const auto events = terminal_events();
  ASSERT_EQ(events.count(t.frame_id()), 1u);
  EXPECT_EQ(events.at(t.frame_id()), std::vector<std::string>{"SYNC_ACKED"});
  const auto report = verify_audit(audit_chain_files(audit_path()));
  EXPECT_TRUE(report.ok());
}

// The lines a LogOptions::sink receives, thread-safe (they come from the
// synchronizer's thread and the callers').
class RecordingLogSink {
 public:
  LogSink sink() {
    return [this](const LogLine& line) {
      std::lock_guard lock(mu_);
      lines_.push_back(std::string(line.message) + " " + std::string(line.fields));
    };
  }
  bool has(std::string_view message) {
    std::lock_guard lock(mu_);
    return std::any_of(lines_.begin(), lines_.end(), [&](const std::string& l) { return l.starts_with(message); });
  }
  std::size_t size() {
    std::lock_guard lock(mu_);
    return lines_.size();
  }

 private:
  std::mutex mu_;
  std::vector<std::string> lines_;
};

// A library user's sink gets the synchronizer's lines (connections, session
// placement, a callback that threw) and spdlog's default logger none of them.
TEST_F(SynchronizerTest, ItsLinesGoToTheSinkOfItsOptionsNotToSpdlog) {
  testing::SpdlogCapture spdlog_lines;
  RecordingLogSink lines;
  start_with_log_sink(lines.sink(), LogLevel::debug);
  auto t = submit(prompt("S-1"));
  std::promise<void> called;
  t.then([&](const SyncOutcome&) {
    called.set_value();
    throw std::runtime_error("a user callback that throws");
  });
  EXPECT_EQ(t.wait().kind, OutcomeKind::acked);
  called.get_future().wait();
  sync_->stop();
  EXPECT_TRUE(lines.has("connection up"));
  EXPECT_TRUE(lines.has("session placed"));
  EXPECT_TRUE(eventually([&] { return lines.has("an outcome callback threw"); }));
  const std::string text = spdlog_lines.text();
  for (const char* message : {"connection up", "session placed", "an outcome callback threw"})
    EXPECT_EQ(text.find(message), std::string::npos) << message << " reached spdlog:\n" << text;
}

// LogLevel::off: a silent library, whatever happens.
TEST_F(SynchronizerTest, LogLevelOffSilencesIt) {
  testing::SpdlogCapture spdlog_lines;
  RecordingLogSink lines;
  start_with_log_sink(lines.sink(), LogLevel::off);
  EXPECT_EQ(submit(prompt("S-1")).wait().kind, OutcomeKind::acked);
  sync_->stop();
  EXPECT_EQ(lines.size(), 0u);
  EXPECT_EQ(spdlog_lines.text().find("connection up"), std::string::npos);
}

// start() as its contract says: a second call while running does nothing;
// after stop() a synchronizer does not restart.
TEST_F(SynchronizerTest, ASecondStartDoesNothingAndNoneRestartsAfterStop) {
  start_gateway();
  start_sync(sync_options());
  EXPECT_TRUE(sync_->start().ok());
  EXPECT_EQ(submit(prompt("S-1")).wait().kind, OutcomeKind::acked);
  sync_->stop();
  EXPECT_EQ(sync_->start().code, make_error_code(SubmitErrc::not_running));
  EXPECT_FALSE(sync_->ready());
  EXPECT_EQ(sync_->sync_prompt(prompt("S-1")).error().code, make_error_code(SubmitErrc::not_running));
}

// Records what an OutcomeObserver is told.
class RecordingObserver final : public OutcomeObserver {
 public:
  void on_accepted(std::string_view frame_id) noexcept override {
    std::lock_guard lock(mu_);
    accepted_.emplace(frame_id);
  }
  void on_outcome(const SyncOutcome& outcome) noexcept override {
    std::lock_guard lock(mu_);
    outcomes_[outcome.frame_id].push_back(outcome.kind);
  }
  std::set<std::string> accepted() {
    std::lock_guard lock(mu_);
    return accepted_;
  }
  std::map<std::string, std::vector<OutcomeKind>> outcomes() {
    std::lock_guard lock(mu_);
    return outcomes_;
  }

 private:
  std::mutex mu_;
  std::set<std::string> accepted_;
  std::map<std::string, std::vector<OutcomeKind>> outcomes_;
};

TEST_F(SynchronizerTest, ObserverHearsOfEveryAcceptedPromptAndItsOneOutcome) {
  start_gateway();
  RecordingObserver observer;
  auto o = sync_options();
  o.observer = &observer;
  start_sync(o);
  const auto acked = submit(prompt("S-1"));
  auto old = prompt("S-2");
  old.timestamp = clock_->unix_now() - 30;  // valid, but over the freshness bound at write
  const auto stale = submit(old);
  auto invalid = prompt("S-3");
  invalid.priority_level = 9;
  EXPECT_FALSE(sync_->sync_prompt(invalid));  // refused: never accepted, no frame_id
  acked.wait();
  stale.wait();
  sync_->stop();
  EXPECT_EQ(observer.accepted(), (std::set<std::string>{acked.frame_id(), stale.frame_id()}));
  const auto outcomes = observer.outcomes();
  EXPECT_EQ(outcomes.size(), 2u);
  EXPECT_EQ(outcomes.at(acked.frame_id()), std::vector<OutcomeKind>{OutcomeKind::acked});
  EXPECT_EQ(outcomes.at(stale.frame_id()), std::vector<OutcomeKind>{OutcomeKind::rejected_freshness});
}

TEST_F(SynchronizerTest, InvalidPromptIsRefusedWithEveryViolation) {
  start_gateway();
  start_sync(sync_options());
  auto p = prompt("S1");
  p.priority_level = 2;
  p.priority_override = true;
  p.agent_id.clear();
  const auto r = sync_->sync_prompt(p);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, make_error_code(SubmitErrc::invalid_prompt));
  EXPECT_EQ(r.error().violations.size(), 2u);
  EXPECT_NE(r.error().message.find("agent_id: is empty"), std::string::npos) << r.error().message;
  sync_->stop();
  EXPECT_EQ(count_events("SYNC_REJECTED_VALIDATION"), 1u);
}

TEST_F(SynchronizerTest, OrderAndSupersedeUnderAStalledGateway) {
  start_gateway();
  auto o = sync_options();
  o.realtime.max_inflight = 1;  // one frame out at a time: the rest queue
  start_sync(o);
  gateway_->set_stalled(true);
  auto first = submit(prompt("S1", "I-A"));
  ASSERT_TRUE(eventually([&] { return gateway_->stats().frames_received >= 1; }));
  auto old_b = submit(prompt("S1", "I-B"));
  auto d = submit(prompt("S1", "I-D"));
  auto urgent = prompt("S1", "I-C");
  urgent.priority_override = true;
  urgent.priority_level = 5;
  auto c = submit(urgent);
  auto new_b = submit(prompt("S1", "I-B"));
  EXPECT_EQ(old_b.wait().kind, OutcomeKind::superseded);
  gateway_->set_stalled(false);
  const auto oa = first.wait(), od = d.wait(), oc = c.wait(), ob = new_b.wait();
  for (const auto& outcome : {oa, od, oc, ob}) EXPECT_EQ(outcome.kind, OutcomeKind::acked) << outcome.reason;
  // The override went ahead of the normal prompt queued before it; the
  // normal ones kept their order.
  EXPECT_LT(oa.sequence, oc.sequence);
  EXPECT_LT(oc.sequence, od.sequence);
  EXPECT_LT(od.sequence, ob.sequence);
  EXPECT_EQ(gateway_->stats().order_violations, 0u);
  EXPECT_EQ(gateway_->stats().prompts_delivered, 4u);
  sync_->stop();
  EXPECT_EQ(count_events("SYNC_SUPERSEDED"), 1u);
}

TEST_F(SynchronizerTest, FramesThatAgeInTheQueueAreNeverWritten) {
  clock_ = &manual_clock_;
  start_gateway();
  auto o = sync_options();
  o.realtime.max_inflight = 1;
  start_sync(o);
  gateway_->set_stalled(true);
  auto written = submit(prompt("S1", "I-A"));
  ASSERT_TRUE(eventually([&] { return gateway_->stats().frames_received >= 1; }));
  auto queued = submit(prompt("S1", "I-B"));
  manual_clock_.advance(2500ms);  // the queued one goes stale behind the stall
  gateway_->set_stalled(false);
  EXPECT_EQ(written.wait().kind, OutcomeKind::acked);
  const auto oq = queued.wait();
  EXPECT_EQ(oq.kind, OutcomeKind::rejected_freshness);
  EXPECT_EQ(oq.sequence, 0u) << "a stale frame must never be written";
  EXPECT_EQ(gateway_->stats().frames_received, 1u);
  EXPECT_EQ(gateway_->stats().stale_arrivals, 0u);
}

TEST_F(SynchronizerTest, EvictsTheLeastRecentlyUsedIdleSession) {
  GatewayOptions g;
  g.max_sessions = 2;
  start_gateway(g);
  auto o = sync_options();
  o.realtime.max_connections = 1;
  start_sync(o);
  EXPECT_EQ(submit(prompt("A")).wait().kind, OutcomeKind::acked);
  EXPECT_EQ(submit(prompt("B")).wait().kind, OutcomeKind::acked);
  EXPECT_EQ(submit(prompt("A", "I-2")).wait().kind, OutcomeKind::acked);  // A is now the more recent
  EXPECT_EQ(submit(prompt("C")).wait().kind, OutcomeKind::acked);         // B makes room
  EXPECT_EQ(gateway_->stats().nacks_by_code.count("SESSION_LIMIT"), 0u);
  sync_->stop();
  std::ifstream in(audit_path());
  std::vector<std::string> evicted;
  for (std::string line; std::getline(in, line);) {
    const auto v = boost::json::parse(line).as_object();
    if (v.at("event_type").as_string() == "SESSION_EVICTED")
      evicted.emplace_back(v.at("session_id").as_string());
  }
  EXPECT_EQ(evicted, std::vector<std::string>{"B"});
}

TEST_F(SynchronizerTest, ReplayAfterDropsShowsNothingTwice) {
  GatewayOptions g;
  g.faults.drop_every_n_frames = 97;
  start_gateway(g);
  start_sync(sync_options());
  expect_replays_show_nothing_twice();
}

// The same over wss (the emulator's self-signed certificate, pinned): the
// client's write gathering sits between the WebSocket and TLS.
TEST_F(SynchronizerTest, ReplayAfterDropsOverTlsShowsNothingTwice) {
  GatewayOptions g;
  g.tls = true;
  g.faults.drop_every_n_frames = 97;
  start_gateway(g);
  auto o = sync_options();
  ASSERT_EQ(o.realtime.realtime_url.rfind("wss://", 0), 0u) << o.realtime.realtime_url;
  o.token.tls.pin_sha256 = o.realtime.tls.pin_sha256 = gateway_->certificate_sha256();
  start_sync(std::move(o));
  expect_replays_show_nothing_twice();
}

void SynchronizerTest::expect_replays_show_nothing_twice() {
  std::vector<PromptTicket> tickets;
  for (int i = 0; i < 1500; ++i)
    tickets.push_back(submit(prompt(testing::numbered("S", i % 30), testing::numbered("I", i))));
  // Written on a connection that died, a frame too old to replay ends
  // unconfirmed (it may have been shown); one never written ends stale; on a
  // very slow run (the sanitizers) a burst whose audit lines took longer than
  // its prompts' freshness is not sent at all.
  std::size_t acked = 0, stale = 0, unconfirmed = 0, not_sent = 0;
  for (auto& t : tickets) {
    const auto o = t.wait();
    const bool kept_back = o.kind == OutcomeKind::failed && o.reason.starts_with("not sent: the audit log");
    EXPECT_TRUE(o.kind == OutcomeKind::acked || o.kind == OutcomeKind::rejected_freshness ||
                o.kind == OutcomeKind::unconfirmed || kept_back)
        << o.reason;
    acked += o.kind == OutcomeKind::acked;
    stale += o.kind == OutcomeKind::rejected_freshness;
    unconfirmed += o.kind == OutcomeKind::unconfirmed;
    not_sent += kept_back;
  }
  EXPECT_EQ(acked + stale + unconfirmed + not_sent, tickets.size());
  const auto stats = gateway_->stats();
  EXPECT_GT(stats.connections_dropped, 0u);
  EXPECT_GT(sync_->metrics().reconnects, 0u);  // the same link, up again after each drop
  // Every ACK is a prompt shown once. A prompt may also have been shown while
  // its ACK was lost with the connection and its replay then refused as stale
  // (it is never shown twice: the gateway deduplicates by frame_id).
  EXPECT_GE(stats.prompts_delivered, acked);
  EXPECT_LE(stats.prompts_delivered, acked + unconfirmed);
  // Each drop loses the ACK of the frame that triggered it: its replay is
  // recognised, not shown again, and acknowledged as a duplicate.
  EXPECT_GT(stats.duplicates_suppressed, 0u);
  EXPECT_LE(sync_->metrics().duplicate_acks, stats.duplicates_suppressed);
  EXPECT_EQ(stats.order_violations, 0u);
  EXPECT_GT(acked, 0u);
}

TEST_F(SynchronizerTest, FullQueueFailsFast) {
  start_gateway();
  auto o = sync_options();
  o.max_pending = 50;
  o.realtime.max_inflight = 1;
  start_sync(o);
  gateway_->set_stalled(true);
  EXPECT_EQ(sync_->room(), 50u);
  std::size_t refused = 0;
  for (int i = 0; i < 120; ++i) {
    const auto r = sync_->sync_prompt(prompt(testing::numbered("S", i), "I"));
    if (!r) {
      EXPECT_EQ(r.error().code, make_error_code(SubmitErrc::queue_full));
      ++refused;
    }
  }
  EXPECT_EQ(refused, 70u);
  EXPECT_EQ(sync_->room(), 0u);
  gateway_->set_stalled(false);
  EXPECT_TRUE(eventually([&] { return sync_->room() == 50u; }));  // every outcome frees its slot
}

TEST_F(SynchronizerTest, SlowCrmCallbackDoesNotSlowDelivery) {
  start_gateway();
  auto o = sync_options();
  std::latch release(1);
  std::atomic<int> calls{0};
  o.crm_callback = [&](const std::string&, const CrmUpdate&) {
    ++calls;
    release.wait();  // stuck until the test lets go
  };
  start_sync(o);
  EXPECT_EQ(submit(prompt("S0", "I-first")).wait().kind, OutcomeKind::acked);
  ASSERT_TRUE(eventually([&] { return calls.load() >= 1; }));  // a CRM worker is now stuck
  std::vector<PromptTicket> tickets;
  for (int i = 0; i < 300; ++i) tickets.push_back(submit(prompt(testing::numbered("S", i % 10), testing::numbered("I", i))));
  for (auto& t : tickets) {
    // Bounded: a delivery path that waited on the callback fails here, not by hanging.
    ASSERT_EQ(t.future().wait_for(20s), std::future_status::ready) << "delivery waits for the CRM callback";
    EXPECT_EQ(t.future().get().kind, OutcomeKind::acked);
  }
  EXPECT_GE(sync_->metrics().crm_queue_depth, 1);  // the stuck call at least
  release.count_down();
  sync_->stop();  // queued callbacks use `release` and `calls`: finish them while those live
}

TEST_F(SynchronizerTest, AdoptionFeedbackReachesCrmAuditAndAdoptionRate) {
  GatewayOptions g;
  g.desktop.send_feedback = true;
  g.desktop.adoption_probability = 1.0;  // every agent adopts
  start_gateway(g);
  auto o = sync_options();
  std::mutex mu;
  std::vector<std::pair<std::string, CrmUpdate>> updates;
  o.crm_callback = [&](const std::string& interaction_id, const CrmUpdate& u) {
    std::lock_guard lock(mu);
    updates.emplace_back(interaction_id, u);
  };
  start_sync(o);
  auto p = prompt("S1", "I-adopt");
  p.priority_level = 4;
  auto t = submit(p);
  ASSERT_EQ(t.wait().kind, OutcomeKind::acked);
  ASSERT_TRUE(eventually([&] { return sync_->metrics().adopted == 1; }));
  EXPECT_DOUBLE_EQ(sync_->metrics().adoption_rate, 1.0);
  sync_->stop();  // runs the CRM calls still queued
  {
    std::lock_guard lock(mu);
    // On ACK (not adopted yet), then on PROMPT_FEEDBACK ADOPTED.
    ASSERT_EQ(updates.size(), 2u);
    std::sort(updates.begin(), updates.end(), [](const auto& a, const auto& b) { return a.second.adopted < b.second.adopted; });
    EXPECT_EQ(updates[0], std::make_pair(std::string("I-adopt"), CrmUpdate{"I-adopt", t.frame_id(), 4, false}));
    EXPECT_EQ(updates[1], std::make_pair(std::string("I-adopt"), CrmUpdate{"I-adopt", t.frame_id(), 4, true}));
  }
  // The audit line is attributed from what was delivered: feedback carries only the ids.
  std::ifstream in(audit_path());
  std::size_t adopted_lines = 0;
  for (std::string line; std::getline(in, line);) {
    const auto v = boost::json::parse(line).as_object();
    if (v.at("event_type").as_string() != "PROMPT_ADOPTED") continue;
    ++adopted_lines;
    EXPECT_EQ(v.at("frame_id").as_string(), t.frame_id());
    EXPECT_EQ(v.at("interaction_id").as_string(), "I-adopt");
    EXPECT_EQ(v.at("agent_id").as_string(), p.agent_id);
  }
  EXPECT_EQ(adopted_lines, 1u);
}

// Write-ahead: a prompt whose SYNC_BROADCAST cannot be written is not sent;
// then the synchronizer gives up, naming the audit log.
TEST_F(SynchronizerTest, AFailedAuditWriteKeepsItsFrameFromTheGatewayAndGivesUp) {
  start_gateway();
  BreakableEnv env;
  auto o = sync_options();
  o.audit.env = &env;
  std::promise<SynchronizerStatus> fatal;
  o.on_fatal = [&](const SynchronizerStatus& s) { fatal.set_value(s); };
  start_sync(o);
  EXPECT_EQ(submit(prompt("S1")).wait().kind, OutcomeKind::acked);
  ASSERT_TRUE(sync_->flush_audit().ok());  // S1's lines are on the disk: only S2's meet the broken one
  env.broken = true;
  const auto outcome = submit(prompt("S2")).wait();
  EXPECT_EQ(outcome.kind, OutcomeKind::failed);
  // Whoever wrote S2's SYNC_BROADCAST first met the failure: the write-ahead
  // gate before the frame (not sent), or the writer thread an instant earlier
  // (the synchronizer gave up, and the gate refused the frame too).
  EXPECT_TRUE(outcome.reason.find("not sent: the audit log could not record it first") != std::string::npos ||
              outcome.reason.find("the synchronizer gave up: audit log: No space left on device") != std::string::npos)
      << outcome.reason;
  auto gave_up = fatal.get_future();
  ASSERT_EQ(gave_up.wait_for(10s), std::future_status::ready);
  const auto status = gave_up.get();
  EXPECT_FALSE(status.audit.ok);
  EXPECT_NE(status.fatal.message.find("No space left on device"), std::string::npos) << status.fatal.message;
  const auto r = sync_->sync_prompt(prompt("S3"));
  EXPECT_EQ(r.error().code, make_error_code(SubmitErrc::audit_unavailable));
  EXPECT_FALSE(sync_->ready());
  EXPECT_EQ(gateway_->stats().frames_received, 1u);
}

// A disk that fills up: the log's reservation runs out first, so sending
// stops while the headroom still takes the outcomes of the frames in flight.
// No prompt reaches a desktop without its SYNC_BROADCAST, each of those has
// its outcome line, and every accepted prompt ends at once, not at a deadline.
TEST_F(SynchronizerTest, AFullAuditDiskShowsNoPromptWithoutItsRecord) {
  std::mutex mu;
  std::set<std::string> delivered;
  GatewayOptions g;
  g.max_inflight = 32;  // the headroom below holds the outcome lines of 32 frames in flight many times over
  g.on_delivered = [&](std::string_view id) {
    std::lock_guard lock(mu);
    delivered.emplace(id);
  };
  start_gateway(g);
  BreakableEnv env;
  auto o = on_a_small_disk(env);
  std::atomic<bool> gave_up{false};
  o.on_fatal = [&](const SynchronizerStatus&) { gave_up = true; };
  start_sync(o);
  std::vector<PromptTicket> accepted;
  for (int i = 0; i < 1200; ++i) {  // 20 per session: none refused (a refusal's line takes space too)
    auto r = sync_->sync_prompt(prompt(testing::numbered("S", i % 60), testing::numbered("I-", i)));
    if (r) accepted.push_back(std::move(r.value()));
  }
  ASSERT_TRUE(eventually([&] { return gave_up.load(); }));
  for (auto& t : accepted) EXPECT_EQ(t.future().wait_for(10s), std::future_status::ready) << t.frame_id();
  // Why it gave up: the reservation; the outcome lines of the prompts never
  // sent may then overflow the headroom (a hard ENOSPC), which is allowed.
  EXPECT_EQ(sync_->status().fatal.code, make_error_code(AuditErrc::no_space));
  sync_->stop();

  std::set<std::string> broadcast;
  std::map<std::string, int> terminal;
  std::ifstream in(audit_path());
  for (std::string line; std::getline(in, line);) {
    boost::system::error_code ec;
    const auto v = boost::json::parse(line, ec);
    if (ec) continue;  // the torn last line of the hard ENOSPC
    const auto type = parse_audit_event_type(v.at("event_type").as_string());
    const std::string id = v.at("frame_id").is_string() ? std::string(v.at("frame_id").as_string()) : "";
    if (type == AuditEventType::sync_broadcast) broadcast.insert(id);
    else if (type && is_terminal(*type)) ++terminal[id];
  }
  std::lock_guard lock(mu);
  EXPECT_GT(delivered.size(), 50u);
  EXPECT_LT(delivered.size(), accepted.size());
  for (const auto& id : delivered) {
    EXPECT_TRUE(broadcast.contains(id)) << id << " shown without its SYNC_BROADCAST";
    EXPECT_EQ(terminal[id], 1) << id << " shown without its outcome line";
  }
}

// When the disk fills while prompts keep arriving, the headroom holds only
// so many outcome lines: those of the frames already shown come first, then
// the prompts never sent (which may then overflow it). Before the fix, the
// prompts still in the intake ended first and the frames in flight were left
// without their lines (CI, `apps.audit_on_a_tiny_disk`, under load).
TEST_F(SynchronizerTest, AGiveUpRecordsTheFramesInFlightBeforeThePromptsNeverSent) {
  GatewayOptions g;
  g.max_inflight = 32;
  g.faults.ack_delay = 50ms;  // frames stay in flight when the disk fills
  start_gateway(g);
  BreakableEnv env;
  auto o = on_a_small_disk(env);
  o.max_pending = 100000;
  std::atomic<bool> gave_up{false};
  o.on_fatal = [&](const SynchronizerStatus&) { gave_up = true; };
  start_sync(o);
  // Two callers flood the intake until the synchronizer gives up, so it is full at that moment.
  std::atomic<int> next{0};
  auto flood = [&] {
    while (!gave_up) {
      const int i = next++;
      sync_->sync_prompt(prompt(testing::numbered("S", i % 100), testing::numbered("I-", i)));  // one link
    }
  };
  std::jthread a(flood), b(flood);
  a.join();
  b.join();
  sync_->stop();

  // Every frame written gets its outcome line before the first prompt that was never written.
  std::set<std::string> written;
  bool never_sent_seen = false;
  std::size_t in_flight_ended = 0;
  std::ifstream in(audit_path());
  for (std::string line; std::getline(in, line);) {
    boost::system::error_code ec;
    const auto v = boost::json::parse(line, ec);
    if (ec) continue;  // the torn last line of the hard ENOSPC
    const auto type = parse_audit_event_type(v.at("event_type").as_string());
    const std::string id = v.at("frame_id").is_string() ? std::string(v.at("frame_id").as_string()) : "";
    if (type == AuditEventType::sync_broadcast) {
      written.insert(id);
    } else if (type && is_terminal(*type)) {
      if (written.erase(id) == 1) {
        EXPECT_FALSE(never_sent_seen) << id << ": a frame shown was recorded after a prompt never sent";
        ++in_flight_ended;
      } else if (v.at("reason").as_string().starts_with("the synchronizer gave up")) {
        never_sent_seen = true;
      }
    }
  }
  EXPECT_TRUE(never_sent_seen) << "the intake was empty when the synchronizer gave up: the test proves nothing";
  EXPECT_GT(in_flight_ended, 0u);
  EXPECT_TRUE(written.empty()) << written.size() << " frames shown without their outcome line, e.g. " << *written.begin();
}

// The system clock, except that unix_now() called on `gated` blocks until
// `release` counts down: it holds a sync_prompt() between its running check
// and its hand-off (a prompt without a timestamp is stamped in between).
class GatedClock final : public Clock {
 public:
  steady_time steady_now() const override { return system_clock().steady_now(); }
  double unix_now() const override {
    if (std::this_thread::get_id() == gated) {
      entered.count_down();
      release.wait();
    }
    return system_clock().unix_now();
  }
  std::atomic<std::thread::id> gated;
  mutable std::latch entered{1};
  mutable std::latch release{1};
};

TEST_F(SynchronizerTest, PromptRacingStopIsRefusedNotLeftWithoutOutcome) {
  start_gateway();
  GatedClock clock;
  auto o = sync_options();
  o.clock = &clock;
  start_sync(o);
  std::optional<SubmitResult> answer;
  std::thread submitter([&] {
    clock.gated = std::this_thread::get_id();
    answer = sync_->sync_prompt(prompt("S1"));
  });
  clock.entered.wait();  // past the running check, not yet handed over
  sync_->stop();
  clock.release.count_down();
  submitter.join();
  const SubmitResult& late = *answer;
  // Refused: accepted now, it would wait forever for an outcome.
  ASSERT_FALSE(late) << "accepted after stop() returned; its ticket is "
                     << (late.value().future().wait_for(0s) == std::future_status::ready ? "ended" : "never ending");
  EXPECT_EQ(late.error().code, make_error_code(SubmitErrc::not_running)) << late.error().message;
  sync_.reset();  // before `clock`, which its timers still name (TearDown would be too late)
}

// stop() with a prompt waiting for a connection that cannot open: the
// drain bound holds, however long the silent peer would keep it waiting.
class SynchronizerStopTest : public SynchronizerTest {
 protected:
  // `silence` points one peer at the silent listener.
  void expect_bounded_stop(const std::function<void(SynchronizerOptions&)>& silence) {
    start_gateway();
    auto o = sync_options();
    silence(o);
    o.stop_drain = 100ms;
    Synchronizer sync(std::move(o));
    ASSERT_TRUE(sync.start().ok());
    auto r = sync.sync_prompt(prompt("S1"));
    ASSERT_TRUE(r) << r.error().message;
    std::this_thread::sleep_for(50ms);  // the connection attempt is under way
    const auto started = std::chrono::steady_clock::now();
    sync.stop();
    // A liveness bound, far below the silent peer's 60 s timeouts.
    EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
    const auto outcome = r.value().wait();
    EXPECT_EQ(outcome.kind, OutcomeKind::failed);
    EXPECT_EQ(outcome.reason, "synchronizer stopped before delivery");
  }

  std::string silent_url(std::string_view scheme, std::string_view path) {
    return std::string(scheme) + "://127.0.0.1:" + std::to_string(silent_.local_endpoint().port()) + std::string(path);
  }

  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor silent_{io_, {boost::asio::ip::make_address("127.0.0.1"), 0}};  // never answers
};

TEST_F(SynchronizerStopTest, IsBoundedWhileTheTokenEndpointIsSilent) {
  expect_bounded_stop([&](SynchronizerOptions& o) {
    o.token.token_url = silent_url("http", "/oauth/token");
    o.token.request_timeout = 60s;
  });
}

TEST_F(SynchronizerStopTest, IsBoundedWhileTheGatewayHandshakeIsSilent) {
  expect_bounded_stop([&](SynchronizerOptions& o) {
    o.realtime.realtime_url = silent_url("ws", "/v1/realtime");
    o.realtime.handshake_timeout = 60s;
  });
}

// Write-ahead on a disk that stops answering the audit writer, which then
// holds the file: a burst waits commit_timeout for it, then is not sent (its
// prompts end as not sent); once the disk answers again delivery goes on,
// with every outcome on record.
TEST_F(SynchronizerTest, AStalledAuditDiskHoldsFramesBackAndLosesNothing) {
  start_gateway();
  BreakableEnv env;
  auto o = sync_options();
  o.audit.env = &env;
  o.audit.commit_timeout = 100ms;
  o.audit.batch_delay = 200ms;  // the writer leaves each burst's lines to its commit(), however slow the run
  start_sync(o);
  EXPECT_EQ(submit(prompt("S0")).wait().kind, OutcomeKind::acked);
  ASSERT_TRUE(eventually([&] { return sync_->metrics().audit_queue_depth == 0; }));  // nothing for the writer yet
  env.stalled = true;
  const auto received = gateway_->stats().frames_received;
  // The next line the writer thread takes (here, an ACK's) is where it sticks.
  EXPECT_EQ(submit(prompt("S0", "I-2")).wait().kind, OutcomeKind::acked);
  ASSERT_TRUE(eventually([&] { return env.writer_stuck.load(); }));
  std::vector<PromptTicket> held;
  for (int i = 1; i <= 5; ++i) held.push_back(submit(prompt(testing::numbered("S", i))));
  for (auto& t : held) {
    const auto outcome = t.wait();
    EXPECT_EQ(outcome.kind, OutcomeKind::failed);
    EXPECT_NE(outcome.reason.find("not sent: the audit log could not record it first"), std::string::npos)
        << outcome.reason;
  }
  EXPECT_EQ(gateway_->stats().frames_received, received + 1);
  env.stalled = false;
  const auto after = submit(prompt("S9"));
  EXPECT_EQ(after.wait().kind, OutcomeKind::acked);
  sync_->stop();
  const auto events = terminal_events();
  for (const auto& t : held) EXPECT_EQ(events.count(t.frame_id()), 1u) << t.frame_id();
  EXPECT_EQ(events.count(after.frame_id()), 1u);
  EXPECT_TRUE(verify_audit(audit_chain_files(audit_path())).ok());
}

// Acceptance is bounded by the audit backlog: events the writer has not
// written yet (here, a disk slower than the flow) refuse new prompts with
// queue_full rather than let memory grow; nothing accepted is lost.
TEST_F(SynchronizerTest, AuditBacklogBoundsAcceptanceAndLosesNothing) {
  start_gateway();
  BreakableEnv env;
  auto o = sync_options();
  o.audit.env = &env;
  o.max_audit_backlog = 20;
  o.audit.commit_timeout = 50ms;  // each burst waits this long for the stalled disk, then is not sent
  o.audit.batch_delay = 200ms;     // the writer leaves each burst's lines to its commit(), however slow the run
  start_sync(o);
  ASSERT_TRUE(eventually([&] { return sync_->metrics().audit_queue_depth == 0; }));  // nothing for the writer yet
  env.stalled = true;  // the disk stops answering the writer: audit events pile up
  EXPECT_EQ(submit(prompt("S0")).wait().kind, OutcomeKind::acked);  // its ACK line sticks the writer
  ASSERT_TRUE(eventually([&] { return env.writer_stuck.load(); }));
  std::vector<PromptTicket> accepted;
  std::size_t refused = 0;
  for (int i = 0; i < 40; ++i) {
    auto r = sync_->sync_prompt(prompt(testing::numbered("S", i % 10), testing::numbered("I-", i)));
    if (r) {
      // Each prompt leaves two to four events in the backlog: SYNC_BROADCAST,
      // SYNC_FAILED, and the connection closed and opened again after its
      // burst was not sent.
      EXPECT_EQ(r.value().wait().kind, OutcomeKind::failed);
      accepted.push_back(r.value());
      continue;
    }
    EXPECT_EQ(r.error().code, make_error_code(SubmitErrc::queue_full));
    EXPECT_NE(r.error().message.find("audit log is"), std::string::npos) << r.error().message;
    ++refused;
  }
  EXPECT_GE(accepted.size(), 5u);  // 20 events of backlog: 5 to 10 prompts
  EXPECT_LE(accepted.size(), 11u);
  EXPECT_EQ(refused, 40u - accepted.size());
  EXPECT_LE(sync_->metrics().audit_queue_depth, 24);
  env.stalled = false;
  sync_->stop();
  const auto events = terminal_events();
  for (const auto& t : accepted) EXPECT_EQ(events.count(t.frame_id()), 1u) << t.frame_id();
  EXPECT_TRUE(verify_audit(audit_chain_files(audit_path())).ok());
}

TEST_F(SynchronizerTest, TokenRefreshIsAuditedAndCountedWithoutTheToken) {
  start_gateway();
  start_sync(sync_options());
  EXPECT_EQ(submit(prompt("S1")).wait().kind, OutcomeKind::acked);
  EXPECT_EQ(sync_->metrics().token_refreshes, 1u);
  sync_->stop();
  EXPECT_EQ(count_events("TOKEN_REFRESHED"), 1u);
  std::ifstream in(audit_path());
  for (std::string line; std::getline(in, line);) {
    const auto v = boost::json::parse(line).as_object();
    if (v.at("event_type").as_string() != "TOKEN_REFRESHED") continue;
    // The lifetime and granted scope, and nothing secret.
    EXPECT_EQ(v.at("detail").as_string(), "lifetime 1800 s, scope 'realtime:read agentassist:write interactions:read'");
    EXPECT_EQ(line.find("demo-secret"), std::string::npos);
  }
}

TEST_F(SynchronizerTest, TokenRotationIsNotAuditedAsAConnectionClosing) {
  GatewayOptions g;
  g.token_ttl = 2s;  // refreshed at half life: a rotation about every second
  start_gateway(g);
  start_sync(sync_options());
  // Two rotations: each fetches a token, then opens the next connection.
  ASSERT_TRUE(eventually([&] { return gateway_->stats().connections_opened >= 3; }));
  EXPECT_GE(sync_->metrics().token_refreshes, 3u);
  EXPECT_EQ(submit(prompt("S1")).wait().kind, OutcomeKind::acked);
  sync_->stop();
  // One link, up from start to stop: opened once, closed once.
  EXPECT_EQ(count_events("CONNECTION_OPENED"), 1u);
  EXPECT_EQ(count_events("CONNECTION_CLOSED"), 1u);
}

TEST_F(SynchronizerTest, UnwritableAuditPathFailsAtStart) {
  start_gateway();
  auto o = sync_options();
  o.audit.path = (dir_ / "missing-dir" / "audit.jsonl").string();
  Synchronizer s(o);
  const Status started = s.start();
  EXPECT_FALSE(started.ok());
  EXPECT_NE(started.message.find("missing-dir"), std::string::npos) << started.message;
  EXPECT_FALSE(s.sync_prompt(prompt("S1")));
}

TEST_F(SynchronizerTest, EveryAcceptedPromptHasExactlyOneTerminalAuditEvent) {
  GatewayOptions g;
  g.faults.drop_every_n_frames = 151;
  start_gateway(g);
  auto o = sync_options();
  start_sync(o);
  std::set<std::string> ids;
  std::vector<PromptTicket> tickets;
  for (int i = 0; i < 800; ++i) {
    auto p = prompt(testing::numbered("S", i % 40), testing::numbered("I", i % 3));
    if (i % 50 == 0) p.timestamp = system_clock().unix_now() - 5.0;  // stale on arrival at the writer
    auto t = submit(p);
    ids.insert(t.frame_id());
    tickets.push_back(t);
  }
  for (auto& t : tickets) t.wait();
  sync_->stop();
  const auto events = terminal_events();
  for (const auto& id : ids) {
    ASSERT_EQ(events.count(id), 1u) << id;
    EXPECT_EQ(events.at(id).size(), 1u) << id;
  }
  EXPECT_EQ(events.size(), ids.size());
  EXPECT_TRUE(verify_audit(audit_chain_files(audit_path())).ok());
}

// Scale-out ingest: the frame_id given at ingest is the one written, a
// session's sequence starts at its floor and only grows (an override sent
// first pushes the later ones above it), and the same frame_id from a
// second synchronizer (the next owner) is not shown twice.
TEST_F(SynchronizerTest, AnIngestedPromptKeepsItsFrameIdAndNumbersFromItsFloor) {
  start_gateway();
  start_sync(sync_options());
  const std::string id = "7f1c0d1e-5b9a-4c3e-8f21-0a6b2d9e4c10";
  auto first = sync_->sync_prompt(prompt("S1", "I-1"), IngestAssignment{id, 5u << 16, false});
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->frame_id(), id);
  const auto o1 = first->wait();
  EXPECT_EQ(o1.kind, OutcomeKind::acked);
  EXPECT_EQ(o1.sequence, 5u << 16);
  // A lower floor for the same session cannot take its sequence back.
  auto lower = sync_->sync_prompt(prompt("S1", "I-2"), IngestAssignment{"9a2b3c4d-1e2f-4a5b-8c6d-7e8f9a0b1c2d", 3u << 16, false});
  ASSERT_TRUE(lower);
  EXPECT_EQ(lower->wait().sequence, (5u << 16) + 1);
  sync_.reset();
  // The next owner, a new synchronizer, gets the same frame_id redelivered: not shown again.
  start_sync(sync_options());
  auto again = sync_->sync_prompt(prompt("S1", "I-1"), IngestAssignment{id, 5u << 16, true});
  ASSERT_TRUE(again);
  const auto o2 = again->wait();
  EXPECT_EQ(o2.kind, OutcomeKind::acked);
  EXPECT_TRUE(o2.duplicate);
  EXPECT_EQ(o2.reason.rfind("redelivered", 0), 0u) << "a reader of the logs tells it from a first outcome: " << o2.reason;
  EXPECT_EQ(gateway_->stats().prompts_delivered, 2u);
  EXPECT_EQ(gateway_->stats().order_violations, 0u);
}

// A redelivered prompt that ends here without a write may have been shown
// by its earlier owner: unconfirmed, never "not sent".
TEST_F(SynchronizerTest, ARedeliveredPromptThatWentStaleEndsUnconfirmed) {
  start_gateway();
  start_sync(sync_options());
  auto p = prompt("S1");
  p.timestamp = system_clock().unix_now() - 5.0;
  auto redelivered = sync_->sync_prompt(p, IngestAssignment{"0b1c2d3e-4f5a-4b6c-9d7e-8f9a0b1c2d3e", 1, true});
  auto first_time = sync_->sync_prompt(p, IngestAssignment{"1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f", 2, false});
  ASSERT_TRUE(redelivered && first_time);
  const auto o = redelivered->wait();
  EXPECT_EQ(o.kind, OutcomeKind::unconfirmed);
  EXPECT_NE(o.reason.find("redelivered"), std::string::npos) << o.reason;
  EXPECT_EQ(first_time->wait().kind, OutcomeKind::rejected_freshness);
  EXPECT_EQ(gateway_->stats().frames_received, 0u);
}

// flush_audit() returns once the outcome lines reported so far are in the file.
TEST_F(SynchronizerTest, FlushAuditPutsEveryReportedOutcomeInTheFile) {
  start_gateway();
  start_sync(sync_options());
  std::vector<PromptTicket> tickets;
  for (int i = 0; i < 200; ++i) tickets.push_back(submit(prompt(testing::numbered("S", i % 20), testing::numbered("I", i))));
  for (auto& t : tickets) t.wait();
  ASSERT_TRUE(sync_->flush_audit().ok());
  const auto events = terminal_events();  // read while running: no stop() has flushed it
  for (auto& t : tickets) EXPECT_EQ(events.count(t.frame_id()), 1u) << t.frame_id();
}

TEST_F(SynchronizerTest, AwaitableFormDeliversTheOutcome) {
  start_gateway();
  start_sync(sync_options());
  boost::asio::io_context io;
  SyncOutcome seen;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        auto r = co_await async_sync_prompt(*sync_, prompt("S1"), boost::asio::use_awaitable);
        if (r) seen = co_await async_wait(r.value(), boost::asio::use_awaitable);
      },
      boost::asio::detached);
  io.run();
  // The synchronizer thread may still be returning from its post to `io`:
  // it ends before `io` does (ThreadSanitizer saw the post race the destructor).
  sync_.reset();
  EXPECT_EQ(seen.kind, OutcomeKind::acked);
}

// Cancelling the wait (per operation, through the handler's slot) completes
// it at once with operation_aborted and leaves the prompt alone: it still
// reaches its outcome, which does not call the handler a second time.
TEST_F(SynchronizerTest, CancellingAnAsioWaitEndsTheWaitNotThePrompt) {
  start_gateway();
  start_sync(sync_options());
  gateway_->set_stalled(true);  // no ACK until released
  const auto ticket = submit(prompt("S1"));
  boost::asio::io_context io;
  boost::asio::cancellation_signal cancel;
  int calls = 0;
  boost::system::error_code seen;
  async_wait(ticket, boost::asio::bind_cancellation_slot(
                         cancel.slot(), boost::asio::bind_executor(io, [&](boost::system::error_code ec, const SyncOutcome&) {
                           ++calls;
                           seen = ec;
                         })));
  boost::asio::post(io, [&] { cancel.emit(boost::asio::cancellation_type::terminal); });
  io.run();  // the cancellation, then the completion; then no work is left
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(seen, boost::asio::error::operation_aborted);
  EXPECT_FALSE(ticket.done());
  gateway_->set_stalled(false);
  EXPECT_EQ(ticket.wait().kind, OutcomeKind::acked);
  io.restart();
  io.poll();
  EXPECT_EQ(calls, 1);
}

// Any completion token: a future here, completed on Asio's system executor.
TEST_F(SynchronizerTest, AsioWaitTakesAnyCompletionToken) {
  start_gateway();
  start_sync(sync_options());
  auto outcome = async_wait(submit(prompt("S1")), boost::asio::use_future);
  ASSERT_EQ(outcome.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(outcome.get().kind, OutcomeKind::acked);
  // An invalid ticket (no prompt behind it) completes with its failed outcome.
  EXPECT_EQ(async_wait(PromptTicket{}, boost::asio::use_future).get().kind, OutcomeKind::failed);
}

// The threads the library starts carry names (top -H, perf and gdb show them).
TEST_F(SynchronizerTest, ThreadsAreNamed) {
  start_gateway();
  start_sync(sync_options());
  std::multiset<std::string> names;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    names.insert(name);
  }
  EXPECT_GE(names.count("assist-sync"), 1u);  // with Asio's resolver thread, started from it
  EXPECT_EQ(names.count("assist-audit"), 1u);
  EXPECT_GE(names.count("gateway-io"), 1u);
  sync_->stop();
}

namespace issue14 {

// Options that cannot work are refused by start() with an error naming the
// option; before the fix a token URL without a scheme, with ftp:// or with
// credentials crashed the first sync_prompt (exit 139 in send and run).
TEST(SynchronizerOptionsTest, StartRefusesOptionsThatCannotWork) {
  struct Case {
    std::string token_url, realtime_url, client_id;
    OptionErrc expected;
    std::string_view named;
  };
  const Case cases[] = {
      {"localhost:9000/oauth/token", "ws://127.0.0.1:1/rt", "c", OptionErrc::token_url, "token_url"},
      {"ftp://127.0.0.1/oauth/token", "ws://127.0.0.1:1/rt", "c", OptionErrc::token_url, "token_url"},
      {"http://user:pw@127.0.0.1/oauth/token", "ws://127.0.0.1:1/rt", "c", OptionErrc::token_url, "credentials"},
      {"", "ws://127.0.0.1:1/rt", "c", OptionErrc::token_url, "token_url"},
      {"http://127.0.0.1:1/oauth/token", "http://127.0.0.1:1/rt", "c", OptionErrc::realtime_url, "realtime_url"},
      {"http://127.0.0.1:1/oauth/token", "ws://127.0.0.1:1/rt", "", OptionErrc::client_id, "client_id"},
  };
  for (const auto& c : cases) {
    SynchronizerOptions o;
    o.token.token_url = c.token_url;
    o.token.client_id = c.client_id;
    o.token.client_secret = "s";
    o.realtime.realtime_url = c.realtime_url;
    Synchronizer sync(o);
    const Status started = sync.start();
    EXPECT_EQ(started.code, make_error_code(c.expected)) << c.token_url << " " << c.realtime_url;
    EXPECT_NE(started.message.find(c.named), std::string::npos) << started.message;
    EXPECT_EQ(sync.status().fatal.message, started.message);
    auto r = sync.sync_prompt(testing::source_example_prompt());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, make_error_code(SubmitErrc::not_running));
    // A ticket that no prompt stands behind answers at once; it used to dereference null.
    EXPECT_EQ(PromptTicket{}.wait().kind, OutcomeKind::failed);
  }
}

// max_inflight is optional: unset, the HELLO's limit holds; set to 0, no
// frame could ever be written, so start() refuses it.
TEST(SynchronizerOptionsTest, StartRefusesAZeroMaxInflight) {
  SynchronizerOptions o;
  o.token.token_url = "http://127.0.0.1:1/oauth/token";
  o.token.client_id = "c";
  o.token.client_secret = "s";
  o.realtime.realtime_url = "ws://127.0.0.1:1/rt";
  o.realtime.max_inflight = 0;
  Synchronizer sync(o);
  const Status started = sync.start();
  EXPECT_EQ(started.code, make_error_code(OptionErrc::limits));
  EXPECT_NE(started.message.find("max_inflight"), std::string::npos) << started.message;
}

}  // namespace issue14

// A `then` callback that throws is caught, logged and counted; delivery goes
// on. Before the fix the exception ended the link's reader silently: ACKs
// went unread and stop() hung.
TEST_F(SynchronizerTest, AThrowingOutcomeCallbackIsIsolated) {
  start_gateway();
  start_sync(sync_options());
  auto first = submit(prompt("S1", "I1"));
  first.then([](const SyncOutcome&) { throw std::runtime_error("a user's bug"); });
  EXPECT_EQ(first.wait().kind, OutcomeKind::acked);
  EXPECT_EQ(submit(prompt("S1", "I2")).wait().kind, OutcomeKind::acked);
  EXPECT_TRUE(eventually([&] { return sync_->metrics().callback_errors == 1; }));
  const auto started = std::chrono::steady_clock::now();
  sync_->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
}

// A gateway that answers pings but never ACKs: the ACK deadline treats the
// connection as dead; the frame, written and possibly shown, ends
// unconfirmed once it can no longer be replayed fresh. Before the fix it
// waited forever, and so did ?wait=outcome and its max_pending slot.
TEST_F(SynchronizerTest, AnUnansweredFrameEndsUnconfirmedAfterTheAckDeadline) {
  start_gateway();
  auto o = sync_options();
  o.realtime.ack_timeout = 200ms;
  start_sync(o);
  gateway_->set_stalled(true);
  auto t = submit(prompt("S1"));
  auto future = t.future();
  ASSERT_EQ(future.wait_for(15s), std::future_status::ready) << "no outcome: the wait is unbounded";
  const auto outcome = future.get();
  EXPECT_EQ(outcome.kind, OutcomeKind::unconfirmed) << outcome.reason;
  EXPECT_GT(sync_->metrics().reconnects, 0u);
  gateway_->set_stalled(false);
  sync_->stop();
  EXPECT_EQ(terminal_events().at(t.frame_id()), std::vector<std::string>{"SYNC_UNCONFIRMED"});
}

// Frames in flight when stop() gives up waiting were written: they end
// unconfirmed, not "failed: stopped before delivery" (the gateway may well
// have shown them).
TEST_F(SynchronizerTest, FramesInFlightAtStopEndUnconfirmed) {
  start_gateway();
  auto o = sync_options();
  o.stop_drain = 200ms;
  start_sync(o);
  gateway_->set_stalled(true);
  auto t = submit(prompt("S1"));
  ASSERT_TRUE(eventually([&] { return gateway_->stats().frames_received >= 1; }));
  sync_->stop();
  EXPECT_EQ(t.wait().kind, OutcomeKind::unconfirmed);
  EXPECT_EQ(gateway_->stats().prompts_delivered, 1u);  // it was shown
  EXPECT_EQ(terminal_events().at(t.frame_id()), std::vector<std::string>{"SYNC_UNCONFIRMED"});
}

// stop() is bounded by its drain bound even while a CRM callback hangs: the
// callback is abandoned (reported failed). Before the fix stop() waited for
// it forever.
TEST_F(SynchronizerTest, StopIsBoundedWhileACrmCallbackHangs) {
  start_gateway();
  auto o = sync_options();
  o.stop_drain = 200ms;
  auto release = std::make_shared<std::latch>(1);
  std::atomic<bool> entered{false};
  o.crm_callback = [release, &entered](const std::string&, const CrmUpdate&) {
    entered = true;
    release->wait();
  };
  o.crm_workers = 1;
  start_sync(o);
  EXPECT_EQ(submit(prompt("S1")).wait().kind, OutcomeKind::acked);
  ASSERT_TRUE(eventually([&] { return entered.load(); }));
  const auto started = std::chrono::steady_clock::now();
  sync_->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
  EXPECT_EQ(count_events("CRM_CALLBACK_FAILED"), 1u);
  release->count_down();  // the abandoned worker ends on its own
}

// A second stop() from another thread waits until the first has finished
// (it used to return at once, with prompts still pending).
TEST_F(SynchronizerTest, AConcurrentStopWaitsForTheFirst) {
  start_gateway();
  auto o = sync_options();
  o.stop_drain = 300ms;
  start_sync(o);
  gateway_->set_stalled(true);
  auto t = submit(prompt("S1"));
  ASSERT_TRUE(eventually([&] { return gateway_->stats().frames_received >= 1; }));
  std::thread first([&] { sync_->stop(); });
  std::this_thread::sleep_for(20ms);  // the first stop() is draining (if not, the second starts it: same result)
  sync_->stop();
  EXPECT_TRUE(t.done()) << "the second stop() returned before the stop was over";
  first.join();
}

// stop() from an outcome callback (the synchronizer's own thread) starts the
// stop and returns instead of deadlocking; the owner's stop() finishes it.
TEST_F(SynchronizerTest, StopFromACallbackDoesNotDeadlock) {
  start_gateway();
  start_sync(sync_options());
  std::atomic<bool> returned{false};
  auto t = submit(prompt("S1"));
  t.then([&](const SyncOutcome&) {
    sync_->stop();
    returned = true;
  });
  ASSERT_TRUE(eventually([&] { return returned.load(); })) << "stop() from a callback deadlocked";
  EXPECT_EQ(sync_->sync_prompt(prompt("S2")).error().code, make_error_code(SubmitErrc::not_running));
  sync_->stop();
  EXPECT_FALSE(sync_->ready());
}

// A timestamp an hour ahead, or in milliseconds, would pass every age check:
// refused at acceptance, naming `timestamp`. Before the fix both were ACKed.
TEST_F(SynchronizerTest, PromptsFromTheFutureAreRefusedAtAcceptance) {
  start_gateway();
  start_sync(sync_options());
  for (const double timestamp : {system_clock().unix_now() + 3600.0, system_clock().unix_now() * 1000.0}) {
    auto p = prompt("S1");
    p.timestamp = timestamp;
    const auto r = sync_->sync_prompt(p);
    ASSERT_EQ(r.error().code, make_error_code(SubmitErrc::invalid_prompt));
    ASSERT_FALSE(r.error().violations.empty());
    EXPECT_EQ(r.error().violations.back().field, "timestamp");
  }
  auto slightly_ahead = prompt("S1");
  slightly_ahead.timestamp = system_clock().unix_now() + 0.5;  // within the 1 s skew
  EXPECT_EQ(submit(slightly_ahead).wait().kind, OutcomeKind::acked);
}

// A wrong secret is a permanent failure: the synchronizer gives up, ends
// what is pending with the cause, refuses new prompts and tells its owner.
// Before, `run` stayed up forever and `send` exited 0.
TEST_F(SynchronizerTest, AWrongSecretIsFatalAndReported) {
  start_gateway();
  auto o = sync_options();
  o.token.client_secret = "not-the-secret";
  std::promise<SynchronizerStatus> told;
  o.on_fatal = [&told](const SynchronizerStatus& s) { told.set_value(s); };
  sync_ = std::make_unique<Synchronizer>(o);
  ASSERT_TRUE(sync_->start().ok());
  // Accepted and then failed, or (the token endpoint answering first) refused: either names the cause.
  auto r = sync_->sync_prompt(prompt("S1"));
  auto status = told.get_future();
  ASSERT_EQ(status.wait_for(15s), std::future_status::ready);
  EXPECT_EQ(status.get().fatal.code, transport::TransportErrc::invalid_client);
  if (r) {
    const auto outcome = r.value().wait();
    EXPECT_EQ(outcome.kind, OutcomeKind::failed);
    EXPECT_NE(outcome.reason.find("invalid_client"), std::string::npos) << outcome.reason;
  } else {
    EXPECT_EQ(r.error().code, make_error_code(SubmitErrc::failed));
    EXPECT_NE(r.error().message.find("invalid_client"), std::string::npos) << r.error().message;
  }
  EXPECT_EQ(sync_->sync_prompt(prompt("S2")).error().code, make_error_code(SubmitErrc::failed));
  EXPECT_FALSE(sync_->status().token.ok);
  EXPECT_FALSE(sync_->ready());
}

// The prompt ends (its link failed for good: the token endpoint answers 404)
// and the owner, seeing nothing pending, stops at once, as `send` does: the
// give-up must still be reported (status and on_fatal), whichever of the
// stop and the give-up's work runs first. Before the fix, `send` exited 0
// with nothing delivered (CI: CliTest.SendThatCanDeliverNothingExitsNonZero...).
TEST_F(SynchronizerTest, AGiveUpRacingStopIsStillReported) {
  start_gateway();
  auto o = sync_options();
  const std::string url = gateway_->token_url();
  o.token.token_url = url.substr(0, url.find("/oauth/token")) + "/nope";
  for (int i = 0; i < 20; ++i) {
    SCOPED_TRACE(i);
    std::atomic<int> told{0};
    o.on_fatal = [&told](const SynchronizerStatus&) { ++told; };
    Synchronizer sync(o);
    ASSERT_TRUE(sync.start().ok());
    auto r = sync.sync_prompt(prompt("S1"));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r.value().wait().kind, OutcomeKind::failed);
    sync.stop();
    EXPECT_EQ(told.load(), 1);
    EXPECT_EQ(sync.status().fatal.code, transport::TransportErrc::token_rejected) << sync.status().fatal.message;
  }
}

// A peer that keeps answering with something the client cannot use (here an
// HTTP server that refuses the upgrade with 404: a wrong path) is a fatal,
// reported error after max_unusable_answers attempts, not an endless loop.
TEST_F(SynchronizerTest, AnUnusableGatewayIsFatalAfterBoundedAttempts) {
  start_gateway();
  auto o = sync_options();
  auto url = gateway_->realtime_url();
  o.realtime.realtime_url = url.substr(0, url.find("/realtime")) + "/no-such-path";
  std::promise<SynchronizerStatus> told;
  o.on_fatal = [&told](const SynchronizerStatus& s) { told.set_value(s); };
  sync_ = std::make_unique<Synchronizer>(o);
  ASSERT_TRUE(sync_->start().ok());
  auto status = told.get_future();
  ASSERT_EQ(status.wait_for(30s), std::future_status::ready) << "retried forever";
  const auto s = status.get();
  EXPECT_EQ(s.fatal.code, transport::TransportErrc::bad_gateway);
  EXPECT_NE(s.fatal.message.find("/no-such-path"), std::string::npos) << s.fatal.message;
}

}  // namespace
}  // namespace assist
