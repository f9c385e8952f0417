#include "transport/connection.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "net/coalescing_stream.h"
#include "transport/retry_after.h"
#include "util/spawn.h"
#include "util/timer.h"

namespace assist::transport {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using asio::ip::tcp;

namespace {

constexpr std::size_t default_read_max = 65536;
// How long close() waits for the peer's close frame.
constexpr Millis kCloseTimeout{1000};

OpenResult open_failure(TransportErrc code, std::string detail) {
  OpenResult out;
  out.error = make_error_code(code);
  out.detail = std::move(detail);
  return out;
}

TransportErrc refusal_error(unsigned status) {
  switch (status) {
    case 401: return TransportErrc::handshake_unauthorized;
    case 403: return TransportErrc::handshake_forbidden;
    case 429: return TransportErrc::handshake_rate_limited;
    case 503: return TransportErrc::handshake_unavailable;
    default: return TransportErrc::handshake_rejected;
  }
}

// Why a read, write, ping or flush failed: the close code when the peer
// closed, else the system's own error (kept, so logs and outcomes name it).
std::error_code io_failure(const beast::error_code& ec, const websocket::close_reason& reason) {
  if (ec == websocket::error::closed) {
    if (reason.code == 1001) return make_error_code(TransportErrc::going_away);
    if (reason.code == 4001) return make_error_code(TransportErrc::token_expired);
    return make_error_code(TransportErrc::closed_by_peer);
  }
  if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) return make_error_code(TransportErrc::closed_by_peer);
  return ec;
}

// The WebSocket stream over `Next` (beast::tcp_stream, or an ssl_stream of
// one), with a coalescing layer that gathers a burst into one send.
template <typename Next>
class WsConnection final : public Connection, public std::enable_shared_from_this<WsConnection<Next>> {
 public:
  static constexpr bool tls = !std::is_same_v<Next, beast::tcp_stream>;
  using Ws = websocket::stream<net::CoalescingStream<Next>>;

  WsConnection(const asio::any_io_executor& ex, std::shared_ptr<const ConnectionTarget> target, Clock& clock)
      : target_(std::move(target)), clock_(clock), ws_(make_ws(ex, target_->tls_context.get())) {
    ws_.next_layer().flush_on_read(false);  // the writer flushes at the end of each burst
    const auto& ep = target_->endpoint;
    description_ = std::string(ep.tls ? "wss://" : "ws://") + ep.host_header +
                   net::redact_url(target_->token_in_query ? net::target_with_token(ep.target, "-") : ep.target);
  }

  asio::awaitable<OpenResult> open(const std::string& access_token) override {
    // One deadline for the whole opening: connect, TLS, upgrade and HELLO.
    const auto watchdog = abort_after(target_->handshake_timeout);
    OpenResult result = co_await open_steps(access_token);
    watchdog->cancel();  // its coroutine sees a cancelled wait and ends
    co_return result;
  }

  asio::awaitable<std::error_code> read(std::string& text) override {
    auto [ec, n] = co_await ws_.async_read(buffer_, asio::as_tuple(asio::use_awaitable));
    (void)n;
    if (ec) co_return io_failure(ec, ws_.reason());
    text = beast::buffers_to_string(buffer_.data());
    buffer_.consume(buffer_.size());
    co_return std::error_code{};
  }

  std::error_code gather(std::string_view text) override {
    beast::error_code ec;
    ws_.write(asio::buffer(text.data(), text.size()), ec);
    return ec ? io_failure(ec, ws_.reason()) : std::error_code{};
  }

  asio::awaitable<std::error_code> flush() override {
    auto [ec, n] = co_await ws_.next_layer().async_flush(asio::as_tuple(asio::use_awaitable));
    (void)n;
    co_return ec ? io_failure(ec, ws_.reason()) : std::error_code{};
  }

  asio::awaitable<std::error_code> ping() override {
    auto [ec] = co_await ws_.async_ping({}, asio::as_tuple(asio::use_awaitable));
    co_return ec ? io_failure(ec, ws_.reason()) : std::error_code{};
  }

  // Waits for the peer's close frame a bounded time: a gateway that never
  // answers must not hold stop() or a rotation.
  asio::awaitable<void> close(std::uint16_t code) override {
    if (ws_.is_open()) {
      const auto watchdog = abort_after(kCloseTimeout);
      co_await ws_.async_close(websocket::close_reason(code), asio::as_tuple(asio::use_awaitable));
      watchdog->cancel();
    }
    abort();
  }

  void abort() override { beast::get_lowest_layer(ws_).close(); }
  std::uint64_t pongs() const override { return pongs_; }
  const std::string& description() const override { return description_; }

  bool no_delay() {
    tcp::no_delay option;
    boost::system::error_code ec;
    beast::get_lowest_layer(ws_).socket().get_option(option, ec);
    return !ec && option.value();
  }

 private:
  static Ws make_ws(const asio::any_io_executor& ex, asio::ssl::context* context) {
    if constexpr (tls) {
      return Ws(ex, *context);
    } else {
      (void)context;
      return Ws(ex);
    }
  }

  // Aborts the connection `delay` from now (on the injected clock) unless the
  // returned timer is cancelled first.
  std::shared_ptr<util::Timer> abort_after(Millis delay) {
    auto watchdog = std::make_shared<util::Timer>(ws_.get_executor(), clock_);
    watchdog->expires_after(delay);
    util::spawn(ws_.get_executor(), abort_when_due(this->weak_from_this(), watchdog), "connection watchdog", target_->log);
    return watchdog;
  }

  static asio::awaitable<void> abort_when_due(std::weak_ptr<WsConnection> weak, std::shared_ptr<util::Timer> watchdog) {
    const bool due = co_await watchdog->wait();
    if (!due) co_return;
    if (auto self = weak.lock()) {
      self->timed_out_ = true;
      self->abort();
    }
  }

  // A failure of a step: a timeout when the watchdog fired, else `code`.
  OpenResult step_failure(TransportErrc code, std::string detail) const {
    return open_failure(timed_out_ ? TransportErrc::timeout : code, std::move(detail));
  }

  asio::awaitable<OpenResult> open_steps(const std::string& access_token) {
    if (auto failed = co_await connect_tcp()) co_return std::move(*failed);
    if constexpr (tls) {
      if (auto failed = co_await handshake_tls()) co_return std::move(*failed);
    }
    if (auto failed = co_await upgrade(access_token)) co_return std::move(*failed);
    co_return co_await read_hello();
  }

  asio::awaitable<std::optional<OpenResult>> connect_tcp() {
    const net::Endpoint& ep = target_->endpoint;
    tcp::resolver resolver(ws_.get_executor());
    auto [resolve_ec, results] = co_await resolver.async_resolve(ep.host, ep.port, asio::as_tuple(asio::use_awaitable));
    if (resolve_ec) co_return step_failure(TransportErrc::connection_failed, "resolve " + ep.host + ": " + resolve_ec.message());
    auto& lowest = beast::get_lowest_layer(ws_);
    auto [connect_ec, connected] = co_await lowest.async_connect(results, asio::as_tuple(asio::use_awaitable));
    (void)connected;
    if (connect_ec) co_return step_failure(TransportErrc::connection_failed, "connect: " + connect_ec.message());
    lowest.socket().set_option(tcp::no_delay(true));
    co_return std::nullopt;
  }

  asio::awaitable<std::optional<OpenResult>> handshake_tls() {
    const net::Endpoint& ep = target_->endpoint;
    auto& tls_layer = ws_.next_layer().next_layer();
    net::set_server_name(tls_layer.native_handle(), ep.host);
    tls_layer.set_verify_callback(net::make_verify_callback(target_->tls_config, ep.host));
    auto [ec] = co_await tls_layer.async_handshake(asio::ssl::stream_base::client, asio::as_tuple(asio::use_awaitable));
    if (!ec) co_return std::nullopt;
    // Only OpenSSL's own verdicts (certificate, protocol) are TLS errors; a
    // reset or truncation during the handshake is a connection failure.
    const bool verdict = ec.category() == asio::error::get_ssl_category();
    co_return step_failure(verdict ? TransportErrc::tls : TransportErrc::connection_failed,
                           "TLS handshake: " + ec.message());
  }

  asio::awaitable<std::optional<OpenResult>> upgrade(const std::string& access_token) {
    const net::Endpoint& ep = target_->endpoint;
    beast::get_lowest_layer(ws_).expires_never();  // the watchdog bounds the opening
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = websocket::stream_base::none();
    timeouts.idle_timeout = websocket::stream_base::none();
    timeouts.keep_alive_pings = false;
    ws_.set_option(timeouts);
    const bool bearer = !target_->token_in_query;
    ws_.set_option(websocket::stream_base::decorator([bearer, access_token](websocket::request_type& request) {
      request.set(http::field::user_agent, "assist-sync");
      if (bearer) request.set(http::field::authorization, "Bearer " + access_token);
    }));
    ws_.read_message_max(default_read_max);
    ws_.control_callback([this](websocket::frame_type kind, beast::string_view) {
      if (kind == websocket::frame_type::pong) ++pongs_;
    });
    const std::string request_target = bearer ? ep.target : net::target_with_token(ep.target, access_token);
    websocket::response_type response;
    auto [ec] = co_await ws_.async_handshake(response, ep.host_header, request_target, asio::as_tuple(asio::use_awaitable));
    if (!ec) co_return std::nullopt;
    const unsigned status = response.result_int();
    if (status == 0 || status == 101) co_return step_failure(TransportErrc::connection_failed, "upgrade: " + ec.message());
    OpenResult out = open_failure(refusal_error(status), "upgrade refused with " + std::to_string(status));
    out.http_status = status;
    if (const auto header = response[http::field::retry_after]; !header.empty())
      out.retry_after = parse_retry_after(header, clock_.unix_now(), target_->retry_after_cap);
    co_return out;
  }

  asio::awaitable<OpenResult> read_hello() {
    std::string text;
    if (const auto ec = co_await read(text))
      co_return step_failure(TransportErrc::connection_failed, "waiting for HELLO: " + ec.message());
    auto decoded = decode_frame(text);
    if (!decoded) co_return open_failure(TransportErrc::bad_hello, "first frame: " + decoded.error().message);
    if (!std::holds_alternative<Hello>(decoded.value()))
      co_return open_failure(TransportErrc::bad_hello, "first frame is not a HELLO");
    OpenResult out;
    out.hello = std::get<Hello>(decoded.value());
    if (out.hello.max_frame_bytes > 0) ws_.read_message_max(out.hello.max_frame_bytes);
    ws_.text(true);
    co_return out;
  }

  std::shared_ptr<const ConnectionTarget> target_;
  Clock& clock_;
  Ws ws_;
  beast::flat_buffer buffer_;
  std::uint64_t pongs_ = 0;
  bool timed_out_ = false;
  std::string description_;
};

using PlainConnection = WsConnection<beast::tcp_stream>;
using TlsConnection = WsConnection<beast::ssl_stream<beast::tcp_stream>>;

}  // namespace

ConnectionFactory websocket_connections(asio::any_io_executor executor, std::shared_ptr<const ConnectionTarget> target,
                                        Clock& clock) {
  return [executor = std::move(executor), target = std::move(target), &clock]() -> std::shared_ptr<Connection> {
    if (target->endpoint.tls) return std::make_shared<TlsConnection>(executor, target, clock);
    return std::make_shared<PlainConnection>(executor, target, clock);
  };
}

bool has_no_delay(Connection& connection) {
  if (auto* plain = dynamic_cast<PlainConnection*>(&connection)) return plain->no_delay();
  if (auto* secure = dynamic_cast<TlsConnection*>(&connection)) return secure->no_delay();
  return false;
}

}  // namespace assist::transport
