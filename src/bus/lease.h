// Leases on keys of a JetStream key-value bucket whose entries expire after a
// TTL (internal): the owner of a partition holds its key and renews it well
// within the TTL; when it dies, the key expires and another instance takes it.
#ifndef ASSIST_SRC_BUS_LEASE_H
#define ASSIST_SRC_BUS_LEASE_H

#include <nats/nats.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bus/bus_error.h"
#include "bus/connection.h"

namespace assist::bus {

// A lease this process holds: `owner` wrote `key` at `revision`.
struct Lease {
  std::string key;
  std::string owner;
  std::uint64_t revision = 0;
};

// Not thread-safe: one thread at a time. Must not outlive its Connection.
//
// A lease lasts from the write that acquired or renewed it until the TTL has
// passed on the server. The server drops expired entries in a periodic sweep,
// so a key may stay held somewhat longer than the TTL, never shorter.
class LeaseBucket {
 public:
  // Opens the bucket `bucket` (A-Z, a-z, 0-9, _ and -), creating it with file
  // storage, one value per key, this TTL and `replicas` (1..5) servers
  // holding each entry when it does not exist. When it exists with another
  // replica count (an operator's `nats stream edit KV_<bucket>`), its stream
  // is updated to `replicas` first: the caller's configuration is the source
  // of truth. bad_config when it exists with another TTL (or the server
  // refuses the replica count); timeout, unreachable, jetstream_unavailable.
  static Result<LeaseBucket> open(Connection& connection, const std::string& bucket, std::chrono::milliseconds ttl,
                                  int replicas = 1);

  // Takes `key` for `owner` if nobody holds it (never written, expired or
  // released). lease_held, naming the holder, when someone does (also
  // `owner` itself before its lease expired: renew that one instead).
  Result<Lease> acquire(std::string_view key, std::string_view owner);

  // Extends `lease` by a TTL from now and advances its revision. lease_lost
  // when the key is no longer at `lease.revision` (expired, then possibly
  // acquired by another owner): stop the work it covered. timeout and
  // unreachable leave it unknown whether the lease still holds.
  Status renew(Lease& lease);

  // Gives `lease` up, so another owner may acquire it at once. lease_lost when
  // the key is no longer at `lease.revision` (nothing is deleted then).
  Status release(const Lease& lease);

  // Every key held now, by anyone: written and neither expired nor released.
  // timeout, unreachable.
  Result<std::vector<std::string>> held_keys();

 private:
  struct StoreDeleter {
    void operator()(kvStore* store) const { kvStore_Destroy(store); }
  };
  LeaseBucket(kvStore* store, jsCtx* jetstream, std::string bucket);
  // The Status for a failed conditional write of `key`: lease_held or
  // lease_lost (`conflict`) when another revision is there, else from `status`.
  Status write_failure(std::string_view what, std::string_view key, natsStatus status, BusErrc conflict);

  std::unique_ptr<kvStore, StoreDeleter> store_;
  jsCtx* jetstream_;
  std::string bucket_;
};

}  // namespace assist::bus

#endif
