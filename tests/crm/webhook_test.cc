#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <unistd.h>

#include "crm/webhook.h"
#include "net/self_signed.h"

namespace assist {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace ssl = asio::ssl;

// A tiny HTTP(S) server on 127.0.0.1 (ephemeral port) that answers the Nth
// request with statuses[N] (the last one repeats); status 0 never answers.
class TestHttpServer {
 public:
  struct Request {
    std::string method, target, content_type, authorization, body;
  };

  explicit TestHttpServer(std::vector<unsigned> statuses, std::shared_ptr<ssl::context> tls = nullptr)
      : statuses_(std::move(statuses)), tls_(std::move(tls)) {
    asio::co_spawn(io_, accept_loop(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~TestHttpServer() {
    io_.stop();
    thread_.join();
  }

  std::string url(const std::string& path = "/crm/hook") const {
    return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) + path;
  }
  std::vector<Request> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      asio::co_spawn(io_, serve(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> serve(tcp::socket socket) {
    beast::tcp_stream plain(std::move(socket));
    if (!tls_) {
      co_await answer(plain);
      co_return;
    }
    beast::ssl_stream<beast::tcp_stream> secure(std::move(plain), *tls_);
    auto [handshake_ec] = co_await secure.async_handshake(ssl::stream_base::server, asio::as_tuple(asio::use_awaitable));
    if (!handshake_ec) co_await answer(secure);
  }

  template <typename Stream>
  asio::awaitable<void> answer(Stream& stream) {
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    auto [read_ec, read] = co_await http::async_read(stream, buffer, request, asio::as_tuple(asio::use_awaitable));
    (void)read;
    if (read_ec) co_return;
    unsigned status = 0;
    {
      std::lock_guard lock(mu_);
      requests_.push_back({std::string(request.method_string()), std::string(request.target()),
                           std::string(request[http::field::content_type]),
                           std::string(request[http::field::authorization]), request.body()});
      status = statuses_[std::min(requests_.size(), statuses_.size()) - 1];
    }
    if (status == 0) {
      asio::steady_timer forever(co_await asio::this_coro::executor, std::chrono::hours(1));
      co_await forever.async_wait(asio::as_tuple(asio::use_awaitable));
      co_return;
    }
    http::response<http::string_body> response{static_cast<http::status>(status), request.version()};
    response.body() = "{}";
    response.prepare_payload();
    response.keep_alive(false);
    co_await http::async_write(stream, response, asio::as_tuple(asio::use_awaitable));
  }

  asio::io_context io_;
  tcp::acceptor acceptor_{io_, {asio::ip::make_address("127.0.0.1"), 0}};
  std::thread thread_;
  std::vector<unsigned> statuses_;
  std::shared_ptr<ssl::context> tls_;
  mutable std::mutex mu_;
  std::vector<Request> requests_;
};

// Reports, awaitable one by one.
class ReportQueue {
 public:
  CrmReportHandler handler() {
    return [this](const CrmReport& r) {
      std::lock_guard lock(mu_);
      reports_.push_back(r);
      cv_.notify_all();
    };
  }
  // The `n`th report (0-based), waiting for it (bounded).
  CrmReport wait(std::size_t n) {
    std::unique_lock lock(mu_);
    const bool arrived = cv_.wait_for(lock, std::chrono::seconds(20), [&] { return reports_.size() > n; });
    if (!arrived) {
      ADD_FAILURE() << "report " << n << " never arrived";
      return {};
    }
    return reports_[n];
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<CrmReport> reports_;
};

const CrmUpdate kUpdate{"INT-112233", "0f8fad5b-d9cb-469f-a165-70867728950e", 5, true};

CrmWebhookOptions fast_options(const std::string& url, ReportQueue& reports, Random& random) {
  CrmWebhookOptions o;
  o.url = url;
  o.timeout = std::chrono::seconds(10);
  o.max_attempts = 4;
  o.initial_backoff = std::chrono::milliseconds(1);
  o.max_backoff = std::chrono::milliseconds(4);
  o.on_report = reports.handler();
  o.random = &random;
  return o;
}

TEST(CrmWebhook, RetriesServerErrorsWithBackoffThenDelivers) {
  TestHttpServer server({500, 503, 200});
  ReportQueue reports;
  SeededRandom random(3);
  auto options = fast_options(server.url(), reports, random);
  options.headers = {{"Authorization", "Bearer crm-secret"}};
  CrmWebhook hook(options);
  const Status started = hook.start();
  ASSERT_TRUE(started.ok()) << started.message;
  ASSERT_TRUE(hook.submit(kUpdate));

  const auto report = reports.wait(0);
  EXPECT_EQ(report.result, CrmResult::delivered) << report.error;
  EXPECT_EQ(report.attempts, 3u);
  EXPECT_EQ(report.update, kUpdate);
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  for (const auto& r : requests) {
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.target, "/crm/hook");
    EXPECT_EQ(r.content_type, "application/json");
    EXPECT_EQ(r.authorization, "Bearer crm-secret");
    const auto body = boost::json::parse(r.body).as_object();
    EXPECT_EQ(body.at("interaction_id").as_string(), kUpdate.interaction_id);
    EXPECT_EQ(body.at("frame_id").as_string(), kUpdate.frame_id);
    EXPECT_EQ(body.at("priority").to_number<int>(), 5);
    EXPECT_EQ(body.at("adopted").as_bool(), true);
  }
  EXPECT_TRUE(hook.stop(std::chrono::steady_clock::now() + std::chrono::seconds(10)));
  const auto stats = hook.stats();
  EXPECT_EQ(stats.delivered, 1u);
  EXPECT_EQ(stats.failed, 0u);
}

TEST(CrmWebhook, GivesUpAfterMaxAttemptsAndReportsTheFailure) {
  TestHttpServer server({503});
  ReportQueue reports;
  SeededRandom random(4);
  auto options = fast_options(server.url(), reports, random);
  options.max_attempts = 3;
  CrmWebhook hook(options);
  const Status started = hook.start();
  ASSERT_TRUE(started.ok()) << started.message;
  ASSERT_TRUE(hook.submit(kUpdate));
  const auto report = reports.wait(0);
  EXPECT_EQ(report.result, CrmResult::failed);
  EXPECT_EQ(report.attempts, 3u);
  EXPECT_NE(report.error.find("HTTP 503"), std::string::npos) << report.error;
  EXPECT_EQ(server.requests().size(), 3u);
  EXPECT_EQ(hook.stats().failed, 1u);
}

TEST(CrmWebhook, AClientErrorIsNotRetried) {
  TestHttpServer server({400, 200});
  ReportQueue reports;
  SeededRandom random(5);
  CrmWebhook hook(fast_options(server.url(), reports, random));
  const Status started = hook.start();
  ASSERT_TRUE(started.ok()) << started.message;
  ASSERT_TRUE(hook.submit(kUpdate));
  const auto report = reports.wait(0);
  EXPECT_EQ(report.result, CrmResult::failed);
  EXPECT_EQ(report.attempts, 1u);
}

TEST(CrmWebhook, ARefusedConnectionIsRetriedThenFails) {
  std::string url;
  {
    TestHttpServer closed({200});
    url = closed.url();
  }  // nothing listens there now
  ReportQueue reports;
  SeededRandom random(6);
  auto options = fast_options(url, reports, random);
  options.max_attempts = 2;
  CrmWebhook hook(options);
  const Status started = hook.start();
  ASSERT_TRUE(started.ok()) << started.message;
  ASSERT_TRUE(hook.submit(kUpdate));
  const auto report = reports.wait(0);
  EXPECT_EQ(report.result, CrmResult::failed);
  EXPECT_EQ(report.attempts, 2u);
  EXPECT_NE(report.error.find("POST failed"), std::string::npos) << report.error;
}

TEST(CrmWebhook, AFullQueueDropsAndStopAbandonsTheRestAtTheDeadline) {
  TestHttpServer server({0});  // never answers: the first update stays in progress
  ReportQueue reports;
  SeededRandom random(7);
  auto options = fast_options(server.url(), reports, random);
  options.queue_capacity = 1;
  CrmWebhook hook(options);
  const Status started = hook.start();
  ASSERT_TRUE(started.ok()) << started.message;
  ASSERT_TRUE(hook.submit(kUpdate));
  // Wait until the first update is in progress (its request reached the server).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (server.requests().empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_EQ(server.requests().size(), 1u);

  EXPECT_TRUE(hook.submit(kUpdate));   // queued
  EXPECT_FALSE(hook.submit(kUpdate));  // full: dropped without waiting
  const auto dropped = reports.wait(0);
  EXPECT_EQ(dropped.result, CrmResult::dropped);
  EXPECT_EQ(dropped.error, "queue full");

  EXPECT_FALSE(hook.stop(std::chrono::steady_clock::now()));
  const auto stats = hook.stats();
  EXPECT_EQ(stats.failed, 1u);   // the one in progress
  EXPECT_EQ(stats.dropped, 2u);  // queue full + never started
  EXPECT_EQ(stats.queued, 0u);
  EXPECT_FALSE(hook.submit(kUpdate));
}

// A server context with a fresh self-signed certificate for 127.0.0.1, whose
// PEM is also written to `ca_path` for the client to trust.
std::shared_ptr<ssl::context> self_signed_server(const std::string& ca_path) {
  net::SelfSignedCertificate cert;
  std::string error;
  if (!net::make_self_signed_certificate({"127.0.0.1"}, std::chrono::hours(1), cert, error)) {
    ADD_FAILURE() << error;
    return nullptr;
  }
  std::ofstream(ca_path) << cert.certificate_pem;
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  context->use_certificate_chain(asio::buffer(cert.certificate_pem));
  context->use_private_key(asio::buffer(cert.private_key_pem), ssl::context::pem);
  return context;
}

TEST(CrmWebhook, PostsOverHttpsVerifyingTheCertificate) {
  const auto ca_path = std::filesystem::temp_directory_path() / ("assist-crm-ca-" + std::to_string(::getpid()) + ".pem");
  TestHttpServer server({503, 200}, self_signed_server(ca_path.string()));
  ReportQueue reports;
  SeededRandom random(9);
  auto options = fast_options(server.url(), reports, random);
  options.ca_file = ca_path.string();
  CrmWebhook hook(options);
  const Status started = hook.start();
  ASSERT_TRUE(started.ok()) << started.message;
  ASSERT_TRUE(hook.submit(kUpdate));
  const auto report = reports.wait(0);
  EXPECT_EQ(report.result, CrmResult::delivered) << report.error;
  EXPECT_EQ(report.attempts, 2u);
  ASSERT_EQ(server.requests().size(), 2u);
  EXPECT_EQ(boost::json::parse(server.requests()[1].body).at("frame_id").as_string(), kUpdate.frame_id);
  std::filesystem::remove(ca_path);
}

TEST(CrmWebhook, RefusesAnUntrustedCertificate) {
  const auto ca_path = std::filesystem::temp_directory_path() / ("assist-crm-ca2-" + std::to_string(::getpid()) + ".pem");
  TestHttpServer server({200}, self_signed_server(ca_path.string()));
  std::filesystem::remove(ca_path);
  ReportQueue reports;
  SeededRandom random(10);
  auto options = fast_options(server.url(), reports, random);  // system CA store: does not know it
  options.max_attempts = 1;
  CrmWebhook hook(options);
  const Status started = hook.start();
  ASSERT_TRUE(started.ok()) << started.message;
  ASSERT_TRUE(hook.submit(kUpdate));
  const auto report = reports.wait(0);
  EXPECT_EQ(report.result, CrmResult::failed);
  EXPECT_TRUE(server.requests().empty());
}

TEST(CrmWebhook, RejectsAnUnusableUrl) {
  ReportQueue reports;
  SeededRandom random(8);
  for (const char* url : {"ftp://example.com/x", "not a url", "http:///nohost", "http://user:pw@example.com/x"}) {
    CrmWebhook hook(fast_options(url, reports, random));
    const Status started = hook.start();
    EXPECT_EQ(started.code, CrmErrc::bad_url) << url;
    EXPECT_NE(started.message.find("webhook URL"), std::string::npos) << started.message;
    EXPECT_FALSE(hook.submit(kUpdate));
  }
}

}  // namespace
}  // namespace assist
