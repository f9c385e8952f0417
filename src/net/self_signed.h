// Self-signed server certificates, generated with OpenSSL: the gateway
// emulator's default with --tls and no --cert, and a fixture for TLS tests.
#ifndef ASSIST_SRC_NET_SELF_SIGNED_H
#define ASSIST_SRC_NET_SELF_SIGNED_H

#include <chrono>
#include <string>
#include <vector>

namespace assist::net {

// A certificate and its private key, PEM encoded, and the certificate's
// SHA-256 fingerprint (net::certificate_sha256 form).
struct SelfSignedCertificate {
  std::string certificate_pem;
  std::string private_key_pem;  // secret: never log
  std::string sha256;
};

// Makes an ECDSA P-256 key and a self-signed X.509 v3 certificate for `names`
// (IP literals become iPAddress subjectAltNames, anything else dNSName; the
// first is also the subject CN), valid from one hour ago for `validity`.
// Returns false, with `error` naming the failing step, when OpenSSL fails.
bool make_self_signed_certificate(const std::vector<std::string>& names,
                                  std::chrono::hours validity, SelfSignedCertificate& out,
                                  std::string& error);

// Writes `cert` as <dir>/cert.pem and <dir>/key.pem (the key readable by the
// owner only). Returns false, with `error` naming the file, on failure.
bool write_pem_files(const SelfSignedCertificate& cert, const std::string& dir,
                     std::string& cert_path, std::string& key_path, std::string& error);

}  // namespace assist::net

#endif
