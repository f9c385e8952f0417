#include "service/logging.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

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
  std::filesystem::rename(log, dir / "service.log.1");
  reopen_log_files();
  spdlog::warn("after rotation");
  spdlog::default_logger()->flush();

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
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace assist::service
