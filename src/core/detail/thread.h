// Thread attributes for the library's own threads.
#ifndef ASSIST_SRC_CORE_DETAIL_THREAD_H
#define ASSIST_SRC_CORE_DETAIL_THREAD_H

#include <thread>
#include <utility>

namespace assist::detail {

// Names the calling thread (what top -H, perf and gdb show). `name` is cut to
// 15 characters, the kernel's limit. Best effort: a failure is ignored.
void name_this_thread(const char* name) noexcept;

// A thread named `name` that runs `fn`.
template <typename F>
std::thread named_thread(const char* name, F fn) {
  return std::thread([name, fn = std::move(fn)]() mutable {
    name_this_thread(name);
    fn();
  });
}

}  // namespace assist::detail

#endif
