// A minimal blocking HTTP/1.1 client (Boost.Beast) for the service tests.
#ifndef ASSIST_TESTS_SERVICE_TEST_HTTP_CLIENT_H
#define ASSIST_TESTS_SERVICE_TEST_HTTP_CLIENT_H

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace assist::testing {

struct HttpReply {
  unsigned status = 0;  // 0: no answer (the error says why)
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string error;

  std::string header(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (boost::beast::iequals(k, name)) return v;
    return {};
  }
};

// One connection to 127.0.0.1:port that can carry several requests (keep-alive).
class TestHttpClient {
 public:
  explicit TestHttpClient(std::uint16_t port) : stream_(io_) {
    boost::system::error_code ec;
    stream_.expires_after(std::chrono::seconds(20));
    stream_.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port), ec);
    connect_error_ = ec;
  }

  HttpReply request(boost::beast::http::verb method, const std::string& target, std::string body = {},
                    std::vector<std::pair<std::string, std::string>> headers = {}) {
    namespace http = boost::beast::http;
    HttpReply reply;
    if (connect_error_) {
      reply.error = "connect: " + connect_error_.message();
      return reply;
    }
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, "127.0.0.1");
    for (const auto& [k, v] : headers) req.insert(k, v);  // insert: a test may repeat a header
    req.body() = std::move(body);
    req.prepare_payload();
    boost::system::error_code ec;
    stream_.expires_after(std::chrono::seconds(60));
    http::write(stream_, req, ec);
    // A server may answer and close before reading the whole body (413): read anyway.
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    http::read(stream_, buffer_, parser, ec);
    if (ec && !parser.is_header_done()) {
      reply.error = "read: " + ec.message();
      return reply;
    }
    const auto& res = parser.get();
    reply.status = res.result_int();
    reply.body = res.body();
    for (const auto& field : res) reply.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    return reply;
  }

 private:
  boost::asio::io_context io_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  boost::system::error_code connect_error_;
};

// One request on a fresh connection.
inline HttpReply http_request(std::uint16_t port, boost::beast::http::verb method, const std::string& target,
                              std::string body = {}, std::vector<std::pair<std::string, std::string>> headers = {}) {
  TestHttpClient client(port);
  return client.request(method, target, std::move(body), std::move(headers));
}

}  // namespace assist::testing

#endif
