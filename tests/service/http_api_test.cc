#include "service/http_api.h"

#include <cctype>
#include <filesystem>
#include <set>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "assist/frame_id.h"
#include "assist/gateway.h"
#include "service/outcome_table.h"
#include "service/status_model.h"
#include "service/test_http_client.h"
#include "support/gateway_client.h"

namespace assist::service {
namespace {

namespace http = boost::beast::http;
namespace json = boost::json;
using assist::testing::http_request;
using assist::testing::TestHttpClient;
using namespace std::chrono_literals;

std::string prompt_json(const std::string& session, int priority = 5, bool override_priority = true) {
  return json::serialize(json::object{
      {"session_id", session},
      {"agent_id", "AGT-1"},
      {"interaction_id", "INT-" + session},
      {"snippets", json::array{json::object{{"snippet_id", "KB-1001"},
                                            {"content", "Verify customer account status before escalation."},
                                            {"tags", json::array{"billing"}},
                                            {"source_system", "CRM"}}}},
      {"priority_override", override_priority},
      {"priority_level", priority}});
}

// Polls `condition` until it holds or 10 s pass (readiness has no event to await).
template <class F>
bool eventually(F condition) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return condition();
}

std::set<std::string> fields_of(const json::value& error_body) {
  std::set<std::string> fields;
  for (const auto& v : error_body.at("violations").as_array()) fields.insert(std::string(v.at("field").as_string()));
  return fields;
}

class HttpApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("assist-http-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    gateway_ = std::make_unique<Gateway>(GatewayOptions{});
    ASSERT_TRUE(gateway_->start().ok());
    auto so = assist::testing::options_for(*gateway_);
    so.audit.path = (dir_ / "audit.jsonl").string();
    so.stop_drain = 1s;
    so.observer = &outcomes_;
    so.max_pending = max_pending_;
    sync_ = std::make_unique<Synchronizer>(so);
    ASSERT_TRUE(sync_->start().ok());
  }

  void start_api(HttpApiOptions options = {}) {
    options.port = 0;
    api_ = std::make_unique<HttpApi>(options, *sync_);
    const Status started = api_->start();
    ASSERT_TRUE(started.ok()) << started.message;
    ASSERT_TRUE(eventually([&] { return sync_->ready(); }));
  }

  void TearDown() override {
    if (sync_) sync_->stop();  // first: requests waiting for outcomes finish
    if (api_) api_->stop(1s);
    api_.reset();
    sync_.reset();
    if (gateway_) gateway_->stop();
    std::filesystem::remove_all(dir_);
  }

  std::uint16_t port() const { return api_->port(); }

  // With the status page and the outcome lookup, and an API key.
  void start_api_with_status() {
    HttpApiOptions o;
    o.api_key = "status-api-key";
    o.status = &status_;
    o.outcomes = &outcomes_;
    start_api(o);
  }
  assist::testing::HttpReply get(const std::string& target, bool with_key = true) {
    return http_request(port(), http::verb::get, target, {},
                        {{"Authorization", with_key ? "Bearer status-api-key" : "Bearer wrong"}});
  }

  // The result lines of a batch response, in order.
  static std::vector<json::object> result_lines(const std::string& body) {
    std::vector<json::object> lines;
    std::size_t at = 0;
    while (at < body.size()) {
      const auto end = body.find('\n', at);
      lines.push_back(json::parse(body.substr(at, end - at)).as_object());
      at = end + 1;
    }
    return lines;
  }

  std::size_t max_pending_ = SynchronizerOptions{}.max_pending;  // set before SetUp to fill it quickly
  std::filesystem::path dir_;
  OutcomeTable outcomes_;  // told of every outcome by sync_
  StatusModel status_;
  std::unique_ptr<Gateway> gateway_;
  std::unique_ptr<Synchronizer> sync_;
  std::unique_ptr<HttpApi> api_;
};

TEST_F(HttpApiTest, AcceptsAPromptWith202AndItsFrameId) {
  start_api();
  const auto r = http_request(port(), http::verb::post, "/v1/prompts", prompt_json("S-1"),
                              {{"Content-Type", "application/json"}});
  ASSERT_EQ(r.status, 202u) << r.error << r.body;
  EXPECT_EQ(r.header("Content-Type"), "application/json");
  const auto body = json::parse(r.body);
  EXPECT_TRUE(is_uuid_v4(body.at("frame_id").as_string()));
  EXPECT_EQ(body.at("status").as_string(), "ACCEPTED");
}

TEST_F(HttpApiTest, WaitForOutcomeAnswersWithTheSequence) {
  start_api();
  const auto r = http_request(port(), http::verb::post, "/v1/prompts?wait=outcome", prompt_json("S-2"));
  ASSERT_EQ(r.status, 200u) << r.error << r.body;
  const auto body = json::parse(r.body);
  EXPECT_EQ(body.at("outcome").as_string(), "ACKED");
  EXPECT_GE(body.at("sequence").to_number<std::uint64_t>(), 1u);
  EXPECT_TRUE(is_uuid_v4(body.at("frame_id").as_string()));
  EXPECT_TRUE(body.as_object().contains("latency_ms"));
}

TEST_F(HttpApiTest, InvalidPromptListsEveryViolation) {
  start_api();
  const auto text = json::serialize(json::object{{"session_id", ""},
                                                 {"agent_id", "AGT-1"},
                                                 {"interaction_id", "INT-1"},
                                                 {"snippets", json::array{}},
                                                 {"priority_override", true},
                                                 {"priority_level", 2},
                                                 {"ttl_seconds", 500}});
  const auto r = http_request(port(), http::verb::post, "/v1/prompts", text);
  ASSERT_EQ(r.status, 400u) << r.body;
  const auto body = json::parse(r.body);
  EXPECT_TRUE(body.at("error").is_string());
  EXPECT_EQ(fields_of(body), (std::set<std::string>{"session_id", "snippets", "priority_override", "ttl_seconds"}))
      << r.body;
}

TEST_F(HttpApiTest, MalformedJsonAndWrongShapesAre400) {
  start_api();
  const auto bad_json = http_request(port(), http::verb::post, "/v1/prompts", "{\"session_id\":");
  ASSERT_EQ(bad_json.status, 400u);
  EXPECT_EQ(fields_of(json::parse(bad_json.body)), std::set<std::string>{"body"}) << bad_json.body;
  const auto wrong_type = http_request(port(), http::verb::post, "/v1/prompts",
                                       R"({"session_id":"S","agent_id":"A","interaction_id":"I","snippets":"no"})");
  ASSERT_EQ(wrong_type.status, 400u);
  EXPECT_EQ(fields_of(json::parse(wrong_type.body)), std::set<std::string>{"snippets"}) << wrong_type.body;
  const auto bad_wait = http_request(port(), http::verb::post, "/v1/prompts?wait=forever", prompt_json("S-3"));
  EXPECT_EQ(bad_wait.status, 400u);
}

TEST_F(HttpApiTest, OversizedBodyIs413AndOversizedHeadersAre431) {
  HttpApiOptions o;
  o.body_limit = 4096;
  o.header_limit = 2048;
  start_api(o);
  const auto big = http_request(port(), http::verb::post, "/v1/prompts", std::string(64 * 1024, 'x'));
  EXPECT_EQ(big.status, 413u) << big.error;
  const auto headers = http_request(port(), http::verb::get, "/healthz", {}, {{"X-Padding", std::string(4096, 'p')}});
  EXPECT_EQ(headers.status, 431u) << headers.error;
  EXPECT_EQ(api_->stats().rejected_size, 2u);
  // The server still serves.
  EXPECT_EQ(http_request(port(), http::verb::get, "/healthz").status, 200u);
}

TEST_F(HttpApiTest, UnknownPathsAndMethods) {
  start_api();
  EXPECT_EQ(http_request(port(), http::verb::get, "/v2/nothing").status, 404u);
  const auto r = http_request(port(), http::verb::get, "/v1/prompts");
  EXPECT_EQ(r.status, 405u);
  EXPECT_EQ(r.header("Allow"), "POST");
  EXPECT_EQ(http_request(port(), http::verb::post, "/healthz").status, 405u);
}

TEST_F(HttpApiTest, BatchAnswersOneResultPerLine) {
  start_api();
  const auto body = prompt_json("B-1") + "\n\n{not json}\n" + prompt_json("B-2", 2, true) + "\r\n" +
                    prompt_json("B-3") + "\n";
  const auto r = http_request(port(), http::verb::post, "/v1/prompts/batch?wait=outcome", body);
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.header("Content-Type"), "application/x-ndjson");
  const auto lines = result_lines(r.body);
  ASSERT_EQ(lines.size(), 4u) << r.body;
  EXPECT_EQ(lines[0].at("line").as_int64(), 1);
  EXPECT_EQ(lines[0].at("outcome").as_string(), "ACKED");
  EXPECT_EQ(lines[1].at("line").as_int64(), 3);
  EXPECT_EQ(lines[1].at("status").as_int64(), 400);
  EXPECT_EQ(lines[2].at("line").as_int64(), 4);
  EXPECT_EQ(lines[2].at("status").as_int64(), 400);
  EXPECT_EQ(lines[2].at("violations").as_array().at(0).at("field").as_string(), "priority_override");
  EXPECT_EQ(lines[3].at("line").as_int64(), 5);
  EXPECT_EQ(lines[3].at("outcome").as_string(), "ACKED");
}

// A synchronizer with room for two prompts, against a gateway that holds its
// ACKs while stalled: the third prompt finds it full.
class FullSynchronizerTest : public HttpApiTest {
 protected:
  void SetUp() override {
    max_pending_ = 2;
    HttpApiTest::SetUp();
  }
  void start_stalled(std::chrono::milliseconds admission_wait) {
    HttpApiOptions o;
    o.admission_wait = admission_wait;
    start_api(o);
    gateway_->set_stalled(true);
  }
  static std::string batch_of(int n) {
    std::string body;
    for (int i = 0; i < n; ++i) body += prompt_json("F-" + std::to_string(i)) + "\n";
    return body;
  }
  std::uint64_t rejected_concurrency() const {
    return sync_->metrics().outcomes[static_cast<std::size_t>(OutcomeKind::rejected_concurrency)];
  }
};

TEST_F(FullSynchronizerTest, ABatchWaitsForRoomRatherThanBeingRefused) {
  start_stalled(30s);
  std::thread release([&] {
    // Once the third line waits, the held ACKs go out and the room comes back.
    EXPECT_TRUE(eventually([&] { return api_->stats().admission_waits >= 1; }));
    gateway_->set_stalled(false);
  });
  const auto r = http_request(port(), http::verb::post, "/v1/prompts/batch", batch_of(5));
  release.join();
  ASSERT_EQ(r.status, 200u) << r.error << r.body;
  const auto lines = result_lines(r.body);
  ASSERT_EQ(lines.size(), 5u) << r.body;
  for (const auto& line : lines) EXPECT_EQ(line.at("status").as_int64(), 202) << json::serialize(line);
  EXPECT_EQ(api_->stats().prompts_refused, 0u);
  EXPECT_EQ(rejected_concurrency(), 0u);  // nothing refused, so nothing audited as refused
}

TEST_F(FullSynchronizerTest, TheWaitEndsAtTheRequestsDeadlineWith429) {
  start_stalled(50ms);
  const auto r = http_request(port(), http::verb::post, "/v1/prompts/batch", batch_of(4));
  ASSERT_EQ(r.status, 200u) << r.error << r.body;
  const auto lines = result_lines(r.body);
  ASSERT_EQ(lines.size(), 4u) << r.body;
  EXPECT_EQ(lines[0].at("status").as_int64(), 202);
  EXPECT_EQ(lines[1].at("status").as_int64(), 202);
  EXPECT_EQ(lines[2].at("status").as_int64(), 429);
  EXPECT_EQ(lines[3].at("status").as_int64(), 429);
  // One wait for the request: the fourth line found its deadline passed.
  EXPECT_EQ(api_->stats().admission_waits, 1u);
  const auto one = http_request(port(), http::verb::post, "/v1/prompts", prompt_json("F-9"));
  EXPECT_EQ(one.status, 429u) << one.body;
  EXPECT_EQ(one.header("Retry-After"), "1");
  EXPECT_EQ(api_->stats().admission_waits, 2u);
  gateway_->set_stalled(false);
}

TEST_F(FullSynchronizerTest, NoAdmissionWaitRefusesAtOnce) {
  start_stalled(0ms);
  const auto lines = result_lines(http_request(port(), http::verb::post, "/v1/prompts/batch", batch_of(3)).body);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[2].at("status").as_int64(), 429);
  EXPECT_EQ(api_->stats().admission_waits, 0u);
  gateway_->set_stalled(false);
}

TEST_F(FullSynchronizerTest, DrainingEndsAWaitForRoom) {
  start_stalled(30s);
  std::thread drain([&] {
    EXPECT_TRUE(eventually([&] { return api_->stats().admission_waits >= 1; }));
    api_->stop_accepting();
  });
  const auto lines = result_lines(http_request(port(), http::verb::post, "/v1/prompts/batch", batch_of(3)).body);
  drain.join();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[2].at("status").as_int64(), 429);  // refused when the wait ended, not after 30 s
  gateway_->set_stalled(false);
}

TEST_F(HttpApiTest, BatchOverTheLineLimitIs413) {
  HttpApiOptions o;
  o.max_batch_lines = 2;
  start_api(o);
  const auto body = prompt_json("L-1") + "\n" + prompt_json("L-2") + "\n" + prompt_json("L-3") + "\n";
  EXPECT_EQ(http_request(port(), http::verb::post, "/v1/prompts/batch", body).status, 413u);
}

TEST_F(HttpApiTest, MetricsHealthAndReadiness) {
  start_api();
  ASSERT_EQ(http_request(port(), http::verb::post, "/v1/prompts?wait=outcome", prompt_json("M-1")).status, 200u);
  const auto metrics = http_request(port(), http::verb::get, "/metrics");
  ASSERT_EQ(metrics.status, 200u);
  EXPECT_EQ(metrics.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(metrics.body.find("assist_sync_syncs_successful_total 1\n"), std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find("assist_sync_ready 1\n"), std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find("assist_sync_http_prompts_total{result=\"accepted\"} 1\n"), std::string::npos);
  EXPECT_NE(metrics.body.find("# TYPE assist_sync_ack_latency_seconds histogram"), std::string::npos);

  EXPECT_EQ(http_request(port(), http::verb::get, "/healthz").status, 200u);
  EXPECT_EQ(http_request(port(), http::verb::get, "/readyz").status, 200u);
  gateway_->stop();  // the gateway goes away: not ready, still alive
  EXPECT_TRUE(eventually([&] { return http_request(port(), http::verb::get, "/readyz").status == 503u; }));
  EXPECT_EQ(http_request(port(), http::verb::get, "/healthz").status, 200u);
}

TEST_F(HttpApiTest, KeepAliveCarriesSeveralRequests) {
  start_api();
  TestHttpClient client(port());
  for (int i = 0; i < 3; ++i) {
    const auto r = client.request(http::verb::post, "/v1/prompts", prompt_json("K-" + std::to_string(i)));
    ASSERT_EQ(r.status, 202u) << r.error;
  }
  EXPECT_EQ(client.request(http::verb::get, "/healthz").status, 200u);
}

TEST_F(HttpApiTest, ApiKeyIsRequiredWhenSet) {
  HttpApiOptions o;
  o.api_key = "correct-horse-battery";
  start_api(o);
  const auto none = http_request(port(), http::verb::post, "/v1/prompts", prompt_json("A-1"));
  EXPECT_EQ(none.status, 401u);
  EXPECT_EQ(none.header("WWW-Authenticate"), "Bearer realm=\"assist-sync\"");
  EXPECT_EQ(http_request(port(), http::verb::post, "/v1/prompts", prompt_json("A-1"),
                         {{"Authorization", "Bearer correct-horse-batterY"}})
                .status,
            401u);
  EXPECT_EQ(http_request(port(), http::verb::get, "/metrics").status, 401u);
  EXPECT_EQ(http_request(port(), http::verb::post, "/v1/prompts", prompt_json("A-1"),
                         {{"Authorization", "Bearer correct-horse-battery"}})
                .status,
            202u);
  EXPECT_EQ(http_request(port(), http::verb::get, "/healthz").status, 200u);  // probes stay open
  EXPECT_EQ(http_request(port(), http::verb::get, "/readyz").status, 200u);
  EXPECT_EQ(api_->stats().unauthorized, 3u);

  // Two Authorization headers: which one counts is ambiguous, so neither does.
  const auto twice = http_request(port(), http::verb::post, "/v1/prompts", prompt_json("A-2"),
                                  {{"Authorization", "Bearer correct-horse-battery"}, {"Authorization", "Bearer x"}});
  EXPECT_EQ(twice.status, 400u) << twice.body;
  EXPECT_NE(twice.body.find("more than one Authorization header"), std::string::npos) << twice.body;
}

TEST_F(HttpApiTest, NonLoopbackWithoutKeyRefusesToStart) {
  HttpApiOptions o;
  o.host = "0.0.0.0";
  o.port = 0;
  HttpApi api(o, *sync_);
  const Status started = api.start();
  EXPECT_EQ(started.code, std::make_error_code(std::errc::permission_denied));
  EXPECT_NE(started.message.find("without an API key"), std::string::npos) << started.message;
}

TEST_F(HttpApiTest, DrainingRefusesNewPromptsWith503) {
  start_api();
  TestHttpClient client(port());
  ASSERT_EQ(client.request(http::verb::post, "/v1/prompts", prompt_json("D-1")).status, 202u);
  api_->stop_accepting();
  const auto r = client.request(http::verb::post, "/v1/prompts", prompt_json("D-2"));
  EXPECT_EQ(r.status, 503u);
  EXPECT_EQ(r.header("Connection"), "close");
  // New connections are still answered while draining: probes see 503, not a refusal.
  const auto ready = http_request(port(), http::verb::get, "/readyz");
  EXPECT_EQ(ready.status, 503u) << ready.error;
  EXPECT_EQ(http_request(port(), http::verb::get, "/healthz").status, 200u);
  api_->stop(0ms);
  EXPECT_EQ(http_request(port(), http::verb::get, "/healthz").status, 0u);  // closed for good
}

TEST_F(HttpApiTest, StatusPageIsOpenAndItsFiguresNeedTheKey) {
  start_api_with_status();
  const auto page = http_request(port(), http::verb::get, "/");
  ASSERT_EQ(page.status, 200u) << page.error;
  EXPECT_EQ(page.header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(page.header("Content-Security-Policy").find("default-src 'none'"), std::string::npos);
  EXPECT_NE(page.body.find("<title>assist-sync status</title>"), std::string::npos);
  EXPECT_EQ(page.body.find("http://"), std::string::npos);  // nothing loaded from elsewhere
  EXPECT_EQ(page.body.find("https://"), std::string::npos);
  EXPECT_EQ(get("/v1/status", false).status, 401u);
  EXPECT_EQ(http_request(port(), http::verb::post, "/").status, 405u);
  EXPECT_EQ(http_request(port(), http::verb::delete_, "/v1/status", {},
                         {{"Authorization", "Bearer status-api-key"}}).status, 405u);
}

TEST_F(HttpApiTest, StatusCountsWhatWasDelivered) {
  start_api_with_status();
  for (const auto* session : {"S-1", "S-2", "S-3"})
    ASSERT_EQ(http_request(port(), http::verb::post, "/v1/prompts?wait=outcome", prompt_json(session),
                           {{"Authorization", "Bearer status-api-key"}}).status, 200u);
  const auto r = get("/v1/status");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.header("Cache-Control"), "no-store");
  const auto doc = json::parse(r.body).as_object();
  EXPECT_EQ(doc.at("finished").to_number<int>(), 3);
  for (const auto& row : doc.at("outcomes").as_array()) {
    if (row.at("label") == "acked") {
      EXPECT_EQ(row.at("total").to_number<int>(), 3);
    }
  }
  EXPECT_EQ(doc.at("latency").at("count").to_number<int>(), 3);
  EXPECT_EQ(doc.at("sessions").to_number<int>(), 3);
  EXPECT_EQ(doc.at("connections").at("open").to_number<int>(), 1);
  EXPECT_TRUE(doc.at("ready").as_bool());
}

TEST_F(HttpApiTest, LookupFollowsAPromptFromPendingToItsOutcome) {
  start_api_with_status();
  gateway_->stop();  // no ACK will come
  const auto accepted = http_request(port(), http::verb::post, "/v1/prompts", prompt_json("S-1"),
                                    {{"Authorization", "Bearer status-api-key"}});
  ASSERT_EQ(accepted.status, 202u) << accepted.body;
  const std::string frame_id(json::parse(accepted.body).at("frame_id").as_string());
  const auto pending = get("/v1/prompts/" + frame_id);
  ASSERT_EQ(pending.status, 200u) << pending.body;
  EXPECT_EQ(json::parse(pending.body), (json::value{{"frame_id", frame_id}, {"outcome", "PENDING"}}));

  sync_->stop();  // the drain bound ends it
  const auto ended = get("/v1/prompts/" + frame_id);
  ASSERT_EQ(ended.status, 200u) << ended.body;
  const auto body = json::parse(ended.body);
  EXPECT_NE(body.at("outcome").as_string(), "PENDING");
  EXPECT_NE(body.at("outcome").as_string(), "ACKED");
  EXPECT_FALSE(body.at("reason").as_string().empty());
  std::string upper = frame_id;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(get("/v1/prompts/" + upper).body, ended.body);
}

TEST_F(HttpApiTest, LookupAnswersWhatWaitForOutcomeAnswered) {
  start_api_with_status();
  const auto r = http_request(port(), http::verb::post, "/v1/prompts?wait=outcome", prompt_json("S-1"),
                              {{"Authorization", "Bearer status-api-key"}});
  ASSERT_EQ(r.status, 200u) << r.body;
  const auto waited = json::parse(r.body);
  const auto looked_up = get("/v1/prompts/" + std::string(waited.at("frame_id").as_string()));
  ASSERT_EQ(looked_up.status, 200u);
  EXPECT_EQ(json::parse(looked_up.body), waited);  // ACKED, sequence, latency_ms
}

TEST_F(HttpApiTest, LookupOfUnknownOrMalformedIds) {
  start_api_with_status();
  const auto unknown = get("/v1/prompts/0b6cbb0e-8d1c-4f5e-9a57-6a1f3e2d4c5b");
  EXPECT_EQ(unknown.status, 404u);
  EXPECT_NE(unknown.body.find("32768 prompts"), std::string::npos) << unknown.body;
  const auto malformed = get("/v1/prompts/not-a-frame-id");
  ASSERT_EQ(malformed.status, 400u);
  EXPECT_EQ(json::parse(malformed.body).at("violations").at(0).at("field").as_string(), "frame_id");
  EXPECT_EQ(get("/v1/prompts/batch").status, 405u);  // still the batch endpoint
  EXPECT_EQ(get("/v1/prompts/0b6cbb0e-8d1c-4f5e-9a57-6a1f3e2d4c5b", false).status, 401u);
}

TEST_F(HttpApiTest, StatusPathsAre404WithoutAModelOrTable) {
  start_api();
  EXPECT_EQ(http_request(port(), http::verb::get, "/").status, 404u);
  EXPECT_EQ(http_request(port(), http::verb::get, "/v1/status").status, 404u);
  EXPECT_EQ(http_request(port(), http::verb::get, "/v1/prompts/0b6cbb0e-8d1c-4f5e-9a57-6a1f3e2d4c5b").status, 404u);
}

}  // namespace
}  // namespace assist::service
