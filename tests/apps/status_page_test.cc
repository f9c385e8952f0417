// The status page in a real browser: `assist-sync run` against a spawned
// `assist-sync gateway`, traffic over the HTTP API, then headless Chromium
// (Debian's chromium, installed by scripts/bootstrap.sh) loads the page, runs
// its script against /v1/status, and the figures it rendered must be those
// of /metrics.

// g++ 12 at -O1 with the sanitizers (the asan preset) reports a false
// -Wmaybe-uninitialized inside std::regex's std::function members.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "apps/cli_support.h"

namespace assist::testing {
namespace {

namespace http = boost::beast::http;
namespace json = boost::json;
using namespace std::chrono_literals;

// The chromium binary on PATH, if any.
std::optional<std::string> find_chromium() {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');)
    for (const auto* name : {"chromium", "chromium-browser"})
      if (const auto candidate = std::filesystem::path(dir) / name; ::access(candidate.c_str(), X_OK) == 0)
        return candidate.string();
  return std::nullopt;
}

// Headless Chromium with nothing of its own on the network and a fresh
// profile, then `what` (--dump-dom or --screenshot=...) on `url`, given 5 s
// of page time (virtual: timers and fetches run as fast as they can).
std::vector<std::string> chromium_command(const std::string& chromium, const std::string& profile,
                                          const std::string& what, const std::string& url) {
  return {chromium,
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-quic",
          "--no-first-run",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync",
          "--user-data-dir=" + profile,
          "--virtual-time-budget=5000",
          "--window-size=1280,1500",
          what,
          url};
}

// One prompt line: every 10th was produced 3 s ago (valid, but over the 2 s
// freshness bound at write: REJECTED_FRESHNESS), every 25th is invalid (400,
// no outcome), and pairs of lines share an interaction (the second may
// supersede the first).
std::string traffic_line(int i) {
  const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  json::object p{{"session_id", "SESS-" + std::to_string(i % 30)},
                 {"agent_id", "AGT-" + std::to_string(i % 30)},
                 {"interaction_id", "INT-" + std::to_string(i / 2)},
                 {"snippets", json::array{json::object{{"snippet_id", "KB-" + std::to_string(1000 + i % 7)},
                                                       {"content", "Confirm the caller's identity with two factors."},
                                                       {"tags", json::array{"security"}},
                                                       {"source_system", "CRM"}}}},
                 {"priority_level", 1 + i % 5}};
  if (i % 10 == 9) p["timestamp"] = now - 3.0;
  if (i % 25 == 24) p["priority_level"] = 9;
  return json::serialize(p);
}

// assist_sync_<name>{<label>="<value>"} samples of a Prometheus text, by label value.
std::map<std::string, long> samples_by_label(const std::string& metrics, const std::string& name,
                                             const std::string& label) {
  std::map<std::string, long> out;
  const std::regex sample("^assist_sync_" + name + "\\{" + label + "=\"([a-z_]+)\"\\} (\\d+)$");
  std::istringstream in(metrics);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_match(line, m, sample)) out[m[1]] = std::stol(m[2]);
  }
  return out;
}

// The value of an unlabelled sample; -1 when absent.
long sample_value(const std::string& metrics, const std::string& name) {
  std::smatch m;
  if (!std::regex_search(metrics, m, std::regex("(^|\\n)assist_sync_" + name + " (\\d+)\\n"))) return -1;
  return std::stol(m[2]);
}

// The number rendered in the element with `id` ("1,234" -> 1234); -1 when absent.
long rendered(const std::string& dom, const std::string& id) {
  std::smatch m;
  if (!std::regex_search(dom, m, std::regex("id=\"" + id + "\"[^>]*>([0-9,]+)<"))) return -1;
  std::string digits;
  for (const char c : std::string(m[1])) if (c != ',') digits.push_back(c);
  return std::stol(digits);
}

class StatusPageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("assist-status-page-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  std::filesystem::path dir_;
};

TEST_F(StatusPageTest, ChromiumRendersTheFiguresOfMetrics) {
  const auto chromium = find_chromium();
  if (!chromium)
    GTEST_SKIP() << "chromium is not installed (scripts/bootstrap.sh installs it): the status page is not "
                    "tested in a browser";
  SpawnedGateway gw({"--feedback", "--adoption-probability", "0.5", "--feedback-delay-ms", "5",
                     "--ack-jitter-ms", "4"});
  ASSERT_TRUE(gw.ok()) << gw.process.err();
  std::ofstream(path("run.toml")) << "[gateway]\ntoken_url = \"" << gw.token_url << "\"\nrealtime_url = \""
                                  << gw.realtime_url << "\"\nclient_id = \"demo-client\"\n\n[audit]\npath = \""
                                  << path("audit.jsonl") << "\"\n\n[http]\nlisten = \"127.0.0.1:0\"\n";
  ChildProcess run({ASSIST_SYNC_BINARY, "run", "--config", path("run.toml")}, {{"ASSIST_CLIENT_SECRET", "demo-secret"}});
  const auto port = listening_port(run);
  ASSERT_NE(port, 0) << run.out() << run.err();

  // Traffic: 300 prompt lines in three batches, each answered once every
  // prompt has its outcome, so nothing changes the outcome counts after.
  for (int batch = 0; batch < 3; ++batch) {
    std::string body;
    for (int i = batch * 100; i < (batch + 1) * 100; ++i) body += traffic_line(i) + "\n";
    const auto r = http_request(port, http::verb::post, "/v1/prompts/batch?wait=outcome", body);
    ASSERT_EQ(r.status, 200u) << r.error << r.body;
  }
  const auto metrics = http_request(port, http::verb::get, "/metrics").body;
  const auto outcomes = samples_by_label(metrics, "outcomes_total", "outcome");
  ASSERT_FALSE(outcomes.empty()) << metrics;
  ASSERT_GT(outcomes.at("acked"), 0);
  ASSERT_GT(outcomes.at("rejected_freshness"), 0);

  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/";
  // Its own HOME too: nothing of the browser lands in the user's ~/.cache or ~/.pki.
  const std::map<std::string, std::string> env{{"HOME", path("home")}};
  ChildProcess browser(chromium_command(*chromium, path("profile"), "--dump-dom", url), env);
  ASSERT_EQ(browser.wait(90s), 0) << browser.err();
  const auto& dom = browser.out();
  for (const auto& [label, count] : outcomes) {
    EXPECT_EQ(rendered(dom, "outcome-" + label + "-total"), count) << label << "\n" << dom;
  }
  EXPECT_EQ(rendered(dom, "outcomes-total"), sample_value(metrics, "syncs_total"));
  EXPECT_EQ(rendered(dom, "finished"), sample_value(metrics, "syncs_total"));
  EXPECT_EQ(rendered(dom, "sessions"), sample_value(metrics, "sessions"));
  EXPECT_EQ(rendered(dom, "connections"), sample_value(metrics, "connections"));
  EXPECT_TRUE(std::regex_search(dom, std::regex("id=\"readiness\"[^>]*>Ready<"))) << dom;

  // A screenshot, kept next to the test for a person to look at (docs/ has one).
  const auto shot = std::filesystem::absolute("status_page_test.png").string();
  std::filesystem::remove(shot);
  ChildProcess camera(chromium_command(*chromium, path("profile"), "--screenshot=" + shot, url), env);
  ASSERT_EQ(camera.wait(90s), 0) << camera.err();
  std::ifstream png(shot, std::ios::binary);
  std::string magic(8, '\0');
  png.read(magic.data(), 8);
  EXPECT_EQ(magic, "\x89PNG\r\n\x1a\n");

  run.signal(SIGTERM);
  EXPECT_EQ(run.wait(30s), 0) << run.err();
}

TEST_F(StatusPageTest, DemoHoldKeepsItsServiceUpUntilSigterm) {
  ChildProcess demo({ASSIST_SYNC_BINARY, "demo", "--hold", "--prompts", "200", "--sessions", "20", "--audit",
                     path("demo.jsonl")});
  std::uint16_t port = 0;
  bool burst_done = false;
  while (const auto line = demo.read_line(60s)) {
    std::smatch m;
    if (std::regex_search(*line, m, std::regex(R"(^status page: http://127\.0\.0\.1:(\d+)/)")))
      port = static_cast<std::uint16_t>(std::stoi(m[1]));
    if ((burst_done = line->starts_with("burst done"))) break;
  }
  ASSERT_NE(port, 0) << demo.out() << demo.err();
  ASSERT_TRUE(burst_done) << demo.out() << demo.err();

  // The burst is over and the service still serves: the page, and figures
  // that count every prompt the demo accepted.
  EXPECT_EQ(http_request(port, http::verb::get, "/").status, 200u);
  const auto status = http_request(port, http::verb::get, "/v1/status");
  ASSERT_EQ(status.status, 200u) << status.error;
  const auto finished = json::parse(status.body).at("finished").to_number<long>();
  EXPECT_NE(http_request(port, http::verb::get, "/metrics").body.find("assist_sync_syncs_total " +
                                                                      std::to_string(finished)), std::string::npos);

  demo.signal(SIGTERM);
  ASSERT_EQ(demo.wait(60s), 0) << demo.out() << demo.err();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(demo.out(), m, std::regex(R"(prompts accepted\s+(\d+))"))) << demo.out();
  EXPECT_EQ(finished, std::stol(m[1]));
  EXPECT_TRUE(std::regex_search(demo.out(), std::regex(R"(audit verify\s+OK)"))) << demo.out();
}

}  // namespace
}  // namespace assist::testing
