#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "assist/crm.h"
#include "core/detail/thread.h"

namespace assist {

std::string_view to_string(CrmResult result) {
  switch (result) {
    case CrmResult::delivered: return "delivered";
    case CrmResult::dropped: return "dropped";
    case CrmResult::failed: return "failed";
  }
  return "unknown";
}

struct CrmCallbackPool::Impl {
  Impl(CrmCallback cb, std::size_t capacity, CrmReportHandler report, Clock& c)
      : callback(std::move(cb)), queue_capacity(capacity), on_report(std::move(report)), clock(c) {}

  CrmCallback callback;
  std::size_t queue_capacity;
  CrmReportHandler on_report;
  Clock& clock;

  mutable std::mutex mu;
  std::condition_variable cv;
  std::deque<CrmUpdate> queue;
  std::size_t running = 0;
  bool stopping = false;
  Clock::steady_time deadline{};
  CrmStats counts;
  std::vector<std::thread> workers;
  std::once_flag joined;

  void report(CrmUpdate update, CrmResult result, std::string error, unsigned attempts) {
    if (on_report) on_report(CrmReport{std::move(update), result, std::move(error), attempts});
  }

  void work() {
    std::unique_lock lock(mu);
    for (;;) {
      cv.wait(lock, [&] { return !queue.empty() || stopping; });
      if (queue.empty()) return;
      if (stopping && clock.steady_now() >= deadline) {
        // Past the stop deadline: drop what is left, once, from this worker.
        std::deque<CrmUpdate> left;
        left.swap(queue);
        counts.dropped += left.size();
        lock.unlock();
        for (auto& update : left) report(std::move(update), CrmResult::dropped, "stopped before delivery", 0);
        return;
      }
      CrmUpdate update = std::move(queue.front());
      queue.pop_front();
      ++running;
      lock.unlock();

      std::string error;
      try {
        callback(update.interaction_id, update);
      } catch (const std::exception& e) {
        error = e.what();
        if (error.empty()) error = "callback threw";
      } catch (...) {
        error = "callback threw a non-standard exception";
      }
      const bool ok = error.empty();

      lock.lock();
      --running;
      ++(ok ? counts.delivered : counts.failed);
      lock.unlock();
      report(std::move(update), ok ? CrmResult::delivered : CrmResult::failed, std::move(error), 1);
      lock.lock();
    }
  }
};

CrmCallbackPool::CrmCallbackPool(CrmCallback callback, std::size_t workers, std::size_t queue_capacity,
                                 CrmReportHandler on_report, Clock* clock)
    : impl_(std::make_unique<Impl>(std::move(callback), queue_capacity, std::move(on_report),
                                   clock != nullptr ? *clock : system_clock())) {
  if (workers == 0) workers = 1;
  impl_->workers.reserve(workers);
  for (std::size_t i = 0; i < workers; ++i)
    impl_->workers.push_back(detail::named_thread("assist-crm", [d = impl_.get()] { d->work(); }));
}

CrmCallbackPool::~CrmCallbackPool() { stop(impl_->clock.steady_now()); }

bool CrmCallbackPool::submit(CrmUpdate update) {
  Impl& d = *impl_;
  const char* why = nullptr;
  {
    std::lock_guard lock(d.mu);
    if (!d.stopping && d.queue.size() < d.queue_capacity) {
      d.queue.push_back(std::move(update));
      d.cv.notify_one();
      return true;
    }
    ++d.counts.dropped;
    why = d.stopping ? "pool is stopping" : "queue full";
  }
  d.report(std::move(update), CrmResult::dropped, why, 0);
  return false;
}

bool CrmCallbackPool::stop(Clock::steady_time deadline) {
  Impl& d = *impl_;
  std::uint64_t dropped_before = 0;
  {
    std::lock_guard lock(d.mu);
    if (!d.stopping) {
      d.stopping = true;
      d.deadline = deadline;
    }
    dropped_before = d.counts.dropped;
    d.cv.notify_all();
  }
  std::call_once(d.joined, [&] {
    for (auto& worker : d.workers) worker.join();
  });
  std::lock_guard lock(d.mu);
  return d.counts.dropped == dropped_before;
}

CrmStats CrmCallbackPool::stats() const {
  std::lock_guard lock(impl_->mu);
  CrmStats s = impl_->counts;
  s.queued = impl_->queue.size() + impl_->running;
  return s;
}

}  // namespace assist
