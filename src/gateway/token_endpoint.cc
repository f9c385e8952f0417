#include "gateway/token_endpoint.h"

#include <algorithm>
#include <map>
#include <optional>
#include <variant>
#include <vector>

#include <boost/algorithm/string/join.hpp>
#include <boost/json.hpp>
#include <boost/url/params_view.hpp>
#include <boost/url/parse_query.hpp>
#include <boost/url/pct_string_view.hpp>
#include <openssl/evp.h>

#include "core/detail/json_text.h"
#include "net/secret_compare.h"

namespace assist::gateway {
namespace {

struct Credentials {
  std::string id;
  std::string secret;
};

// Standard base64 (RFC 4648 §4, padded) via OpenSSL; nullopt when malformed.
std::optional<std::string> base64_decode(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) return std::nullopt;
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  // EVP_DecodeBlock counts padding as zero bytes.
  std::size_t padding = 0;
  if (text.back() == '=') ++padding;
  if (text.size() >= 2 && text[text.size() - 2] == '=') ++padding;
  out.resize(static_cast<std::size_t>(n) - padding);
  return out;
}

// application/x-www-form-urlencoded decoding of one component (RFC 6749 §2.3.1
// encodes the id and secret this way inside Basic credentials).
std::optional<std::string> form_decode(std::string_view text) {
  auto pct = boost::urls::make_pct_string_view(text);
  if (!pct) return std::nullopt;
  boost::urls::encoding_opts opts;
  opts.space_as_plus = true;
  return pct->decode(opts);
}

// Credentials from "Authorization: Basic ...": nullopt when malformed.
std::optional<Credentials> basic_credentials(std::string_view header) {
  const auto space = header.find(' ');
  if (space == std::string_view::npos || !boost::beast::iequals(header.substr(0, space), "basic")) {
    return std::nullopt;
  }
  auto decoded = base64_decode(header.substr(header.find_first_not_of(' ', space)));
  if (!decoded) return std::nullopt;
  const auto colon = decoded->find(':');
  if (colon == std::string::npos) return std::nullopt;
  auto id = form_decode(std::string_view(*decoded).substr(0, colon));
  auto secret = form_decode(std::string_view(*decoded).substr(colon + 1));
  if (!id || !secret) return std::nullopt;
  return Credentials{std::move(*id), std::move(*secret)};
}

// A scope token per RFC 6749 §3.3: %x21 / %x23-5B / %x5D-7E.
bool is_scope_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u == 0x21 || (u >= 0x23 && u <= 0x5B) || (u >= 0x5D && u <= 0x7E);
  });
}

Response invalid_client(std::string_view description, bool keep_alive) {
  auto res = json_error(401, "invalid_client", description, keep_alive);
  res.set(http::field::www_authenticate, "Basic realm=\"assist-gateway\"");
  return res;
}

using Params = std::map<std::string, std::string, std::less<>>;

// What refuses a request before its body is read: the method, an injected
// fault, the Content-Type.
std::optional<Response> refuse_early(const Request& req, GatewayState& state, bool keep_alive) {
  if (req.method() != http::verb::post) {
    auto res = json_error(405, "invalid_request", "the token endpoint accepts POST only", keep_alive);
    res.set(http::field::allow, "POST");
    return res;
  }
  if (auto failure = state.faults.take_token_failure()) {
    const bool throttled = failure->status == 429;
    auto res = json_error(failure->status, throttled ? "slow_down" : "temporarily_unavailable",
                          "injected fault", keep_alive);
    if (throttled || failure->status == 503) set_retry_after(res, failure->retry_after);
    return res;
  }
  const auto content_type = req[http::field::content_type];
  if (!boost::beast::iequals(content_type.substr(0, content_type.find(';')), "application/x-www-form-urlencoded")) {
    return json_error(400, "invalid_request", "Content-Type must be application/x-www-form-urlencoded", keep_alive);
  }
  return std::nullopt;
}

// The body's form parameters into `params`; the error response when it is
// not a form or repeats a parameter.
std::optional<Response> read_form(const Request& req, bool keep_alive, Params& params) {
  if (!boost::urls::parse_query(req.body())) {
    return json_error(400, "invalid_request", "the body is not form-urlencoded", keep_alive);
  }
  // Constructed from the text (it parses again, and cannot throw now): the
  // overload taking the parsed view is not in Boost 1.81's compiled library.
  for (const auto& param : boost::urls::params_view(req.body(), boost::urls::encoding_opts(true))) {
    if (param.key.empty() && !param.has_value) continue;  // "a=1&&b=2"
    if (!params.emplace(param.key, param.value).second) {
      return json_error(400, "invalid_request", "parameter '" + param.key + "' repeated", keep_alive);
    }
  }
  return std::nullopt;
}

// The client the request authenticates, by exactly one method (RFC 6749
// §2.3) and one header; else the error response.
std::variant<const GatewayClient*, Response> authenticate(const Request& req, const Params& params,
                                                          const GatewayState& state, bool keep_alive) {
  if (req.count(http::field::authorization) > 1) {
    return json_error(400, "invalid_request", "more than one Authorization header", keep_alive);
  }
  const auto authorization = req[http::field::authorization];
  const bool in_body = params.contains("client_id") || params.contains("client_secret");
  if (!authorization.empty() && in_body) {
    return json_error(400, "invalid_request", "use one client authentication method, not two", keep_alive);
  }
  Credentials creds;
  if (!authorization.empty()) {
    auto basic = basic_credentials(authorization);
    if (!basic) return invalid_client("malformed Basic credentials", keep_alive);
    creds = std::move(*basic);
  } else if (in_body) {
    if (!params.contains("client_id") || !params.contains("client_secret")) {
      return invalid_client("client_id and client_secret are both required", keep_alive);
    }
    creds = {params.find("client_id")->second, params.find("client_secret")->second};
  } else {
    return invalid_client("no client authentication", keep_alive);
  }
  const auto& clients = state.options.clients;
  const auto client =
      std::find_if(clients.begin(), clients.end(), [&](const GatewayClient& c) { return c.id == creds.id; });
  if (client == clients.end() || !net::secrets_equal(creds.secret, client->secret)) {
    return invalid_client("unknown client or wrong secret", keep_alive);
  }
  return &*client;
}

// The scopes granted: those requested that `client` may have (RFC 6749
// §3.3: none requested means all it may have); else the error response.
std::variant<std::vector<std::string>, Response> grant_scopes(const Params& params, const GatewayClient& client,
                                                              bool keep_alive) {
  const auto scope = params.find("scope");
  if (scope == params.end() || scope->second.find_first_not_of(' ') == std::string::npos) return client.scopes;
  std::vector<std::string> granted;
  std::string_view rest = scope->second;
  while (!rest.empty()) {
    const auto token = rest.substr(0, rest.find(' '));
    rest.remove_prefix(std::min(rest.size(), token.size() + 1));
    if (token.empty()) continue;
    if (!is_scope_token(token)) return json_error(400, "invalid_scope", "malformed scope token", keep_alive);
    const bool allowed = std::find(client.scopes.begin(), client.scopes.end(), token) != client.scopes.end();
    if (allowed && std::find(granted.begin(), granted.end(), token) == granted.end()) granted.emplace_back(token);
  }
  if (granted.empty()) return json_error(400, "invalid_scope", "none of the requested scopes is allowed", keep_alive);
  return granted;
}

// A new token for `client` with `granted`, as RFC 6749 §5.1 answers it.
Response issue_token(GatewayState& state, const GatewayClient& client, std::vector<std::string> granted,
                     bool keep_alive) {
  const std::string joined = boost::algorithm::join(granted, " ");
  double expires_at = 0.0;
  const auto token = state.tokens.issue(client.id, std::move(granted), state.options.token_ttl, expires_at);
  if (token.empty()) return json_error(500, "server_error", "random source failed", keep_alive);
  const boost::json::object body{{"access_token", token},
                                 {"token_type", "Bearer"},
                                 {"expires_in", state.options.token_ttl.count()},
                                 {"scope", joined}};
  auto res = json_response(200, detail::to_json_text(body), keep_alive);
  res.set(http::field::cache_control, "no-store");  // RFC 6749 §5.1
  res.set(http::field::pragma, "no-cache");
  return res;
}

Response answer(const Request& req, GatewayState& state) {
  const bool keep_alive = req.keep_alive();
  if (auto refused = refuse_early(req, state, keep_alive)) return std::move(*refused);
  Params params;
  if (auto refused = read_form(req, keep_alive, params)) return std::move(*refused);
  auto client = authenticate(req, params, state, keep_alive);
  if (auto* refused = std::get_if<Response>(&client)) return std::move(*refused);
  const GatewayClient& who = *std::get<const GatewayClient*>(client);
  const auto grant = params.find("grant_type");
  if (grant == params.end()) return json_error(400, "invalid_request", "grant_type missing", keep_alive);
  if (grant->second != "client_credentials") {
    return json_error(400, "unsupported_grant_type", "only client_credentials is supported", keep_alive);
  }
  auto granted = grant_scopes(params, who, keep_alive);
  if (auto* refused = std::get_if<Response>(&granted)) return std::move(*refused);
  return issue_token(state, who, std::get<std::vector<std::string>>(std::move(granted)), keep_alive);
}

}  // namespace

Response answer_token_request(const Request& request, GatewayState& state) {
  state.ledger.add(&GatewayStats::token_requests);
  auto res = answer(request, state);
  state.ledger.add(res.result_int() == 200 ? &GatewayStats::tokens_issued : &GatewayStats::token_errors);
  return res;
}

}  // namespace assist::gateway
