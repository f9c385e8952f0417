// One accepted TCP connection: the TLS handshake when configured, then HTTP/1.1
// requests routed to the token endpoint, /stats, or the WebSocket upgrade.
#ifndef ASSIST_SRC_GATEWAY_HTTP_SESSION_H
#define ASSIST_SRC_GATEWAY_HTTP_SESSION_H

#include <cstddef>
#include <memory>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "gateway/state.h"

namespace assist::gateway {

// Request size limits: a header block over 8 KiB gets 431, a body over 16 KiB
// 413 (RFC 9110 §15.5.14, RFC 6585 §5); the connection is then closed.
inline constexpr std::size_t max_header_bytes = 8 * 1024;
inline constexpr std::size_t max_body_bytes = 16 * 1024;

// Serves `socket` until the peer leaves, a request is malformed, a request
// does not arrive whole within options.request_timeout, or the connection is
// upgraded and the WebSocket closes. Malformed HTTP gets 400 (431/413 for
// oversized parts) and a close; unknown paths 404; GET /realtime/v1 without
// an upgrade 426. Decrements state->tcp_connections when done.
boost::asio::awaitable<void> serve_connection(std::shared_ptr<GatewayState> state,
                                              boost::asio::ip::tcp::socket socket);

}  // namespace assist::gateway

#endif
