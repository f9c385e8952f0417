// PartitionOwner against a real nats-server with JetStream, one per test.
// Several instances live in one process, each with its own connection, ticked
// in turn by the test; an instance "killed" simply stops being ticked.
#include "bus/partition_owner.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bus/nats_server.h"

namespace assist::bus {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Small enough for a fast suite; the renew interval within TTL / 3.
constexpr auto kTtl = 2s;
constexpr auto kRenewInterval = 500ms;
// Slack for a loaded 2-core machine on top of every documented bound.
constexpr auto kMargin = 2s;

// Who holds which partition according to the callbacks of every instance, and
// every time one was reported acquired while another still held it.
class HoldingLedger {
 public:
  void acquired(const std::string& instance, std::uint32_t partition) {
    if (auto it = holders_.find(partition); it != holders_.end()) {
      double_holds_.push_back(std::to_string(partition) + " by " + instance + " while " + it->second + " held it");
    }
    holders_[partition] = instance;
  }
  void lost(const std::string& instance, std::uint32_t partition) {
    if (auto it = holders_.find(partition); it != holders_.end() && it->second == instance) holders_.erase(it);
  }
  // The instance is gone (killed): it will report nothing more.
  void bury(const std::string& instance) {
    std::erase_if(holders_, [&](const auto& entry) { return entry.second == instance; });
  }
  std::set<std::uint32_t> held_by(const std::string& instance) const {
    std::set<std::uint32_t> partitions;
    for (const auto& [partition, holder] : holders_)
      if (holder == instance) partitions.insert(partition);
    return partitions;
  }
  const std::vector<std::string>& double_holds() const { return double_holds_; }

 private:
  std::map<std::uint32_t, std::string> holders_;
  std::vector<std::string> double_holds_;
};

struct Instance {
  std::string id;
  std::unique_ptr<Connection> connection;
  std::optional<PartitionOwner> owner;
};

class PartitionOwnerTest : public testing::NatsServerTest {
 protected:
  // An instance with its own connection, reporting to ledger_; null (and a failure) if it cannot open.
  std::unique_ptr<Instance> start(const std::string& id, std::uint32_t partitions,
                                  std::chrono::milliseconds ttl = kTtl,
                                  std::unique_ptr<Connection> connection = nullptr) {
    auto instance = std::make_unique<Instance>();
    instance->id = id;
    instance->connection = connection ? std::move(connection) : connect();
    if (!instance->connection) return nullptr;
    PartitionOwnerOptions options;
    options.instance_id = id;
    options.partitions = partitions;
    options.lease_ttl = ttl;
    options.on_acquired = [this, id](std::uint32_t p) { ledger_.acquired(id, p); };
    options.on_lost = [this, id](std::uint32_t p) { ledger_.lost(id, p); };
    auto owner = PartitionOwner::open(*instance->connection, std::move(options));
    EXPECT_TRUE(owner) << owner.error().message;
    if (!owner) return nullptr;
    instance->owner.emplace(std::move(owner).value());
    return instance;
  }

  static void tick(Instance& instance) {
    const auto s = instance.owner->tick();
    EXPECT_TRUE(s.ok()) << instance.id << ": " << s.message;
  }

  // Ticks `instances` in turn every renew interval until `done` holds after a
  // round (true) or `timeout` has passed (false).
  static bool tick_until(const std::vector<Instance*>& instances, const std::function<bool()>& done,
                         Clock::duration timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      for (auto* instance : instances) tick(*instance);
      if (done()) return true;
      if (Clock::now() >= deadline) return false;
      std::this_thread::sleep_for(kRenewInterval);
    }
  }

  // Every partition is held, each instance holds at most ceil(P / n), and the
  // callbacks agree with what each owner says it holds.
  bool balanced(const std::vector<Instance*>& instances, std::uint32_t partitions) const {
    const std::size_t share = (partitions + instances.size() - 1) / instances.size();
    std::set<std::uint32_t> all;
    for (const auto* instance : instances) {
      const auto held = instance->owner->held();
      if (held.size() > share) return false;
      if (std::set<std::uint32_t>(held.begin(), held.end()) != ledger_.held_by(instance->id)) return false;
      all.insert(held.begin(), held.end());
    }
    return all.size() == partitions;
  }

  static std::string holdings(const std::vector<Instance*>& instances) {
    std::string out;
    for (const auto* instance : instances) {
      out += instance->id + ":";
      for (const auto p : instance->owner->held()) out += " " + std::to_string(p);
      out += "; ";
    }
    return out;
  }

  HoldingLedger ledger_;
};

TEST_F(PartitionOwnerTest, APartitionCountOutsideTheRangeOrNoTtlIsRefused) {
  PartitionOwnerOptions options;
  options.instance_id = "a";
  options.lease_ttl = std::chrono::seconds(2);
  options.partitions = 0;
  auto owner = PartitionOwner::open(*connection_, options);
  ASSERT_FALSE(owner);
  EXPECT_EQ(owner.error().code, BusErrc::bad_config) << owner.error().message;
  options.partitions = 4;
  options.lease_ttl = std::chrono::milliseconds(0);  // the caller must set it: no default here
  owner = PartitionOwner::open(*connection_, options);
  ASSERT_FALSE(owner);
  EXPECT_NE(owner.error().message.find("TTL"), std::string::npos) << owner.error().message;
}

TEST_F(PartitionOwnerTest, OneInstanceTakesEveryPartitionAtItsFirstTick) {
  auto a = start("a", 8);
  ASSERT_NE(a, nullptr);
  tick(*a);
  EXPECT_EQ(a->owner->held(), (std::vector<std::uint32_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(ledger_.held_by("a").size(), 8u);
}

TEST_F(PartitionOwnerTest, TwoInstancesSplitThePartitions) {
  auto a = start("a", 7);
  auto b = start("b", 7);
  ASSERT_TRUE(a && b);
  tick(*a);
  ASSERT_EQ(a->owner->held().size(), 7u);
  const std::vector<Instance*> both{a.get(), b.get()};
  ASSERT_TRUE(tick_until(both, [&] { return balanced(both, 7); }, 15s)) << holdings(both);
  EXPECT_EQ(a->owner->held().size() + b->owner->held().size(), 7u) << holdings(both);
  EXPECT_TRUE(ledger_.double_holds().empty()) << ledger_.double_holds().front();
}

TEST_F(PartitionOwnerTest, AJoiningInstanceGetsItsShareAndNoPartitionIsEverHeldTwice) {
  auto a = start("a", 16);
  auto b = start("b", 16);
  auto c = start("c", 16);
  ASSERT_TRUE(a && b && c);
  const std::vector<Instance*> two{a.get(), b.get()};
  ASSERT_TRUE(tick_until(two, [&] { return balanced(two, 16); }, 15s)) << holdings(two);

  const std::vector<Instance*> three{a.get(), b.get(), c.get()};
  ASSERT_TRUE(tick_until(three, [&] { return balanced(three, 16); }, 15s)) << holdings(three);
  EXPECT_GE(c->owner->held().size(), 4u) << holdings(three);  // 16 - 2 * ceil(16 / 3)
  for (const auto& violation : ledger_.double_holds()) ADD_FAILURE() << "held twice: partition " << violation;
}

TEST_F(PartitionOwnerTest, AKilledInstancesPartitionsGoToTheSurvivorWithinTtlPlusOneRenewInterval) {
  auto a = start("a", 8);
  auto b = start("b", 8);
  ASSERT_TRUE(a && b);
  const std::vector<Instance*> both{a.get(), b.get()};
  ASSERT_TRUE(tick_until(both, [&] { return balanced(both, 8); }, 15s)) << holdings(both);

  // a's last tick (its last renewal), then it is never ticked again: kill -9.
  tick(*a);
  const auto killed_at = Clock::now();
  ledger_.bury("a");
  const std::vector<Instance*> survivor{b.get()};
  const auto bound = kTtl + kRenewInterval;
  ASSERT_TRUE(tick_until(survivor, [&] { return b->owner->held().size() == 8; }, bound + 4 * kMargin))
      << holdings(survivor);
  const auto takeover = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed_at);
  std::printf("takeover after a kill: %lld ms (TTL %lld ms, renew interval %lld ms)\n",
              static_cast<long long>(takeover.count()), static_cast<long long>(std::chrono::milliseconds(kTtl).count()),
              static_cast<long long>(kRenewInterval.count()));
  RecordProperty("takeover_ms", std::to_string(takeover.count()));
  EXPECT_LE(takeover, bound + kMargin);
  EXPECT_TRUE(ledger_.double_holds().empty()) << ledger_.double_holds().front();
}

TEST_F(PartitionOwnerTest, StopReleasesEveryLeaseSoTheSurvivorTakesThemWithoutWaitingForTheTtl) {
  constexpr auto kLongTtl = 60s;
  auto a = start("a", 8, kLongTtl);
  auto b = start("b", 8, kLongTtl);
  ASSERT_TRUE(a && b);
  const std::vector<Instance*> both{a.get(), b.get()};
  ASSERT_TRUE(tick_until(both, [&] { return balanced(both, 8); }, 15s)) << holdings(both);

  const auto stopped_at = Clock::now();
  const auto stopped = a->owner->stop();
  ASSERT_TRUE(stopped.ok()) << stopped.message;
  EXPECT_TRUE(a->owner->held().empty());
  EXPECT_TRUE(ledger_.held_by("a").empty()) << "stop() reports every partition lost";
  tick(*b);
  EXPECT_EQ(b->owner->held().size(), 8u) << "one tick after the stop; " << holdings({b.get()});
  EXPECT_LT(Clock::now() - stopped_at, kLongTtl / 4);
  EXPECT_TRUE(ledger_.double_holds().empty()) << ledger_.double_holds().front();
}

TEST_F(PartitionOwnerTest, AnInstanceCutOffFromNatsReportsItsPartitionsLostOnceTheTtlHasPassed) {
  ConnectOptions options;
  options.servers = {server_->url()};
  options.reconnect_wait = 50ms;
  options.request_timeout = 200ms;  // so that each tick against a dead server ends quickly
  auto connection = Connection::connect(std::move(options));
  ASSERT_TRUE(connection) << connection.error().message;
  auto a = start("a", 4, kTtl, std::move(connection).value());
  ASSERT_NE(a, nullptr);
  const auto last_renewal = Clock::now();  // the lease lasts a TTL from after this
  tick(*a);
  ASSERT_EQ(a->owner->held().size(), 4u);

  server_->kill();
  const auto deadline = last_renewal + kTtl + kRenewInterval + kMargin;
  while (!a->owner->held().empty() && Clock::now() < deadline) {
    EXPECT_FALSE(a->owner->tick().ok()) << "no server to renew with";
    if (Clock::now() - last_renewal < kTtl) {
      EXPECT_EQ(a->owner->held().size(), 4u) << "dropped before the TTL";
    }
    std::this_thread::sleep_for(kRenewInterval);
  }
  EXPECT_TRUE(a->owner->held().empty());
  EXPECT_GE(Clock::now() - last_renewal, kTtl);
  EXPECT_TRUE(ledger_.held_by("a").empty()) << "each reported lost";
}

}  // namespace
}  // namespace assist::bus
