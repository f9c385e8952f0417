#include "transport/connection.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "net/coalescing_stream.h"
#include "transport/retry_after.h"

namespace assist::transport {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using asio::ip::tcp;

namespace {

constexpr std::size_t default_read_max = 65536;

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

}  // namespace

struct Connection::Stream {
  virtual ~Stream() = default;
  virtual asio::awaitable<OpenResult> open(const ConnectionTarget& target, const std::string& token,
                                           Clock& clock, std::uint64_t& pongs, bool& timed_out) = 0;
  virtual asio::awaitable<std::error_code> read(std::string& text) = 0;
  virtual asio::awaitable<std::error_code> write(const std::string& text) = 0;
  virtual asio::awaitable<std::error_code> ping() = 0;
  virtual asio::awaitable<void> close(std::uint16_t code) = 0;
  virtual void abort() = 0;
  virtual bool no_delay() = 0;
  virtual void set_cork(bool on) = 0;
  virtual asio::awaitable<std::error_code> flush() = 0;
};

template <typename Next>
struct Connection::StreamImpl final : Connection::Stream {
  static constexpr bool tls = !std::is_same_v<Next, beast::tcp_stream>;

  using Ws = websocket::stream<net::CoalescingStream<Next>>;

  StreamImpl(const asio::any_io_executor& ex, asio::ssl::context* context) : ws(make_ws(ex, context)) {
    ws.next_layer().flush_on_read(false);  // the writer flushes at the end of each burst
  }

  static Ws make_ws(const asio::any_io_executor& ex, asio::ssl::context* context) {
    if constexpr (tls) {
      return Ws(ex, *context);
    } else {
      (void)context;
      return Ws(ex);
    }
  }

  asio::awaitable<OpenResult> open(const ConnectionTarget& target, const std::string& token, Clock& clock,
                                   std::uint64_t& pongs, bool& timed_out) override {
    const Endpoint& ep = target.endpoint;
    tcp::resolver resolver(ws.get_executor());
    auto [resolve_ec, results] =
        co_await resolver.async_resolve(ep.host, ep.port, asio::as_tuple(asio::use_awaitable));
    if (resolve_ec) co_return open_failure(TransportErrc::connection_failed, "resolve: " + resolve_ec.message());
    auto& lowest = beast::get_lowest_layer(ws);
    auto [connect_ec, connected] = co_await lowest.async_connect(results, asio::as_tuple(asio::use_awaitable));
    (void)connected;
    if (connect_ec) {
      co_return open_failure(timed_out ? TransportErrc::timeout : TransportErrc::connection_failed,
                             "connect: " + connect_ec.message());
    }
    lowest.socket().set_option(tcp::no_delay(true));
    if constexpr (tls) {
      auto& tls_layer = ws.next_layer().next_layer();
      net::set_server_name(tls_layer.native_handle(), ep.host);
      tls_layer.set_verify_callback(net::make_verify_callback(target.tls_config, ep.host));
      auto [tls_ec] =
          co_await tls_layer.async_handshake(asio::ssl::stream_base::client, asio::as_tuple(asio::use_awaitable));
      if (tls_ec) {
        // Only OpenSSL's own verdicts (certificate, protocol) are TLS errors;
        // a reset or truncation during the handshake is a connection failure.
        const bool verdict = tls_ec.category() == asio::error::get_ssl_category();
        co_return open_failure(timed_out   ? TransportErrc::timeout
                               : verdict ? TransportErrc::tls
                                         : TransportErrc::connection_failed,
                               "TLS handshake: " + tls_ec.message());
      }
    }
    lowest.expires_never();  // the websocket stream keeps its own timeouts
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = target.handshake_timeout;
    timeouts.idle_timeout = websocket::stream_base::none();
    timeouts.keep_alive_pings = false;
    ws.set_option(timeouts);
    const bool bearer = !target.token_in_query;
    ws.set_option(websocket::stream_base::decorator([bearer, token](websocket::request_type& request) {
      request.set(http::field::user_agent, "assist-sync");
      if (bearer) request.set(http::field::authorization, "Bearer " + token);
    }));
    ws.read_message_max(default_read_max);
    ws.control_callback([&pongs](websocket::frame_type kind, beast::string_view) {
      if (kind == websocket::frame_type::pong) ++pongs;
    });
    const std::string request_target = bearer ? ep.target : target_with_token(ep.target, token);
    websocket::response_type response;
    auto [upgrade_ec] = co_await ws.async_handshake(response, ep.host_header, request_target,
                                                    asio::as_tuple(asio::use_awaitable));
    if (upgrade_ec) {
      const unsigned status = response.result_int();
      if (status != 0 && status != 101) {
        OpenResult out = open_failure(refusal_error(status), "upgrade refused with " + std::to_string(status));
        out.http_status = status;
        if (const auto header = response[http::field::retry_after]; !header.empty()) {
          out.retry_after = parse_retry_after(header, clock.unix_now(), target.retry_after_cap);
        }
        co_return out;
      }
      co_return open_failure(timed_out ? TransportErrc::timeout : TransportErrc::connection_failed,
                             "upgrade: " + upgrade_ec.message());
    }
    std::string text;
    if (const auto read_ec = co_await read(text)) {
      co_return open_failure(timed_out ? TransportErrc::timeout : TransportErrc::connection_failed,
                             "waiting for HELLO: " + read_ec.message());
    }
    auto decoded = decode_frame(text);
    if (!decoded || !std::holds_alternative<Hello>(decoded.frame())) {
      co_return open_failure(TransportErrc::bad_hello, decoded ? "first frame is not HELLO" : decoded.error().detail);
    }
    OpenResult out;
    out.hello = std::get<Hello>(decoded.frame());
    if (out.hello.max_frame_bytes > 0) ws.read_message_max(out.hello.max_frame_bytes);
    ws.text(true);
    co_return out;
  }

  asio::awaitable<std::error_code> read(std::string& text) override {
    auto [ec, n] = co_await ws.async_read(buffer, asio::as_tuple(asio::use_awaitable));
    (void)n;
    if (ec) {
      if (ec == websocket::error::closed) {
        const auto code = ws.reason().code;
        if (code == 1001) co_return make_error_code(TransportErrc::going_away);
        if (code == 4001) co_return make_error_code(TransportErrc::token_expired);
      }
      co_return make_error_code(TransportErrc::closed_by_peer);
    }
    text = beast::buffers_to_string(buffer.data());
    buffer.consume(buffer.size());
    co_return std::error_code{};
  }

  asio::awaitable<std::error_code> write(const std::string& text) override {
    auto [ec, n] = co_await ws.async_write(asio::buffer(text), asio::as_tuple(asio::use_awaitable));
    (void)n;
    co_return ec ? make_error_code(TransportErrc::closed_by_peer) : std::error_code{};
  }

  asio::awaitable<std::error_code> ping() override {
    auto [ec] = co_await ws.async_ping({}, asio::as_tuple(asio::use_awaitable));
    co_return ec ? make_error_code(TransportErrc::closed_by_peer) : std::error_code{};
  }

  asio::awaitable<void> close(std::uint16_t code) override {
    if (ws.is_open()) {
      co_await ws.async_close(websocket::close_reason(code), asio::as_tuple(asio::use_awaitable));
    }
    abort();
  }

  void abort() override { beast::get_lowest_layer(ws).close(); }

  void set_cork(bool on) override { ws.next_layer().cork(on); }

  asio::awaitable<std::error_code> flush() override {
    auto [ec, n] = co_await ws.next_layer().async_flush(asio::as_tuple(asio::use_awaitable));
    (void)n;
    co_return ec ? make_error_code(TransportErrc::closed_by_peer) : std::error_code{};
  }

  bool no_delay() override {
    tcp::no_delay option;
    boost::system::error_code ec;
    beast::get_lowest_layer(ws).socket().get_option(option, ec);
    return !ec && option.value();
  }

  Ws ws;
  beast::flat_buffer buffer;
};

Connection::Connection(asio::any_io_executor executor, std::shared_ptr<const ConnectionTarget> target)
    : executor_(std::move(executor)), target_(std::move(target)) {
  if (target_->endpoint.tls) {
    stream_ = std::make_unique<StreamImpl<beast::ssl_stream<beast::tcp_stream>>>(executor_, target_->tls_context.get());
  } else {
    stream_ = std::make_unique<StreamImpl<beast::tcp_stream>>(executor_, nullptr);
  }
  // What is logged: the URL as requested, with a query token redacted.
  const auto& ep = target_->endpoint;
  description_ = std::string(ep.tls ? "wss://" : "ws://") + ep.host_header +
                 redact_url(target_->token_in_query ? target_with_token(ep.target, "-") : ep.target);
}

Connection::~Connection() = default;

asio::awaitable<OpenResult> Connection::open(const std::string& access_token, Clock& clock) {
  // One deadline for the whole opening: connect, TLS, upgrade and HELLO.
  auto timed_out = std::make_shared<bool>(false);
  asio::steady_timer watchdog(executor_, target_->handshake_timeout);
  watchdog.async_wait([weak = weak_from_this(), timed_out](boost::system::error_code ec) {
    if (ec) return;
    if (auto self = weak.lock()) {
      *timed_out = true;
      self->abort();
    }
  });
  OpenResult result = co_await stream_->open(*target_, access_token, clock, pongs_, *timed_out);
  watchdog.cancel();
  co_return result;
}

asio::awaitable<std::error_code> Connection::read(std::string& text) { return stream_->read(text); }
asio::awaitable<std::error_code> Connection::write(const std::string& text) { return stream_->write(text); }
asio::awaitable<std::error_code> Connection::ping() { return stream_->ping(); }
asio::awaitable<void> Connection::close(std::uint16_t code) { return stream_->close(code); }
void Connection::abort() { stream_->abort(); }
bool Connection::no_delay() { return stream_->no_delay(); }
void Connection::set_cork(bool on) { stream_->set_cork(on); }
asio::awaitable<std::error_code> Connection::flush() { return stream_->flush(); }

}  // namespace assist::transport
