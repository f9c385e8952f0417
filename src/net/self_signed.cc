#include "net/self_signed.h"

#include <fstream>
#include <memory>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "net/tls.h"

namespace assist::net {
namespace {

struct Free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};
template <typename T>
using Owned = std::unique_ptr<T, Free>;

bool is_ip_literal(const std::string& name) {
  ASN1_OCTET_STRING* raw = a2i_IPADDRESS(name.c_str());
  if (raw == nullptr) return false;
  ASN1_OCTET_STRING_free(raw);
  return true;
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  return len > 0 ? std::string(data, static_cast<std::size_t>(len)) : std::string{};
}

bool add_extension(X509* cert, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  Owned<X509_EXTENSION> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

}  // namespace

bool make_self_signed_certificate(const std::vector<std::string>& names,
                                  std::chrono::hours validity, SelfSignedCertificate& out,
                                  std::string& error) {
  if (names.empty()) {
    error = "self-signed certificate: no host names given";
    return false;
  }
  Owned<EVP_PKEY> key(EVP_EC_gen("P-256"));
  if (!key) {
    error = "self-signed certificate: EC P-256 key generation failed";
    return false;
  }
  Owned<X509> cert(X509_new());
  if (!cert || X509_set_version(cert.get(), 2) != 1) {
    error = "self-signed certificate: X509 allocation failed";
    return false;
  }
  // A random positive 159-bit serial (RFC 5280 §4.1.2.2 allows up to 20 octets).
  ASN1_INTEGER* serial = X509_get_serialNumber(cert.get());
  BIGNUM* bn = BN_new();
  const bool serial_ok = bn != nullptr && BN_rand(bn, 159, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1 &&
                         BN_to_ASN1_INTEGER(bn, serial) != nullptr;
  BN_free(bn);
  const long seconds = static_cast<long>(std::chrono::seconds(validity).count());
  X509_NAME* subject = X509_get_subject_name(cert.get());
  std::string san;
  for (const auto& name : names) {
    if (!san.empty()) san += ',';
    san += (is_ip_literal(name) ? "IP:" : "DNS:") + name;
  }
  if (!serial_ok || X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), seconds) == nullptr ||
      X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(names.front().c_str()), -1,
                                 -1, 0) != 1 ||
      X509_set_issuer_name(cert.get(), subject) != 1 || X509_set_pubkey(cert.get(), key.get()) != 1 ||
      !add_extension(cert.get(), NID_subject_alt_name, san) ||
      !add_extension(cert.get(), NID_basic_constraints, "critical,CA:FALSE") ||
      !add_extension(cert.get(), NID_key_usage, "critical,digitalSignature") ||
      !add_extension(cert.get(), NID_ext_key_usage, "serverAuth")) {
    error = "self-signed certificate: setting the certificate fields failed";
    return false;
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
    error = "self-signed certificate: signing failed";
    return false;
  }
  Owned<BIO> cert_bio(BIO_new(BIO_s_mem()));
  Owned<BIO> key_bio(BIO_new(BIO_s_mem()));
  if (!cert_bio || !key_bio || PEM_write_bio_X509(cert_bio.get(), cert.get()) != 1 ||
      PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    error = "self-signed certificate: PEM encoding failed";
    return false;
  }
  out.certificate_pem = bio_text(cert_bio.get());
  out.private_key_pem = bio_text(key_bio.get());
  out.sha256 = certificate_sha256(cert.get());
  return true;
}

bool write_pem_files(const SelfSignedCertificate& cert, const std::string& dir,
                     std::string& cert_path, std::string& key_path, std::string& error) {
  const std::string cert_file = dir + "/cert.pem";
  const std::string key_file = dir + "/key.pem";
  {
    std::ofstream out(cert_file, std::ios::binary | std::ios::trunc);
    out << cert.certificate_pem;
    if (!out.flush()) {
      error = "cannot write " + cert_file;
      return false;
    }
  }
  {
    // Create the key file owner-only before any secret is written to it.
    std::ofstream out(key_file, std::ios::binary | std::ios::trunc);
    if (!out || ::chmod(key_file.c_str(), S_IRUSR | S_IWUSR) != 0) {
      error = "cannot create " + key_file;
      return false;
    }
    out << cert.private_key_pem;
    if (!out.flush()) {
      error = "cannot write " + key_file;
      return false;
    }
  }
  cert_path = cert_file;
  key_path = key_file;
  return true;
}

}  // namespace assist::net
