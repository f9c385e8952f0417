// One physical real-time connection (shared/protocol.md §2), behind an
// interface: the WebSocket implementation (connect, TLS, upgrade with the
// token, HELLO; then reads, gathered writes, pings and a close), and the
// deterministic simulation's in-memory one (tests/sim). The link runs the
// read loop, the single writer and the keepalive around it.
#ifndef ASSIST_SRC_TRANSPORT_CONNECTION_H
#define ASSIST_SRC_TRANSPORT_CONNECTION_H

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "assist/clock.h"
#include "assist/frame.h"
#include "assist/transport.h"
#include "net/tls_client.h"
#include "net/endpoint.h"
#include "util/logger.h"

namespace boost::asio::ssl {
class context;
}

namespace assist::transport {

// What opening a connection gave.
struct OpenResult {
  std::error_code error;              // empty: the connection is up and `hello` is set
  std::string detail;                 // for logs; holds no token
  unsigned http_status = 0;           // the refusal's status, when the upgrade was refused
  std::optional<Millis> retry_after;  // from a 429/503 refusal, capped
  Hello hello;
};

// Not thread-safe; all calls from one executor. At most one read and one of
// flush/ping/close may be outstanding (the link's reader and writer).
class Connection {
 public:
  virtual ~Connection() = default;

  // Connects, upgrades with `access_token`, and reads the HELLO, all within
  // the handshake timeout (on the injected clock).
  virtual boost::asio::awaitable<OpenResult> open(const std::string& access_token) = 0;

  // Reads one message into `text`. On failure the error says why the
  // connection ended (going_away, token_expired, closed_by_peer...).
  virtual boost::asio::awaitable<std::error_code> read(std::string& text) = 0;
  // Adds one text message to the burst being gathered, synchronously: no
  // other work runs between a frame's freshness check and its gathering, and
  // a burst leaves with flush(). An error means the connection is unusable.
  virtual std::error_code gather(std::string_view text) = 0;
  // Sends what was gathered; completes when it has left.
  virtual boost::asio::awaitable<std::error_code> flush() = 0;
  // Sends a ping; pongs() counts the answers (seen while a read is pending).
  virtual boost::asio::awaitable<std::error_code> ping() = 0;
  // Sends a close frame with `code` and waits (bounded) for the peer's.
  virtual boost::asio::awaitable<void> close(std::uint16_t code) = 0;
  // Closes at once: pending operations complete with errors.
  virtual void abort() = 0;

  virtual std::uint64_t pongs() const = 0;
  // Where it goes, for logs: the URL as requested, a query token redacted.
  virtual const std::string& description() const = 0;
};

// Makes the connections of a pool, one per opening attempt.
using ConnectionFactory = std::function<std::shared_ptr<Connection>()>;

// Where and how to connect over WebSocket; shared by every connection of a pool.
struct ConnectionTarget {
  net::Endpoint endpoint;
  std::shared_ptr<boost::asio::ssl::context> tls_context;  // set for wss
  net::TlsClientConfig tls_config;
  bool token_in_query = false;
  Millis handshake_timeout{10'000};
  Millis retry_after_cap{60'000};
  util::LoggerPtr log = util::Logger::process_default();
};

// WebSocket connections to `target` (Authorization: Bearer, or the
// access_token query parameter when the target says so), with tcp::no_delay,
// read_message_max from HELLO's max_frame_bytes, and the handshake timeout on
// `clock`. `clock` outlives the connections.
ConnectionFactory websocket_connections(boost::asio::any_io_executor executor,
                                        std::shared_ptr<const ConnectionTarget> target, Clock& clock);

// Whether a WebSocket connection made by websocket_connections() has
// TCP_NODELAY set (read back from the kernel); false for any other kind.
bool has_no_delay(Connection& connection);

}  // namespace assist::transport

#endif
