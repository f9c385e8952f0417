// A connection to NATS with its JetStream context (internal): streams and
// publishing with deduplication. PullConsumer (pull_consumer.h),
// Subscription (subscription.h) and LeaseBucket (lease.h) are opened on a
// Connection.
#ifndef ASSIST_SRC_BUS_CONNECTION_H
#define ASSIST_SRC_BUS_CONNECTION_H

#include <nats/nats.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "bus/bus_error.h"

namespace assist::bus {

struct ConnectOptions {
  // nats://host:port URLs, tried in turn at connect and on reconnect.
  std::vector<std::string> servers;
  // A NATS .creds file (user JWT and NKey seed); none: no authentication.
  std::optional<std::filesystem::path> credentials_file;
  // The client name the server shows in its monitoring.
  std::string client_name = "assist-sync";
  // Bounds each attempt to connect to one server.
  std::chrono::milliseconds connect_timeout{2000};
  // The pause between two rounds of reconnect attempts; reconnection never gives up.
  std::chrono::milliseconds reconnect_wait{500};
  // Bounds each JetStream request: stream and consumer management, PubAcks, acks.
  std::chrono::milliseconds request_timeout{5000};
  // Called with false when the connection drops and true when it is back,
  // on libnats' callback thread; must not block. Not called after close.
  std::function<void(bool connected)> on_connection_change;
};

// A stream of file storage that deduplicates on Nats-Msg-Id.
struct StreamConfig {
  std::string name;
  std::vector<std::string> subjects;  // subjects or patterns: "assist.prompts.*"
  // Within this window a second message with the same Nats-Msg-Id is not stored.
  std::chrono::milliseconds duplicate_window{std::chrono::minutes(2)};
  // How many servers of the cluster hold each message (1..5).
  int replicas = 1;
  // Messages older than this are discarded, acknowledged or not; 0: no age
  // limit. When set, at least duplicate_window (the server refuses less).
  std::chrono::milliseconds max_age{0};
};

// The server's acknowledgement of a published message.
struct PublishAck {
  std::uint64_t stream_sequence = 0;  // of the stored message (of the first one for a duplicate)
  bool duplicate = false;             // the msg id was seen within the window: not stored again
};

// Thread-safe: publish(), publish_async() and ensure_stream() may be called
// from any thread. Not movable: libnats' callbacks refer to it. Destruction
// completes every publish_async() still waiting for its PubAck (with
// unreachable), closes the connection and returns after libnats' last
// callback for it.
class Connection {
 public:
  // Connects to the first server of `options.servers` that accepts.
  // unreachable when none does (the message names the servers, without user
  // information); bad_config for an empty list or an unreadable credentials
  // file (named); blocks up to connect_timeout per server.
  static Result<std::unique_ptr<Connection>> connect(ConnectOptions options);

  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Creates the stream, or does nothing when it exists with this
  // configuration. When it exists with the same subjects and storage but
  // other replicas, max age or duplicate window (an operator's `nats stream
  // edit`), updates those three to `config`'s, leaving the stream's other
  // settings as they are: the caller's configuration is the source of truth.
  // bad_config, naming the difference, when its subjects or storage differ
  // (or the server refuses the update, e.g. more replicas than servers);
  // jetstream_unavailable, timeout, unreachable.
  Status ensure_stream(const StreamConfig& config);

  // Publishes `data` to `subject` with `msg_id` as its Nats-Msg-Id and waits
  // for the PubAck (up to request_timeout). no_stream when no stream stores
  // `subject`; jetstream_unavailable when no JetStream server answers for it
  // (JetStream not enabled, a cluster without quorum or without a leader for
  // the stream: the server is asked which stream stores it); timeout when the PubAck does not come (the message may be
  // stored: publish again with the same msg_id).
  Result<PublishAck> publish(std::string_view subject, std::string_view data, std::string_view msg_id);

  // Publishes like publish() without waiting for the PubAck. `done` is called
  // exactly once, on a libnats thread, with the PubAck or the error: no_stream,
  // jetstream_unavailable (as for publish()), timeout when no PubAck came within request_timeout (the message may be
  // stored: publish again with the same msg_id), unreachable when this
  // Connection is destroyed first (then on the destroying thread). When
  // publishing fails at once (bad_config, unreachable...), `done` is called on
  // the calling thread before publish_async returns. `done` must not block
  // or throw. Messages of one thread are sent, hence stored, in call order;
  // nothing bounds how many wait for their PubAck.
  void publish_async(std::string_view subject, std::string_view data, std::string_view msg_id,
                     std::function<void(Result<PublishAck>)> done);

  // The JetStream context, for the bus component's consumers and lease
  // buckets. Valid as long as this Connection.
  jsCtx* jetstream() const { return jetstream_; }
  // The core NATS connection, for the bus component's subscriptions. Valid
  // as long as this Connection.
  natsConnection* nats_connection() const { return connection_; }

 private:
  explicit Connection(ConnectOptions options);
  static void on_disconnected(natsConnection*, void* self);
  static void on_reconnected(natsConnection*, void* self);
  static void on_closed(natsConnection*, void* self);
  static void on_publish_ack(jsCtx*, natsMsg* message, jsPubAck* ack, jsPubAckErr* error, void* self);
  // Completes the publish_async() calls whose PubAck has not come, and waits
  // for the `done` of those libnats is completing.
  void complete_pending_publishes();
  // The Status of a publish to `subject` that failed with `status`. For
  // NATS_NO_RESPONDERS it asks JetStream which stream stores `subject` (one
  // question per second at most; the answer is reused meanwhile) to tell a
  // missing stream from JetStream not answering.
  Status publish_failure(std::string_view subject, natsStatus status, jsErrCode js_error);
  Status why_no_responders(std::string_view subject);

  ConnectOptions options_;
  natsConnection* connection_ = nullptr;
  jsCtx* jetstream_ = nullptr;
  std::mutex closed_mutex_;
  std::condition_variable closed_cv_;
  bool closed_ = false;
  // The `done` of each publish_async() message libnats holds, by message.
  std::mutex publishes_mutex_;
  std::condition_variable publishes_cv_;
  std::unordered_map<natsMsg*, std::function<void(Result<PublishAck>)>> pending_publishes_;
  int running_publish_callbacks_ = 0;
  bool async_publishing_started_ = false;  // libnats accepted a publish_async() message
  // why_no_responders()' last answers, by subject, and when they were asked.
  std::mutex probe_mutex_;
  std::chrono::steady_clock::time_point probed_at_;
  std::unordered_map<std::string, Status> probe_answers_;
};

// `url` as it may be shown in a log or an error: without its user
// information (user:password@, token@), or a placeholder when it is not an
// absolute URL with an authority.
std::string shown_server_url(std::string_view url);

}  // namespace assist::bus

#endif
