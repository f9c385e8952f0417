#include "bus/lease.h"

#include <algorithm>

#include <fmt/format.h>

#include "bus/nats_status.h"

namespace assist::bus {
namespace {

struct EntryDeleter {
  void operator()(kvEntry* entry) const { kvEntry_Destroy(entry); }
};

struct MessageDeleter {
  void operator()(natsMsg* message) const { natsMsg_Destroy(message); }
};

struct StreamInfoDeleter {
  void operator()(jsStreamInfo* info) const { jsStreamInfo_Destroy(info); }
};

// An existing bucket's stream, KV_<bucket>: its TTL must be `ttl`; its
// replica count is updated to `replicas` when it differs.
Status check_existing(jsCtx* jetstream, const std::string& bucket, jsStreamInfo& info, std::chrono::milliseconds ttl,
                      int replicas) {
  const auto stream = "KV_" + bucket;
  const auto wanted_ttl = std::chrono::duration_cast<std::chrono::nanoseconds>(ttl).count();
  if (info.Config->MaxAge != wanted_ttl) {
    return Status{make_error_code(BusErrc::bad_config),
                  fmt::format("open lease bucket {}: it exists with a TTL of {} ms, expected {} ms (delete it while no "
                              "instance runs, or give every instance the same lease TTL)",
                              bucket, info.Config->MaxAge / 1'000'000, ttl.count())};
  }
  const auto existing = std::max<std::int64_t>(info.Config->Replicas, 1);
  if (existing == replicas) return {};
  info.Config->Replicas = replicas;
  jsStreamInfo* raw_updated = nullptr;
  jsErrCode js_error{};
  const auto s = js_UpdateStream(&raw_updated, jetstream, info.Config, nullptr, &js_error);
  const std::unique_ptr<jsStreamInfo, StreamInfoDeleter> updated(raw_updated);
  if (s == NATS_OK) return {};
  auto failure = nats_failure(
      fmt::format("open lease bucket {}: update stream {} (replicas {} -> {})", bucket, stream, existing, replicas), s,
      js_error);
  if (failure.code == BusErrc::failed) failure.code = make_error_code(BusErrc::bad_config);
  return failure;
}

// Owners are instance names, far below INT_MAX bytes.
int value_length(std::string_view owner) { return static_cast<int>(owner.size()); }

}  // namespace

LeaseBucket::LeaseBucket(kvStore* store, jsCtx* jetstream, std::string bucket)
    : store_(store), jetstream_(jetstream), bucket_(std::move(bucket)) {}

Result<LeaseBucket> LeaseBucket::open(Connection& connection, const std::string& bucket,
                                         std::chrono::milliseconds ttl, int replicas) {
  if (replicas < 1 || replicas > 5) {
    return Status{make_error_code(BusErrc::bad_config),
                  fmt::format("open lease bucket {}: {} replicas, expected 1..5", bucket, replicas)};
  }
  jsStreamInfo* raw_info = nullptr;
  jsErrCode js_error{};
  auto s = js_GetStreamInfo(&raw_info, connection.jetstream(), ("KV_" + bucket).c_str(), nullptr, &js_error);
  const std::unique_ptr<jsStreamInfo, StreamInfoDeleter> info(raw_info);
  kvStore* store = nullptr;
  if (s == NATS_OK) {
    // It exists: checked (and its replicas updated) here, then bound to.
    if (Status checked = check_existing(connection.jetstream(), bucket, *info, ttl, replicas); !checked.ok())
      return checked;
    s = js_KeyValue(&store, connection.jetstream(), bucket.c_str());
    if (s != NATS_OK) return nats_failure(fmt::format("open lease bucket {}", bucket), s);
    return LeaseBucket(store, connection.jetstream(), bucket);
  }
  if (s != NATS_NOT_FOUND && js_error != JSStreamNotFoundErr)
    return nats_failure(fmt::format("open lease bucket {}: look up stream KV_{}", bucket, bucket), s, js_error);
  kvConfig config;
  kvConfig_Init(&config);
  config.Bucket = bucket.c_str();
  config.History = 1;
  config.TTL = std::chrono::duration_cast<std::chrono::nanoseconds>(ttl).count();
  config.StorageType = js_FileStorage;
  config.Replicas = replicas;
  s = js_CreateKeyValue(&store, connection.jetstream(), &config);
  if (s != NATS_OK) return nats_failure(fmt::format("open lease bucket {}", bucket), s);
  return LeaseBucket(store, connection.jetstream(), bucket);
}

Status LeaseBucket::write_failure(std::string_view what, std::string_view key, natsStatus status,
                                    BusErrc conflict) {
  if (status != NATS_ERR) return nats_failure(what, status);
  kvEntry* raw_entry = nullptr;
  const auto s = kvStore_Get(&raw_entry, store_.get(), std::string(key).c_str());
  const std::unique_ptr<kvEntry, EntryDeleter> entry(raw_entry);
  if (s == NATS_NOT_FOUND) {
    return {make_error_code(conflict), fmt::format("{}: nobody holds it now (expired or released)", what)};
  }
  if (s != NATS_OK) return nats_failure(fmt::format("{}: refused, then reading the key", what), s);
  return {make_error_code(conflict), fmt::format("{}: held by {} (revision {})", what, kvEntry_ValueString(entry.get()),
                                                 kvEntry_Revision(entry.get()))};
}

Result<Lease> LeaseBucket::acquire(std::string_view key, std::string_view owner) {
  Lease lease{std::string(key), std::string(owner), 0};
  const auto s = kvStore_Create(&lease.revision, store_.get(), lease.key.c_str(), lease.owner.data(),
                                value_length(lease.owner));
  if (s != NATS_OK) {
    return write_failure(fmt::format("acquire lease {}/{}", bucket_, key), key, s, BusErrc::lease_held);
  }
  return lease;
}

Status LeaseBucket::renew(Lease& lease) {
  std::uint64_t revision = 0;
  const auto s = kvStore_Update(&revision, store_.get(), lease.key.c_str(), lease.owner.data(),
                                value_length(lease.owner), lease.revision);
  if (s != NATS_OK) {
    return write_failure(fmt::format("renew lease {}/{} at revision {}", bucket_, lease.key, lease.revision),
                         lease.key, s, BusErrc::lease_lost);
  }
  lease.revision = revision;
  return {};
}

// kvStore_Delete of libnats 3.4 deletes whatever revision is there; this
// writes the same delete marker (ADR-8: subject $KV.<bucket>.<key>, header
// KV-Operation: DEL) on condition that the key is still at the lease's revision.
Status LeaseBucket::release(const Lease& lease) {
  const auto what = fmt::format("release lease {}/{} at revision {}", bucket_, lease.key, lease.revision);
  const auto subject = fmt::format("$KV.{}.{}", bucket_, lease.key);
  natsMsg* raw_message = nullptr;
  auto s = natsMsg_Create(&raw_message, subject.c_str(), nullptr, nullptr, 0);
  const std::unique_ptr<natsMsg, MessageDeleter> message(raw_message);
  if (s == NATS_OK) s = natsMsgHeader_Set(message.get(), "KV-Operation", "DEL");
  if (s != NATS_OK) return nats_failure(what, s);
  jsPubOptions options;
  jsPubOptions_Init(&options);
  options.ExpectLastSubjectSeq = lease.revision;
  jsPubAck* ack = nullptr;
  jsErrCode js_error{};
  s = js_PublishMsg(&ack, jetstream_, message.get(), &options, &js_error);
  jsPubAck_Destroy(ack);
  if (s == NATS_OK) return {};
  if (js_error == JSStreamWrongLastSequenceErr) return write_failure(what, lease.key, NATS_ERR, BusErrc::lease_lost);
  return nats_failure(what, s, js_error);
}

Result<std::vector<std::string>> LeaseBucket::held_keys() {
  kvKeysList list{};
  const auto s = kvStore_Keys(&list, store_.get(), nullptr);  // skips delete markers
  if (s == NATS_NOT_FOUND) return std::vector<std::string>{};  // libnats' answer for an empty bucket
  if (s != NATS_OK) return nats_failure(fmt::format("list lease bucket {}", bucket_), s);
  std::vector<std::string> keys(list.Keys, list.Keys + list.Count);
  kvKeysList_Destroy(&list);
  return keys;
}

}  // namespace assist::bus
