// TLS helpers shared by clients and the gateway emulator (internal).
#ifndef ASSIST_SRC_NET_TLS_H
#define ASSIST_SRC_NET_TLS_H

#include <string>
#include <string_view>

#include <openssl/types.h>

namespace assist::net {

// SHA-256 of the certificate's DER encoding, as 64 lower-case hex digits: the
// value `--pin-sha256` takes and the emulator prints.
std::string certificate_sha256(X509* cert);

// Normalises a user-given fingerprint: drops ':' separators, lower-cases.
// Returns an empty string when the result is not 64 hex digits.
std::string normalize_sha256_hex(std::string_view text);

}  // namespace assist::net

#endif
