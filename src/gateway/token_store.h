// Access tokens the emulator has issued, and what each one allows.
#ifndef ASSIST_SRC_GATEWAY_TOKEN_STORE_H
#define ASSIST_SRC_GATEWAY_TOKEN_STORE_H

#include <chrono>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "assist/clock.h"

namespace assist::gateway {

struct IssuedToken {
  std::string client_id;
  std::vector<std::string> scopes;
  double expires_at = 0.0;  // Unix seconds, by the gateway's Clock

  bool has_scope(std::string_view scope) const;
};

// Thread-safe. Tokens are 256 random bits (OpenSSL RAND_bytes) in hex. Expired
// tokens are forgotten as new ones are issued; at most `capacity` live tokens
// are kept (the oldest go first), so a token-request flood cannot grow memory.
class TokenStore {
 public:
  TokenStore(Clock& clock, std::size_t capacity);

  // Issues a token for `client_id` with `scopes`, valid for `ttl` from now.
  // Empty when the system's random source fails.
  std::string issue(const std::string& client_id, std::vector<std::string> scopes,
                    std::chrono::seconds ttl, double& expires_at);

  enum class Lookup { valid, unknown, expired };
  // What `token` is now; `out` is set for valid and expired tokens.
  Lookup find(std::string_view token, IssuedToken& out) const;

 private:
  Clock& clock_;
  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, IssuedToken> tokens_;
  std::deque<std::string> issue_order_;
};

}  // namespace assist::gateway

#endif
