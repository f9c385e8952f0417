// Parsing of the token and real-time URLs (Boost.URL), and redaction of
// tokens carried in a URL's query.
#ifndef ASSIST_SRC_NET_ENDPOINT_H
#define ASSIST_SRC_NET_ENDPOINT_H

#include <optional>
#include <string>
#include <string_view>

namespace assist::net {

// Where to connect and what to ask for.
struct Endpoint {
  bool tls = false;         // https or wss
  std::string host;         // for the resolver and certificate checks (no brackets)
  std::string port;         // explicit, or the scheme's default
  std::string host_header;  // Host: value, with the port when it was given
  std::string target;       // origin-form request target: path (at least "/") and query
};

enum class Scheme { http, websocket };

// Parses an absolute http(s):// (Scheme::http) or ws(s):// (Scheme::websocket)
// URL. nullopt, with `error` naming the problem (never the URL's query, which
// may hold a token), when it is not one.
std::optional<Endpoint> parse_endpoint(std::string_view url, Scheme scheme, std::string& error);

// `target` with `access_token=<token>` appended to its query, percent-encoded.
std::string target_with_token(std::string_view target, std::string_view token);

// The URL or request target without user credentials, and with the value of
// every access_token parameter replaced by "REDACTED": what may be logged.
std::string redact_url(std::string_view url_or_target);

}  // namespace assist::net

#endif
