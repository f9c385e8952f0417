// The real-time endpoint after a successful upgrade: one WebSocket connection
// speaking protocol §2 (HELLO, PROMPT_SYNC -> ACK/NACK, SESSION_END,
// PROMPT_FEEDBACK, SESSION_ENDED, closes 4001/1001/1009).
#ifndef ASSIST_SRC_GATEWAY_REALTIME_SESSION_H
#define ASSIST_SRC_GATEWAY_REALTIME_SESSION_H

#include <memory>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "gateway/http_util.h"
#include "gateway/state.h"
#include "gateway/token_store.h"

namespace assist::gateway {

// Accepts the WebSocket upgrade `request` on `stream` for `token` (already
// authorised by authorize_upgrade, which reserved a connection for its
// client; this releases it) and serves the connection until it closes.
// Every PROMPT_SYNC is decoded and validated with the core's rules, then
// checked for scope, duplicates, staleness, session slots and the in-flight
// limit, in that order. Runs on the stream's executor, which runs one handler
// at a time (a strand, or a one-thread io_context).
boost::asio::awaitable<void> run_realtime(std::shared_ptr<GatewayState> state,
                                          boost::beast::tcp_stream stream, Request request,
                                          IssuedToken token);
boost::asio::awaitable<void> run_realtime(std::shared_ptr<GatewayState> state,
                                          boost::beast::ssl_stream<boost::beast::tcp_stream> stream,
                                          Request request, IssuedToken token);

}  // namespace assist::gateway

#endif
