// Which partitions this instance consumes (internal): leases on the partition
// keys of a key-value bucket, spread over the live instances (docs/scale-out.md,
// "Partition ownership by lease").
#ifndef ASSIST_SRC_BUS_PARTITION_OWNER_H
#define ASSIST_SRC_BUS_PARTITION_OWNER_H

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bus/bus_error.h"
#include "bus/connection.h"
#include "bus/lease.h"

namespace assist::bus {

struct PartitionOwnerOptions {
  // The key-value bucket of the leases and heartbeats, shared by every instance.
  std::string bucket = "assist_partitions";
  // Unique among the live instances; a key-value key's characters (letters,
  // digits, '-', '_', '.', '=', '/').
  std::string instance_id;
  // Both set by the caller from [ingest] (service/config.h holds their
  // defaults): P, the partitions 0 .. P-1 with lease keys "prompts-<p>"
  // (1..1024, else open() refuses); and the time after which a lease not
  // renewed expires and another instance may take it.
  std::uint32_t partitions = 0;
  std::chrono::milliseconds lease_ttl{0};
  // How many servers hold the bucket's entries (1..5): [ingest] replicas.
  int replicas = 1;
  // Called inside tick() when this instance starts holding a partition.
  std::function<void(std::uint32_t partition)> on_acquired;
  // Called inside tick() or stop() when it no longer holds one: its renewal
  // failed with lease_lost, its last renewal is older than the TTL (NATS
  // unreachable), or it is released for rebalancing or by stop(). For a
  // release it is called before the lease is given up, so that no other
  // instance holds the partition until it returns: stop the partition's work
  // (fetching, acking) before returning. It runs inside tick(), so the time
  // it takes delays the renewal of the other leases: keep it well under
  // TTL - 2 * renew interval, and leave what was in flight to redelivery.
  std::function<void(std::uint32_t partition)> on_lost;
};

// Holds leases on a share of the P partitions and reports changes through the
// callbacks. Driven by tick(), which the owner calls every renew interval; no
// thread of its own.
//
// Every instance keeps a heartbeat key "instance-<id>" (with the TTL of the
// leases) and aims at ceil(P / live instances) partitions: it releases the
// surplus when instances join, and takes free partitions (never held, expired
// or released) while below its share, so the partitions of a dead instance go
// to the survivors and a joining instance gets its share.
//
// Resume bound: ticked every renew interval R (R <= TTL / 3, so that one slow
// tick does not lose a lease), the partitions of an instance that dies are
// taken within TTL + R of its last tick, plus the server's expiry sweep and
// the survivors' own round trips. The heartbeat is written before the leases
// in each tick, so it expires first and the survivors count one instance less
// when they find its partitions free.
//
// As far as the leases tell, no partition is held by two instances at once:
// a lease is taken only when its key is free, and a holder reports a partition
// lost as soon as a renewal fails with lease_lost or its last renewal (timed
// from before the write) is a TTL old. The window: an instance that stalls
// for longer than the TTL (a pause, a frozen VM) still believes it holds its
// partitions until its next tick, while another instance may have taken them.
//
// Not thread-safe: one thread at a time; the callbacks run on it. Must not
// outlive its Connection. Destruction without stop() leaves the leases to
// expire, as a crash would.
class PartitionOwner {
 public:
  // Opens (or creates) the bucket. bad_config when it exists with another
  // TTL, or for partitions outside 1..1024; timeout, unreachable,
  // jetstream_unavailable. Holds nothing before the first tick().
  static Result<PartitionOwner> open(Connection& connection, PartitionOwnerOptions options);

  // Renews the heartbeat and the leases held, then releases the surplus or
  // acquires free partitions to reach this instance's share. Returns the
  // first failure other than a lost or contended lease (timeout, unreachable;
  // lease_held when another live instance has this instance id); what was
  // done before it stands, and the next tick carries on.
  Status tick();

  // Releases every lease held (on_lost first for each) and the heartbeat, so
  // that other instances take the partitions at their next tick rather than
  // after the TTL. The first failure is returned; a lease not released then
  // expires after the TTL.
  Status stop();

  // The partitions held, in increasing order.
  std::vector<std::uint32_t> held() const;

 private:
  struct HeldLease {
    Lease lease;
    // Taken before the write that acquired or last renewed it: the lease
    // lasts at least a TTL from then on the server.
    std::chrono::steady_clock::time_point renewed_at;
  };
  PartitionOwner(LeaseBucket bucket, PartitionOwnerOptions options);
  void forget_expired(std::chrono::steady_clock::time_point now);
  Status keep_heartbeat();
  Status renew_leases(std::chrono::steady_clock::time_point now);
  Status rebalance(std::chrono::steady_clock::time_point now);
  // Reports `partition` lost, then releases its lease (lease_lost ignored: it is gone already).
  Status release(std::uint32_t partition);
  // Stops holding `partition` and reports it lost.
  void forget(std::uint32_t partition);

  LeaseBucket bucket_;
  PartitionOwnerOptions options_;
  std::optional<Lease> heartbeat_;
  std::map<std::uint32_t, HeldLease> held_;
};

}  // namespace assist::bus

#endif
