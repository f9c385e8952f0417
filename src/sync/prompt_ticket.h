// The shared state behind a PromptTicket (internal).
#ifndef ASSIST_SRC_SYNC_PROMPT_TICKET_H
#define ASSIST_SRC_SYNC_PROMPT_TICKET_H

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "assist/synchronizer.h"

namespace assist {

struct PromptTicket::State {
  // `callback_errors` counts exceptions thrown by then() callbacks; shared,
  // since a ticket may outlive its synchronizer.
  State(std::string id, std::shared_ptr<std::atomic<std::uint64_t>> callback_errors);
  // Records the outcome (the first call wins) and runs the waiters. A waiter
  // that throws is logged and counted; the others still run.
  void complete(const SyncOutcome& outcome);
  // Calls `fn` once with the outcome: at once if known, else from complete().
  void on_complete(std::function<void(const SyncOutcome&)> fn);

  // Blocks until complete() has run.
  SyncOutcome wait();
  // A future of the outcome, made on first request: most callers never ask,
  // and a std::promise costs an allocation and a futex wake on every
  // completion (its set_value runs std::call_once).
  std::shared_future<SyncOutcome> future();

  const std::string frame_id;
  const std::shared_ptr<std::atomic<std::uint64_t>> callback_errors;
  std::mutex mu;
  std::condition_variable completed;
  std::optional<SyncOutcome> result;
  std::vector<std::function<void(const SyncOutcome&)>> waiters;
  std::optional<std::promise<SyncOutcome>> promise;  // set once future() was asked
  std::shared_future<SyncOutcome> shared;
};

}  // namespace assist

#endif
