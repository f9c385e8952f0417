// Who may open the real-time WebSocket (protocol §2 handshake refusals).
#ifndef ASSIST_SRC_GATEWAY_HANDSHAKE_H
#define ASSIST_SRC_GATEWAY_HANDSHAKE_H

#include <optional>

#include "gateway/http_util.h"
#include "gateway/state.h"
#include "gateway/token_store.h"

namespace assist::gateway {

// The verdict on one upgrade request. When `token` is set the upgrade may
// proceed and a connection is reserved for token->client_id (release it with
// state.connections.release when the connection ends); otherwise `refusal`
// is the answer to send.
struct UpgradeDecision {
  std::optional<IssuedToken> token;
  Response refusal;
};

// Checks, in order: draining (503 + Retry-After); an injected refusal; the
// token, from `access_token` in the query or `Authorization: Bearer` (both at
// once: 400, RFC 6750 §2), missing, unknown or expired (401 with
// WWW-Authenticate, RFC 6750 §3); the realtime:read scope (403
// insufficient_scope); the client's connection count (429 + Retry-After).
// Counts handshakes_refused.
UpgradeDecision authorize_upgrade(const Request& request, GatewayState& state);

}  // namespace assist::gateway

#endif
