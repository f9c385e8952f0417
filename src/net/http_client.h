// One HTTP/1.1 request on a fresh connection, plain or TLS, for the project's
// small HTTP clients: the OAuth token request and the CRM webhook (internal).
#ifndef ASSIST_SRC_NET_HTTP_CLIENT_H
#define ASSIST_SRC_NET_HTTP_CLIENT_H

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "net/http_exchange.h"
#include "net/tls_client.h"

namespace boost::asio::ssl {
class context;
}

namespace assist::net {

// Where a request goes.
struct HttpTarget {
  std::string host;  // for the resolver, SNI and the certificate's name check
  std::string port;
  // Set: https with this context, the certificate checked per `tls_config`.
  std::shared_ptr<boost::asio::ssl::context> tls_context;
  TlsClientConfig tls_config;
};

// Lets the owner of a call abort it from the call's executor (a stop
// deadline): the connection in progress is cancelled, and a call not yet
// connected gives up before connecting.
class HttpCallCanceller {
 public:
  void cancel();

 private:
  friend boost::asio::awaitable<HttpReply> http_call(const HttpTarget&,
                                                     const boost::beast::http::request<boost::beast::http::string_body>&,
                                                     std::chrono::steady_clock::duration, std::size_t,
                                                     HttpCallCanceller*);
  boost::beast::tcp_stream* stream_ = nullptr;
  bool cancelled_ = false;
};

// Resolves `target` (bounded by `timeout`), connects with TCP_NODELAY, does
// the TLS handshake when `target` is https, sends `request`, reads one
// response of at most `body_limit` body bytes and closes. `timeout` bounds
// the resolution, and separately connect + exchange. A failed step is the
// reply's `net_error` (beast::error::timeout for a timeout, operation_aborted
// after `canceller` fired); `tls_failure` marks a handshake refused on TLS
// grounds (certificate, protocol) rather than by the network.
boost::asio::awaitable<HttpReply> http_call(const HttpTarget& target,
                                            const boost::beast::http::request<boost::beast::http::string_body>& request,
                                            std::chrono::steady_clock::duration timeout, std::size_t body_limit,
                                            HttpCallCanceller* canceller = nullptr);

}  // namespace assist::net

#endif
