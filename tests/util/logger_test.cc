#include "util/logger.h"

#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include "support/spdlog_capture.h"

namespace assist::util {
namespace {

struct Captured {
  LogLevel level;
  std::string message;
  std::string fields;
};

LogOptions capture_into(std::vector<Captured>& lines, LogLevel level) {
  LogOptions options;
  options.level = level;
  options.sink = [&lines](const LogLine& line) {
    lines.push_back({line.level, std::string(line.message), std::string(line.fields)});
  };
  return options;
}

using testing::SpdlogCapture;

TEST(LoggerTest, ASinkGetsTheMessageAndItsFieldsAsJson) {
  std::vector<Captured> lines;
  const Logger log(capture_into(lines, LogLevel::debug));
  log.warn(detail::LogRecord("connection failed").with("link", 3).with("url", "wss://gw.example/rt"));
  log.info(detail::LogRecord("no fields"));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].level, LogLevel::warn);
  EXPECT_EQ(lines[0].message, "connection failed");
  EXPECT_EQ(lines[0].fields, R"({"link":3,"url":"wss://gw.example/rt"})");
  EXPECT_EQ(lines[1].message, "no fields");
  EXPECT_EQ(lines[1].fields, "");
}

TEST(LoggerTest, ASinkGetsOnlyTheLevelsAtOrAboveItsOwn) {
  std::vector<Captured> lines;
  const Logger log(capture_into(lines, LogLevel::warn));
  EXPECT_FALSE(log.should_log(LogLevel::info));
  EXPECT_TRUE(log.should_log(LogLevel::error));
  log.debug(detail::LogRecord("d"));
  log.info(detail::LogRecord("i"));
  log.warn(detail::LogRecord("w"));
  log.error(detail::LogRecord("e"));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].message, "w");
  EXPECT_EQ(lines[1].message, "e");
}

TEST(LoggerTest, LevelOffIsSilentAndSpdlogHearsNothing) {
  SpdlogCapture spdlog_lines;
  std::vector<Captured> lines;
  const Logger log(capture_into(lines, LogLevel::off));
  EXPECT_FALSE(log.should_log(LogLevel::error));
  log.error(detail::LogRecord("e"));
  EXPECT_TRUE(lines.empty());
  EXPECT_EQ(spdlog_lines.text(), "");
}

TEST(LoggerTest, WithASinkSpdlogHearsNothing) {
  SpdlogCapture spdlog_lines;
  std::vector<Captured> lines;
  const Logger log(capture_into(lines, LogLevel::debug));
  log.error(detail::LogRecord("to the sink only"));
  EXPECT_EQ(lines.size(), 1u);
  EXPECT_EQ(spdlog_lines.text(), "");
}

TEST(LoggerTest, WithoutASinkLinesGoToSpdlogsDefaultLoggerAtItsLevel) {
  SpdlogCapture spdlog_lines;
  const Logger log{LogOptions{}};
  spdlog::set_level(spdlog::level::info);
  EXPECT_FALSE(log.should_log(LogLevel::debug));
  log.debug(detail::LogRecord("below spdlog's level"));
  log.warn(detail::LogRecord("to spdlog").with("link", 1));
  const std::string text = spdlog_lines.text();
  EXPECT_EQ(text.find("below"), std::string::npos) << text;
  EXPECT_NE(text.find("warning to spdlog"), std::string::npos) << text;
  EXPECT_NE(text.find(R"({"link":1})"), std::string::npos) << text;
}

TEST(LoggerTest, AThrowingSinkLosesTheLineOnly) {
  LogOptions options;
  options.sink = [](const LogLine&) { throw std::runtime_error("sink broken"); };
  const Logger log(options);
  EXPECT_NO_THROW(log.error(detail::LogRecord("lost")));
}

}  // namespace
}  // namespace assist::util
