#include "bus/partition_owner.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

namespace assist::bus {
namespace {

constexpr std::uint32_t kMaxPartitions = 1024;
constexpr std::string_view kInstancePrefix = "instance-";

std::string partition_key(std::uint32_t partition) { return fmt::format("prompts-{}", partition); }

}  // namespace

PartitionOwner::PartitionOwner(LeaseBucket bucket, PartitionOwnerOptions options)
    : bucket_(std::move(bucket)), options_(std::move(options)) {}

Result<PartitionOwner> PartitionOwner::open(Connection& connection, PartitionOwnerOptions options) {
  if (options.partitions < 1 || options.partitions > kMaxPartitions) {
    return Status{make_error_code(BusErrc::bad_config),
                  fmt::format("partition owner: {} partitions, expected 1..{}", options.partitions, kMaxPartitions)};
  }
  if (options.lease_ttl.count() <= 0) {
    return Status{make_error_code(BusErrc::bad_config), "partition owner: the lease TTL must be positive"};
  }
  auto bucket = LeaseBucket::open(connection, options.bucket, options.lease_ttl, options.replicas);
  if (!bucket) return bucket.error();
  return PartitionOwner(std::move(bucket).value(), std::move(options));
}

Status PartitionOwner::tick() {
  // Taken before any write of this tick: each lease renewed now lasts at
  // least a TTL from here.
  const auto now = std::chrono::steady_clock::now();
  forget_expired(now);
  if (auto s = keep_heartbeat(); !s.ok()) return s;
  if (auto s = renew_leases(now); !s.ok()) return s;
  return rebalance(now);
}

Status PartitionOwner::keep_heartbeat() {
  if (heartbeat_) {
    auto s = bucket_.renew(*heartbeat_);
    if (s.ok() || s.code != BusErrc::lease_lost) return s;
    heartbeat_.reset();  // expired during a stall: write it again
  }
  auto acquired = bucket_.acquire(std::string(kInstancePrefix) + options_.instance_id, options_.instance_id);
  if (!acquired) return acquired.error();
  heartbeat_ = std::move(acquired).value();
  return {};
}

// Whether or not NATS answers: a lease last renewed a TTL ago may be another
// instance's by now.
void PartitionOwner::forget_expired(std::chrono::steady_clock::time_point now) {
  std::vector<std::uint32_t> expired;
  for (const auto& [partition, held] : held_)
    if (now - held.renewed_at >= options_.lease_ttl) expired.push_back(partition);
  for (const auto partition : expired) forget(partition);
}

Status PartitionOwner::renew_leases(std::chrono::steady_clock::time_point now) {
  for (const auto partition : held()) {
    auto& held = held_.at(partition);
    auto s = bucket_.renew(held.lease);
    if (s.ok()) {
      held.renewed_at = now;
    } else if (s.code == BusErrc::lease_lost) {
      forget(partition);
    } else {
      return s;
    }
  }
  return {};
}

Status PartitionOwner::rebalance(std::chrono::steady_clock::time_point now) {
  auto keys = bucket_.held_keys();
  if (!keys) return keys.error();
  const std::set<std::string> taken(keys->begin(), keys->end());
  const auto live = std::max<std::size_t>(
      1, std::count_if(taken.begin(), taken.end(), [](const std::string& key) { return key.starts_with(kInstancePrefix); }));
  const auto share = (options_.partitions + live - 1) / live;

  while (held_.size() > share) {
    if (auto s = release(std::prev(held_.end())->first); !s.ok()) return s;
  }
  for (std::uint32_t partition = 0; partition < options_.partitions && held_.size() < share; ++partition) {
    if (held_.contains(partition) || taken.contains(partition_key(partition))) continue;
    auto lease = bucket_.acquire(partition_key(partition), options_.instance_id);
    if (!lease) {
      if (lease.error().code == BusErrc::lease_held) continue;  // another instance was quicker
      return lease.error();
    }
    held_.emplace(partition, HeldLease{std::move(lease).value(), now});
    if (options_.on_acquired) options_.on_acquired(partition);
  }
  return {};
}

Status PartitionOwner::release(std::uint32_t partition) {
  const auto lease = held_.at(partition).lease;
  forget(partition);
  auto s = bucket_.release(lease);
  if (s.code == BusErrc::lease_lost) return {};
  return s;
}

void PartitionOwner::forget(std::uint32_t partition) {
  held_.erase(partition);
  if (options_.on_lost) options_.on_lost(partition);
}

Status PartitionOwner::stop() {
  Status first;
  while (!held_.empty()) {
    auto s = release(held_.begin()->first);
    if (first.ok()) first = std::move(s);
  }
  if (heartbeat_) {
    auto s = bucket_.release(*heartbeat_);
    heartbeat_.reset();
    if (first.ok() && s.code != BusErrc::lease_lost) first = std::move(s);
  }
  return first;
}

std::vector<std::uint32_t> PartitionOwner::held() const {
  std::vector<std::uint32_t> partitions;
  for (const auto& [partition, lease] : held_) partitions.push_back(partition);
  return partitions;
}

}  // namespace assist::bus
