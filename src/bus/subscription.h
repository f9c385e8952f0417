// A subscription whose messages go to a callback (internal): a plain (core
// NATS) one to a subject pattern, every message published while it is open,
// or one following a JetStream stream through an ordered consumer. Nothing is
// acknowledged.
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
  // subscription; the views are valid until it returns. Must not throw;
  // should not block for long: messages wait meanwhile (libnats drops them
  // past its pending limits, 65536 messages by default).
  using OnMessage = std::function<void(std::string_view subject, std::string_view data)>;

  // Subscribes to `subject_pattern` ("assist.outcomes.>", "a.*.b").
  // bad_config for an empty or invalid pattern; unreachable.
  static Result<Subscription> open(Connection& connection, std::string subject_pattern, OnMessage on_message);

  enum class StreamStart {
    stored,    // the messages the stream stores, then each new one
    new_only,  // the messages stored after it is opened
  };
  // Follows the messages `stream` stores on subjects matching
  // `subject_pattern`, in stream order, through an ordered consumer:
  // ephemeral, unacknowledged, recreated by libnats where it sees a gap (a
  // reconnection), so none is skipped or repeated while it is open.
  // no_stream when the stream does not exist; bad_config for an invalid
  // pattern; jetstream_unavailable, timeout, unreachable.
  static Result<Subscription> follow_stream(Connection& connection, std::string stream, std::string subject_pattern,
                                            StreamStart start, OnMessage on_message);

  // Unsubscribes and returns once the callback has returned for the last time.
  ~Subscription();
  Subscription(Subscription&& other) noexcept = default;
  Subscription& operator=(Subscription&&) = delete;

 private:
  struct State;
  explicit Subscription(std::shared_ptr<State> state);
  // Has libnats call on_complete after its last message callback.
  static Result<Subscription> completed_when_closed(std::shared_ptr<State> state, std::string_view what);
  static void on_message(natsConnection*, natsSubscription*, natsMsg* message, void* state);
  static void on_complete(void* state);

  std::shared_ptr<State> state_;  // null once moved from
};

}  // namespace assist::bus

#endif
