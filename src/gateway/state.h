// The state every part of the emulator shares: options, tokens, faults, the
// delivery ledger and the registry of open real-time connections.
#ifndef ASSIST_SRC_GATEWAY_STATE_H
#define ASSIST_SRC_GATEWAY_STATE_H

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include <boost/asio/ssl/context.hpp>

#include "assist/clock.h"
#include "assist/frame_id.h"
#include "assist/gateway.h"
#include "gateway/faults.h"
#include "gateway/ledger.h"
#include "gateway/token_store.h"

namespace assist::gateway {

// What the gateway can ask of an open real-time connection from any thread.
// Each call posts to the connection's executor and returns at once.
class LiveConnection {
 public:
  virtual ~LiveConnection() = default;
  // Checks the connection's deadlines (token expiry, go-away, delayed ACKs,
  // feedback, session length) against the Clock.
  virtual void post_tick() = 0;
  // Sends a close frame with `code` after what is already queued.
  virtual void post_close(std::uint16_t code) = 0;
  // Sends SESSION_ENDED for `session_id` if this connection holds it.
  virtual void post_end_session(const std::string& session_id) = 0;
  // Sends the ACKs held while the gateway was stalled.
  virtual void post_release_acks() = 0;
};

// The open real-time connections, and how many each client holds. Thread-safe.
class ConnectionRegistry {
 public:
  // Reserves a connection for `client_id`; false when it already holds `limit`.
  bool reserve(const std::string& client_id, std::uint32_t limit);
  void release(const std::string& client_id);

  std::uint64_t add(std::weak_ptr<LiveConnection> connection);
  void remove(std::uint64_t id);
  // Calls `fn` on every live connection (outside the registry's lock).
  void for_each(const std::function<void(LiveConnection&)>& fn) const;

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::uint32_t> per_client_;
  std::map<std::uint64_t, std::weak_ptr<LiveConnection>> connections_;
  std::uint64_t next_id_ = 1;
};

struct GatewayState {
  explicit GatewayState(GatewayOptions opts);

  // A fresh connection_id (UUID v4).
  std::string next_connection_id();

  const GatewayOptions options;  // clients filled in with the default when empty
  Clock& clock;
  TokenStore tokens;
  FaultInjector faults;
  DeliveryLedger ledger;
  ConnectionRegistry connections;
  std::shared_ptr<boost::asio::ssl::context> tls;  // null without TLS
  std::atomic<bool> stalled{false};
  std::atomic<bool> draining{false};
  std::atomic<std::uint32_t> tcp_connections{0};

 private:
  std::mutex ids_mu_;
  FrameIdGenerator ids_;
};

// The options with defaults applied (the demo client when none is given).
GatewayOptions with_defaults(GatewayOptions options);

}  // namespace assist::gateway

#endif
