#include "bus/subscription.h"

#include <condition_variable>
#include <mutex>

#include <fmt/format.h>

#include "bus/nats_status.h"

namespace assist::bus {

struct Subscription::State {
  OnMessage on_message;
  natsSubscription* subscription = nullptr;
  std::mutex mutex;
  std::condition_variable completed_cv;
  bool completed = false;  // libnats' last callback for it has returned
  // Keeps this State alive until on_complete has returned, so that the
  // destroying thread never frees it under libnats' thread.
  std::shared_ptr<State> kept_until_complete;
};

Subscription::Subscription(std::shared_ptr<State> state) : state_(std::move(state)) {}

Result<Subscription> Subscription::open(Connection& connection, std::string subject_pattern, OnMessage on_message) {
  auto state = std::make_shared<State>();
  state->on_message = std::move(on_message);
  const auto what = fmt::format("subscribe to {}", subject_pattern);
  const auto s = natsConnection_Subscribe(&state->subscription, connection.nats_connection(),
                                          subject_pattern.c_str(), &Subscription::on_message, state.get());
  if (s == NATS_INVALID_SUBJECT) return Status{make_error_code(BusErrc::bad_config), what + ": not a subject pattern"};
  if (s != NATS_OK) return nats_failure(what, s);
  return completed_when_closed(std::move(state), what);
}

Result<Subscription> Subscription::follow_stream(Connection& connection, std::string stream,
                                                 std::string subject_pattern, StreamStart start,
                                                 OnMessage on_message) {
  auto state = std::make_shared<State>();
  state->on_message = std::move(on_message);
  const auto what = fmt::format("follow {} in stream {}", subject_pattern, stream);
  jsSubOptions options;
  jsSubOptions_Init(&options);
  options.Stream = stream.c_str();
  options.Ordered = true;
  if (start == StreamStart::new_only) options.Config.DeliverPolicy = js_DeliverNew;
  jsErrCode js_error{};
  const auto s = js_Subscribe(&state->subscription, connection.jetstream(), subject_pattern.c_str(),
                              &Subscription::on_message, state.get(), nullptr, &options, &js_error);
  if (s == NATS_INVALID_SUBJECT) return Status{make_error_code(BusErrc::bad_config), what + ": not a subject pattern"};
  if (s != NATS_OK) return nats_failure(what, s, js_error);
  return completed_when_closed(std::move(state), what);
}

Result<Subscription> Subscription::completed_when_closed(std::shared_ptr<State> state, std::string_view what) {
  state->kept_until_complete = state;
  const auto s = natsSubscription_SetOnCompleteCB(state->subscription, &Subscription::on_complete, state.get());
  if (s != NATS_OK) {
    // Only a closed subscription refuses it: its connection was closed.
    state->kept_until_complete.reset();
    natsSubscription_Destroy(state->subscription);
    return nats_failure(what, s);
  }
  return Subscription(std::move(state));
}

Subscription::~Subscription() {
  if (!state_) return;
  // Closes it locally whether or not the server can be told; libnats' thread
  // for it then calls on_complete after the last message callback.
  natsSubscription_Unsubscribe(state_->subscription);
  {
    std::unique_lock lock(state_->mutex);
    state_->completed_cv.wait(lock, [this] { return state_->completed; });
  }
  natsSubscription_Destroy(state_->subscription);
}

void Subscription::on_message(natsConnection*, natsSubscription*, natsMsg* message, void* state) {
  const std::string_view subject = natsMsg_GetSubject(message);
  const std::string_view data(natsMsg_GetData(message), static_cast<std::size_t>(natsMsg_GetDataLength(message)));
  static_cast<State*>(state)->on_message(subject, data);
  natsMsg_Destroy(message);
}

void Subscription::on_complete(void* state) {
  auto& completing = *static_cast<State*>(state);
  const auto kept = std::move(completing.kept_until_complete);  // released after the lock below
  std::lock_guard lock(completing.mutex);
  completing.completed = true;
  completing.completed_cv.notify_all();
}

}  // namespace assist::bus
