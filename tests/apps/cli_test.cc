// End-to-end tests of the assist-sync binary: each subcommand spawned as a
// process, talking over real sockets to a spawned `assist-sync gateway`.

// g++ 12 at -O1 with the sanitizers (the asan preset) reports a false
// -Wmaybe-uninitialized inside std::regex's std::function members.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "apps/child_process.h"
#include "apps/spawned_service.h"
#include "service/test_http_client.h"

namespace assist::testing {
namespace {

namespace http = boost::beast::http;
namespace json = boost::json;
using namespace std::chrono_literals;

const std::string kBinary = ASSIST_SYNC_BINARY;

std::string prompt_line(const std::string& session, int priority = 4, bool override_priority = true) {
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

template <class F>
bool eventually(F condition, std::chrono::milliseconds limit = 15s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return condition();
}

std::vector<json::object> read_jsonl(const std::string& path) {
  std::ifstream in(path);
  std::vector<json::object> out;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(json::parse(line).as_object());
  return out;
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

TEST_F(CliTest, HelpListsEverySubcommand) {
  ChildProcess help({kBinary, "--help"});
  ASSERT_EQ(help.wait(20s), 0);
  for (const auto* name : {"demo", "run", "send", "gateway", "audit", "--log-format", "--log-level"})
    EXPECT_NE(help.out().find(name), std::string::npos) << name << "\n" << help.out();
}

TEST_F(CliTest, DemoExitsZeroWithASummaryThatAddsUp) {
  ChildProcess demo({kBinary, "demo", "--prompts", "400", "--sessions", "40", "--audit", path("demo.jsonl")});
  ASSERT_EQ(demo.wait(60s), 0) << demo.out() << demo.err();
  std::map<std::string, long> rows;
  std::istringstream out(demo.out());
  for (std::string line; std::getline(out, line);) {
    std::smatch m;
    if (std::regex_match(line, m, std::regex(R"(^(\S.*?)\s{2,}(\d+)\s*$)"))) rows[m[1]] += std::stol(m[2]);
  }
  ASSERT_TRUE(rows.contains("prompts accepted")) << demo.out();
  long outcomes = 0;
  for (const auto& [name, n] : rows)
    if (name.starts_with("acked") || name.starts_with("NACKed") || name.starts_with("rejected") ||
        name.starts_with("superseded") || name == "failed")
      outcomes += n;
  EXPECT_EQ(outcomes, rows["prompts accepted"]) << demo.out();
  EXPECT_EQ(rows["without an outcome"], 0);
  EXPECT_GT(rows["acked (on an agent desktop)"], 0);
  EXPECT_NE(demo.out().find("audit verify"), std::string::npos);

  ChildProcess verify({kBinary, "audit", "verify", path("demo.jsonl")});
  EXPECT_EQ(verify.wait(20s), 0) << verify.out() << verify.err();

  // One byte of line 3 changed (a digit of its timestamp): exit 1, naming it.
  std::vector<std::string> lines;
  {
    std::ifstream in(path("demo.jsonl"));
    for (std::string line; std::getline(in, line);) lines.push_back(line);
  }
  ASSERT_GE(lines.size(), 4u);
  auto& third = lines[2];
  const auto digit = third.find("\"timestamp\":\"") + 16;  // inside the year
  third[digit] = third[digit] == '0' ? '1' : '0';
  std::string tampered;
  for (const auto& line : lines) tampered += line + "\n";
  write("tampered.jsonl", tampered);
  ChildProcess check({kBinary, "audit", "verify", path("tampered.jsonl")});
  EXPECT_EQ(check.wait(20s), 1) << check.out() << check.err();
  EXPECT_NE(check.out().find(path("tampered.jsonl") + ":3: changed"), std::string::npos) << check.out();
  EXPECT_NE(check.out().find("FAILED: 1 problem"), std::string::npos) << check.out();
}

TEST_F(CliTest, SendReportsBadLinesAndGoesOn) {
  SpawnedGateway gw;
  ASSERT_TRUE(gw.ok()) << gw.process.err();
  write("prompts.jsonl", prompt_line("S-1") + "\n" + "{\"session_id\": oops}\n" + prompt_line("S-2") + "\n\n" +
                             prompt_line("S-3", 2, true) + "\n" + prompt_line("S-4") + "\n");
  ChildProcess send({kBinary, "send", path("prompts.jsonl"), "--token-url", gw.token_url, "--realtime-url",
                     gw.realtime_url, "--client-id", "demo-client", "--audit", path("send.jsonl"), "--json"},
                    {{"ASSIST_CLIENT_SECRET", "demo-secret"}});
  ASSERT_EQ(send.wait(60s), 1) << send.out() << send.err();  // line 2 never reached an outcome
  EXPECT_NE(send.err().find("line 2: malformed JSON"), std::string::npos) << send.err();
  EXPECT_NE(send.err().find("line 5: invalid prompt: priority_override"), std::string::npos) << send.err();
  const auto summary = json::parse(send.out()).as_object();
  EXPECT_EQ(summary.at("lines").as_int64(), 5);
  EXPECT_EQ(summary.at("submitted").as_int64(), 3);
  EXPECT_EQ(summary.at("acked").as_int64(), 3);
  EXPECT_EQ(summary.at("malformed").as_int64(), 1);
  EXPECT_EQ(summary.at("rejected").at("validation").as_int64(), 1);
  EXPECT_TRUE(summary.at("nacked").as_object().empty());
  EXPECT_EQ(summary.at("superseded").as_int64(), 0);
  EXPECT_EQ(summary.at("failed").as_int64(), 0);
  EXPECT_GT(summary.at("p99_ms").as_double(), 0.0);
  EXPECT_TRUE(summary.contains("p50_ms") && summary.contains("elapsed_s"));

  // Every good line from stdin: exit 0; the secret from a file.
  write("good.jsonl", prompt_line("G-1") + "\n" + prompt_line("G-2") + "\n");
  write("secret", "demo-secret\n");
  ChildProcess good({kBinary, "send", "-", "--token-url", gw.token_url, "--realtime-url", gw.realtime_url,
                     "--client-id", "demo-client", "--client-secret-file", path("secret"), "--token-in-query"},
                    {{"ASSIST_CLIENT_SECRET", ""}}, path("good.jsonl"));
  ASSERT_EQ(good.wait(60s), 0) << good.out() << good.err();
  EXPECT_NE(good.out().find("acked"), std::string::npos) << good.out();

  // A wrong secret: the prompts fail, audited, and the summary says so.
  ChildProcess wrong({kBinary, "send", path("good.jsonl"), "--token-url", gw.token_url, "--realtime-url",
                      gw.realtime_url, "--client-id", "demo-client", "--json", "--timeout", "3"},
                     {{"ASSIST_CLIENT_SECRET", "not-the-secret"}});
  ASSERT_TRUE(wrong.wait(60s).has_value());
  EXPECT_EQ(wrong.err().find("not-the-secret"), std::string::npos) << wrong.err();
  EXPECT_EQ(json::parse(wrong.out()).at("acked").as_int64(), 0) << wrong.out();
}

TEST_F(CliTest, SendWithoutASecretExits2) {
  ChildProcess send({kBinary, "send", "-", "--token-url", "http://127.0.0.1:1/oauth/token", "--realtime-url",
                     "ws://127.0.0.1:1/realtime/v1", "--client-id", "c"},
                    {{"ASSIST_CLIENT_SECRET", ""}});
  EXPECT_EQ(send.wait(20s), 2);
  EXPECT_NE(send.err().find("ASSIST_CLIENT_SECRET"), std::string::npos) << send.err();
}

TEST_F(CliTest, RunServesTheHttpApiAndFollowsTheGateway) {
  auto gw = std::make_unique<SpawnedGateway>();
  ASSERT_TRUE(gw->ok());
  write("run.toml", config_for(*gw, "127.0.0.1:0") + "body_limit = 4096\n");
  ChildProcess run({kBinary, "--log-format", "json", "run", "--config", path("run.toml")},
                   {{"ASSIST_CLIENT_SECRET", "demo-secret"}});
  const auto port = listening_port(run);
  ASSERT_NE(port, 0) << run.out() << run.err();
  ASSERT_TRUE(eventually([&] { return http_request(port, http::verb::get, "/readyz").status == 200u; }));

  const auto accepted = http_request(port, http::verb::post, "/v1/prompts", prompt_line("R-1"));
  ASSERT_EQ(accepted.status, 202u) << accepted.body;
  const auto outcome = http_request(port, http::verb::post, "/v1/prompts?wait=outcome", prompt_line("R-2"));
  ASSERT_EQ(outcome.status, 200u);
  EXPECT_EQ(json::parse(outcome.body).at("outcome").as_string(), "ACKED");
  const auto invalid = http_request(port, http::verb::post, "/v1/prompts",
                                    R"({"session_id":"","agent_id":"A","interaction_id":"I","snippets":[],)"
                                    R"("priority_level":9,"ttl_seconds":1})");
  ASSERT_EQ(invalid.status, 400u);
  EXPECT_EQ(json::parse(invalid.body).at("violations").as_array().size(), 4u) << invalid.body;
  EXPECT_EQ(http_request(port, http::verb::post, "/v1/prompts", std::string(10000, ' ')).status, 413u);
  EXPECT_EQ(http_request(port, http::verb::delete_, "/v1/prompts").status, 405u);

  const auto metrics = http_request(port, http::verb::get, "/metrics");
  ASSERT_EQ(metrics.status, 200u);
  EXPECT_NE(metrics.body.find("assist_sync_syncs_successful_total"), std::string::npos);
  EXPECT_NE(metrics.body.find("assist_sync_ready 1"), std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find("assist_sync_http_too_large_total 1"), std::string::npos) << metrics.body;

  gw->process.signal(SIGKILL);  // the gateway goes away
  EXPECT_TRUE(eventually([&] { return http_request(port, http::verb::get, "/readyz").status == 503u; }));
  EXPECT_EQ(http_request(port, http::verb::get, "/healthz").status, 200u);

  run.signal(SIGTERM);
  EXPECT_EQ(run.wait(30s), 0) << run.err();
  // Logs are JSON lines (not a terminal), and never carry the secret.
  EXPECT_NE(run.err().find("\"level\":\"info\""), std::string::npos) << run.err();
  EXPECT_EQ(run.err().find("demo-secret"), std::string::npos);
}

TEST_F(CliTest, SigtermDrainsAndEveryAcceptedPromptHasOneTerminalAuditLine) {
  SpawnedGateway gw;
  ASSERT_TRUE(gw.ok());
  write("run.toml", config_for(gw, "127.0.0.1:0"));
  ChildProcess run({kBinary, "run", "--config", path("run.toml")},
                   {{"ASSIST_CLIENT_SECRET", "demo-secret"}, {"ASSIST_LOG_FILE", path("service.log")}});
  const auto port = listening_port(run);
  ASSERT_NE(port, 0) << run.err();
  ASSERT_TRUE(eventually([&] { return http_request(port, http::verb::get, "/readyz").status == 200u; }));

  // SIGHUP reopens the log file after an external rotation.
  std::filesystem::rename(path("service.log"), path("service.log.1"));
  run.signal(SIGHUP);
  EXPECT_TRUE(eventually([&] {
    std::ifstream in(path("service.log"));
    std::stringstream text;
    text << in.rdbuf();
    return text.str().find("log file reopened") != std::string::npos;
  }));

  std::set<std::string> accepted;
  TestHttpClient client(port);
  for (int i = 0; i < 200; ++i) {
    const auto r = client.request(http::verb::post, "/v1/prompts", prompt_line("T-" + std::to_string(i % 20)));
    ASSERT_EQ(r.status, 202u) << r.body;
    accepted.insert(std::string(json::parse(r.body).at("frame_id").as_string()));
  }
  run.signal(SIGTERM);  // right away: many are still queued or in flight
  ASSERT_EQ(run.wait(30s), 0) << run.err();

  std::map<std::string, int> terminal;
  for (const auto& line : read_jsonl(path("audit.jsonl"))) {
    const std::string type(line.at("event_type").as_string());
    if (type.starts_with("SYNC_") && type != "SYNC_BROADCAST") ++terminal[std::string(line.at("frame_id").as_string())];
  }
  for (const auto& id : accepted) EXPECT_EQ(terminal[id], 1) << id;
  EXPECT_EQ(terminal.size(), accepted.size());

  ChildProcess verify({kBinary, "audit", "verify", path("audit.jsonl")});
  EXPECT_EQ(verify.wait(20s), 0) << verify.out() << verify.err();
}

TEST_F(CliTest, RunOnANonLoopbackAddressNeedsAnApiKey) {
  SpawnedGateway gw;
  ASSERT_TRUE(gw.ok());
  write("run.toml", config_for(gw, "0.0.0.0:0"));
  ChildProcess refused({kBinary, "run", "--config", path("run.toml")},
                       {{"ASSIST_CLIENT_SECRET", "demo-secret"}, {"ASSIST_API_KEY", ""}});
  EXPECT_EQ(refused.wait(20s), 2);
  EXPECT_NE(refused.err().find("API key is required"), std::string::npos) << refused.err();

  ChildProcess run({kBinary, "run", "--config", path("run.toml")},
                   {{"ASSIST_CLIENT_SECRET", "demo-secret"}, {"ASSIST_API_KEY", "the-api-key-123"}});
  const auto port = listening_port(run);
  ASSERT_NE(port, 0) << run.err();
  EXPECT_EQ(http_request(port, http::verb::post, "/v1/prompts", prompt_line("K-1")).status, 401u);
  EXPECT_EQ(http_request(port, http::verb::post, "/v1/prompts", prompt_line("K-1"),
                         {{"Authorization", "Bearer the-api-key-123"}})
                .status,
            202u);
  run.signal(SIGTERM);
  EXPECT_EQ(run.wait(30s), 0) << run.err();
}

TEST_F(CliTest, PrintConfigRedactsSecretsAndBadConfigExits2) {
  write("run.toml", "[gateway]\ntoken_url = \"https://p.example.com/oauth/token\"\nrealtime_url = "
                    "\"wss://a.example.com/realtime/v1\"\nclient_id = \"c\"\n[audit]\npath = \"/tmp/x.jsonl\"\n");
  ChildProcess print({kBinary, "run", "--config", path("run.toml"), "--print-config"},
                     {{"ASSIST_CLIENT_SECRET", "super-secret-value"}, {"ASSIST_HTTP_THREADS", "3"}});
  ASSERT_EQ(print.wait(20s), 0) << print.err();
  EXPECT_EQ(print.out().find("super-secret-value"), std::string::npos);
  EXPECT_NE(print.out().find("threads = 3"), std::string::npos) << print.out();
  EXPECT_NE(print.out().find("from ASSIST_CLIENT_SECRET"), std::string::npos);

  write("bad.toml", "[http]\nlisten = 8080\n");
  ChildProcess bad({kBinary, "run", "--config", path("bad.toml")}, {{"ASSIST_CLIENT_SECRET", "x"}});
  EXPECT_EQ(bad.wait(20s), 2);
  EXPECT_NE(bad.err().find("http.listen: expected a string"), std::string::npos) << bad.err();
}

}  // namespace
}  // namespace assist::testing
