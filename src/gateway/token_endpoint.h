// The token endpoint, POST /oauth/token: OAuth 2.0 client credentials
// (protocol §1, RFC 6749 §4.4) with client_secret_basic and client_secret_post.
#ifndef ASSIST_SRC_GATEWAY_TOKEN_ENDPOINT_H
#define ASSIST_SRC_GATEWAY_TOKEN_ENDPOINT_H

#include "gateway/http_util.h"
#include "gateway/state.h"

namespace assist::gateway {

// Answers one request to the token endpoint: 200 with a Bearer token and the
// granted scope (the allowed part of what was asked, all allowed scopes when
// none was asked); 400 invalid_request / unsupported_grant_type /
// invalid_scope; 401 invalid_client; 405 for other methods; or an injected
// 429/5xx failure (with Retry-After). Counts token_requests, tokens_issued
// and token_errors. Never echoes a secret.
Response answer_token_request(const Request& request, GatewayState& state);

}  // namespace assist::gateway

#endif
