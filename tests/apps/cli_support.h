// What the end-to-end tests of the assist-sync binary share: the binary's
// path, prompt lines, a spawned `assist-sync gateway`, and a fixture with a
// scratch directory.
#ifndef ASSIST_TESTS_APPS_CLI_SUPPORT_H
#define ASSIST_TESTS_APPS_CLI_SUPPORT_H

// g++ 12 at -O1 with the sanitizers (the asan preset) reports a false
// -Wmaybe-uninitialized inside std::regex's std::function members.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "apps/child_process.h"
#include "service/test_http_client.h"

namespace assist::testing {

inline const std::string kBinary = ASSIST_SYNC_BINARY;

inline std::string prompt_line(const std::string& session, int priority = 4, bool override_priority = true) {
  namespace json = boost::json;
  return json::serialize(json::object{
      {"session_id", session},
      {"agent_id", "AGT-" + session},
      {"interaction_id", "INT-" + session},
      {"snippets", json::array{json::object{{"snippet_id", "KB-1001"},
                                            {"content", "Verify customer account status before escalation."},
                                            {"tags", json::array{"billing", "escalation"}},
                                            {"source_system", "CRM"}}}},
      {"priority_override", override_priority},
      {"priority_level", priority}});
}

// Polls `condition` every 20 ms until it holds or `limit` passes.
template <class F>
bool eventually(F condition, std::chrono::milliseconds limit = std::chrono::seconds(15)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

inline std::vector<boost::json::object> read_jsonl(const std::string& path) {
  std::ifstream in(path);
  std::vector<boost::json::object> out;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(boost::json::parse(line).as_object());
  return out;
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

inline std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// A spawned `assist-sync gateway` on an ephemeral port; `extra` adds options.
struct SpawnedGateway {
  explicit SpawnedGateway(std::vector<std::string> extra = {}) : process(command(std::move(extra))) {
    const auto line = process.read_line(std::chrono::seconds(20));
    if (!line) return;
    std::smatch m;
    if (std::regex_search(*line, m, std::regex(R"(token_url=(\S+))"))) token_url = m[1];
    if (std::regex_search(*line, m, std::regex(R"(realtime_url=(\S+))"))) realtime_url = m[1];
    if (std::regex_search(*line, m, std::regex(R"(stats_url=(\S+))"))) stats_url = m[1];
  }
  bool ok() const { return !token_url.empty() && !realtime_url.empty(); }
  std::uint16_t port() const {
    std::smatch m;
    if (!std::regex_search(token_url, m, std::regex(R"(:(\d+)/)"))) return 0;
    return static_cast<std::uint16_t>(std::stoi(m[1]));
  }

  // A counter from GET /stats; -1 when the gateway does not answer.
  std::int64_t stat(const char* name) const {
    std::smatch m;
    if (!std::regex_search(stats_url, m, std::regex(R"(:(\d+)/)"))) return -1;
    const auto reply = http_request(static_cast<std::uint16_t>(std::stoi(m[1])), boost::beast::http::verb::get, "/stats");
    if (reply.status != 200) return -1;
    return boost::json::parse(reply.body).at(name).to_number<std::int64_t>();
  }

  static std::vector<std::string> command(std::vector<std::string> extra) {
    std::vector<std::string> argv{kBinary, "gateway", "--listen", "127.0.0.1:0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }

  ChildProcess process;
  std::string token_url;
  std::string realtime_url;
  std::string stats_url;
};

// The port from the run command's "assist-sync listening on http://HOST:PORT"
// line; 0 when it does not come within 20 s.
inline std::uint16_t listening_port(ChildProcess& run) {
  const auto line = run.read_line(std::chrono::seconds(20));
  std::smatch m;
  if (!line || !std::regex_search(*line, m, std::regex(R"(listening on http://[^ ]+:(\d+))"))) return 0;
  return static_cast<std::uint16_t>(std::stoi(m[1]));
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("assist-cli-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  void write(const std::string& name, const std::string& text) const { std::ofstream(path(name)) << text; }

  std::string config_for(const SpawnedGateway& gw, const std::string& listen) const {
    return "[gateway]\ntoken_url = \"" + gw.token_url + "\"\nrealtime_url = \"" + gw.realtime_url +
           "\"\nclient_id = \"demo-client\"\nhandshake_timeout_ms = 2000\n\n[sync]\nstop_drain_ms = 3000\n\n"
           "[audit]\npath = \"" + path("audit.jsonl") + "\"\n\n[http]\nlisten = \"" + listen + "\"\n";
  }

  std::filesystem::path dir_;
};

}  // namespace assist::testing

#endif  // ASSIST_TESTS_APPS_CLI_SUPPORT_H
