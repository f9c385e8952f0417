// The bounded worker pool behind SynchronizerOptions::crm_callback (internal).
#ifndef ASSIST_SRC_CRM_CALLBACK_POOL_H
#define ASSIST_SRC_CRM_CALLBACK_POOL_H

#include <cstddef>
#include <memory>

#include "assist/clock.h"
#include "assist/crm.h"

namespace assist {

// Runs `callback` on `workers` threads fed by a queue of at most
// `queue_capacity` updates, so a slow callback never stalls the synchronizer.
// An exception from the callback counts as a failure (its what() is the
// error). Thread-safe.
class CrmCallbackPool {
 public:
  CrmCallbackPool(CrmCallback callback, std::size_t workers, std::size_t queue_capacity,
                  CrmReportHandler on_report = {}, Clock* clock = nullptr);
  // stop()s with an immediate deadline.
  ~CrmCallbackPool();
  CrmCallbackPool(const CrmCallbackPool&) = delete;
  CrmCallbackPool& operator=(const CrmCallbackPool&) = delete;

  // Queues `update`; never waits. False (and a `dropped` report) when the
  // queue is full or the pool is stopping.
  bool submit(CrmUpdate update);

  // Refuses new updates, runs queued ones until `deadline` (the clock's steady
  // time), drops the rest (reported), and waits for running callbacks to
  // return until the deadline: one still running then is abandoned (reported
  // failed; its thread ends on its own and reports nothing more). True when
  // nothing was dropped or abandoned. Idempotent. Not from a worker thread.
  bool stop(Clock::steady_time deadline);
  // True on one of the pool's worker threads (inside a callback).
  bool on_worker_thread() const;

  CrmStats stats() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace assist

#endif
