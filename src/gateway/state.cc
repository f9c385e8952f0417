#include "gateway/state.h"

#include <vector>

namespace assist::gateway {

bool ConnectionRegistry::reserve(const std::string& client_id, std::uint32_t limit) {
  std::lock_guard lock(mu_);
  auto& held = per_client_[client_id];
  if (held >= limit) return false;
  ++held;
  return true;
}

void ConnectionRegistry::release(const std::string& client_id) {
  std::lock_guard lock(mu_);
  auto it = per_client_.find(client_id);
  if (it == per_client_.end()) return;
  if (--it->second == 0) per_client_.erase(it);
}

std::uint64_t ConnectionRegistry::add(std::weak_ptr<LiveConnection> connection) {
  std::lock_guard lock(mu_);
  const auto id = next_id_++;
  connections_.emplace(id, std::move(connection));
  return id;
}

void ConnectionRegistry::remove(std::uint64_t id) {
  std::lock_guard lock(mu_);
  connections_.erase(id);
}

void ConnectionRegistry::for_each(const std::function<void(LiveConnection&)>& fn) const {
  std::vector<std::shared_ptr<LiveConnection>> live;
  {
    std::lock_guard lock(mu_);
    live.reserve(connections_.size());
    for (const auto& [id, weak] : connections_) {
      if (auto strong = weak.lock()) live.push_back(std::move(strong));
    }
  }
  for (const auto& connection : live) fn(*connection);
}

GatewayOptions with_defaults(GatewayOptions options) {
  if (options.clients.empty()) {
    options.clients.push_back(
        {"demo-client", "demo-secret", {"realtime:read", "agentassist:write", "interactions:read"}});
  }
  if (options.clock == nullptr) options.clock = &system_clock();
  return options;
}

GatewayState::GatewayState(GatewayOptions opts)
    : options(with_defaults(std::move(opts))),
      clock(*options.clock),
      tokens(clock, 100'000),
      faults(options.faults),
      ledger(clock, options.dedup_window, options.dedup_capacity) {}

std::string GatewayState::next_connection_id() {
  std::lock_guard lock(ids_mu_);
  return ids_.next();
}

}  // namespace assist::gateway
