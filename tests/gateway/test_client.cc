#include "test_client.h"

#include <algorithm>
#include <cctype>
#include <variant>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include "net/tls_client.h"

namespace assist::test {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

template <class... Ts>
struct overloaded : Ts... {
  using Ts::operator()...;
};

// Runs `op` on `ioc` until it finishes or `deadline` passes; on timeout calls
// `cancel` (which must make the operation finish) and returns nullopt.
template <class T>
std::optional<T> run_op(asio::io_context& ioc, asio::awaitable<T> op, std::chrono::milliseconds deadline,
                        const std::function<void()>& cancel) {
  std::optional<T> result;
  bool finished = false;
  ioc.restart();
  asio::co_spawn(ioc, std::move(op), [&](std::exception_ptr e, T value) {
    finished = true;
    if (!e) result = std::move(value);
  });
  ioc.run_for(deadline);
  if (!finished) {
    cancel();
    ioc.restart();
    ioc.run_for(std::chrono::seconds(2));
    return std::nullopt;
  }
  return result;
}

std::shared_ptr<asio::ssl::context> client_context(const std::string& pin) {
  net::TlsClientConfig config;
  config.pin_sha256 = pin;
  std::string error;
  auto ctx = net::make_client_context(config, error);
  EXPECT_TRUE(ctx) << error;
  return ctx;
}

template <class Body>
HttpReply to_reply(const http::response<Body>& res) {
  HttpReply reply;
  reply.status = res.result_int();
  reply.body = res.body();
  for (const auto& field : res) {
    std::string name(field.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    reply.headers[name] = std::string(field.value());
  }
  return reply;
}

http::request<http::string_body> make_request(const std::string& method, const std::string& path,
                                              const Headers& headers, const std::string& body,
                                              std::uint16_t port) {
  http::request<http::string_body> req{http::string_to_verb(method), path, 11};
  req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  for (const auto& [name, value] : headers) req.insert(name, value);
  req.body() = body;
  if (!body.empty() || method == "POST") req.prepare_payload();
  return req;
}

template <class Stream>
asio::awaitable<HttpReply> exchange(Stream& stream, http::request<http::string_body> req) {
  auto [wec, wn] = co_await http::async_write(stream, req, use_tuple);
  if (wec) co_return HttpReply{};
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  auto [rec, rn] = co_await http::async_read(stream, buffer, res, use_tuple);
  if (rec) co_return HttpReply{};
  co_return to_reply(res);
}

}  // namespace

std::string HttpReply::header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

boost::json::object HttpReply::json() const {
  boost::system::error_code ec;
  auto value = boost::json::parse(body, ec);
  if (ec || !value.is_object()) return {};
  return value.as_object();
}

HttpReply http_request(const Target& target, const std::string& method, const std::string& path,
                       const Headers& headers, const std::string& body) {
  asio::io_context ioc;
  const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), target.port);
  auto req = make_request(method, path, headers, body, target.port);
  if (target.pin_sha256.empty()) {
    beast::tcp_stream stream(ioc);
    auto op = [&]() -> asio::awaitable<HttpReply> {
      auto [ec] = co_await stream.async_connect(endpoint, use_tuple);
      if (ec) co_return HttpReply{};
      co_return co_await exchange(stream, req);
    };
    return run_op<HttpReply>(ioc, op(), default_deadline, [&] { stream.close(); }).value_or(HttpReply{});
  }
  auto ctx = client_context(target.pin_sha256);
  beast::ssl_stream<beast::tcp_stream> stream(ioc, *ctx);
  net::TlsClientConfig config;
  config.pin_sha256 = target.pin_sha256;
  stream.set_verify_callback(net::make_verify_callback(config, "127.0.0.1"));
  auto op = [&]() -> asio::awaitable<HttpReply> {
    auto [ec] = co_await beast::get_lowest_layer(stream).async_connect(endpoint, use_tuple);
    if (ec) co_return HttpReply{};
    auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::client, use_tuple);
    if (hec) co_return HttpReply{};
    co_return co_await exchange(stream, req);
  };
  return run_op<HttpReply>(ioc, op(), default_deadline, [&] { beast::get_lowest_layer(stream).close(); })
      .value_or(HttpReply{});
}

std::string basic_auth(const std::string& id, const std::string& secret) {
  const std::string plain = id + ":" + secret;
  std::string out(4 * ((plain.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(plain.data()),
                                static_cast<int>(plain.size()));
  out.resize(static_cast<std::size_t>(n));
  return "Basic " + out;
}

HttpReply token_request(const Target& target, const std::string& form_body, const std::string& id,
                        const std::string& secret) {
  return http_request(target, "POST", "/oauth/token",
                      {{"Content-Type", "application/x-www-form-urlencoded"},
                       {"Authorization", basic_auth(id, secret)}},
                      form_body);
}

std::string fetch_token(const Target& target, const std::string& scope, const std::string& id,
                        const std::string& secret) {
  std::string body = "grant_type=client_credentials";
  if (!scope.empty()) body += "&scope=" + scope;
  auto reply = token_request(target, body, id, secret);
  EXPECT_EQ(reply.status, 200u) << reply.body;
  auto json = reply.json();
  if (!json.contains("access_token")) return {};
  return std::string(json["access_token"].as_string());
}

// ----- WsClient -----------------------------------------------------------------

struct WsClient::Impl {
  using PlainWs = websocket::stream<beast::tcp_stream>;
  using TlsWs = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;

  explicit Impl(Target t) : target(std::move(t)) {
    if (target.pin_sha256.empty()) {
      ws.emplace<std::unique_ptr<PlainWs>>(std::make_unique<PlainWs>(ioc));
    } else {
      ctx = client_context(target.pin_sha256);
      ws.emplace<std::unique_ptr<TlsWs>>(std::make_unique<TlsWs>(ioc, *ctx));
    }
  }

  // `f` is taken by reference: when it is a coroutine lambda, its closure
  // must outlive the awaitable it returns (the caller's full expression).
  template <class F>
  auto with_ws(F&& f) {
    return std::visit([&](auto& p) { return f(*p); }, ws);
  }

  void abort() {
    with_ws([](auto& s) {
      beast::get_lowest_layer(s).close();
      return 0;
    });
  }

  asio::io_context ioc;
  Target target;
  std::shared_ptr<asio::ssl::context> ctx;
  std::variant<std::unique_ptr<PlainWs>, std::unique_ptr<TlsWs>> ws;
  beast::flat_buffer buffer;
};

WsClient::WsClient(Target target) : impl_(std::make_unique<Impl>(std::move(target))) {}
WsClient::~WsClient() = default;

unsigned WsClient::connect(const std::string& path, const Headers& headers) {
  const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), impl_->target.port);
  auto op = [&]() -> asio::awaitable<unsigned> {
    auto& self = *impl_;
    websocket::response_type res;
    beast::error_code ec;
    if (auto* plain = std::get_if<std::unique_ptr<Impl::PlainWs>>(&self.ws)) {
      auto& s = **plain;
      std::tie(ec) = co_await beast::get_lowest_layer(s).async_connect(endpoint, use_tuple);
      if (ec) co_return 0u;
      beast::get_lowest_layer(s).socket().set_option(tcp::no_delay(true), ec);
      s.set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
        for (const auto& [name, value] : headers) req.insert(name, value);
      }));
      std::tie(ec) = co_await s.async_handshake(res, "127.0.0.1", path, use_tuple);
    } else {
      auto& s = *std::get<std::unique_ptr<Impl::TlsWs>>(self.ws);
      std::tie(ec) = co_await beast::get_lowest_layer(s).async_connect(endpoint, use_tuple);
      if (ec) co_return 0u;
      beast::get_lowest_layer(s).socket().set_option(tcp::no_delay(true), ec);
      net::TlsClientConfig config;
      config.pin_sha256 = self.target.pin_sha256;
      s.next_layer().set_verify_callback(net::make_verify_callback(config, "127.0.0.1"));
      std::tie(ec) = co_await s.next_layer().async_handshake(asio::ssl::stream_base::client, use_tuple);
      if (ec) co_return 0u;
      s.set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
        for (const auto& [name, value] : headers) req.insert(name, value);
      }));
      std::tie(ec) = co_await s.async_handshake(res, "127.0.0.1", path, use_tuple);
    }
    if (!ec) co_return 101u;
    refusal_ = to_reply(res);
    co_return refusal_.status;
  };
  return run_op<unsigned>(impl_->ioc, op(), default_deadline, [&] { impl_->abort(); }).value_or(0u);
}

bool WsClient::send(const std::string& text) {
  auto op = [&]() -> asio::awaitable<bool> {
    co_return co_await impl_->with_ws([&](auto& s) -> asio::awaitable<bool> {
      s.text(true);
      auto [ec, n] = co_await s.async_write(asio::buffer(text), use_tuple);
      co_return !ec;
    });
  };
  return run_op<bool>(impl_->ioc, op(), default_deadline, [&] { impl_->abort(); }).value_or(false);
}

bool WsClient::send_binary(const std::string& data) {
  auto op = [&]() -> asio::awaitable<bool> {
    co_return co_await impl_->with_ws([&](auto& s) -> asio::awaitable<bool> {
      s.binary(true);
      auto [ec, n] = co_await s.async_write(asio::buffer(data), use_tuple);
      s.text(true);
      co_return !ec;
    });
  };
  return run_op<bool>(impl_->ioc, op(), default_deadline, [&] { impl_->abort(); }).value_or(false);
}

bool WsClient::send_fragmented(const std::string& text, std::size_t fragment) {
  auto op = [&]() -> asio::awaitable<bool> {
    co_return co_await impl_->with_ws([&](auto& s) -> asio::awaitable<bool> {
      s.text(true);
      for (std::size_t at = 0; at < text.size(); at += fragment) {
        const auto size = std::min(fragment, text.size() - at);
        auto [ec, n] = co_await s.async_write_some(at + size == text.size(), asio::buffer(text.data() + at, size),
                                                   use_tuple);
        if (ec) co_return false;
      }
      co_return true;
    });
  };
  return run_op<bool>(impl_->ioc, op(), default_deadline, [&] { impl_->abort(); }).value_or(false);
}

bool WsClient::ping() {
  auto op = [&]() -> asio::awaitable<bool> {
    co_return co_await impl_->with_ws([&](auto& s) -> asio::awaitable<bool> {
      s.control_callback([this](websocket::frame_type kind, beast::string_view) {
        if (kind == websocket::frame_type::pong) pong_ = true;
      });
      auto [ec] = co_await s.async_ping({}, use_tuple);
      co_return !ec;
    });
  };
  return run_op<bool>(impl_->ioc, op(), default_deadline, [&] { impl_->abort(); }).value_or(false);
}

std::optional<std::string> WsClient::read(std::chrono::milliseconds deadline) {
  timed_out_ = false;
  auto op = [&]() -> asio::awaitable<std::optional<std::string>> {
    co_return co_await impl_->with_ws([&](auto& s) -> asio::awaitable<std::optional<std::string>> {
      impl_->buffer.clear();
      auto [ec, n] = co_await s.async_read(impl_->buffer, use_tuple);
      error_ = ec;
      if (ec) co_return std::nullopt;
      co_return beast::buffers_to_string(impl_->buffer.data());
    });
  };
  auto result = run_op<std::optional<std::string>>(impl_->ioc, op(), deadline, [&] {
    timed_out_ = true;
    impl_->abort();
  });
  return result ? *result : std::nullopt;
}

boost::json::object WsClient::read_json(std::chrono::milliseconds deadline) {
  auto text = read(deadline);
  if (!text) return {};
  boost::system::error_code ec;
  auto value = boost::json::parse(*text, ec);
  if (ec || !value.is_object()) return {};
  return value.as_object();
}

boost::json::object WsClient::read_until(const std::string& type, std::chrono::milliseconds deadline) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    auto msg = read_json(std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now()));
    if (msg.empty()) return {};
    if (msg.contains("type") && msg["type"] == boost::json::value(type)) return msg;
  }
  return {};
}

std::uint16_t WsClient::close_code() const {
  return impl_->with_ws([](auto& s) { return static_cast<std::uint16_t>(s.reason().code); });
}

void WsClient::close(std::uint16_t code) {
  auto op = [&]() -> asio::awaitable<bool> {
    co_return co_await impl_->with_ws([&](auto& s) -> asio::awaitable<bool> {
      auto [ec] = co_await s.async_close(websocket::close_reason(static_cast<websocket::close_code>(code)),
                                         use_tuple);
      co_return !ec;
    });
  };
  run_op<bool>(impl_->ioc, op(), default_deadline, [&] { impl_->abort(); });
}

// ----- RawClient ----------------------------------------------------------------

struct RawClient::Impl {
  asio::io_context ioc;
  tcp::socket socket{ioc};
  bool connected = false;
};

RawClient::RawClient(std::uint16_t port) : impl_(std::make_unique<Impl>()) {
  boost::system::error_code ec;
  impl_->socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  impl_->connected = !ec;
}

RawClient::~RawClient() = default;

bool RawClient::connected() const { return impl_->connected; }

bool RawClient::write(const std::string& bytes) {
  boost::system::error_code ec;
  asio::write(impl_->socket, asio::buffer(bytes), ec);
  return !ec;
}

std::string RawClient::read_until_closed(std::chrono::milliseconds deadline) {
  std::string received;
  auto op = [&]() -> asio::awaitable<bool> {
    std::array<char, 4096> chunk{};
    for (;;) {
      auto [ec, n] = co_await impl_->socket.async_read_some(asio::buffer(chunk), use_tuple);
      received.append(chunk.data(), n);
      if (ec) co_return true;
    }
  };
  closed_ = run_op<bool>(impl_->ioc, op(), deadline, [&] {
              boost::system::error_code ignored;
              impl_->socket.close(ignored);
            }).value_or(false);
  return received;
}

}  // namespace assist::test
