// OAuth 2.0 client-credentials token provider (RFC 6749 §4.4,
// shared/protocol.md §1): caches the token, refreshes it ahead of expiry,
// retries within bounds, and sends one request however many callers wait.
#ifndef ASSIST_SRC_TRANSPORT_TOKEN_PROVIDER_H
#define ASSIST_SRC_TRANSPORT_TOKEN_PROVIDER_H

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "assist/clock.h"
#include "assist/status.h"
#include "assist/transport.h"
#include "util/logger.h"

namespace assist::transport {

// An access token and when to stop using it. Times are steady-clock readings
// anchored at the moment the request was sent, so a slow response shortens
// the token's life rather than extending it.
struct Token {
  std::string access_token;  // secret: never log
  std::string scope;         // as granted
  std::chrono::milliseconds lifetime{0};
  Clock::steady_time sent_at;
  Clock::steady_time refresh_at;  // fetch a new one from here on
  Clock::steady_time expires_at;
};

// A token, or why there is none. `detail` names the cause for people (the
// OAuth error code, the missing scope, the attempt count); it never holds the
// secret or a token.
struct TokenResult {
  std::shared_ptr<const Token> token;
  std::error_code error;
  std::string detail;
  explicit operator bool() const { return token != nullptr; }
};

// When to refresh and when the token expires, for a token requested at
// `sent_at` with `expires_in`. Normally `margin` before expiry; when the
// lifetime is under twice the margin, at half the lifetime (protocol §1), so a
// short-lived token is never due again the moment it arrives.
struct TokenSchedule {
  Clock::steady_time refresh_at;
  Clock::steady_time expires_at;
};
TokenSchedule token_schedule(Clock::steady_time sent_at, std::chrono::milliseconds expires_in,
                             std::chrono::seconds margin);

// The requested scopes absent from the space-separated `granted` list.
std::vector<std::string> missing_scopes(const std::vector<std::string>& requested,
                                        std::string_view granted);

// The error for a 400/401 answer whose JSON `error` member is `oauth_error`.
TransportErrc token_error_for(unsigned status, std::string_view oauth_error);

// The OAuth error code (RFC 6749 §5.2 `error`) of a 400/401 body; empty when
// there is none, or when it is not 1..64 characters of the RFC's printable
// set (it goes into error details and logs, so no control characters).
std::string oauth_error_of(std::string_view body);

// Parses a 200 body: the token, or bad_token_response / missing_scope.
// expires_in must be at least one second (RFC 6749 §5.1 counts it in
// seconds): a shorter-lived token would be due for refresh on arrival.
TokenResult parse_token_response(std::string_view body, const std::vector<std::string>& scopes,
                                 Clock::steady_time sent_at, std::chrono::seconds margin);

// The token endpoint's answer to one request, or the network failure that
// took its place (net_error: TransportErrc::timeout for a timeout).
struct TokenReply {
  std::error_code net_error;
  bool tls_failure = false;  // the TLS handshake was refused on TLS grounds (certificate, protocol)
  unsigned status = 0;
  std::string body;
  std::string retry_after;  // the Retry-After header, verbatim
};

// Sends one token request and gives the answer. The default sends it over
// HTTP(S) to TokenOptions::token_url; the deterministic simulation answers
// in memory.
using TokenTransport = std::function<boost::asio::awaitable<TokenReply>()>;

// Not thread-safe: use it from one executor (a strand or a single-threaded
// io_context). It must outlive every token() call and the fetch they start.
// Retry waits run on `clock`; its lines go to `log`.
class TokenProvider {
 public:
  TokenProvider(boost::asio::any_io_executor executor, TokenOptions options, Clock& clock,
                Random& random, TokenTransport transport = nullptr,
                util::LoggerPtr log = util::Logger::process_default());
  ~TokenProvider();
  TokenProvider(const TokenProvider&) = delete;
  TokenProvider& operator=(const TokenProvider&) = delete;

  // The cached token while it is before its refresh time; otherwise joins the
  // fetch in flight or starts one. All callers waiting on one fetch get its
  // result. A fetch retries 429 (Retry-After), 5xx, timeouts and resets with
  // bounded attempts and time; 400/401 and scope errors end it at once.
  boost::asio::awaitable<TokenResult> token();

  // The gateway refused `access_token` (401 at the upgrade, close 4001): if it
  // is the cached token, forget it so the next token() fetches a new one.
  void invalidate(std::string_view access_token);

  // Ends the fetch in flight for its waiters (TransportErrc::stopped), and
  // every later token() at once: shutting down never waits out a silent or
  // retrying token endpoint. For good.
  void stop();

  // Calls `observer` on the provider's executor with the result of every
  // fetch: a token (e.g. to audit TOKEN_REFRESHED) or why there is none (the
  // token's health). Not for fetches ended by stop(). It must not log the
  // access token.
  void on_result(std::function<void(const TokenResult&)> observer);

  // Why the options cannot work (a token_url that is no http(s) URL, a TLS
  // setup that failed: bad_url, tls), the message naming the option; ok
  // when they can work. Every token() fails with it.
  const Status& config_status() const;

  // Thread-safe counters.
  std::uint64_t requests_sent() const;  // HTTP requests, retries included
  std::uint64_t tokens_fetched() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace assist::transport

#endif
