#include "gateway/handshake.h"

#include <string>

#include <boost/url/parse.hpp>

namespace assist::gateway {
namespace {

Response unauthorized(std::string_view error, std::string_view description, bool keep_alive) {
  auto res = json_error(401, error.empty() ? "invalid_token" : error, description, keep_alive);
  res.set(http::field::www_authenticate,
          error.empty() ? std::string("Bearer realm=\"assist-gateway\"")
                        : "Bearer realm=\"assist-gateway\", error=\"" + std::string(error) + "\"");
  return res;
}

Response refuse(unsigned status, std::chrono::seconds retry_after, std::string_view description,
                bool keep_alive) {
  if (status == 401) return unauthorized("invalid_token", description, keep_alive);
  auto res = json_error(status,
                        status == 403   ? "insufficient_scope"
                        : status == 429 ? "too_many_connections"
                                        : "temporarily_unavailable",
                        description, keep_alive);
  if (status == 429 || status == 503) set_retry_after(res, retry_after);
  return res;
}

UpgradeDecision decide(const Request& req, GatewayState& state) {
  const bool keep_alive = req.keep_alive();
  if (state.draining) {
    return {std::nullopt, refuse(503, std::chrono::seconds(1), "gateway draining", keep_alive)};
  }
  if (auto injected = state.faults.take_handshake_refusal()) {
    return {std::nullopt, refuse(injected->status, injected->retry_after, "injected fault", keep_alive)};
  }

  std::optional<std::string> from_query;
  if (auto url = boost::urls::parse_origin_form(req.target()); url) {
    for (const auto& param : url->params()) {
      if (param.key != "access_token") continue;
      if (from_query) {
        return {std::nullopt, json_error(400, "invalid_request", "access_token repeated", keep_alive)};
      }
      from_query = param.value;
    }
  } else {
    return {std::nullopt, json_error(400, "invalid_request", "malformed request target", keep_alive)};
  }
  if (req.count(http::field::authorization) > 1) {
    return {std::nullopt, json_error(400, "invalid_request", "more than one Authorization header", keep_alive)};
  }
  std::optional<std::string> from_header;
  if (const auto auth = req[http::field::authorization]; !auth.empty()) {
    const auto space = auth.find(' ');
    if (space == std::string_view::npos || !boost::beast::iequals(auth.substr(0, space), "bearer")) {
      return {std::nullopt, unauthorized("invalid_request", "Authorization must be Bearer", keep_alive)};
    }
    const auto start = auth.find_first_not_of(' ', space);
    from_header = start == std::string_view::npos ? std::string() : std::string(auth.substr(start));
  }
  if (from_query && from_header) {
    return {std::nullopt,
            json_error(400, "invalid_request", "token given in both query and header", keep_alive)};
  }
  if (!from_query && !from_header) return {std::nullopt, unauthorized("", "token missing", keep_alive)};

  IssuedToken token;
  switch (state.tokens.find(from_query ? *from_query : *from_header, token)) {
    case TokenStore::Lookup::unknown:
      return {std::nullopt, unauthorized("invalid_token", "unknown token", keep_alive)};
    case TokenStore::Lookup::expired:
      return {std::nullopt, unauthorized("invalid_token", "token expired", keep_alive)};
    case TokenStore::Lookup::valid:
      break;
  }
  if (!token.has_scope("realtime:read")) {
    auto res = refuse(403, {}, "token lacks realtime:read", keep_alive);
    res.set(http::field::www_authenticate,
            "Bearer realm=\"assist-gateway\", error=\"insufficient_scope\", scope=\"realtime:read\"");
    return {std::nullopt, std::move(res)};
  }
  if (!state.connections.reserve(token.client_id, state.options.max_connections_per_client)) {
    return {std::nullopt, refuse(429, state.options.connection_retry_after,
                                 "too many connections for this client", keep_alive)};
  }
  return {std::move(token), Response{}};
}

}  // namespace

UpgradeDecision authorize_upgrade(const Request& request, GatewayState& state) {
  auto decision = decide(request, state);
  if (!decision.token) state.ledger.add(&GatewayStats::handshakes_refused);
  return decision;
}

}  // namespace assist::gateway
