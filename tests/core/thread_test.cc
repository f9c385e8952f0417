#include "core/detail/thread.h"

#include <pthread.h>

#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace assist::detail {
namespace {

std::string name_set_in_a_thread(const char* name) {
  std::string seen;
  std::thread([&] {
    name_this_thread(name);
    char buffer[64] = {};
    if (::pthread_getname_np(::pthread_self(), buffer, sizeof buffer) == 0) seen = buffer;
  }).join();
  return seen;
}

TEST(ThreadName, NamesTheCallingThread) { EXPECT_EQ(name_set_in_a_thread("assist-sync"), "assist-sync"); }

TEST(ThreadName, LongNamesAreCutToTheKernelLimit) {
  EXPECT_EQ(name_set_in_a_thread("a-name-of-twenty-chars"), "a-name-of-twent");
}

}  // namespace
}  // namespace assist::detail
