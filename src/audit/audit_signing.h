// Signed digests of the audit chain (internal to the audit component): the
// statement a digest line carries, and its Ed25519 signature (OpenSSL EVP).
#ifndef ASSIST_SRC_AUDIT_AUDIT_SIGNING_H
#define ASSIST_SRC_AUDIT_AUDIT_SIGNING_H

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "assist/env.h"

namespace assist::audit_detail {

// What a digest line states: the chain up to seq `lines` ends with the line
// whose SHA-256 is `head_sha256`, as of `time` (that line's timestamp), and
// the next digest is due within `interval` of it.
struct DigestStatement {
  std::uint64_t lines = 0;
  std::string head_sha256;
  std::string time;
  std::chrono::seconds interval{0};
  std::string key_id;
};

// "v1 lines=12 head_sha256=<64 hex> time=<timestamp> interval_s=300 key=<16 hex>".
std::string format_statement(const DigestStatement& statement);
// A digest line's detail: the statement, then " sig=" and the signature in hex.
std::string digest_detail(const DigestStatement& statement, std::string_view signature);

// A digest line's detail split back: its statement (parsed) and signature.
struct ParsedDigest {
  DigestStatement statement;
  std::string statement_text;  // the bytes the signature covers (after kDigestDomain)
  std::string signature;       // raw bytes
};
// nullopt, saying why, when `detail` is not a digest detail of version 1.
std::optional<ParsedDigest> parse_digest_detail(std::string_view detail, std::string& why);

// An Ed25519 private key read from a PEM file. Thread-compatible.
class DigestSigner {
 public:
  // Reads `path` through `env`. nullptr and `error` (naming the path, never
  // the key) when it cannot be read or holds no Ed25519 private key.
  static std::unique_ptr<DigestSigner> load(Env& env, const std::string& path, Status& error);
  ~DigestSigner();
  DigestSigner(const DigestSigner&) = delete;
  DigestSigner& operator=(const DigestSigner&) = delete;

  // The signature (64 bytes) of kDigestDomain + `statement_text`; empty if
  // OpenSSL fails.
  std::string sign(std::string_view statement_text) const;
  const std::string& key_id() const { return key_id_; }

 private:
  struct Key;
  DigestSigner(std::unique_ptr<Key> key, std::string key_id);
  std::unique_ptr<Key> key_;
  std::string key_id_;
};

// An Ed25519 public key read from a PEM file.
class DigestVerifier {
 public:
  // nullptr and `error` when `path` cannot be read or holds no Ed25519 public key.
  static std::unique_ptr<DigestVerifier> load(Env& env, const std::string& path, Status& error);
  ~DigestVerifier();
  DigestVerifier(const DigestVerifier&) = delete;
  DigestVerifier& operator=(const DigestVerifier&) = delete;

  // True when `signature` is this key's signature of kDigestDomain + `statement_text`.
  bool verify(std::string_view statement_text, std::string_view signature) const;
  const std::string& key_id() const { return key_id_; }

 private:
  struct Key;
  DigestVerifier(std::unique_ptr<Key> key, std::string key_id);
  std::unique_ptr<Key> key_;
  std::string key_id_;
};

// Prefixed to every signed statement, so a signature made for a digest can
// never pass for one over anything else.
inline constexpr std::string_view kDigestDomain = "assist-sync audit digest\n";

}  // namespace assist::audit_detail

#endif
