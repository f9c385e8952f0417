// The synchronizer's calls as Asio asynchronous operations, for a caller that
// runs on an Asio executor (an HTTP server, a coroutine). Each takes any
// completion token (a callback, boost::asio::use_awaitable, use_future,
// deferred, as_tuple(...)), in the manner of Boost.Beast's async_ functions,
// and completes through the handler's associated executor, never inline.
// Only this header brings in Asio: assist/synchronizer.h stays free of it.
#ifndef ASSIST_ASIO_H
#define ASSIST_ASIO_H

#include <atomic>
#include <memory>
#include <type_traits>
#include <utility>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>

#include "assist/synchronizer.h"

namespace assist {

namespace detail {

// One wait for an outcome: the first of the outcome and a cancellation
// completes the handler (posted to its executor, which is kept busy until
// then); the later one finds it done and does nothing.
template <class Handler>
class OutcomeWait : public std::enable_shared_from_this<OutcomeWait<Handler>> {
 public:
  explicit OutcomeWait(Handler handler)
      : handler_(std::move(handler)), work_(boost::asio::get_associated_executor(handler_)) {}

  void complete(boost::system::error_code error, SyncOutcome outcome) {
    if (done_.exchange(true)) return;
    auto executor = work_.get_executor();
    boost::asio::post(executor, [self = this->shared_from_this(), error, outcome = std::move(outcome)]() mutable {
      // Dropping the slot's handler also drops its reference to this wait.
      auto slot = boost::asio::get_associated_cancellation_slot(self->handler_);
      if (slot.is_connected()) slot.clear();
      auto work = std::move(self->work_);
      std::move(self->handler_)(error, std::move(outcome));
    });
  }

  Handler& handler() { return handler_; }

 private:
  Handler handler_;
  boost::asio::executor_work_guard<boost::asio::associated_executor_t<Handler>> work_;
  std::atomic<bool> done_{false};
};

struct InitiateOutcomeWait {
  // `ticket` is the caller's, read here only: its shared state holds the callback.
  template <class Handler>
  void operator()(Handler&& handler, const PromptTicket* ticket) const {
    auto wait = std::make_shared<OutcomeWait<std::decay_t<Handler>>>(std::forward<Handler>(handler));
    auto slot = boost::asio::get_associated_cancellation_slot(wait->handler());
    if (slot.is_connected()) {
      slot.assign([wait](boost::asio::cancellation_type type) {
        if (type != boost::asio::cancellation_type::none)
          wait->complete(boost::asio::error::operation_aborted, SyncOutcome{});
      });
    }
    ticket->then([wait](const SyncOutcome& outcome) { wait->complete({}, outcome); });
  }
};

struct InitiateSubmit {
  template <class Handler>
  void operator()(Handler&& handler, Synchronizer* sync, AssistPrompt* prompt) const {
    auto executor = boost::asio::get_associated_executor(handler);
    boost::asio::post(executor, [handler = std::forward<Handler>(handler),
                                 result = sync->sync_prompt(std::move(*prompt))]() mutable {
      std::move(handler)(std::move(result));
    });
  }
};

}  // namespace detail

// Waits for the outcome of `ticket` without blocking the caller's executor.
// Completes with (boost::system::error_code, SyncOutcome), Asio's error
// convention (use_awaitable throws it, as_tuple returns it): no error and the outcome; or
// boost::asio::error::operation_aborted when cancelled through the handler's
// cancellation slot (any cancellation type) before the outcome came. Only the
// wait is cancelled: the prompt goes on to its outcome, which the ticket still
// gives. On an invalid ticket (no prompt behind it) completes with its
// `failed` outcome. REQUIRES: `ticket` lives until the operation starts (with
// a deferred token, until it is launched). Thread-safe.
template <class CompletionToken>
auto async_wait(const PromptTicket& ticket, CompletionToken&& token) {
  return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, SyncOutcome)>(
      detail::InitiateOutcomeWait{}, token, &ticket);
}

// Synchronizer::sync_prompt as an asynchronous operation: the same answer
// (sync_prompt never blocks), delivered through the handler's executor.
// Not cancellable: it completes at once. REQUIRES: `sync` and `prompt` live
// until the operation starts (with a deferred token, until it is launched).
// Thread-safe.
template <class CompletionToken>
auto async_sync_prompt(Synchronizer& sync, AssistPrompt&& prompt, CompletionToken&& token) {
  return boost::asio::async_initiate<CompletionToken, void(SubmitResult)>(detail::InitiateSubmit{}, token, &sync,
                                                                           &prompt);
}

}  // namespace assist

#endif  // ASSIST_ASIO_H
