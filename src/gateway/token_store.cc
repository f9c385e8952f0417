#include "gateway/token_store.h"

#include <algorithm>
#include <array>

#include <fmt/format.h>
#include <openssl/rand.h>

namespace assist::gateway {

bool IssuedToken::has_scope(std::string_view scope) const {
  return std::find(scopes.begin(), scopes.end(), scope) != scopes.end();
}

TokenStore::TokenStore(Clock& clock, std::size_t capacity) : clock_(clock), capacity_(capacity) {}

std::string TokenStore::issue(const std::string& client_id, std::vector<std::string> scopes,
                              std::chrono::seconds ttl, double& expires_at) {
  std::array<unsigned char, 32> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) return {};
  std::string token;
  token.reserve(2 * bytes.size());
  for (unsigned char b : bytes) fmt::format_to(std::back_inserter(token), "{:02x}", b);

  const double now = clock_.unix_now();
  expires_at = now + static_cast<double>(ttl.count());
  std::lock_guard lock(mu_);
  // Tokens are issued in order with one lifetime, so the oldest expire first.
  while (!issue_order_.empty()) {
    auto it = tokens_.find(issue_order_.front());
    const bool stale = it == tokens_.end() || it->second.expires_at <= now;
    if (!stale && tokens_.size() < capacity_) break;
    if (it != tokens_.end()) tokens_.erase(it);
    issue_order_.pop_front();
  }
  tokens_.emplace(token, IssuedToken{client_id, std::move(scopes), expires_at});
  issue_order_.push_back(token);
  return token;
}

TokenStore::Lookup TokenStore::find(std::string_view token, IssuedToken& out) const {
  std::lock_guard lock(mu_);
  auto it = tokens_.find(std::string(token));
  if (it == tokens_.end()) return Lookup::unknown;
  out = it->second;
  return clock_.unix_now() < out.expires_at ? Lookup::valid : Lookup::expired;
}

}  // namespace assist::gateway
