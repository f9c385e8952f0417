#include "service/logging.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include "core/detail/log_record.h"

namespace assist::service {
namespace {

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

TEST(LoggingTest, RedactsCredentialShapes) {
  EXPECT_EQ(redact("GET /realtime/v1?access_token=abc.def&x=1"), "GET /realtime/v1?access_token=***&x=1");
  EXPECT_EQ(redact("Authorization: Bearer eyJhbGciOi"), "Authorization: Bearer ***");
  EXPECT_EQ(redact("Authorization: Basic ZGVtbzpzZWNyZXQ="), "Authorization: Basic ***");
  EXPECT_EQ(redact(R"({"access_token":"tok","expires_in":1800})"), R"({"access_token":"***","expires_in":1800})");
  EXPECT_EQ(redact("grant_type=client_credentials&client_secret=pw"), "grant_type=client_credentials&client_secret=***");
  EXPECT_EQ(redact("https://user:pa55@host/path"), "https://user:***@host/path");
  EXPECT_EQ(redact("wss://host:443/realtime/v1"), "wss://host:443/realtime/v1");
  EXPECT_EQ(redact("nothing to hide"), "nothing to hide");
}

TEST(LoggingTest, RedactsRegisteredSecretsAnywhere) {
  register_secret("registered-secret-77");
  register_secret("ab");  // too short to register: would scrub ordinary text
  EXPECT_EQ(redact("oops registered-secret-77 leaked"), "oops *** leaked");
  EXPECT_EQ(redact("ab cd"), "ab cd");
}

TEST(LoggingTest, ParsesFormatsAndLevels) {
  EXPECT_EQ(parse_log_format("json"), LogFormat::json);
  EXPECT_EQ(parse_log_format("text"), LogFormat::text);
  EXPECT_EQ(parse_log_format("auto"), LogFormat::automatic);
  EXPECT_FALSE(parse_log_format("xml"));
  EXPECT_TRUE(is_log_level("warn"));
  EXPECT_FALSE(is_log_level("verbose"));
  EXPECT_FALSE(setup_logging({LogFormat::json, "verbose", ""}).empty());
}

TEST(LoggingTest, JsonLinesToAFileReopenedAfterRotation) {
  const auto dir = std::filesystem::temp_directory_path() / ("assist-logging-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto log = dir / "service.log";
  ASSERT_EQ(setup_logging({LogFormat::json, "info", log.string()}), "");
  register_secret("the-client-secret");
  spdlog::info("token request with client_secret=the-client-secret and \"quotes\"");
  spdlog::debug("below the level");
  flush_logs();  // lines are written by the logging thread
  std::filesystem::rename(log, dir / "service.log.1");
  EXPECT_TRUE(reopen_log_files());
  spdlog::warn("after rotation");
  flush_logs();

  const auto rotated = read_file(dir / "service.log.1");
  const auto line = boost::json::parse(rotated.substr(0, rotated.find('\n'))).as_object();
  EXPECT_EQ(line.at("level").as_string(), "info");
  EXPECT_EQ(line.at("msg").as_string(), "token request with client_secret=*** and \"quotes\"");
  EXPECT_TRUE(line.contains("ts"));
  EXPECT_EQ(rotated.find("below the level"), std::string::npos);
  EXPECT_EQ(rotated.find("the-client-secret"), std::string::npos);
  const auto fresh = read_file(log);
  EXPECT_NE(fresh.find("after rotation"), std::string::npos) << fresh;

  ASSERT_EQ(setup_logging({LogFormat::text, "info", ""}), "");  // back to stderr before removing the files
  EXPECT_FALSE(reopen_log_files());  // nothing to reopen on stderr
  std::filesystem::remove_all(dir);
}

class LoggingToAFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("assist-logging-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    EXPECT_EQ(setup_logging({LogFormat::text, "info", ""}), "");
    std::filesystem::remove_all(dir_);
  }
  std::string log_path() const { return (dir_ / "service.log").string(); }

  std::filesystem::path dir_;
};

TEST_F(LoggingToAFileTest, JsonLinesCarryTheRecordsFieldsAndTheFlagSpellingOfLevels) {
  ASSERT_EQ(setup_logging({LogFormat::json, "debug", log_path()}), "");
  register_secret("field-secret-9");
  spdlog::warn(detail::LogRecord("connection failed")
                   .with("link", 3)
                   .with("url", "wss://gw.example.com/realtime/v1?access_token=tok-123")
                   .with("ratio", 0.374)
                   .with("note", "leaks field-secret-9")
                   .error(std::make_error_code(std::errc::connection_refused))
                   .text());
  spdlog::error(detail::LogRecord("plain").text());
  flush_logs();
  std::istringstream lines(read_file(log_path()));
  std::string first;
  std::string second;
  std::getline(lines, first);
  std::getline(lines, second);
  const auto line = boost::json::parse(first).as_object();
  EXPECT_EQ(line.at("level").as_string(), "warn") << first;
  EXPECT_EQ(line.at("msg").as_string(), "connection failed");
  EXPECT_EQ(line.at("link").as_int64(), 3);
  EXPECT_EQ(line.at("url").as_string(), "wss://gw.example.com/realtime/v1?access_token=***");
  EXPECT_EQ(line.at("error").as_string(), std::make_error_code(std::errc::connection_refused).message());
  EXPECT_EQ(line.at("error_code").as_string(), "generic:111");
  EXPECT_EQ(line.at("note").as_string(), "leaks ***");
  EXPECT_NE(first.find("\"ratio\":0.374"), std::string::npos) << first;  // not 3.74E-1
  EXPECT_EQ(boost::json::parse(second).at("level").as_string(), "error") << second;
  EXPECT_EQ(boost::json::parse(second).as_object().size(), 3u) << second;  // ts, level, msg
}

TEST_F(LoggingToAFileTest, TextLinesPutFieldsAfterTheMessage) {
  ASSERT_EQ(setup_logging({LogFormat::text, "info", log_path()}), "");
  spdlog::info(detail::LogRecord("serving").with("url", "http://127.0.0.1:8080").with("reason", "two words").text());
  flush_logs();
  const auto text = read_file(log_path());
  EXPECT_TRUE(std::regex_search(
      text, std::regex(R"(^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} info  serving url=http://127\.0\.0\.1:8080 reason="two words"\n$)")))
      << text;
}

TEST_F(LoggingToAFileTest, AStuckLogWriterNeverBlocksTheThreadThatLogs) {
  // The log file is a pipe nobody reads: once its buffer is full, the
  // logging thread blocks in write(). The thread that logs must not.
  const auto fifo = log_path();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);  // lets the writer open without waiting
  ASSERT_GE(reader, 0);
  ASSERT_EQ(setup_logging({LogFormat::json, "info", fifo, 64}), "");
  const std::string filler(200, 'x');
  for (int i = 0; i < 20'000; ++i) spdlog::info(detail::LogRecord("line").with("i", i).with("filler", filler).text());
  EXPECT_GT(log_lines_dropped(), 0u);

  // Unblock the logging thread so that TearDown can replace the logger.
  std::atomic<bool> done{false};
  std::thread drain([&] {
    std::array<char, 65536> sink;
    while (!done.load()) {
      if (::read(reader, sink.data(), sink.size()) <= 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  flush_logs();
  done.store(true);
  drain.join();
  ::close(reader);
}

}  // namespace
}  // namespace assist::service
