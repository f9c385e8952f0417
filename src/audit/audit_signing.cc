#include "audit/audit_signing.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <filesystem>

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "assist/audit.h"
#include "audit/audit_line.h"

namespace assist::audit_detail {
namespace {

using PKey = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;
using MdContext = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

// The first 16 hex digits of the SHA-256 of the raw 32-byte public key.
std::string key_id_of(EVP_PKEY* key) {
  unsigned char raw[64];
  std::size_t size = sizeof raw;
  if (EVP_PKEY_get_raw_public_key(key, raw, &size) != 1) return {};
  return sha256_hex(std::string_view(reinterpret_cast<const char*>(raw), size)).substr(0, 16);
}

// Never prompts for a passphrase: an encrypted key simply fails to load.
int no_passphrase(char*, int, int, void*) { return -1; }

// Reads a PEM file and parses it with `read` (private or public key).
template <typename Read>
PKey load_pem(Env& env, const std::string& path, std::string_view what, Read read, Status& error) {
  std::string pem;
  if (auto s = env.read_file(path, pem); !s.ok()) {
    error = s;
    return PKey(nullptr, &EVP_PKEY_free);
  }
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  PKey key(bio ? read(bio.get()) : nullptr, &EVP_PKEY_free);
  OPENSSL_cleanse(pem.data(), pem.size());
  if (!key || EVP_PKEY_is_a(key.get(), "ED25519") != 1) {
    error = {make_error_code(AuditErrc::bad_signing_key),
             fmt::format("{}: not an Ed25519 {} in PEM (create one with assist-sync audit keygen)", path, what)};
    return PKey(nullptr, &EVP_PKEY_free);
  }
  return key;
}

bool parse_uint(std::string_view text, std::uint64_t& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

bool is_lower_hex(std::string_view text, std::size_t size) {
  return text.size() == size && text.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// Writes `bytes` to a new file `path` with `mode`; fails if it exists.
Status write_new_file(const std::string& path, std::string_view bytes, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return Status::from_errno(errno, "create", path);
  Status status;
  while (!bytes.empty() && status.ok()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n > 0) bytes.remove_prefix(static_cast<std::size_t>(n));
    else if (n == 0 || errno != EINTR) status = Status::from_errno(n == 0 ? EIO : errno, "write", path);
  }
  if (status.ok() && ::fsync(fd) != 0) status = Status::from_errno(errno, "fsync", path);
  ::close(fd);
  return status;
}

// The PEM text `write` puts into a memory BIO.
template <typename Write>
std::string pem_text(Write write) {
  Bio bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (!bio || write(bio.get()) != 1) return {};
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  std::string text(data, static_cast<std::size_t>(size));
  return text;
}

}  // namespace

std::string format_statement(const DigestStatement& s) {
  return fmt::format("v1 lines={} head_sha256={} time={} interval_s={} key={}", s.lines, s.head_sha256, s.time,
                     s.interval.count(), s.key_id);
}

std::string digest_detail(const DigestStatement& statement, std::string_view signature) {
  return format_statement(statement) + " sig=" + to_hex(signature);
}

std::optional<ParsedDigest> parse_digest_detail(std::string_view detail, std::string& why) {
  ParsedDigest out;
  const auto sig_at = detail.rfind(" sig=");
  const auto signature = sig_at == std::string_view::npos ? std::nullopt : from_hex(detail.substr(sig_at + 5));
  if (!signature || signature->size() != 64) {
    why = "no 128-hex-digit sig= at the end";
    return std::nullopt;
  }
  out.signature = *signature;
  out.statement_text = std::string(detail.substr(0, sig_at));
  const std::string_view text = out.statement_text;
  auto& s = out.statement;
  std::uint64_t interval = 0;
  const auto lines = detail_value(text, "lines");
  const auto head = detail_value(text, "head_sha256");
  const auto time = detail_value(text, "time");
  const auto interval_text = detail_value(text, "interval_s");
  const auto key = detail_value(text, "key");
  if (!text.starts_with("v1 ") || !lines || !parse_uint(*lines, s.lines) || !head || !is_lower_hex(*head, 64) ||
      !time || !parse_iso8601_utc_ms(*time) || !interval_text || !parse_uint(*interval_text, interval) || !key ||
      !is_lower_hex(*key, 16)) {
    why = "the statement is not \"v1 lines=N head_sha256=H time=T interval_s=S key=K\"";
    return std::nullopt;
  }
  s.head_sha256 = std::string(*head);
  s.time = std::string(*time);
  s.interval = std::chrono::seconds(interval);
  s.key_id = std::string(*key);
  return out;
}

// ----- DigestSigner ----------------------------------------------------------

struct DigestSigner::Key {
  PKey pkey{nullptr, &EVP_PKEY_free};
};

DigestSigner::DigestSigner(std::unique_ptr<Key> key, std::string key_id)
    : key_(std::move(key)), key_id_(std::move(key_id)) {}
DigestSigner::~DigestSigner() = default;

std::unique_ptr<DigestSigner> DigestSigner::load(Env& env, const std::string& path, Status& error) {
  auto key = std::make_unique<Key>();
  key->pkey = load_pem(env, path, "private key",
                       [](BIO* bio) { return PEM_read_bio_PrivateKey(bio, nullptr, &no_passphrase, nullptr); }, error);
  if (!key->pkey) return nullptr;
  auto id = key_id_of(key->pkey.get());
  return std::unique_ptr<DigestSigner>(new DigestSigner(std::move(key), std::move(id)));
}

std::string DigestSigner::sign(std::string_view statement_text) const {
  const std::string message = std::string(kDigestDomain) + std::string(statement_text);
  MdContext context(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  std::string signature(64, '\0');
  std::size_t size = signature.size();
  if (!context || EVP_DigestSignInit(context.get(), nullptr, nullptr, nullptr, key_->pkey.get()) != 1 ||
      EVP_DigestSign(context.get(), reinterpret_cast<unsigned char*>(signature.data()), &size,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1) {
    return {};
  }
  signature.resize(size);
  return signature;
}

// ----- DigestVerifier --------------------------------------------------------

struct DigestVerifier::Key {
  PKey pkey{nullptr, &EVP_PKEY_free};
};

DigestVerifier::DigestVerifier(std::unique_ptr<Key> key, std::string key_id)
    : key_(std::move(key)), key_id_(std::move(key_id)) {}
DigestVerifier::~DigestVerifier() = default;

std::unique_ptr<DigestVerifier> DigestVerifier::load(Env& env, const std::string& path, Status& error) {
  auto key = std::make_unique<Key>();
  key->pkey = load_pem(env, path, "public key",
                       [](BIO* bio) { return PEM_read_bio_PUBKEY(bio, nullptr, &no_passphrase, nullptr); }, error);
  if (!key->pkey) return nullptr;
  auto id = key_id_of(key->pkey.get());
  return std::unique_ptr<DigestVerifier>(new DigestVerifier(std::move(key), std::move(id)));
}

bool DigestVerifier::verify(std::string_view statement_text, std::string_view signature) const {
  const std::string message = std::string(kDigestDomain) + std::string(statement_text);
  MdContext context(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  return context && EVP_DigestVerifyInit(context.get(), nullptr, nullptr, nullptr, key_->pkey.get()) == 1 &&
         EVP_DigestVerify(context.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                          reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
}

}  // namespace assist::audit_detail

namespace assist {

Result<AuditSigningKeyFiles> generate_audit_signing_key(const std::string& dir) {
  using audit_detail::PKey;
  const auto base = std::filesystem::path(dir) / "audit-signing-key";
  AuditSigningKeyFiles files{base.string() + ".pem", base.string() + ".pub.pem", {}};
  for (const auto& path : {files.private_key_file, files.public_key_file}) {
    if (::access(path.c_str(), F_OK) == 0) return Status::from_errno(EEXIST, "create", path);
  }
  PKey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"), &EVP_PKEY_free);
  if (!key) return Status{make_error_code(AuditErrc::bad_signing_key), "cannot generate an Ed25519 key (OpenSSL)"};
  std::string private_pem = audit_detail::pem_text(
      [&](BIO* bio) { return PEM_write_bio_PrivateKey(bio, key.get(), nullptr, nullptr, 0, nullptr, nullptr); });
  const std::string public_pem = audit_detail::pem_text([&](BIO* bio) { return PEM_write_bio_PUBKEY(bio, key.get()); });
  Status status = private_pem.empty() || public_pem.empty()
                        ? Status{make_error_code(AuditErrc::bad_signing_key), "cannot encode the key as PEM"}
                        : audit_detail::write_new_file(files.private_key_file, private_pem, 0600);
  OPENSSL_cleanse(private_pem.data(), private_pem.size());
  if (status.ok()) status = audit_detail::write_new_file(files.public_key_file, public_pem, 0644);
  if (!status.ok()) return status;
  files.key_id = audit_detail::key_id_of(key.get());
  return files;
}

}  // namespace assist
