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
#include "util/logger.h"

namespace assist {

// What the tickets of one synchronizer share (a ticket may outlive it):
// the count of then() callbacks that threw, and where those are logged.
struct TicketContext {
  explicit TicketContext(util::LoggerPtr l) : log(std::move(l)) {}
  std::atomic<std::uint64_t> callback_errors{0};
  const util::LoggerPtr log;
};

// Issues the ticket of an accepted prompt (PromptTicket's constructor is private).
struct TicketFactory {
  static PromptTicket issue(std::shared_ptr<PromptTicket::State> state) { return PromptTicket(std::move(state)); }
};

struct PromptTicket::State {
  State(std::string id, std::shared_ptr<TicketContext> context);
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
  const std::shared_ptr<TicketContext> context;
  std::mutex mu;
  std::condition_variable completed;
  std::optional<SyncOutcome> result;
  std::vector<std::function<void(const SyncOutcome&)>> waiters;
  std::optional<std::promise<SyncOutcome>> promise;  // set once future() was asked
  std::shared_future<SyncOutcome> shared;
};

}  // namespace assist

#endif
