// net::http_call against real servers on 127.0.0.1: the gateway emulator's
// HTTP endpoints (plain and TLS) and a listener that never answers.
#include "net/http_client.h"

#include <future>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>

#include "assist/gateway.h"

namespace assist::net {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using namespace std::chrono_literals;

http::request<http::string_body> get_stats(const std::string& port) {
  http::request<http::string_body> request{http::verb::get, "/stats", 11};
  request.set(http::field::host, "127.0.0.1:" + port);
  return request;
}

// Runs one call to completion on its own io_context.
HttpReply call(const HttpTarget& target, const http::request<http::string_body>& request,
               std::chrono::steady_clock::duration timeout, HttpCallCanceller* canceller = nullptr) {
  asio::io_context io;
  std::promise<HttpReply> reply;
  asio::co_spawn(io, http_call(target, request, timeout, 64 * 1024, canceller),
                 [&reply](std::exception_ptr e, HttpReply r) {
                   if (e) reply.set_exception(e);
                   else reply.set_value(std::move(r));
                 });
  io.run();
  return reply.get_future().get();
}

HttpTarget local(std::uint16_t port) { return HttpTarget{"127.0.0.1", std::to_string(port), nullptr, {}}; }

TEST(HttpCall, ExchangesOneRequestOverPlainTcp) {
  Gateway gateway(GatewayOptions{});
  ASSERT_TRUE(gateway.start().ok());
  const auto reply = call(local(gateway.port()), get_stats(std::to_string(gateway.port())), 5s);
  ASSERT_FALSE(reply.net_error) << reply.net_error.message();
  EXPECT_EQ(reply.status, 200u);
  EXPECT_NE(reply.body.find("\"frames_received\""), std::string::npos);
}

TEST(HttpCall, VerifiesTheCertificateAndMarksATlsRefusal) {
  GatewayOptions options;
  options.tls = true;
  Gateway gateway(options);
  ASSERT_TRUE(gateway.start().ok());
  std::string error;
  auto target = local(gateway.port());
  target.tls_context = make_client_context(target.tls_config, error);  // the system store: self-signed is untrusted
  ASSERT_TRUE(target.tls_context) << error;
  const auto refused = call(target, get_stats(std::to_string(gateway.port())), 5s);
  EXPECT_TRUE(refused.net_error);
  EXPECT_TRUE(refused.tls_failure);

  target.tls_config.pin_sha256 = gateway.certificate_sha256();
  target.tls_context = make_client_context(target.tls_config, error);
  const auto pinned = call(target, get_stats(std::to_string(gateway.port())), 5s);
  ASSERT_FALSE(pinned.net_error) << pinned.net_error.message();
  EXPECT_EQ(pinned.status, 200u);
  EXPECT_FALSE(pinned.tls_failure);
}

TEST(HttpCall, ASilentServerTimesOut) {
  asio::io_context server_io;
  asio::ip::tcp::acceptor silent(server_io, {asio::ip::make_address("127.0.0.1"), 0});  // the kernel accepts; nobody answers
  const auto reply = call(local(silent.local_endpoint().port()), get_stats("1"), 200ms);
  EXPECT_EQ(reply.net_error, boost::beast::error::timeout);
  EXPECT_FALSE(reply.tls_failure);
}

TEST(HttpCall, ACancelledCallDoesNotConnect) {
  asio::io_context server_io;
  asio::ip::tcp::acceptor listener(server_io, {asio::ip::make_address("127.0.0.1"), 0});
  HttpCallCanceller canceller;
  canceller.cancel();
  const auto reply = call(local(listener.local_endpoint().port()), get_stats("1"), 5s, &canceller);
  EXPECT_EQ(reply.net_error, asio::error::operation_aborted);
  listener.non_blocking(true);
  boost::system::error_code ec;
  listener.accept(ec);
  EXPECT_EQ(ec, asio::error::would_block) << "a connection was made";
}

}  // namespace
}  // namespace assist::net
