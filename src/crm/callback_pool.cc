#include <algorithm>
#include <condition_variable>
#include <deque>
#include <optional>
#include <exception>
#include <mutex>
#include <thread>

#include "crm/callback_pool.h"
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

// Shared with the workers: a worker abandoned at the stop deadline (its
// callback still running) keeps it alive, and reports nothing afterwards.
struct CrmCallbackPool::Impl {
  Impl(CrmCallback cb, std::size_t capacity, CrmReportHandler report, Clock& c)
      : callback(std::move(cb)), queue_capacity(capacity), on_report(std::move(report)), clock(c) {}

  CrmCallback callback;
  std::size_t queue_capacity;
  CrmReportHandler on_report;
  Clock& clock;

  mutable std::mutex mu;
  std::condition_variable cv;       // work for the workers, or stopping
  std::condition_variable exit_cv;  // a worker exited
  std::deque<CrmUpdate> queue;
  std::size_t running = 0;
  bool stopping = false;
  bool abandoned = false;  // stop() gave up on the workers still running: they report nothing more
  Clock::steady_time deadline{};
  CrmStats counts;
  std::vector<std::thread> workers;
  std::vector<std::thread::id> worker_ids;
  std::vector<std::optional<CrmUpdate>> in_callback;  // per worker: the update its callback is running
  std::vector<bool> exited;                           // per worker
  bool stopped = false;

  void report(CrmUpdate update, CrmResult result, std::string error, unsigned attempts) {
    if (on_report) on_report(CrmReport{std::move(update), result, std::move(error), attempts});
  }

  // Past the stop deadline: drop what is left (reported), under the lock.
  std::deque<CrmUpdate> take_left_locked() {
    std::deque<CrmUpdate> left;
    left.swap(queue);
    counts.dropped += left.size();
    return left;
  }

  static void work(const std::shared_ptr<Impl>& self, std::size_t index) {
    Impl& d = *self;
    std::unique_lock lock(d.mu);
    for (;;) {
      d.cv.wait(lock, [&] { return !d.queue.empty() || d.stopping; });
      if (d.queue.empty() || d.abandoned) break;
      if (d.stopping && d.clock.steady_now() >= d.deadline) {
        auto left = d.take_left_locked();
        lock.unlock();
        for (auto& update : left) d.report(std::move(update), CrmResult::dropped, "stopped before delivery", 0);
        lock.lock();
        break;
      }
      d.in_callback[index] = std::move(d.queue.front());
      d.queue.pop_front();
      ++d.running;
      const CrmUpdate update = *d.in_callback[index];
      lock.unlock();

      std::string error;
      try {
        d.callback(update.interaction_id, update);
      } catch (const std::exception& e) {
        error = e.what();
        if (error.empty()) error = "callback threw";
      } catch (...) {
        error = "callback threw a non-standard exception";
      }
      const bool ok = error.empty();

      lock.lock();
      d.in_callback[index].reset();
      if (d.abandoned) break;  // stop() already reported it and returned
      --d.running;
      ++(ok ? d.counts.delivered : d.counts.failed);
      lock.unlock();
      d.report(update, ok ? CrmResult::delivered : CrmResult::failed, std::move(error), 1);
      lock.lock();
    }
    d.exited[index] = true;
    d.exit_cv.notify_all();
  }
};

CrmCallbackPool::CrmCallbackPool(CrmCallback callback, std::size_t workers, std::size_t queue_capacity,
                                 CrmReportHandler on_report, Clock* clock)
    : impl_(std::make_shared<Impl>(std::move(callback), queue_capacity, std::move(on_report),
                                   clock != nullptr ? *clock : system_clock())) {
  if (workers == 0) workers = 1;
  impl_->workers.reserve(workers);
  impl_->in_callback.resize(workers);
  impl_->exited.assign(workers, false);
  std::lock_guard lock(impl_->mu);  // worker_ids is complete before a worker can look
  for (std::size_t i = 0; i < workers; ++i) {
    impl_->workers.push_back(detail::named_thread("assist-crm", [d = impl_, i] { Impl::work(d, i); }));
    impl_->worker_ids.push_back(impl_->workers.back().get_id());
  }
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
  std::unique_lock lock(d.mu);
  if (d.stopped) return true;
  if (!d.stopping) {
    d.stopping = true;
    d.deadline = deadline;
  }
  const std::uint64_t dropped_before = d.counts.dropped;
  d.cv.notify_all();
  const auto all_exited = [&] { return std::all_of(d.exited.begin(), d.exited.end(), [](bool e) { return e; }); };
  // Past the deadline only a worker inside a callback may keep stop() waiting;
  // an idle one exits at once.
  const auto only_callbacks_left = [&] {
    for (std::size_t i = 0; i < d.exited.size(); ++i)
      if (!d.exited[i] && !d.in_callback[i]) return false;
    return true;
  };
  // The deadline is on the injected clock, which may not follow real time:
  // look at it every few milliseconds.
  while (!all_exited() && !(d.clock.steady_now() >= d.deadline && only_callbacks_left()))
    d.exit_cv.wait_for(lock, std::chrono::milliseconds(5));
  std::deque<CrmUpdate> left = d.take_left_locked();
  std::vector<CrmUpdate> abandoned;
  if (!all_exited()) {
    // Callbacks still running at the deadline are abandoned, not waited for:
    // stop() is bounded. Their threads end on their own and report nothing.
    d.abandoned = true;
    d.cv.notify_all();
    for (auto& update : d.in_callback)
      if (update) abandoned.push_back(*update);
    d.counts.failed += abandoned.size();
    d.running = 0;
  }
  d.stopped = true;
  std::vector<std::thread> workers;
  workers.swap(d.workers);
  std::vector<bool> exited = d.exited;
  lock.unlock();
  for (std::size_t i = 0; i < workers.size(); ++i) {
    if (exited[i] || !d.abandoned) workers[i].join();
    else workers[i].detach();
  }
  for (auto& update : left) d.report(std::move(update), CrmResult::dropped, "stopped before delivery", 0);
  for (auto& update : abandoned)
    d.report(std::move(update), CrmResult::failed, "callback still running at the stop deadline: abandoned", 1);
  lock.lock();
  return d.counts.dropped == dropped_before && abandoned.empty();
}

bool CrmCallbackPool::on_worker_thread() const {
  std::lock_guard lock(impl_->mu);
  const auto me = std::this_thread::get_id();
  return std::find(impl_->worker_ids.begin(), impl_->worker_ids.end(), me) != impl_->worker_ids.end();
}

CrmStats CrmCallbackPool::stats() const {
  std::lock_guard lock(impl_->mu);
  CrmStats s = impl_->counts;
  s.queued = impl_->queue.size() + impl_->running;
  return s;
}

}  // namespace assist
