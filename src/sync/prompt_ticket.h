// The shared state behind a PromptTicket (internal).
#ifndef ASSIST_SRC_SYNC_PROMPT_TICKET_H
#define ASSIST_SRC_SYNC_PROMPT_TICKET_H

#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "assist/synchronizer.h"

namespace assist {

struct PromptTicket::State {
  explicit State(std::string id);
  // Records the outcome (the first call wins) and runs the waiters.
  void complete(const SyncOutcome& outcome);
  // Calls `fn` once with the outcome: at once if known, else from complete().
  void on_complete(std::function<void(const SyncOutcome&)> fn);

  const std::string frame_id;
  std::mutex mu;
  std::optional<SyncOutcome> result;
  std::vector<std::function<void(const SyncOutcome&)>> waiters;
  std::promise<SyncOutcome> promise;
  std::shared_future<SyncOutcome> future;
};

}  // namespace assist

#endif
