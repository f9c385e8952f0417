// LeaseBucket against a real nats-server with JetStream, one per test.
#include "bus/lease.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "bus/nats_server.h"

namespace assist::bus {
namespace {

using namespace std::chrono_literals;

using LeaseTest = testing::NatsServerTest;

TEST_F(LeaseTest, ALeaseHeldByOneOwnerIsRefusedToAnotherUntilItExpires) {
  auto bucket = LeaseBucket::open(*connection_, "partition_leases", 1s);
  ASSERT_TRUE(bucket) << bucket.error().message;
  auto a = bucket->acquire("prompts-3", "instance-a");
  ASSERT_TRUE(a) << a.error().message;

  const auto refused = bucket->acquire("prompts-3", "instance-b");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, BusErrc::lease_held) << refused.error().message;
  EXPECT_NE(refused.error().message.find("instance-a"), std::string::npos) << refused.error().message;

  const auto revision_before = a->revision;
  const auto renewed = bucket->renew(a.value());
  ASSERT_TRUE(renewed.ok()) << renewed.message;
  EXPECT_GT(a->revision, revision_before);

  // A stops renewing: B gets the key once the TTL has passed.
  const auto last_write = std::chrono::steady_clock::now();
  auto b = bucket->acquire("prompts-3", "instance-b");
  while (!b && b.error().code == BusErrc::lease_held && std::chrono::steady_clock::now() - last_write < 10s) {
    std::this_thread::sleep_for(50ms);
    b = bucket->acquire("prompts-3", "instance-b");
  }
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_GE(std::chrono::steady_clock::now() - last_write, 900ms) << "acquired before the TTL passed";

  const auto lost = bucket->renew(a.value());
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.code, BusErrc::lease_lost) << lost.message;
  EXPECT_NE(lost.message.find("instance-b"), std::string::npos) << lost.message;
  EXPECT_TRUE(bucket->renew(b.value()).ok()) << "B's lease is untouched by A's failed renew";
}

TEST_F(LeaseTest, AnExpiredLeaseNobodyTookCannotBeRenewed) {
  auto bucket = LeaseBucket::open(*connection_, "partition_leases", 1s);
  ASSERT_TRUE(bucket) << bucket.error().message;
  auto a = bucket->acquire("prompts-3", "instance-a");
  ASSERT_TRUE(a) << a.error().message;
  // Polls with a probe key written at the same time as A's: once it can be
  // acquired again, A's has expired too.
  auto probe = bucket->acquire("probe", "instance-a");
  ASSERT_TRUE(probe) << probe.error().message;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  auto again = bucket->acquire("probe", "instance-c");
  while (!again && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
    again = bucket->acquire("probe", "instance-c");
  }
  ASSERT_TRUE(again) << again.error().message;

  const auto lost = bucket->renew(a.value());
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.code, BusErrc::lease_lost) << lost.message;
}

TEST_F(LeaseTest, AReleasedLeaseCanBeAcquiredAtOnceAndAStaleReleaseDeletesNothing) {
  auto bucket = LeaseBucket::open(*connection_, "partition_leases", 30s);
  ASSERT_TRUE(bucket) << bucket.error().message;
  auto a = bucket->acquire("prompts-3", "instance-a");
  ASSERT_TRUE(a) << a.error().message;
  const auto released = bucket->release(a.value());
  ASSERT_TRUE(released.ok()) << released.message;

  auto b = bucket->acquire("prompts-3", "instance-b");
  ASSERT_TRUE(b) << b.error().message;
  const auto stale = bucket->release(a.value());
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.code, BusErrc::lease_lost) << stale.message;
  EXPECT_TRUE(bucket->renew(b.value()).ok()) << "B's lease survives A's stale release";
}

// The bucket's stream edited by an operator to 3 replicas (a single
// nats-server 2.9 records the edit): open() updates it back to the configured count.
TEST_F(LeaseTest, OpenUpdatesTheReplicasAnOperatorChangedAndRefusesAnotherTtl) {
  ASSERT_TRUE(LeaseBucket::open(*connection_, "partition_leases", 1s));
  auto replicas = [&] {
    jsStreamInfo* info = nullptr;
    EXPECT_EQ(js_GetStreamInfo(&info, connection_->jetstream(), "KV_partition_leases", nullptr, nullptr), NATS_OK);
    const auto count = info ? info->Config->Replicas : -1;
    jsStreamInfo_Destroy(info);
    return count;
  };
  {
    jsStreamInfo* info = nullptr;
    ASSERT_EQ(js_GetStreamInfo(&info, connection_->jetstream(), "KV_partition_leases", nullptr, nullptr), NATS_OK);
    info->Config->Replicas = 3;
    jsStreamInfo* updated = nullptr;
    EXPECT_EQ(js_UpdateStream(&updated, connection_->jetstream(), info->Config, nullptr, nullptr), NATS_OK);
    jsStreamInfo_Destroy(updated);
    jsStreamInfo_Destroy(info);
  }
  ASSERT_EQ(replicas(), 3);
  auto bucket = LeaseBucket::open(*connection_, "partition_leases", 1s, 1);
  ASSERT_TRUE(bucket) << bucket.error().message;
  EXPECT_EQ(replicas(), 1);
  EXPECT_TRUE(bucket->acquire("prompts-1", "instance-a")) << "bound to the existing bucket";

  const auto other_ttl = LeaseBucket::open(*connection_, "partition_leases", 2s);
  ASSERT_FALSE(other_ttl);
  EXPECT_EQ(other_ttl.error().code, BusErrc::bad_config) << other_ttl.error().message;
  EXPECT_NE(other_ttl.error().message.find("TTL of 1000 ms, expected 2000 ms"), std::string::npos)
      << other_ttl.error().message;
  const auto out_of_range = LeaseBucket::open(*connection_, "partition_leases", 1s, 6);
  ASSERT_FALSE(out_of_range);
  EXPECT_EQ(out_of_range.error().code, BusErrc::bad_config);
  EXPECT_FALSE(LeaseBucket::open(*connection_, "three_replicas", 1s, 3)) << "a single server creates none with 3";
}

}  // namespace
}  // namespace assist::bus
