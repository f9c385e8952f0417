// One physical real-time WebSocket (shared/protocol.md §2): connect, TLS,
// upgrade with the token, HELLO; then reads, writes, pings and a close. The
// link runs the read loop, the single writer and the keepalive around it.
#ifndef ASSIST_SRC_TRANSPORT_CONNECTION_H
#define ASSIST_SRC_TRANSPORT_CONNECTION_H

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>

#include "assist/clock.h"
#include "assist/frame.h"
#include "assist/transport.h"
#include "net/tls_client.h"
#include "transport/endpoint.h"

namespace assist::transport {

// What opening a connection gave.
struct OpenResult {
  std::error_code error;              // empty: the connection is up and `hello` is set
  std::string detail;                 // for logs; holds no token
  unsigned http_status = 0;           // the refusal's status, when the upgrade was refused
  std::optional<Millis> retry_after;  // from a 429/503 refusal, capped
  Hello hello;
};

// Where and how to connect; shared by every connection of a pool.
struct ConnectionTarget {
  Endpoint endpoint;
  std::shared_ptr<boost::asio::ssl::context> tls_context;  // set for wss
  net::TlsClientConfig tls_config;
  bool token_in_query = false;
  Millis handshake_timeout{10'000};
  Millis retry_after_cap{60'000};
};

// Not thread-safe; all calls from one executor. At most one read and one of
// write/ping/close may be outstanding (the link's reader and writer).
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(boost::asio::any_io_executor executor, std::shared_ptr<const ConnectionTarget> target);
  ~Connection();

  // Connects, upgrades with `access_token` (Authorization: Bearer, or the
  // access_token query parameter when the target says so), and reads the
  // HELLO, all within the handshake timeout. Sets tcp::no_delay and then
  // read_message_max from HELLO's max_frame_bytes.
  boost::asio::awaitable<OpenResult> open(const std::string& access_token, Clock& clock);

  // Reads one message into `text`. On failure the error says why the
  // connection ended (going_away, token_expired, closed_by_peer...).
  boost::asio::awaitable<std::error_code> read(std::string& text);
  // Writes one text message.
  boost::asio::awaitable<std::error_code> write(const std::string& text);
  // Sends a ping; pongs() counts the answers (seen while a read is pending).
  boost::asio::awaitable<std::error_code> ping();
  // Sends a close frame with `code` and waits (bounded) for the peer's.
  boost::asio::awaitable<void> close(std::uint16_t code);
  // Closes the socket at once: pending operations complete with errors.
  void abort();

  // Whether the socket has TCP_NODELAY (read back from the kernel): small
  // frames must not wait for Nagle's algorithm.
  bool no_delay();
  // While corked, writes are gathered in user space (net/coalescing_stream.h)
  // and complete at once; they leave together with flush() or the next
  // uncorked write. Anything written corked must be flushed before waiting.
  void set_cork(bool on);
  // Uncorks and sends what was gathered.
  boost::asio::awaitable<std::error_code> flush();

  std::uint64_t pongs() const { return pongs_; }
  const std::string& description() const { return description_; }  // redacted URL

 private:
  struct Stream;
  template <typename Next>
  struct StreamImpl;
  boost::asio::any_io_executor executor_;
  std::shared_ptr<const ConnectionTarget> target_;
  std::unique_ptr<Stream> stream_;
  std::uint64_t pongs_ = 0;
  std::string description_;
};

}  // namespace assist::transport

#endif
