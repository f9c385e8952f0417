#include "core/detail/thread.h"

#include <pthread.h>

#include <cstring>

namespace assist::detail {

void name_this_thread(const char* name) noexcept {
  char cut[16] = {};
  std::strncpy(cut, name, sizeof cut - 1);
  ::pthread_setname_np(::pthread_self(), cut);
}

}  // namespace assist::detail
