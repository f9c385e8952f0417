// `assist-sync outcomes` spawned as a process against a real nats-server,
// one per test.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "apps/child_process.h"
#include "bus/nats_server.h"
#include "ingest/prompt_stream.h"

namespace assist::testing {
namespace {

using namespace std::chrono_literals;

const std::string kBinary = ASSIST_SYNC_BINARY;

std::string outcome_body(const std::string& frame_id, int partition) {
  return R"({"frame_id":")" + frame_id + R"(","outcome":"ACKED","sequence":7,"instance":"host-42","partition":)" +
         std::to_string(partition) + "}";
}

class OutcomesCommandTest : public NatsServerTest {
 protected:
  void SetUp() override {
    NatsServerTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    const auto stream = connection_->ensure_stream(
        bus::StreamConfig{ingest::outcome_stream_name("ASSIST_PROMPTS"), {std::string(ingest::kOutcomeSubjects)}});
    ASSERT_TRUE(stream.ok()) << stream.message;
  }

  // Publishes the outcome of `frame_id` as the instances do; its body.
  std::string publish_outcome(const std::string& frame_id, int partition = 3) {
    const auto body = outcome_body(frame_id, partition);
    const auto ack = connection_->publish(ingest::outcome_subject(static_cast<std::uint32_t>(partition), frame_id), body,
                                          frame_id);
    EXPECT_TRUE(ack) << ack.error().message;
    return body;
  }

  std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }
};

TEST_F(OutcomesCommandTest, FromStartPrintsTheStoredOutcomesInOrderAndExitsAfterCount) {
  const std::vector<std::string> bodies{publish_outcome("frame-1", 3), publish_outcome("frame-2", 0),
                                        publish_outcome("frame-3", 3)};
  ChildProcess outcomes({kBinary, "outcomes", "--servers", server_->url(), "--from-start", "--count", "3"});
  ASSERT_EQ(outcomes.wait(30s), 0) << outcomes.err();
  EXPECT_EQ(lines_of(outcomes.out()), bodies) << outcomes.err();
}

TEST_F(OutcomesCommandTest, WithoutFromStartOnlyNewOutcomesArePrinted) {
  const auto stored = publish_outcome("stored-before");
  ChildProcess outcomes({kBinary, "outcomes", "--servers", server_->url(), "--count", "1"});
  // Published until the command has seen one: it may not be subscribed yet.
  std::optional<int> exit_code;
  for (int i = 0; i < 100 && !exit_code; ++i) {
    publish_outcome("new-" + std::to_string(i));
    exit_code = outcomes.wait(200ms);
  }
  ASSERT_EQ(exit_code, 0) << outcomes.err();
  const auto lines = lines_of(outcomes.out());
  ASSERT_EQ(lines.size(), 1u) << outcomes.out();
  EXPECT_NE(lines[0], stored);
  EXPECT_EQ(lines[0].rfind(R"({"frame_id":"new-)", 0), 0u) << lines[0];
}

TEST_F(OutcomesCommandTest, SigtermEndsTheFollowingWithExitZero) {
  const auto body = publish_outcome("frame-1");
  ChildProcess outcomes({kBinary, "outcomes", "--servers", server_->url(), "--from-start"});
  EXPECT_EQ(outcomes.read_line(15s), body) << outcomes.err();
  outcomes.signal(SIGTERM);
  EXPECT_EQ(outcomes.wait(15s), 0) << outcomes.err();
}

TEST_F(OutcomesCommandTest, ReadsTheServersAndTheStreamFromTheConfigurationOfRun) {
  const auto body = publish_outcome("frame-1");
  const auto config = std::filesystem::temp_directory_path() / ("assist-outcomes-" + std::to_string(::getpid()) + ".toml");
  std::ofstream(config) << "[gateway]\n"
                           "token_url = \"https://platform.example.com/oauth/token\"\n"
                           "realtime_url = \"wss://api.example.com/realtime/v1\"\n"
                           "client_id = \"assist-sync-test\"\n"
                           "client_secret_file = \"/nonexistent/client_secret\"\n"
                           "[audit]\n"
                           "path = \"/nonexistent/audit.jsonl\"\n"
                           "[ingest]\n"
                           "mode = \"nats\"\n"
                           "servers = [\""
                        << server_->url() << "\"]\n";
  ChildProcess outcomes({kBinary, "outcomes", "--config", config.string(), "--from-start", "--count", "1"});
  EXPECT_EQ(outcomes.wait(30s), 0) << outcomes.err();
  EXPECT_EQ(lines_of(outcomes.out()), std::vector<std::string>{body}) << outcomes.err();
  std::filesystem::remove(config);
}

TEST_F(OutcomesCommandTest, AMissingOutcomesStreamIsNamedAndExitsOne) {
  ChildProcess outcomes({kBinary, "outcomes", "--servers", server_->url(), "--stream", "OTHER"});
  EXPECT_EQ(outcomes.wait(30s), 1);
  EXPECT_NE(outcomes.err().find("OTHER_OUTCOMES"), std::string::npos) << outcomes.err();
}

TEST(OutcomesCommand, UnreachableServersExitOneNamingThemWithoutTheirPassword) {
  const auto port = std::to_string(free_loopback_port());
  ChildProcess outcomes({kBinary, "outcomes", "--servers", "nats://alice:s3cret@127.0.0.1:" + port});
  EXPECT_EQ(outcomes.wait(30s), 1);
  EXPECT_NE(outcomes.err().find("nats://127.0.0.1:" + port), std::string::npos) << outcomes.err();
  EXPECT_EQ(outcomes.err().find("s3cret"), std::string::npos) << outcomes.err();
}

TEST(OutcomesCommand, BadUsageExitsTwo) {
  for (const std::vector<std::string>& args : {std::vector<std::string>{"outcomes"},
                                              {"outcomes", "--servers", "nats://127.0.0.1:1", "--count", "0"},
                                              {"outcomes", "--servers", "http://127.0.0.1:1"},
                                              {"outcomes", "--servers", "nats://127.0.0.1:1", "--config", "/etc/hosts"}}) {
    std::vector<std::string> argv{kBinary};
    argv.insert(argv.end(), args.begin(), args.end());
    ChildProcess outcomes(argv);
    EXPECT_EQ(outcomes.wait(30s), 2) << args.back() << ": " << outcomes.err();
  }
}

}  // namespace
}  // namespace assist::testing
