#include "core/detail/frame_key.h"

#include <set>

#include <boost/unordered/unordered_flat_map.hpp>
#include <gtest/gtest.h>

#include "assist/frame_id.h"

namespace assist::detail {
namespace {

TEST(FrameKey, HoldsExactlyTheCanonicalText) {
  const std::string id = "9b2c1f4e-7a3d-4e5f-8a6b-1c2d3e4f5a6b";
  const auto key = FrameKey::of(id);
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(key->view(), id);
  EXPECT_EQ(*key, *FrameKey::of(std::string(id)));
  // Case is kept: the gateway echoes the frame_id as written, and only an
  // identical string may match.
  EXPECT_FALSE(*key == *FrameKey::of("9B2C1F4E-7A3D-4E5F-8A6B-1C2D3E4F5A6B"));
}

TEST(FrameKey, RefusesOtherLengths) {
  EXPECT_FALSE(FrameKey::of("").has_value());
  EXPECT_FALSE(FrameKey::of("9b2c1f4e-7a3d-4e5f-8a6b-1c2d3e4f5a6").has_value());
  EXPECT_FALSE(FrameKey::of("9b2c1f4e-7a3d-4e5f-8a6b-1c2d3e4f5a6bb").has_value());
}

TEST(FrameKey, KeysAFlatMapOfGeneratedIds) {
  FrameIdGenerator ids(11);
  boost::unordered_flat_map<FrameKey, int, FrameKeyHash> map;
  std::vector<std::string> all;
  std::set<std::size_t> hashes;
  for (int i = 0; i < 10000; ++i) {
    all.push_back(ids.next());
    map.emplace(*FrameKey::of(all.back()), i);
    hashes.insert(FrameKeyHash{}(*FrameKey::of(all.back())));
  }
  EXPECT_EQ(hashes.size(), all.size());  // 64 random bits: no collision expected among 10 000
  for (int i = 0; i < 10000; ++i) EXPECT_EQ(map.at(*FrameKey::of(all[static_cast<std::size_t>(i)])), i);
  // Ids differing only in a middle digit are still distinct keys.
  auto twin = all.front();
  twin[20] = twin[20] == 'a' ? 'b' : 'a';
  EXPECT_EQ(map.count(*FrameKey::of(twin)), 0u);
}

}  // namespace
}  // namespace assist::detail
