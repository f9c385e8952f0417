#include "gateway/http_session.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "gateway/handshake.h"
#include "gateway/http_util.h"
#include "gateway/realtime_session.h"
#include "gateway/token_endpoint.h"

namespace assist::gateway {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::awaitable;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

constexpr std::string_view token_path = "/oauth/token";
constexpr std::string_view realtime_path = "/realtime/v1";
constexpr std::string_view stats_path = "/stats";

Response route(const Request& req, GatewayState& state) {
  const auto path = target_path(req.target());
  if (path == token_path) return answer_token_request(req, state);
  if (path == stats_path) {
    if (req.method() != http::verb::get) {
      auto res = json_error(405, "invalid_request", "use GET", req.keep_alive());
      res.set(http::field::allow, "GET");
      return res;
    }
    return json_response(200, state.ledger.snapshot().to_json(), req.keep_alive());
  }
  if (path == realtime_path) {
    auto res = json_error(426, "invalid_request", "WebSocket upgrade required", req.keep_alive());
    res.set(http::field::upgrade, "websocket");
    return res;
  }
  return json_error(404, "not_found", "no such endpoint", req.keep_alive());
}

// The answer to a request the parser refused.
Response parse_failure(const beast::error_code& ec) {
  if (ec == http::error::header_limit) {
    return json_error(431, "invalid_request", "request header fields too large", false);
  }
  if (ec == http::error::body_limit) return json_error(413, "invalid_request", "request body too large", false);
  return json_error(400, "invalid_request", "malformed HTTP request: " + ec.message(), false);
}

bool is_http_parse_error(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_target).category() &&
         ec != http::error::end_of_stream && ec != http::error::partial_message;
}

template <class Stream>
awaitable<void> serve_http(std::shared_ptr<GatewayState> state, Stream stream) {
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(max_header_bytes));
    parser.body_limit(max_body_bytes);
    beast::get_lowest_layer(stream).expires_after(state->options.request_timeout);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
    if (ec) {
      // Timeouts, resets and a peer leaving between requests end quietly.
      if (!is_http_parse_error(ec)) co_return;
      state->ledger.add(&GatewayStats::bad_requests);
      auto res = parse_failure(ec);
      co_await http::async_write(stream, res, use_tuple);
      break;
    }
    Request req = parser.release();
    if (beast::websocket::is_upgrade(req)) {
      if (target_path(req.target()) != realtime_path) {
        auto res = json_error(404, "not_found", "no WebSocket endpoint here", false);
        co_await http::async_write(stream, res, use_tuple);
        break;
      }
      auto decision = authorize_upgrade(req, *state);
      if (!decision.token) {
        decision.refusal.keep_alive(false);
        co_await http::async_write(stream, decision.refusal, use_tuple);
        break;
      }
      // From here the WebSocket's own timeouts apply (Beast requires the
      // stream's to be off).
      beast::get_lowest_layer(stream).expires_never();
      co_await run_realtime(state, std::move(stream), std::move(req), std::move(*decision.token));
      co_return;
    }
    auto res = route(req, *state);
    auto [write_ec, written] = co_await http::async_write(stream, res, use_tuple);
    if (write_ec || !res.keep_alive()) break;
  }
  // Graceful end: TLS close_notify, then the TCP FIN.
  beast::get_lowest_layer(stream).expires_after(state->options.request_timeout);
  if constexpr (!std::is_same_v<Stream, beast::tcp_stream>) co_await stream.async_shutdown(use_tuple);
  beast::error_code ignored;
  beast::get_lowest_layer(stream).socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
}

// Keeps state->tcp_connections equal to the connections being served.
struct ConnectionCount {
  explicit ConnectionCount(std::atomic<std::uint32_t>& count) : count_(count) {}
  ~ConnectionCount() { --count_; }
  ConnectionCount(const ConnectionCount&) = delete;
  ConnectionCount& operator=(const ConnectionCount&) = delete;
  std::atomic<std::uint32_t>& count_;
};

}  // namespace

awaitable<void> serve_connection(std::shared_ptr<GatewayState> state, asio::ip::tcp::socket socket) {
  ConnectionCount counted(state->tcp_connections);
  beast::error_code ignored;
  socket.set_option(asio::ip::tcp::no_delay(true), ignored);
  beast::tcp_stream stream(std::move(socket));
  if (!state->tls) {
    co_await serve_http(state, std::move(stream));
    co_return;
  }
  beast::ssl_stream<beast::tcp_stream> tls(std::move(stream), *state->tls);
  beast::get_lowest_layer(tls).expires_after(state->options.request_timeout);
  auto [ec] = co_await tls.async_handshake(asio::ssl::stream_base::server, use_tuple);
  if (ec) {
    state->ledger.add(&GatewayStats::bad_requests);
    co_return;
  }
  co_await serve_http(state, std::move(tls));
}

}  // namespace assist::gateway
