#include "bus/partition.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace assist::bus {
namespace {

// Published FNV-1a 64 values (the "a" one is in the FNV reference test
// vectors: 0xaf63dc4c8601ec8c), so another implementation can check itself.
TEST(PartitionOf, IsFnv1a64OfTheUtf8BytesModP) {
  EXPECT_EQ(partition_of("", 1000), 14695981039346656037ULL % 1000);
  EXPECT_EQ(partition_of("a", 1000), 0xaf63dc4c8601ec8cULL % 1000);
  EXPECT_EQ(partition_of("a", 16), 12u);
  EXPECT_EQ(partition_of("session-1", 16), 13u);
  EXPECT_EQ(partition_of("session-1", 1000), 461u);
  EXPECT_EQ(partition_of("agent-42/call-7", 16), 8u);
  EXPECT_EQ(partition_of("agent-42/call-7", 7), 1u);
  EXPECT_EQ(partition_of("sess\xc3\xa3o-\xc3\xbc", 16), 2u);  // "sessão-ü" in UTF-8
  EXPECT_EQ(partition_of("anything", 1), 0u);
}

TEST(PartitionOf, SpreadsTenThousandSessionsEvenlyOverSixteenPartitions) {
  std::vector<int> counts(16);
  for (int i = 0; i < 10'000; ++i) ++counts.at(partition_of("session-" + std::to_string(i), 16));
  for (std::size_t p = 0; p < counts.size(); ++p) {
    EXPECT_GE(counts[p], 625 - 60) << "partition " << p;  // 625 each if perfectly even
    EXPECT_LE(counts[p], 625 + 60) << "partition " << p;
  }
}

}  // namespace
}  // namespace assist::bus
