#include "transport/token_provider.h"

#include <algorithm>
#include <atomic>
#include <optional>
#include <utility>

#include <boost/algorithm/string/join.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <fmt/format.h>
#include <openssl/evp.h>

#include "core/detail/log_record.h"
#include "net/http_client.h"
#include "net/tls_client.h"
#include "util/backoff.h"
#include "net/endpoint.h"
#include "transport/retry_after.h"
#include "util/spawn.h"
#include "util/timer.h"

namespace assist::transport {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using namespace std::chrono_literals;

TokenSchedule token_schedule(Clock::steady_time sent_at, std::chrono::milliseconds expires_in,
                             std::chrono::seconds margin) {
  const Clock::steady_time expires_at = sent_at + expires_in;
  if (expires_in < 2 * margin) return {sent_at + expires_in / 2, expires_at};
  return {expires_at - margin, expires_at};
}

std::vector<std::string> missing_scopes(const std::vector<std::string>& requested,
                                        std::string_view granted) {
  std::vector<std::string_view> have;
  while (!granted.empty()) {
    const auto space = granted.find(' ');
    const auto item = granted.substr(0, space);
    if (!item.empty()) have.push_back(item);
    if (space == std::string_view::npos) break;
    granted.remove_prefix(space + 1);
  }
  std::vector<std::string> missing;
  for (const auto& scope : requested) {
    if (std::find(have.begin(), have.end(), scope) == have.end()) missing.push_back(scope);
  }
  return missing;
}

TransportErrc token_error_for(unsigned status, std::string_view oauth_error) {
  if (oauth_error == "invalid_client") return TransportErrc::invalid_client;
  if (oauth_error == "invalid_scope") return TransportErrc::invalid_scope;
  if (oauth_error == "invalid_request") return TransportErrc::invalid_request;
  if (oauth_error == "unsupported_grant_type") return TransportErrc::unsupported_grant_type;
  return status == 401 ? TransportErrc::invalid_client : TransportErrc::token_rejected;
}

namespace {

TokenResult failure(TransportErrc code, std::string detail) {
  return TokenResult{nullptr, make_error_code(code), std::move(detail)};
}

// application/x-www-form-urlencoded (RFC 6749 Appendix B).
std::string form_encode(std::string_view text) {
  boost::urls::encoding_opts opts;
  opts.space_as_plus = true;
  return boost::urls::encode(text, boost::urls::unreserved_chars, opts);
}

std::string base64(std::string_view text) {
  std::string out(4 * ((text.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

constexpr std::size_t kMaxResponseBytes = 64 * 1024;  // a token response is a few hundred bytes

}  // namespace

std::string_view to_string(ClientAuth auth) { return auth == ClientAuth::post ? "post" : "basic"; }

std::optional<ClientAuth> parse_client_auth(std::string_view name) {
  for (const auto value : {ClientAuth::basic, ClientAuth::post})
    if (name == to_string(value)) return value;
  return std::nullopt;
}

std::string oauth_error_of(std::string_view body) {
  boost::system::error_code ec;
  const json::value doc = json::parse(body, ec);
  if (ec || !doc.is_object()) return {};
  const auto* error = doc.get_object().if_contains("error");
  if (error == nullptr || !error->is_string()) return {};
  const std::string_view code = error->get_string();
  const bool printable = std::all_of(code.begin(), code.end(), [](char c) {
    return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\';  // RFC 6749 §5.2: %x20-21 / %x23-5B / %x5D-7E
  });
  return printable && !code.empty() && code.size() <= 64 ? std::string(code) : std::string();
}

TokenResult parse_token_response(std::string_view body, const std::vector<std::string>& scopes,
                                 Clock::steady_time sent_at, std::chrono::seconds margin) {
  boost::system::error_code ec;
  const json::value doc = json::parse(body, ec);
  if (ec || !doc.is_object()) return failure(TransportErrc::bad_token_response, "token response is not a JSON object");
  const json::object& obj = doc.get_object();
  const auto* access = obj.if_contains("access_token");
  if (access == nullptr || !access->is_string() || access->get_string().empty()) {
    return failure(TransportErrc::bad_token_response, "token response has no access_token");
  }
  const auto* type = obj.if_contains("token_type");
  if (type == nullptr || !type->is_string() || !beast::iequals(type->get_string(), "Bearer")) {
    return failure(TransportErrc::bad_token_response, "token_type is not Bearer");
  }
  const auto* expires = obj.if_contains("expires_in");
  double expires_s = 0;
  if (expires != nullptr && expires->is_number()) expires_s = expires->to_number<double>(ec);
  if (expires == nullptr || ec || !(expires_s >= 1) || expires_s > 1e9) {
    return failure(TransportErrc::bad_token_response, "expires_in is missing or not a number of seconds >= 1");
  }
  auto token = std::make_shared<Token>();
  token->access_token = std::string(access->get_string());
  // RFC 6749 §5.1: scope may be omitted when it is the one requested.
  const auto* scope = obj.if_contains("scope");
  if (scope != nullptr && !scope->is_string()) {
    return failure(TransportErrc::bad_token_response, "scope is not a string");
  }
  token->scope = scope != nullptr ? std::string(scope->get_string()) : boost::algorithm::join(scopes, " ");
  if (const auto missing = missing_scopes(scopes, token->scope); !missing.empty()) {
    return failure(TransportErrc::missing_scope, "granted scope lacks: " + boost::algorithm::join(missing, " "));
  }
  token->lifetime = std::chrono::milliseconds{static_cast<std::int64_t>(expires_s * 1000.0)};
  token->sent_at = sent_at;
  const auto schedule = token_schedule(sent_at, token->lifetime, margin);
  token->refresh_at = schedule.refresh_at;
  token->expires_at = schedule.expires_at;
  return TokenResult{std::move(token), {}, {}};
}

struct TokenProvider::Impl : std::enable_shared_from_this<Impl> {
  struct Flight {
    Flight(const asio::any_io_executor& ex, Clock& clock) : done(ex, clock) {}
    util::Timer done;  // cancelled when `result` is set
    std::optional<TokenResult> result;
  };

  Impl(asio::any_io_executor ex, TokenOptions opts, Clock& c, Random& r, TokenTransport t, util::LoggerPtr l)
      : executor(std::move(ex)), options(std::move(opts)), clock(c), random(r), transport(std::move(t)), log(std::move(l)) {
    std::string error;
    if (auto parsed = net::parse_endpoint(options.token_url, net::Scheme::http, error)) {
      endpoint = std::move(*parsed);
    } else {
      config = {make_error_code(TransportErrc::bad_url), "token_url: " + error};
      return;
    }
    target.host = endpoint.host;
    target.port = endpoint.port;
    if (endpoint.tls) {
      target.tls_config = {options.tls.verify, options.tls.ca_file, options.tls.pin_sha256};
      target.tls_context = net::make_client_context(target.tls_config, error);
      if (!target.tls_context) {
        config = {make_error_code(TransportErrc::tls), "token endpoint TLS (tls options of the token endpoint): " + error};
      }
    }
    if (!transport) transport = [this]() { return http_transport(); };
  }

  // One request to token_url over HTTP(S).
  asio::awaitable<TokenReply> http_transport() {
    const auto request = make_request();  // a named local: g++ 12 mishandles temporaries in co_await
    const net::HttpReply out = co_await net::http_call(target, request, options.request_timeout, kMaxResponseBytes);
    TokenReply reply;
    reply.net_error = out.net_error == beast::error::timeout ? make_error_code(TransportErrc::timeout)
                                                             : std::error_code(out.net_error);
    reply.tls_failure = out.tls_failure;
    reply.status = out.status;
    reply.body = out.body;
    reply.retry_after = out.retry_after;
    co_return reply;
  }

  http::request<http::string_body> make_request() const {
    http::request<http::string_body> request{http::verb::post, endpoint.target, 11};
    request.set(http::field::host, endpoint.host_header);
    request.set(http::field::content_type, "application/x-www-form-urlencoded");
    request.set(http::field::accept, "application/json");
    request.set(http::field::user_agent, "assist-sync");
    std::string body = "grant_type=client_credentials&scope=" + form_encode(boost::algorithm::join(options.scopes, " "));
    if (options.auth == ClientAuth::basic) {
      // RFC 6749 §2.3.1: id and secret are form-encoded, then joined by ':'.
      request.set(http::field::authorization,
                  "Basic " + base64(form_encode(options.client_id) + ":" + form_encode(options.client_secret)));
    } else {
      body += "&client_id=" + form_encode(options.client_id) +
              "&client_secret=" + form_encode(options.client_secret);
    }
    request.body() = std::move(body);
    request.prepare_payload();
    return request;
  }

  asio::awaitable<TokenResult> fetch() {
    if (!config.ok()) co_return failure(static_cast<TransportErrc>(config.code.value()), config.message);
    const auto started = clock.steady_now();
    util::Backoff backoff(options.backoff);
    unsigned attempts = 0;
    for (;;) {
      if (stopped) co_return stopped_result();
      const auto sent_at = clock.steady_now();
      ++attempts;
      ++requests;
      const TokenReply out = co_await transport();
      if (stopped) co_return stopped_result();
      Retry retry;
      if (auto done = judge(out, sent_at, backoff, retry)) co_return std::move(*done);
      if (!util::retry_allowed(attempts, options.max_attempts, started, clock.steady_now(), retry.delay, options.max_total)) {
        co_return failure(retry.reason, fmt::format("token endpoint {}: giving up after {} request(s), last: {}",
                                                    net::redact_url(options.token_url), attempts, retry.last));
      }
      if (log->should_log(LogLevel::debug))
        log->debug(detail::LogRecord("token request failed, retrying")
                       .with("attempt", attempts)
                       .with("detail", retry.last)
                       .with("retry_in_ms", retry.delay.count()));
      util::Timer sleep(executor, clock);
      sleep.expires_after(retry.delay);
      co_await sleep.wait();
    }
  }

  // Why a request should be retried, and after how long.
  struct Retry {
    TransportErrc reason{};
    Millis delay{0};
    std::string last;  // what the last attempt got, for people
  };

  // The final result of a fetch for `out`, or nullopt with `retry` filled.
  std::optional<TokenResult> judge(const TokenReply& out, Clock::steady_time sent_at, util::Backoff& backoff, Retry& retry) {
    if (out.net_error) {
      if (out.tls_failure) return failure(TransportErrc::tls, "token endpoint TLS handshake: " + out.net_error.message());
      retry = {out.net_error == TransportErrc::timeout ? TransportErrc::timeout : TransportErrc::connection_failed,
               backoff.next(random), out.net_error.message()};
      return std::nullopt;
    }
    if (out.status == 200) {
      auto result = parse_token_response(out.body, options.scopes, sent_at, options.refresh_margin);
      if (result) ++fetched;
      return result;
    }
    if (out.status == 400 || out.status == 401) {
      const std::string oauth_error = oauth_error_of(out.body);
      return failure(token_error_for(out.status, oauth_error),
                     fmt::format("token endpoint {} answered {}{}", net::redact_url(options.token_url), out.status,
                                 oauth_error.empty() ? std::string() : " " + oauth_error));
    }
    if (out.status == 429) {
      const auto wait = parse_retry_after(out.retry_after, clock.unix_now(), options.retry_after_cap);
      retry = {TransportErrc::rate_limited, wait ? *wait : backoff.next(random), "status 429"};
      return std::nullopt;
    }
    if (out.status >= 500) {
      retry = {TransportErrc::server_error, backoff.next(random), fmt::format("status {}", out.status)};
      return std::nullopt;
    }
    return failure(TransportErrc::token_rejected,
                   fmt::format("token endpoint {} answered {}", net::redact_url(options.token_url), out.status));
  }

  static std::string oauth_error_of(std::string_view body) {
    boost::system::error_code ec;
    const json::value doc = json::parse(body, ec);
    if (ec || !doc.is_object()) return {};
    const auto* e = doc.get_object().if_contains("error");
    return e != nullptr && e->is_string() ? std::string(e->get_string()) : std::string();
  }

  // Holds `self`, so the provider's state outlives a fetch still running.
  static asio::awaitable<void> run_flight(std::shared_ptr<Impl> self, std::shared_ptr<Flight> flight) {
    TokenResult result = co_await self->fetch();
    if (flight->result) co_return;  // ended by stop()
    if (result) self->cached = result.token;
    if (self->observer && result.error != TransportErrc::stopped) self->observer(result);
    flight->result = std::move(result);
    if (self->current == flight) self->current.reset();
    flight->done.cancel();
  }

  static TokenResult stopped_result() { return failure(TransportErrc::stopped, "the token provider is stopping"); }

  asio::any_io_executor executor;
  TokenOptions options;
  Clock& clock;
  Random& random;
  TokenTransport transport;
  util::LoggerPtr log;
  net::Endpoint endpoint;
  Status config;  // why the options cannot work; ok when they can
  net::HttpTarget target;  // where to connect
  std::shared_ptr<const Token> cached;
  std::shared_ptr<Flight> current;
  std::function<void(const TokenResult&)> observer;
  bool stopped = false;
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> fetched{0};
};

TokenProvider::TokenProvider(asio::any_io_executor executor, TokenOptions options, Clock& clock,
                             Random& random, TokenTransport transport, util::LoggerPtr log)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(options), clock, random, std::move(transport),
                                   std::move(log))) {}

const Status& TokenProvider::config_status() const { return impl_->config; }

TokenProvider::~TokenProvider() = default;

asio::awaitable<TokenResult> TokenProvider::token() {
  auto impl = impl_;
  if (impl->stopped) co_return Impl::stopped_result();
  if (impl->cached && impl->clock.steady_now() < impl->cached->refresh_at) co_return TokenResult{impl->cached, {}, {}};
  if (!impl->current) {
    auto flight = std::make_shared<Impl::Flight>(impl->executor, impl->clock);
    impl->current = flight;
    // Its own coroutine: a waiter that goes away does not cancel the fetch
    // the others share. One that dies by an exception still ends its waiters.
    util::spawn(impl->executor, Impl::run_flight(impl, flight), "token fetch", impl->log, [impl, flight](std::exception_ptr error) {
      if (impl->current == flight) impl->current.reset();
      if (flight->result) return;
      flight->result = failure(TransportErrc::internal_error, "token fetch: " + util::describe(error));
      flight->done.cancel();
    });
  }
  const auto flight = impl->current;
  while (!flight->result) co_await flight->done.wait();
  co_return *flight->result;
}

void TokenProvider::stop() {
  impl_->stopped = true;
  if (auto flight = std::exchange(impl_->current, nullptr)) {
    flight->result = Impl::stopped_result();
    flight->done.cancel();
  }
}

void TokenProvider::invalidate(std::string_view access_token) {
  if (impl_->cached && impl_->cached->access_token == access_token) impl_->cached.reset();
}

void TokenProvider::on_result(std::function<void(const TokenResult&)> observer) {
  impl_->observer = std::move(observer);
}

std::uint64_t TokenProvider::requests_sent() const { return impl_->requests; }
std::uint64_t TokenProvider::tokens_fetched() const { return impl_->fetched; }

}  // namespace assist::transport
