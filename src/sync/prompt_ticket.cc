#include "sync/prompt_ticket.h"

#include "core/detail/log_record.h"
#include "util/spawn.h"

namespace assist {

PromptTicket::State::State(std::string id, std::shared_ptr<TicketContext> ctx)
    : frame_id(std::move(id)), context(std::move(ctx)) {}

namespace {

// A user callback must not take the synchronizer thread down with it.
// `context` is null for the ticket of a refused prompt.
void call_isolated(const std::function<void(const SyncOutcome&)>& fn, const SyncOutcome& outcome,
                   TicketContext* context) {
  try {
    fn(outcome);
  } catch (...) {
    if (context != nullptr) context->callback_errors.fetch_add(1);
    const auto& log = context != nullptr ? *context->log : *util::Logger::process_default();
    log.error(detail::LogRecord("an outcome callback threw")
                  .with("frame_id", outcome.frame_id)
                  .with("exception", util::describe(std::current_exception())));
  }
}

SyncOutcome no_prompt() {
  SyncOutcome o;
  o.kind = OutcomeKind::failed;
  o.reason = "no prompt: this ticket belongs to a refused prompt (see SubmitResult::error)";
  return o;
}

}  // namespace

void PromptTicket::State::complete(const SyncOutcome& outcome) {
  std::vector<std::function<void(const SyncOutcome&)>> to_call;
  bool fulfil = false;
  {
    std::lock_guard lock(mu);
    if (result) return;  // exactly once
    result = outcome;
    to_call.swap(waiters);
    fulfil = promise.has_value();
  }
  // After the lock: result is set, so future() no longer touches the promise.
  if (fulfil) promise->set_value(outcome);
  completed.notify_all();
  for (auto& fn : to_call) call_isolated(fn, outcome, context.get());
}

SyncOutcome PromptTicket::State::wait() {
  std::unique_lock lock(mu);
  completed.wait(lock, [this] { return result.has_value(); });
  return *result;
}

std::shared_future<SyncOutcome> PromptTicket::State::future() {
  std::lock_guard lock(mu);
  if (!promise) {
    promise.emplace();
    shared = promise->get_future().share();
    if (result) promise->set_value(*result);
  }
  return shared;
}

const std::string& PromptTicket::frame_id() const {
  static const std::string none;
  return state_ ? state_->frame_id : none;
}

bool PromptTicket::done() const {
  if (!state_) return false;
  std::lock_guard lock(state_->mu);
  return state_->result.has_value();
}

SyncOutcome PromptTicket::wait() const { return state_ ? state_->wait() : no_prompt(); }

std::shared_future<SyncOutcome> PromptTicket::future() const {
  if (state_) return state_->future();
  std::promise<SyncOutcome> none;
  none.set_value(no_prompt());
  return none.get_future().share();
}

void PromptTicket::State::on_complete(std::function<void(const SyncOutcome&)> fn) {
  std::optional<SyncOutcome> known;
  {
    std::lock_guard lock(mu);
    if (result) known = result;
    else waiters.push_back(std::move(fn));
  }
  if (known) call_isolated(fn, *known, context.get());
}

void PromptTicket::then(std::function<void(const SyncOutcome&)> fn) const {
  if (state_) state_->on_complete(std::move(fn));
  else call_isolated(fn, no_prompt(), nullptr);
}

}  // namespace assist
