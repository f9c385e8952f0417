// The transport error category and the client-secret loader.
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "assist/transport.h"

namespace assist::transport {
namespace {

class TransportCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "assist.transport"; }
  std::string message(int value) const override {
    switch (static_cast<TransportErrc>(value)) {
      case TransportErrc::invalid_client: return "token endpoint: invalid_client (bad client id or secret)";
      case TransportErrc::invalid_scope: return "token endpoint: invalid_scope";
      case TransportErrc::invalid_request: return "token endpoint: invalid_request";
      case TransportErrc::unsupported_grant_type: return "token endpoint: unsupported_grant_type";
      case TransportErrc::token_rejected: return "token endpoint refused the request";
      case TransportErrc::missing_scope: return "granted scope lacks a requested scope";
      case TransportErrc::bad_token_response: return "token endpoint sent no usable token";
      case TransportErrc::rate_limited: return "rate limited (429) until the retry budget ran out";
      case TransportErrc::server_error: return "server error (5xx) until the retry budget ran out";
      case TransportErrc::timeout: return "timed out";
      case TransportErrc::connection_failed: return "connection failed";
      case TransportErrc::tls: return "TLS handshake or certificate verification failed";
      case TransportErrc::bad_url: return "bad URL";
      case TransportErrc::handshake_unauthorized: return "WebSocket upgrade refused: 401 unauthorized";
      case TransportErrc::handshake_forbidden: return "WebSocket upgrade refused: 403 forbidden (scope realtime:read)";
      case TransportErrc::handshake_rate_limited: return "WebSocket upgrade refused: 429 too many connections";
      case TransportErrc::handshake_unavailable: return "WebSocket upgrade refused: 503 gateway draining";
      case TransportErrc::handshake_rejected: return "WebSocket upgrade refused";
      case TransportErrc::bad_hello: return "the gateway's first frame was not a usable HELLO";
      case TransportErrc::peer_timeout: return "no pong from the gateway in time";
      case TransportErrc::going_away: return "gateway going away (close 1001)";
      case TransportErrc::token_expired: return "connection token expired (close 4001)";
      case TransportErrc::closed_by_peer: return "connection closed by the gateway";
      case TransportErrc::secret_unavailable: return "client secret unavailable";
      case TransportErrc::stopped: return "stopped before it could finish";
      case TransportErrc::ack_timeout: return "no ACK from the gateway within the ACK deadline";
      case TransportErrc::bad_gateway: return "the gateway kept answering with frames or statuses the client cannot use";
      case TransportErrc::internal_error: return "internal error (see the log)";
    }
    return "unknown transport error";
  }
};

}  // namespace

const std::error_category& transport_category() {
  static TransportCategory category;
  return category;
}

std::error_code make_error_code(TransportErrc e) { return {static_cast<int>(e), transport_category()}; }

bool is_fatal(const std::error_code& error) {
  if (error.category() != transport_category()) return false;
  switch (static_cast<TransportErrc>(error.value())) {
    case TransportErrc::invalid_client:
    case TransportErrc::invalid_scope:
    case TransportErrc::invalid_request:
    case TransportErrc::unsupported_grant_type:
    case TransportErrc::token_rejected:
    case TransportErrc::missing_scope:
    case TransportErrc::bad_token_response:
    case TransportErrc::bad_url:
    case TransportErrc::tls:
    case TransportErrc::handshake_forbidden:
    case TransportErrc::bad_gateway:
    case TransportErrc::secret_unavailable:
      return true;
    default:
      return false;
  }
}

Result<std::string> load_secret(const SecretSource& source) {
  std::string detail;
  if (!source.env_var.empty()) {
    if (const char* value = std::getenv(source.env_var.c_str()); value != nullptr && *value != '\0') {
      return {std::string(value)};
    }
  }
  if (!source.file.empty()) {
    std::ifstream in(source.file, std::ios::binary);
    if (in) {
      std::ostringstream text;
      text << in.rdbuf();
      std::string secret = std::move(text).str();
      if (!secret.empty() && secret.back() == '\n') secret.pop_back();
      if (!secret.empty() && secret.back() == '\r') secret.pop_back();
      if (!secret.empty()) return {std::move(secret)};
      detail = "secret file is empty: " + source.file;
    } else {
      detail = "cannot read secret file: " + source.file;
    }
  } else if (!source.env_var.empty()) {
    detail = "environment variable not set or empty: " + source.env_var;
  } else {
    detail = "no secret source given (environment variable or file)";
  }
  return Status{make_error_code(TransportErrc::secret_unavailable), std::move(detail)};
}

}  // namespace assist::transport
