// Gateway: owns the io_context, its threads, the listener and the tick that
// drives every Clock-based deadline of the open connections.
#include "assist/gateway.h"

#include <filesystem>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <openssl/ssl.h>

#include "core/detail/thread.h"
#include "gateway/http_session.h"
#include "gateway/state.h"
#include "net/self_signed.h"
#include "net/tls.h"

namespace assist {

namespace asio = boost::asio;
using asio::ip::tcp;
using gateway::GatewayState;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// How often Clock-based deadlines (token expiry, delayed ACKs, feedback,
// session length, go-away) are checked.
constexpr std::chrono::milliseconds tick_period{10};
constexpr int ticks_per_prune = 100;

// A connection's handlers must run one at a time: on a strand of its own, or
// directly on the io_context when it has one thread (a strand would only add
// a queue and a lock to every handler).
asio::any_io_executor connection_executor(asio::io_context& ioc, unsigned threads) {
  if (threads <= 1) return ioc.get_executor();
  return asio::make_strand(ioc);
}

asio::awaitable<void> accept_loop(std::shared_ptr<GatewayState> state, tcp::acceptor& acceptor,
                                  asio::io_context& ioc) {
  for (;;) {
    auto [ec, socket] =
        co_await acceptor.async_accept(connection_executor(ioc, state->options.threads), use_tuple);
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) continue;  // e.g. EMFILE: this connection is lost, the listener goes on
    if (state->tcp_connections >= state->options.max_connections) {
      boost::system::error_code ignored;
      socket.close(ignored);
      continue;
    }
    ++state->tcp_connections;
    auto executor = socket.get_executor();
    asio::co_spawn(executor, gateway::serve_connection(state, std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> tick_loop(std::shared_ptr<GatewayState> state) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (int tick = 1;; ++tick) {
    timer.expires_after(tick_period);
    auto [ec] = co_await timer.async_wait(use_tuple);
    if (ec) co_return;
    state->connections.for_each([](gateway::LiveConnection& c) { c.post_tick(); });
    if (tick % ticks_per_prune == 0) state->ledger.prune();
  }
}

std::string scheme_url(bool tls, bool websocket, std::uint16_t port, std::string_view path) {
  const char* scheme = websocket ? (tls ? "wss" : "ws") : (tls ? "https" : "http");
  return fmt::format("{}://127.0.0.1:{}{}", scheme, port, path);
}

}  // namespace

struct Gateway::Impl {
  explicit Impl(GatewayOptions options) : state(std::make_shared<GatewayState>(std::move(options))) {}

  Status load_tls() {
    const auto& opts = state->options;
    std::string cert = opts.cert_file;
    std::string key = opts.key_file;
    if (cert.empty() != key.empty())
      return {std::make_error_code(std::errc::invalid_argument), "cert_file and key_file go together"};
    if (cert.empty()) {
      std::string error;
      net::SelfSignedCertificate made;
      if (!net::make_self_signed_certificate({"127.0.0.1", "localhost", "::1"}, std::chrono::hours(24 * 30),
                                             made, error)) {
        return {std::make_error_code(std::errc::io_error), error};
      }
      std::string pattern = (std::filesystem::temp_directory_path() / "assist-gateway-XXXXXX").string();
      if (::mkdtemp(pattern.data()) == nullptr) return Status::from_errno(errno, "mkdtemp", pattern);
      temp_dir = pattern;
      if (!net::write_pem_files(made, temp_dir, cert, key, error))
        return {std::make_error_code(std::errc::io_error), error};
    }
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
    ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                     asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                     asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
    boost::system::error_code ec;
    ctx->use_certificate_chain_file(cert, ec);
    if (ec) return {ec, "cannot load certificate " + cert + ": " + ec.message()};
    ctx->use_private_key_file(key, asio::ssl::context::pem, ec);
    if (ec) return {ec, "cannot load private key " + key + ": " + ec.message()};
    certificate_file = cert;
    certificate_sha256 = net::certificate_sha256(SSL_CTX_get0_certificate(ctx->native_handle()));
    state->tls = std::move(ctx);
    return {};
  }

  Status start() {
    std::lock_guard lock(mu);
    if (ioc) return {};
    const auto& opts = state->options;
    if (opts.tls) {
      if (auto bad = load_tls(); !bad.ok()) return bad;
    }
    ioc = std::make_unique<asio::io_context>(static_cast<int>(std::max(1u, opts.threads)));
    acceptor.emplace(*ioc);
    const auto where = fmt::format("{}:{}", opts.host, opts.port);
    try {
      const tcp::endpoint endpoint(asio::ip::make_address(opts.host), opts.port);
      acceptor->open(endpoint.protocol());
      acceptor->set_option(asio::socket_base::reuse_address(true));
      acceptor->bind(endpoint);
      acceptor->listen(asio::socket_base::max_listen_connections);
    } catch (const boost::system::system_error& e) {
      acceptor.reset();
      ioc.reset();
      return {e.code(), fmt::format("cannot listen on {}: {}", where, e.code().message())};
    }
    bound_port = acceptor->local_endpoint().port();
    asio::co_spawn(asio::make_strand(*ioc), accept_loop(state, *acceptor, *ioc), asio::detached);
    asio::co_spawn(asio::make_strand(*ioc), tick_loop(state), asio::detached);
    for (unsigned i = 0; i < std::max(1u, opts.threads); ++i) {
      threads.push_back(detail::named_thread("gateway-io", [this] { ioc->run(); }));
    }
    return {};
  }

  void stop() {
    std::lock_guard lock(mu);
    if (!ioc) return;
    state->draining = true;
    ioc->stop();
    for (auto& t : threads) t.join();
    threads.clear();
    acceptor.reset();
    ioc.reset();  // destroys every connection and coroutine
    if (!temp_dir.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(temp_dir, ignored);
    }
  }

  // Runs `fn` while the gateway is running (never against a stopping one).
  template <class F>
  void if_running(F fn) {
    std::lock_guard lock(mu);
    if (ioc) fn();
  }

  std::shared_ptr<GatewayState> state;
  mutable std::mutex mu;
  std::unique_ptr<asio::io_context> ioc;
  std::optional<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  std::uint16_t bound_port = 0;
  std::string certificate_file;
  std::string certificate_sha256;
  std::string temp_dir;
};

Gateway::Gateway(GatewayOptions options) : impl_(std::make_shared<Impl>(std::move(options))) {}

Gateway::~Gateway() { stop(); }

Status Gateway::start() { return impl_->start(); }

void Gateway::stop() { impl_->stop(); }

std::uint16_t Gateway::port() const {
  std::lock_guard lock(impl_->mu);
  return impl_->bound_port;
}

std::string Gateway::token_url() const {
  return scheme_url(impl_->state->options.tls, false, port(), "/oauth/token");
}

std::string Gateway::realtime_url() const {
  return scheme_url(impl_->state->options.tls, true, port(), "/realtime/v1");
}

std::string Gateway::stats_url() const {
  return scheme_url(impl_->state->options.tls, false, port(), "/stats");
}

std::string Gateway::certificate_file() const {
  std::lock_guard lock(impl_->mu);
  return impl_->certificate_file;
}

std::string Gateway::certificate_sha256() const {
  std::lock_guard lock(impl_->mu);
  return impl_->certificate_sha256;
}

GatewayStats Gateway::stats() const { return impl_->state->ledger.snapshot(); }

void Gateway::refuse_next_handshakes(std::uint32_t n, unsigned status, std::chrono::seconds retry_after) {
  impl_->state->faults.refuse_handshakes({n, status, retry_after});
}

void Gateway::fail_next_token_requests(std::uint32_t n, unsigned status,
                                       std::chrono::seconds retry_after) {
  impl_->state->faults.fail_token_requests({n, status, retry_after});
}

void Gateway::close_all(std::uint16_t code) {
  impl_->if_running([&] { impl_->state->connections.for_each([code](auto& c) { c.post_close(code); }); });
}

void Gateway::set_stalled(bool stalled) {
  impl_->state->stalled = stalled;
  if (!stalled) {
    impl_->if_running([&] { impl_->state->connections.for_each([](auto& c) { c.post_release_acks(); }); });
  }
}

void Gateway::end_session(const std::string& session_id) {
  impl_->if_running(
      [&] { impl_->state->connections.for_each([&](auto& c) { c.post_end_session(session_id); }); });
}

}  // namespace assist
