// Connection against a real nats-server with JetStream, one per test.
#include "bus/connection.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bus/nats_server.h"

namespace assist::bus {
namespace {

using namespace std::chrono_literals;

const StreamConfig kPrompts{"PROMPTS", {"assist.prompts.*"}, std::chrono::minutes(2)};

using ConnectionTest = testing::NatsServerTest;

// The results of publish_async calls numbered 0..n-1, with how many times
// each `done` was called.
class AsyncResults {
 public:
  explicit AsyncResults(std::size_t n) : results_(n), calls_(n, 0) {}

  std::function<void(Result<PublishAck>)> done(std::size_t i) {
    return [this, i](Result<PublishAck> result) {
      std::lock_guard lock(mutex_);
      if (calls_[i]++ == 0) results_[i].emplace(std::move(result));
      ++completed_;
      cv_.notify_all();
    };
  }
  // Waits up to `timeout` for every `done` to have been called.
  bool wait_all(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [this] { return completed_ >= results_.size(); });
  }
  const Result<PublishAck>& result(std::size_t i) const { return *results_[i]; }
  int calls(std::size_t i) const { return calls_[i]; }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::optional<Result<PublishAck>>> results_;
  std::vector<int> calls_;
  std::size_t completed_ = 0;
};

std::unique_ptr<Connection> connect_with_request_timeout(const std::string& url, std::chrono::milliseconds timeout) {
  ConnectOptions options;
  options.servers = {url};
  options.reconnect_wait = 50ms;
  options.request_timeout = timeout;
  auto connection = Connection::connect(std::move(options));
  EXPECT_TRUE(connection) << connection.error().message;
  return connection ? std::move(connection).value() : nullptr;
}

TEST_F(ConnectionTest, TenThousandAsyncPublishesCompleteOnceEachAndAreStoredInOrder) {
  ASSERT_TRUE(connection_->ensure_stream(kPrompts).ok());
  constexpr std::size_t kCount = 10'000;
  AsyncResults results(kCount);
  for (std::size_t i = 0; i < kCount; ++i) {
    connection_->publish_async("assist.prompts." + std::to_string(i % 8), "prompt " + std::to_string(i),
                               "frame-" + std::to_string(i), results.done(i));
  }
  ASSERT_TRUE(results.wait_all(60s)) << "not every PubAck came";
  std::this_thread::sleep_for(100ms);  // a second call of some `done` would show now
  for (std::size_t i = 0; i < kCount; ++i) {
    ASSERT_EQ(results.calls(i), 1) << "publish " << i;
    ASSERT_TRUE(results.result(i)) << "publish " << i << ": " << results.result(i).error().message;
    EXPECT_FALSE(results.result(i)->duplicate) << "publish " << i;
    ASSERT_EQ(results.result(i)->stream_sequence, i + 1) << "publish " << i << " is not stored in call order";
  }
}

TEST_F(ConnectionTest, AnAsyncPublishWithARepeatedMsgIdReportsADuplicate) {
  ASSERT_TRUE(connection_->ensure_stream(kPrompts).ok());
  AsyncResults results(3);
  connection_->publish_async("assist.prompts.1", "prompt one", "frame-1", results.done(0));
  connection_->publish_async("assist.prompts.1", "prompt one", "frame-1", results.done(1));
  connection_->publish_async("assist.prompts.1", "prompt two", "frame-2", results.done(2));
  ASSERT_TRUE(results.wait_all(10s));
  for (std::size_t i = 0; i < 3; ++i) ASSERT_TRUE(results.result(i)) << results.result(i).error().message;
  EXPECT_FALSE(results.result(0)->duplicate);
  EXPECT_TRUE(results.result(1)->duplicate);
  EXPECT_EQ(results.result(1)->stream_sequence, results.result(0)->stream_sequence);
  EXPECT_FALSE(results.result(2)->duplicate);
  EXPECT_EQ(results.result(2)->stream_sequence, results.result(0)->stream_sequence + 1);
}

TEST_F(ConnectionTest, AnAsyncPublishWhereNoStreamListensIsNoStream) {
  ASSERT_TRUE(connection_->ensure_stream(kPrompts).ok());
  AsyncResults results(1);
  connection_->publish_async("elsewhere.1", "x", "frame-1", results.done(0));
  ASSERT_TRUE(results.wait_all(10s));
  ASSERT_FALSE(results.result(0));
  EXPECT_EQ(results.result(0).error().code, BusErrc::no_stream) << results.result(0).error().message;
  EXPECT_NE(results.result(0).error().message.find("elsewhere.1"), std::string::npos)
      << results.result(0).error().message;
}

// The server is gone: no PubAck comes, and `done` says timeout after request_timeout.
TEST_F(ConnectionTest, AnAsyncPublishWhosePubAckNeverComesTimesOut) {
  ASSERT_TRUE(connection_->ensure_stream(kPrompts).ok());
  auto connection = connect_with_request_timeout(server_->url(), 500ms);
  ASSERT_NE(connection, nullptr);
  server_->kill();
  AsyncResults results(1);
  const auto published = std::chrono::steady_clock::now();
  connection->publish_async("assist.prompts.1", "x", "frame-1", results.done(0));
  ASSERT_TRUE(results.wait_all(10s));
  EXPECT_GE(std::chrono::steady_clock::now() - published, 400ms);
  ASSERT_FALSE(results.result(0));
  EXPECT_EQ(results.result(0).error().code, BusErrc::timeout) << results.result(0).error().message;
}

TEST_F(ConnectionTest, DestroyingTheConnectionCompletesTheAsyncPublishesStillWaiting) {
  ASSERT_TRUE(connection_->ensure_stream(kPrompts).ok());
  auto connection = connect_with_request_timeout(server_->url(), 60s);
  ASSERT_NE(connection, nullptr);
  server_->kill();
  AsyncResults results(3);
  for (std::size_t i = 0; i < 3; ++i) {
    connection->publish_async("assist.prompts.1", "x", "frame-" + std::to_string(i), results.done(i));
  }
  connection.reset();
  ASSERT_TRUE(results.wait_all(0ms)) << "the destructor returned before completing every publish";
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(results.calls(i), 1);
    ASSERT_FALSE(results.result(i));
    EXPECT_EQ(results.result(i).error().code, BusErrc::unreachable) << results.result(i).error().message;
  }
}

TEST_F(ConnectionTest, ASecondPublishWithTheSameMsgIdIsStoredOnce) {
  ASSERT_TRUE(connection_->ensure_stream(kPrompts).ok());
  const auto first = connection_->publish("assist.prompts.3", "prompt one", "frame-1");
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_FALSE(first->duplicate);
  const auto again = connection_->publish("assist.prompts.3", "prompt one", "frame-1");
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(again->stream_sequence, first->stream_sequence);
  const auto second = connection_->publish("assist.prompts.3", "prompt two", "frame-2");
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_FALSE(second->duplicate);
  EXPECT_EQ(second->stream_sequence, first->stream_sequence + 1) << "the duplicate took no sequence";
}

TEST_F(ConnectionTest, EnsureStreamAcceptsTheSameConfigurationAndRefusesAnother) {
  ASSERT_TRUE(connection_->ensure_stream(kPrompts).ok());
  EXPECT_TRUE(connection_->ensure_stream(kPrompts).ok());
  const auto other = connection_->ensure_stream({"PROMPTS", {"other.*"}, std::chrono::minutes(2)});
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.code, BusErrc::bad_config) << other.message;
  EXPECT_NE(other.message.find("PROMPTS"), std::string::npos) << other.message;
}

struct StreamInfoDeleter {
  void operator()(jsStreamInfo* info) const { jsStreamInfo_Destroy(info); }
};

// The stream's configuration as the server has it; null (and a failure) when it cannot be read.
std::unique_ptr<jsStreamInfo, StreamInfoDeleter> stream_info(Connection& connection, const std::string& name) {
  jsStreamInfo* info = nullptr;
  jsErrCode js_error{};
  const auto s = js_GetStreamInfo(&info, connection.jetstream(), name.c_str(), nullptr, &js_error);
  EXPECT_EQ(s, NATS_OK) << natsStatus_GetText(s) << " (JetStream error " << static_cast<int>(js_error) << ")";
  return std::unique_ptr<jsStreamInfo, StreamInfoDeleter>(info);
}

std::int64_t nanos(std::chrono::milliseconds time) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(time).count();
}

TEST_F(ConnectionTest, EnsureStreamCreatesWithReplicasAndMaxAge) {
  auto config = kPrompts;
  config.max_age = 1h;
  ASSERT_TRUE(connection_->ensure_stream(config).ok());
  const auto info = stream_info(*connection_, "PROMPTS");
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->Config->MaxAge, nanos(1h));
  EXPECT_EQ(info->Config->Replicas, 1);
  EXPECT_EQ(info->Config->Duplicates, nanos(2min));
  EXPECT_EQ(info->Config->Storage, js_FileStorage);
}

// The configuration is the source of truth: a stream whose max age was
// changed (by an earlier configuration or an operator's `nats stream edit`)
// is updated back; the operator's other settings stay.
TEST_F(ConnectionTest, EnsureStreamUpdatesAnotherMaxAgeAndKeepsTheOtherSettings) {
  auto config = kPrompts;
  config.max_age = 1h;
  ASSERT_TRUE(connection_->ensure_stream(config).ok());
  {
    auto info = stream_info(*connection_, "PROMPTS");
    ASSERT_NE(info, nullptr);
    info->Config->MaxBytes = 1 << 30;  // the operator's
    info->Config->MaxAge = nanos(3h);
    jsStreamInfo* updated = nullptr;
    ASSERT_EQ(js_UpdateStream(&updated, connection_->jetstream(), info->Config, nullptr, nullptr), NATS_OK);
    jsStreamInfo_Destroy(updated);
  }
  config.max_age = 2h;
  const auto ensured = connection_->ensure_stream(config);
  ASSERT_TRUE(ensured.ok()) << ensured.message;
  const auto info = stream_info(*connection_, "PROMPTS");
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->Config->MaxAge, nanos(2h));
  EXPECT_EQ(info->Config->MaxBytes, 1 << 30) << "an operator's setting we do not manage stays";
  EXPECT_TRUE(connection_->ensure_stream(config).ok()) << "the same again: nothing to do";

  const auto stored = connection_->publish("assist.prompts.1", "x", "frame-1");
  EXPECT_TRUE(stored) << stored.error().message;
}

TEST_F(ConnectionTest, EnsureStreamRefusesOtherSubjectsOrStorageNamingTheDifference) {
  ASSERT_TRUE(connection_->ensure_stream(kPrompts).ok());
  const auto other = connection_->ensure_stream({"PROMPTS", {"other.*"}, std::chrono::minutes(2)});
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.code, BusErrc::bad_config) << other.message;
  EXPECT_NE(other.message.find("subjects [assist.prompts.*], expected [other.*]"), std::string::npos) << other.message;

  jsStreamConfig memory;
  jsStreamConfig_Init(&memory);
  const char* subjects[] = {"memory.*"};
  memory.Name = "IN_MEMORY";
  memory.Subjects = subjects;
  memory.SubjectsLen = 1;
  memory.Storage = js_MemoryStorage;
  jsStreamInfo* created = nullptr;
  ASSERT_EQ(js_AddStream(&created, connection_->jetstream(), &memory, nullptr, nullptr), NATS_OK);
  jsStreamInfo_Destroy(created);
  const auto storage = connection_->ensure_stream({"IN_MEMORY", {"memory.*"}, std::chrono::minutes(2)});
  ASSERT_FALSE(storage.ok());
  EXPECT_EQ(storage.code, BusErrc::bad_config) << storage.message;
  EXPECT_NE(storage.message.find("memory storage"), std::string::npos) << storage.message;
}

// An operator's `nats stream edit --replicas 3` no longer makes the next
// start refuse: the stream is updated back to the configured count. (A
// single nats-server 2.9 accepts the edit to 3, recording it, though it
// refuses to create a stream with 3.)
TEST_F(ConnectionTest, EnsureStreamUpdatesTheReplicasAnOperatorChanged) {
  ASSERT_TRUE(connection_->ensure_stream(kPrompts).ok());
  {
    auto info = stream_info(*connection_, "PROMPTS");
    ASSERT_NE(info, nullptr);
    info->Config->Replicas = 3;
    jsStreamInfo* updated = nullptr;
    ASSERT_EQ(js_UpdateStream(&updated, connection_->jetstream(), info->Config, nullptr, nullptr), NATS_OK);
    jsStreamInfo_Destroy(updated);
  }
  ASSERT_EQ(stream_info(*connection_, "PROMPTS")->Config->Replicas, 3);
  const auto ensured = connection_->ensure_stream(kPrompts);
  ASSERT_TRUE(ensured.ok()) << ensured.message;
  EXPECT_EQ(stream_info(*connection_, "PROMPTS")->Config->Replicas, 1);
}

TEST_F(ConnectionTest, CreatingMoreReplicasThanTheServersIsBadConfig) {
  auto config = kPrompts;
  config.replicas = 3;
  const auto refused = connection_->ensure_stream(config);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.code, BusErrc::bad_config) << refused.message;
  EXPECT_NE(refused.message.find("create stream PROMPTS"), std::string::npos) << refused.message;
}

TEST_F(ConnectionTest, PublishingWhereNoStreamListensIsNoStream) {
  ASSERT_TRUE(connection_->ensure_stream(kPrompts).ok());
  const auto ack = connection_->publish("elsewhere.1", "x", "frame-1");
  ASSERT_FALSE(ack);
  EXPECT_EQ(ack.error().code, BusErrc::no_stream) << ack.error().message;
  EXPECT_NE(ack.error().message.find("elsewhere.1"), std::string::npos) << ack.error().message;
}

// The server is killed (SIGKILL) and started again on its store: the hook
// sees the drop and the return, and what JetStream had stored is still
// there (publishing it again is a duplicate of the same sequence).
TEST_F(ConnectionTest, AStoredMessageSurvivesAServerKillAndTheHookSeesTheDropAndTheReturn) {
  ASSERT_TRUE(connection_->ensure_stream(kPrompts).ok());
  std::atomic<int> drops{0};
  std::atomic<int> returns{0};
  auto watched = connect([&](bool connected) { ++(connected ? returns : drops); });
  ASSERT_NE(watched, nullptr);
  const auto stored = watched->publish("assist.prompts.4", "stored", "frame-1");
  ASSERT_TRUE(stored) << stored.error().message;

  server_->restart();
  ASSERT_TRUE(server_->ready(10s)) << server_log();
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while ((drops == 0 || returns == 0) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(drops, 1);
  EXPECT_EQ(returns, 1);

  const auto again = watched->publish("assist.prompts.4", "stored", "frame-1");
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(again->stream_sequence, stored->stream_sequence);
}

TEST(BusConnect, NoServerIsUnreachableAndTheMessageNamesTheUrlWithoutItsPassword) {
  const auto port = std::to_string(testing::free_loopback_port());
  ConnectOptions options;
  options.servers = {"nats://alice:s3cret@127.0.0.1:" + port};
  options.connect_timeout = 500ms;
  const auto connection = Connection::connect(options);
  ASSERT_FALSE(connection);
  EXPECT_EQ(connection.error().code, BusErrc::unreachable) << connection.error().message;
  EXPECT_NE(connection.error().message.find("nats://127.0.0.1:" + port), std::string::npos)
      << connection.error().message;
  EXPECT_EQ(connection.error().message.find("s3cret"), std::string::npos) << connection.error().message;
}

// A nats-server with JetStream disabled and a connection to it; skips the
// test where nats-server is not on PATH.
class WithoutJetStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto binary = testing::find_nats_server();
    if (!binary) GTEST_SKIP() << "nats-server is not on PATH (scripts/bootstrap.sh installs it)";
    server_ = std::make_unique<testing::NatsServer>(*binary, std::filesystem::temp_directory_path(),
                                                    testing::JetStreamMode::disabled);
    ASSERT_TRUE(server_->ready(10s));
    ConnectOptions options;
    options.servers = {server_->url()};
    auto connection = Connection::connect(options);
    ASSERT_TRUE(connection) << connection.error().message;
    connection_ = std::move(connection).value();
  }

  std::unique_ptr<testing::NatsServer> server_;
  std::unique_ptr<Connection> connection_;  // declared after the server: closed first
};

TEST_F(WithoutJetStreamTest, EnsuringAStreamIsJetStreamUnavailable) {
  const auto stream = connection_->ensure_stream(kPrompts);
  ASSERT_FALSE(stream.ok());
  EXPECT_EQ(stream.code, BusErrc::jetstream_unavailable) << stream.message;
}

// Nobody answers a publish where JetStream is not enabled: that is
// jetstream_unavailable, not no_stream (as in a cluster without quorum).
TEST_F(WithoutJetStreamTest, PublishingIsJetStreamUnavailableNotNoStream) {
  const auto ack = connection_->publish("assist.prompts.1", "x", "frame-1");
  ASSERT_FALSE(ack);
  EXPECT_EQ(ack.error().code, BusErrc::jetstream_unavailable) << ack.error().message;
  EXPECT_NE(ack.error().message.find("assist.prompts.1"), std::string::npos) << ack.error().message;

  AsyncResults results(1);
  connection_->publish_async("assist.prompts.2", "x", "frame-2", results.done(0));
  ASSERT_TRUE(results.wait_all(10s));
  ASSERT_FALSE(results.result(0));
  EXPECT_EQ(results.result(0).error().code, BusErrc::jetstream_unavailable) << results.result(0).error().message;
}

TEST(BusConnect, AnUnreadableCredentialsFileIsBadConfigNamingIt) {
  ConnectOptions options;
  options.servers = {"nats://127.0.0.1:" + std::to_string(testing::free_loopback_port())};
  options.credentials_file = "/nonexistent/assist.creds";
  const auto connection = Connection::connect(options);
  ASSERT_FALSE(connection);
  EXPECT_EQ(connection.error().code, BusErrc::bad_config) << connection.error().message;
  EXPECT_NE(connection.error().message.find("/nonexistent/assist.creds"), std::string::npos)
      << connection.error().message;
}

TEST(ShownServerUrl, DropsUserInformationAndHidesWhatIsNotAUrl) {
  EXPECT_EQ(shown_server_url("nats://alice:s3cret@nats-1:4222"), "nats://nats-1:4222");
  EXPECT_EQ(shown_server_url("nats://token@nats-1:4222"), "nats://nats-1:4222");
  EXPECT_EQ(shown_server_url("tls://nats-1:4222"), "tls://nats-1:4222");
  EXPECT_EQ(shown_server_url("alice:s3cret@nats-1:4222").find("s3cret"), std::string::npos);
}

}  // namespace
}  // namespace assist::bus
