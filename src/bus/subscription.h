// A plain (core NATS, not JetStream) subscription to a subject pattern
// (internal): every message published to a matching subject while it is
// open goes to a callback; nothing is stored or acknowledged.
#ifndef ASSIST_SRC_BUS_SUBSCRIPTION_H
#define ASSIST_SRC_BUS_SUBSCRIPTION_H

#include <nats/nats.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "bus/bus_error.h"
#include "bus/connection.h"

namespace assist::bus {

// Must not outlive its Connection. Movable, not assignable.
class Subscription {
 public:
  // Called for each message, one at a time, on a libnats thread of this
  // subscription; the views are valid until it returns. Should not block
  // for long: messages wait meanwhile (libnats drops them past its pending
  // limits, 65536 messages by default).
  using OnMessage = std::function<void(std::string_view subject, std::string_view data)>;

  // Subscribes to `subject_pattern` ("assist.outcomes.>", "a.*.b").
  // bad_config for an empty or invalid pattern; unreachable.
  static Result<Subscription> open(Connection& connection, std::string subject_pattern, OnMessage on_message);

  // Unsubscribes and returns once the callback has returned for the last time.
  ~Subscription();
  Subscription(Subscription&& other) noexcept = default;
  Subscription& operator=(Subscription&&) = delete;

 private:
  struct State;
  explicit Subscription(std::shared_ptr<State> state);
  static void on_message(natsConnection*, natsSubscription*, natsMsg* message, void* state);
  static void on_complete(void* state);

  std::shared_ptr<State> state_;  // null once moved from
};

}  // namespace assist::bus

#endif
