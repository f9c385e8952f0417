// One HTTP/1.1 request and its response over an already connected stream
// (TCP or TLS), for the project's small HTTP clients: the OAuth token
// request and the CRM webhook (internal).
#ifndef ASSIST_SRC_NET_HTTP_EXCHANGE_H
#define ASSIST_SRC_NET_HTTP_EXCHANGE_H

#include <cstddef>
#include <string>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/system/error_code.hpp>

namespace assist::net {

// What came back. `net_error` set: no usable response.
struct HttpReply {
  boost::system::error_code net_error;
  unsigned status = 0;
  std::string body;
  std::string retry_after;  // the Retry-After header, verbatim
  bool tls_failure = false;  // http_call(): the TLS handshake was refused on TLS grounds
};

// Writes `request`, then reads one response whose body may not exceed
// `body_limit` bytes (a larger one is a net_error). Timeouts are the
// stream's own (beast::tcp_stream::expires_after).
template <typename Stream>
boost::asio::awaitable<HttpReply> http_exchange(
    Stream& stream, const boost::beast::http::request<boost::beast::http::string_body>& request,
    std::size_t body_limit) {
  namespace http = boost::beast::http;
  using boost::asio::as_tuple;
  using boost::asio::use_awaitable;
  HttpReply out;
  auto [write_ec, written] = co_await http::async_write(stream, request, as_tuple(use_awaitable));
  (void)written;
  if (write_ec) {
    out.net_error = write_ec;
    co_return out;
  }
  boost::beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(body_limit);
  auto [read_ec, read] = co_await http::async_read(stream, buffer, parser, as_tuple(use_awaitable));
  (void)read;
  if (read_ec) {
    out.net_error = read_ec;
    co_return out;
  }
  const auto& response = parser.get();
  out.status = response.result_int();
  out.body = response.body();
  out.retry_after = std::string(response[http::field::retry_after]);
  co_return out;
}

}  // namespace assist::net

#endif
