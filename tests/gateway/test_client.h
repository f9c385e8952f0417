// A small HTTP and WebSocket client for the gateway tests, written with Beast
// over real sockets. Every operation has a deadline, so a misbehaving gateway
// fails a test instead of hanging it.
#ifndef ASSIST_TESTS_GATEWAY_TEST_CLIENT_H
#define ASSIST_TESTS_GATEWAY_TEST_CLIENT_H

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/json.hpp>
#include <boost/system/error_code.hpp>

namespace assist::test {

using Headers = std::vector<std::pair<std::string, std::string>>;
inline constexpr std::chrono::milliseconds default_deadline{5000};

// Where the gateway listens; `pin_sha256` non-empty means TLS with that pin.
struct Target {
  std::uint16_t port = 0;
  std::string pin_sha256;
};

struct HttpReply {
  unsigned status = 0;  // 0: no response arrived
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names

  std::string header(const std::string& name) const;
  // The body as a JSON object; empty when it is not one.
  boost::json::object json() const;
};

// Sends one request over a fresh connection and reads the reply.
HttpReply http_request(const Target& target, const std::string& method, const std::string& path,
                       const Headers& headers = {}, const std::string& body = {});

// "Basic base64(id:secret)".
std::string basic_auth(const std::string& id, const std::string& secret);

// POST /oauth/token with Basic credentials and the given form body.
HttpReply token_request(const Target& target, const std::string& form_body,
                        const std::string& id = "demo-client", const std::string& secret = "demo-secret");

// A granted access token (fails the test and returns "" otherwise).
std::string fetch_token(const Target& target, const std::string& scope = {},
                        const std::string& id = "demo-client", const std::string& secret = "demo-secret");

// A WebSocket client. Not thread-safe.
class WsClient {
 public:
  explicit WsClient(Target target);
  ~WsClient();
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  // Opens the socket with `path` ("/realtime/v1?access_token=..."). Returns
  // 101 on success, else the refusal's HTTP status (0: no answer); the
  // refusal itself is in refusal().
  unsigned connect(const std::string& path, const Headers& headers = {});
  const HttpReply& refusal() const { return refusal_; }

  bool send(const std::string& text);
  bool send_binary(const std::string& data);
  // One text message in fragments of `fragment` bytes; false when a write
  // failed (the peer may close before the last fragment).
  bool send_fragmented(const std::string& text, std::size_t fragment);
  bool ping();

  // The next text message; nullopt when the connection ended or the deadline
  // passed (timed_out() tells which; close_code() the peer's close code).
  std::optional<std::string> read(std::chrono::milliseconds deadline = default_deadline);
  // The next message as a JSON object; empty on failure.
  boost::json::object read_json(std::chrono::milliseconds deadline = default_deadline);
  // Reads until a message of `type` arrives; empty when none did.
  boost::json::object read_until(const std::string& type,
                                 std::chrono::milliseconds deadline = default_deadline);

  bool timed_out() const { return timed_out_; }
  // The close code the peer sent; 0 when it sent none.
  std::uint16_t close_code() const;
  // Why the last read ended.
  boost::system::error_code error() const { return error_; }
  bool pong_received() const { return pong_; }

  // Starts a close handshake with `code`.
  void close(std::uint16_t code = 1000);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  HttpReply refusal_;
  boost::system::error_code error_;
  bool timed_out_ = false;
  bool pong_ = false;
};

// A plain TCP connection for malformed-input tests.
class RawClient {
 public:
  explicit RawClient(std::uint16_t port);
  ~RawClient();
  bool connected() const;
  bool write(const std::string& bytes);
  // Reads until the peer closes the connection or the deadline passes;
  // returns what arrived and sets closed() accordingly.
  std::string read_until_closed(std::chrono::milliseconds deadline = default_deadline);
  bool closed() const { return closed_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  bool closed_ = false;
};

}  // namespace assist::test

#endif
