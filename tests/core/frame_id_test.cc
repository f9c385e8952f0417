#include "assist/frame_id.h"

#include <set>

#include <gtest/gtest.h>

namespace assist {
namespace {

TEST(FrameId, IsCanonicalVersion4) {
  FrameIdGenerator gen;
  for (int i = 0; i < 1000; ++i) {
    const auto id = gen.next();
    ASSERT_EQ(id.size(), 36u);
    ASSERT_EQ(id[14], '4') << id;                        // version nibble
    ASSERT_NE(std::string("89ab").find(id[19]), std::string::npos) << id;  // RFC 4122 variant
    ASSERT_TRUE(is_uuid_v4(id)) << id;
  }
}

TEST(FrameId, EntropySeededGeneratorsDiffer) {
  FrameIdGenerator a, b;
  std::set<std::string> seen;
  for (int i = 0; i < 5000; ++i) {
    ASSERT_TRUE(seen.insert(a.next()).second);
    ASSERT_TRUE(seen.insert(b.next()).second);
  }
}

TEST(FrameId, SeededGeneratorIsReproducible) {
  FrameIdGenerator a(123), b(123), c(124);
  const auto first = a.next();
  EXPECT_EQ(first, b.next());
  EXPECT_NE(first, c.next());
}

TEST(FrameId, RecognisesOnlyVersion4) {
  EXPECT_TRUE(is_uuid_v4("2f1c3f7e-6a0b-4c39-9d7e-0c5e8d3f6a11"));
  EXPECT_TRUE(is_uuid_v4("2F1C3F7E-6A0B-4C39-9D7E-0C5E8D3F6A11"));
  EXPECT_FALSE(is_uuid_v4("2f1c3f7e-6a0b-1c39-9d7e-0c5e8d3f6a11"));  // version 1
  EXPECT_FALSE(is_uuid_v4("2f1c3f7e-6a0b-4c39-cd7e-0c5e8d3f6a11"));  // wrong variant
  EXPECT_FALSE(is_uuid_v4("2f1c3f7e6a0b4c399d7e0c5e8d3f6a11"));
  EXPECT_FALSE(is_uuid_v4("{2f1c3f7e-6a0b-4c39-9d7e-0c5e8d3f6a1}"));
  EXPECT_FALSE(is_uuid_v4("2f1c3f7e-6a0b-4c39-9d7e-0c5e8d3f6a1z"));
  EXPECT_FALSE(is_uuid_v4(""));
  EXPECT_FALSE(is_uuid_v4("not-a-uuid"));
}

}  // namespace
}  // namespace assist
