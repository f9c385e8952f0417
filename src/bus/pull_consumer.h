// A durable pull consumer on one subject of a stream, and the messages it
// delivers (internal).
#ifndef ASSIST_SRC_BUS_PULL_CONSUMER_H
#define ASSIST_SRC_BUS_PULL_CONSUMER_H

#include <nats/nats.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bus/bus_error.h"
#include "bus/connection.h"

namespace assist::bus {

struct ConsumerConfig {
  std::string stream;
  std::string durable;  // the consumer's name; no '.'
  std::string subject;  // the one subject it delivers: a partition, "assist.prompts.3"
  // A message neither acked, naked nor marked in progress within this time is delivered again.
  std::chrono::milliseconds ack_wait{std::chrono::seconds(30)};
  // Deliveries of one message before the server stops; none: no limit.
  std::optional<int> max_deliver;
};

// One delivered message. Must not outlive the PullConsumer that fetched it.
// Not thread-safe: one thread at a time.
class Delivery {
 public:
  std::string_view data() const;
  std::uint64_t stream_sequence() const { return stream_sequence_; }
  // 1 for the first delivery, 2 for the first redelivery, ...
  std::uint64_t delivery_count() const { return delivery_count_; }
  // The Nats-Msg-Id it was published with; empty for none.
  std::string_view msg_id() const { return msg_id_; }

  // Acknowledges it and waits for the server's confirmation (up to
  // request_timeout): it will not be delivered again. timeout, unreachable,
  // failed (acked or naked already).
  Status ack();
  // Acknowledges it without waiting for the server's confirmation: cheaper
  // than ack(), but an ack lost on the way leaves it to be delivered again
  // after AckWait. unreachable, failed (acked or naked already).
  Status ack_async();
  // Asks for a redelivery after `delay` (at once for 0). Does not wait for the server.
  Status nak(std::chrono::milliseconds delay);
  // Restarts the AckWait: the work on it goes on. Does not wait for the server.
  Status in_progress();

 private:
  friend class PullConsumer;
  struct MessageDeleter {
    void operator()(natsMsg* message) const { natsMsg_Destroy(message); }
  };
  Delivery(natsMsg* message, std::uint64_t stream_sequence, std::uint64_t delivery_count, std::string_view msg_id);
  std::string what(std::string_view action) const;

  std::unique_ptr<natsMsg, MessageDeleter> message_;
  std::uint64_t stream_sequence_;
  std::uint64_t delivery_count_;
  std::string_view msg_id_;  // in message_'s headers
};

// Not thread-safe: one thread at a time. Must not outlive its Connection.
// Destruction leaves the durable consumer on the server, where another
// PullConsumer with the same configuration resumes it.
class PullConsumer {
 public:
  // Creates the durable consumer (or finds it with this configuration) and
  // subscribes to it. no_stream when the stream does not exist; bad_config
  // when the consumer exists with another configuration; timeout, unreachable.
  static Result<PullConsumer> open(Connection& connection, const ConsumerConfig& config);

  // Waits up to `timeout` for up to `batch` messages; returns those that came
  // (none after `timeout` is no error). unreachable; failed when a message
  // is not a JetStream one (the batch is dropped and redelivered after AckWait).
  Result<std::vector<Delivery>> fetch(int batch, std::chrono::milliseconds timeout);

 private:
  struct SubscriptionDeleter {
    void operator()(natsSubscription* subscription) const { natsSubscription_Destroy(subscription); }
  };
  PullConsumer(natsSubscription* subscription, std::string name);

  std::unique_ptr<natsSubscription, SubscriptionDeleter> subscription_;
  std::string name_;  // "stream/durable", for messages
};

}  // namespace assist::bus

#endif
