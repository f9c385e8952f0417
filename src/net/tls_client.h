// TLS client contexts: certificate and host-name verification on by default,
// with the system CA store, a given CA file, or a pinned leaf certificate.
#ifndef ASSIST_SRC_NET_TLS_CLIENT_H
#define ASSIST_SRC_NET_TLS_CLIENT_H

#include <functional>
#include <memory>
#include <string>

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/verify_context.hpp>
#include <openssl/types.h>

namespace assist::net {

struct TlsClientConfig {
  bool verify = true;      // false: no checks at all (explicit opt-out)
  std::string ca_file;     // PEM file of trusted CAs; empty: the system store
  std::string pin_sha256;  // SHA-256 of the expected leaf certificate (hex, ':' allowed)
};

// A TLS 1.2+ client context for `config`. nullptr, with `error` naming the
// cause (unreadable CA file, malformed pin), when it cannot be built.
std::shared_ptr<boost::asio::ssl::context> make_client_context(const TlsClientConfig& config,
                                                                std::string& error);

// The verify callback for one connection to `host`: with a pin, the leaf's
// fingerprint must equal it (the chain and name are not consulted: the pin is
// the stronger statement, and the emulator's certificate is self-signed);
// otherwise OpenSSL's chain verdict plus a host-name (or IP) match
// (RFC 6125 via X509_check_host / X509_check_ip_asc).
std::function<bool(bool, boost::asio::ssl::verify_context&)> make_verify_callback(
    const TlsClientConfig& config, const std::string& host);

// Sets the SNI name on `ssl` when `host` is a DNS name (RFC 6066 §3 forbids
// literal addresses). Returns false when OpenSSL refused it.
bool set_server_name(SSL* ssl, const std::string& host);

}  // namespace assist::net

#endif
