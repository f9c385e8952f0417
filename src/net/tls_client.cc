#include "net/tls_client.h"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "net/tls.h"

namespace assist::net {

namespace ssl = boost::asio::ssl;

std::shared_ptr<ssl::context> make_client_context(const TlsClientConfig& config, std::string& error) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  boost::system::error_code ec;
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                           ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1,
                       ec);
  if (ec) {
    error = "cannot set TLS options: " + ec.message();
    return nullptr;
  }
  if (!config.verify) {
    context->set_verify_mode(ssl::verify_none);
    return context;
  }
  if (!config.pin_sha256.empty() && normalize_sha256_hex(config.pin_sha256).empty()) {
    error = "certificate pin is not a SHA-256 fingerprint (64 hex digits)";
    return nullptr;
  }
  if (!config.ca_file.empty()) {
    context->load_verify_file(config.ca_file, ec);
    if (ec) {
      error = "cannot load CA file " + config.ca_file + ": " + ec.message();
      return nullptr;
    }
  } else if (config.pin_sha256.empty()) {
    context->set_default_verify_paths(ec);
    if (ec) {
      error = "cannot load the system CA store: " + ec.message();
      return nullptr;
    }
  }
  context->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  return context;
}

std::function<bool(bool, ssl::verify_context&)> make_verify_callback(const TlsClientConfig& config,
                                                                      const std::string& host) {
  if (!config.verify) return [](bool, ssl::verify_context&) { return true; };
  if (!config.pin_sha256.empty()) {
    return [pin = normalize_sha256_hex(config.pin_sha256)](bool, ssl::verify_context& ctx) {
      X509_STORE_CTX* store = ctx.native_handle();
      if (X509_STORE_CTX_get_error_depth(store) > 0) return true;  // only the leaf is pinned
      const std::string actual = certificate_sha256(X509_STORE_CTX_get_current_cert(store));
      return !pin.empty() && actual == pin;
    };
  }
  return ssl::host_name_verification(host);
}

bool set_server_name(SSL* ssl, const std::string& host) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(host, ec);
  if (!ec) return true;  // a literal address: no SNI
  return SSL_set_tlsext_host_name(ssl, host.c_str()) == 1;
}

}  // namespace assist::net
