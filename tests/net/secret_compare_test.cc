#include "net/secret_compare.h"

#include <string>

#include <gtest/gtest.h>

namespace assist::net {
namespace {

TEST(SecretsEqual, OnlyTheSameBytesMatch) {
  EXPECT_TRUE(secrets_equal("demo-secret", "demo-secret"));
  EXPECT_TRUE(secrets_equal("", ""));
  EXPECT_FALSE(secrets_equal("demo-secret", "demo-secreT"));
  EXPECT_FALSE(secrets_equal("demo-secret", "demo-secret "));  // a longer one, same prefix
  EXPECT_FALSE(secrets_equal("demo", "demo-secret"));          // a shorter one
  EXPECT_FALSE(secrets_equal("", "demo-secret"));
  // Embedded NULs are bytes like any other.
  EXPECT_FALSE(secrets_equal(std::string("a\0b", 3), std::string("a\0c", 3)));
  EXPECT_TRUE(secrets_equal(std::string("a\0b", 3), std::string("a\0b", 3)));
}

}  // namespace
}  // namespace assist::net
