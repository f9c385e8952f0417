#include "net/http_client.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>

namespace assist::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

void HttpCallCanceller::cancel() {
  cancelled_ = true;
  if (stream_ != nullptr) stream_->cancel();
}

asio::awaitable<HttpReply> http_call(const HttpTarget& target, const http::request<http::string_body>& request,
                                     std::chrono::steady_clock::duration timeout, std::size_t body_limit,
                                     HttpCallCanceller* canceller) {
  HttpReply out;
  auto executor = co_await asio::this_coro::executor;
  tcp::resolver resolver(executor);
  asio::steady_timer guard(executor, timeout);
  auto resolved = co_await (resolver.async_resolve(target.host, target.port, asio::as_tuple(asio::use_awaitable)) ||
                            guard.async_wait(asio::as_tuple(asio::use_awaitable)));
  if (resolved.index() == 1) {
    out.net_error = beast::error::timeout;
    co_return out;
  }
  auto [resolve_ec, results] = std::get<0>(std::move(resolved));
  if (resolve_ec) {
    out.net_error = resolve_ec;
    co_return out;
  }

  beast::tcp_stream stream(executor);
  struct Registration {
    HttpCallCanceller* canceller;
    ~Registration() {
      if (canceller != nullptr) canceller->stream_ = nullptr;
    }
  } registration{canceller};
  if (canceller != nullptr) {
    if (canceller->cancelled_) {
      out.net_error = asio::error::operation_aborted;
      co_return out;
    }
    canceller->stream_ = &stream;
  }
  stream.expires_after(timeout);
  auto [connect_ec, connected_to] = co_await stream.async_connect(results, asio::as_tuple(asio::use_awaitable));
  (void)connected_to;
  if (connect_ec) {
    out.net_error = connect_ec;
    co_return out;
  }
  stream.socket().set_option(tcp::no_delay(true));
  if (!target.tls_context) {
    out = co_await http_exchange(stream, request, body_limit);
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    co_return out;
  }
  beast::ssl_stream<beast::tcp_stream&> secure(stream, *target.tls_context);
  set_server_name(secure.native_handle(), target.host);
  secure.set_verify_callback(make_verify_callback(target.tls_config, target.host));
  auto [handshake_ec] =
      co_await secure.async_handshake(asio::ssl::stream_base::client, asio::as_tuple(asio::use_awaitable));
  if (handshake_ec) {
    out.net_error = handshake_ec;
    out.tls_failure = handshake_ec.category() == asio::error::get_ssl_category();
    co_return out;
  }
  out = co_await http_exchange(secure, request, body_limit);
  stream.expires_after(std::min<std::chrono::steady_clock::duration>(timeout, std::chrono::seconds(1)));
  co_await secure.async_shutdown(asio::as_tuple(asio::use_awaitable));
  co_return out;
}

}  // namespace assist::net
