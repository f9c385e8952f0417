// Client transport options and errors: the OAuth token provider, real-time
// WebSocket connections and the connection pool (shared/protocol.md §1-2).
// Std types only; the implementation lives in src/transport.
#ifndef ASSIST_TRANSPORT_H
#define ASSIST_TRANSPORT_H

#include <chrono>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "assist/status.h"

namespace assist::transport {

using Millis = std::chrono::milliseconds;

// How the peer's certificate is checked. Verification (chain to a trusted CA
// plus host name) is on by default.
struct TlsOptions {
  bool verify = true;       // false disables every check: tests and local debugging only
  std::string ca_file;      // PEM bundle to trust instead of the system store
  std::string pin_sha256;   // trust exactly this leaf certificate (SHA-256 of its DER, hex)
};

// Exponential backoff with full jitter: attempt n waits a uniform random time
// in [0, min(cap, initial * multiplier^n)].
struct BackoffOptions {
  Millis initial{500};
  double multiplier = 2.0;
  Millis cap{30'000};
};

enum class ClientAuth {
  basic,  // client_secret_basic (RFC 6749 §2.3.1): preferred
  post,   // client_secret_post: id and secret in the form body
};
// "basic" or "post": the config spelling.
std::string_view to_string(ClientAuth auth);
// The method spelled `name` (as to_string writes it); nullopt otherwise.
std::optional<ClientAuth> parse_client_auth(std::string_view name);

inline constexpr std::string_view default_scopes[] = {"realtime:read", "agentassist:write",
                                                      "interactions:read"};

struct TokenOptions {
  std::string token_url;      // http(s)://host[:port]/path
  std::string client_id;
  std::string client_secret;  // from load_secret(); never logged
  std::vector<std::string> scopes{std::begin(default_scopes), std::end(default_scopes)};
  ClientAuth auth = ClientAuth::basic;
  std::chrono::seconds refresh_margin{60};
  Millis request_timeout{10'000};  // one HTTP exchange, connect included
  unsigned max_attempts = 6;       // requests per token(), first one included
  Millis max_total{60'000};        // give up when the next retry would start later than this
  BackoffOptions backoff{Millis{200}, 2.0, Millis{10'000}};  // 5xx, timeouts, resets
  Millis retry_after_cap{60'000};  // longest Retry-After honoured on 429
  TlsOptions tls;
};

struct RealtimeOptions {
  std::string realtime_url;       // ws(s)://host[:port]/path
  bool token_in_query = false;    // access_token=... in the URL (RFC 9700 §4.3.2 advises against)
  Millis ping_interval{20'000};
  Millis pong_timeout{10'000};
  Millis handshake_timeout{10'000};  // TCP + TLS + WebSocket upgrade + HELLO
  // Between failed attempts to open a connection. A connection that was
  // healthy (a frame of it was answered, or it stayed up healthy_reset_after)
  // is reopened at once when it drops, and the backoff starts afresh.
  BackoffOptions reconnect{Millis{500}, 2.0, Millis{30'000}};
  Millis healthy_reset_after{30'000};
  // A written frame without ACK/NACK this long means a dead connection (one
  // that answers pings but not frames included): it is closed and its frames
  // are replayed on its successor while fresh, else end unconfirmed.
  Millis ack_timeout{10'000};
  // Consecutive openings answered with something the client cannot use (a
  // first frame that is not a usable HELLO, an upgrade refused with a status
  // the contract does not list) before the link gives up for good (bad_gateway).
  unsigned max_unusable_answers = 5;
  Millis retry_after_cap{60'000};      // longest Retry-After honoured on 429/503
  // Links the pool may open, each when the open ones have no session slot
  // left: 64 carry 6,400 sessions, so a first run is not throttled by a
  // limit its user never set (a gateway that allows fewer answers 429).
  unsigned max_connections = 64;
  Millis idle_close_after{60'000};     // a link without sessions closes after this (never the last)
  std::optional<std::uint32_t> max_inflight;  // frames unanswered per connection: at most HELLO's, and this when set
  Millis rotation_drain{5'000};        // the old connection's ACKs are awaited this long
  TlsOptions tls;
};

// Why a token request, a connection or a link failed.
enum class TransportErrc {
  invalid_client = 1,      // 401 from the token endpoint: bad client id or secret
  invalid_scope,           // 400 invalid_scope
  invalid_request,         // 400 invalid_request
  unsupported_grant_type,  // 400 unsupported_grant_type
  token_rejected,          // another 4xx from the token endpoint
  missing_scope,           // the granted scope lacks a requested one
  bad_token_response,      // 200 without a usable JSON token
  rate_limited,            // 429, and the retry budget is spent
  server_error,            // 5xx, and the retry budget is spent
  timeout,                 // no answer in time
  connection_failed,       // resolve, connect or reset
  tls,                     // TLS handshake or certificate verification failed
  bad_url,                 // a URL that is not http(s)/ws(s)://host...
  handshake_unauthorized,  // 401 at the WebSocket upgrade (after one token refresh)
  handshake_forbidden,     // 403 at the upgrade: the token lacks realtime:read
  handshake_rate_limited,  // 429 at the upgrade
  handshake_unavailable,   // 503 at the upgrade: gateway draining
  handshake_rejected,      // another upgrade refusal
  bad_hello,               // the first frame was not a HELLO
  peer_timeout,            // no pong within pong_timeout
  going_away,              // close 1001
  token_expired,           // close 4001
  closed_by_peer,          // another close code, or an abrupt drop
  secret_unavailable,      // load_secret found no secret
  stopped,                 // stop() ended a token fetch or a connection attempt
  ack_timeout,             // a written frame got no ACK/NACK within ack_timeout
  bad_gateway,             // max_unusable_answers openings in a row gave nothing usable
  internal_error,          // an exception ended a connection's task (logged with its cause)
};

// Whether `error` is one that no retry can cure (configuration, credentials,
// permissions, a peer that is not a usable gateway): the link gives up.
bool is_fatal(const std::error_code& error);
const std::error_category& transport_category();
std::error_code make_error_code(TransportErrc e);

// Where the client secret comes from. Exactly one of the two is used:
// the environment variable when set and non-empty, else the file.
struct SecretSource {
  std::string env_var;  // e.g. "ASSIST_CLIENT_SECRET"
  std::string file;     // a file holding the secret; one trailing newline (LF or CRLF) is dropped
};

// Loads the secret, or fails with secret_unavailable, the message naming the
// variable or file, never the value.
Result<std::string> load_secret(const SecretSource& source);

}  // namespace assist::transport

template <>
struct std::is_error_code_enum<assist::transport::TransportErrc> : std::true_type {};

#endif  // ASSIST_TRANSPORT_H
