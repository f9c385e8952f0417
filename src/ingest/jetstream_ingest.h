// Scale-out through NATS JetStream (internal; issue 20, docs/scale-out.md):
// the `[ingest] mode = "nats"` of `assist-sync run`. One per process, beside
// the synchronizer:
// - the route of the HTTP API: a submitted prompt is prepared and validated
//   as the synchronizer would, given its frame_id and published to its
//   session's partition (Nats-Msg-Id = frame_id); the caller's ticket is
//   issued on the PubAck and completed when the prompt's outcome appears on
//   the outcomes stream, whichever instance recorded it;
// - the consumer: a share of the partitions, held by lease (PartitionOwner),
//   each fetched by a PartitionWorker into the synchronizer, each message
//   acknowledged after its outcome is audited (Acknowledger).
// NATS unreachable at start is retried with backoff (health() says why
// meanwhile); a connection lost later is reconnected by libnats.
#ifndef ASSIST_SRC_INGEST_JETSTREAM_INGEST_H
#define ASSIST_SRC_INGEST_JETSTREAM_INGEST_H

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "assist/synchronizer.h"
#include "bus/connection.h"

namespace assist::ingest {

struct IngestOptions {
  bus::ConnectOptions connect;  // servers, credentials file, timeouts (on_connection_change is ours)
  std::string stream = "ASSIST_PROMPTS";
  // Both from [ingest] (service/config.h holds the defaults).
  std::uint32_t partitions = 0;
  std::chrono::milliseconds lease_ttl{0};
  std::string instance_id;
  // A message fetched and not acknowledged within this is delivered again (to
  // the partition's owner by then). Longer than a prompt's life in the
  // synchronizer (freshness, ACK timeout, stop drain), so a prompt still at
  // work is not redelivered; a redelivered one is stale by the time it comes.
  std::chrono::milliseconds ack_wait{30'000};
  // From [ingest] replicas: how many servers hold each message of the two
  // streams and each lease (1..5). ensure_stream and the lease bucket update
  // streams that exist with another count.
  int replicas = 1;
  // From [ingest] max_age_seconds: the retention of the prompt stream and the
  // outcomes stream (0: no age limit). At least the 2-minute duplicate window
  // and longer than ack_wait.
  std::chrono::milliseconds max_age{0};
  // Connecting at start: the first retry after retry_initial, doubling up to retry_max.
  std::chrono::milliseconds retry_initial{500};
  std::chrono::milliseconds retry_max{30'000};
  // How the route prepares and validates prompts: the synchronizer's own options.
  SynchronizerOptions acceptance;
  // Told of each prompt accepted by this instance's route and of its outcome
  // (GET /v1/prompts/{frame_id}); not owned, outlives this. nullptr: none.
  OutcomeObserver* observer = nullptr;
};

// What it did, for /metrics and tests.
struct IngestStats {
  std::uint64_t published = 0;          // prompts stored by JetStream through the route
  std::uint64_t publish_failures = 0;   // refused with ingest_unavailable
  std::uint64_t consumed = 0;           // prompts handed to the synchronizer from the partitions
  std::uint64_t redelivered = 0;        // of those, delivered before
  std::uint64_t malformed = 0;          // stream messages that were not PROMPT_SYNC frames (dropped, logged)
  std::uint64_t acknowledged = 0;       // messages acknowledged after their audited outcome
  std::uint64_t partitions_held = 0;
};

// Prometheus text for the figures (assist_sync_ingest_*), appended to /metrics.
std::string prometheus_text(const IngestStats& stats, bool healthy);

class JetStreamIngest {
 public:
  // `sync` outlives it and is started before start().
  JetStreamIngest(IngestOptions options, Synchronizer& sync);
  // stop(0).
  ~JetStreamIngest();
  JetStreamIngest(const JetStreamIngest&) = delete;
  JetStreamIngest& operator=(const JetStreamIngest&) = delete;

  // Checks the options (bad_config naming the one at fault), then starts the
  // thread that connects (retrying with backoff), creates the streams and
  // consumes its share of the partitions.
  Status start();

  // The HTTP API's route (service::PromptRoute): calls `done` once, on any
  // thread, with the ticket (after the PubAck) or the refusal:
  // invalid_prompt, ingest_unavailable (NATS unreachable, no PubAck in time).
  // Thread-safe.
  void submit(AssistPrompt prompt, std::function<void(SubmitResult)> done);

  // Ok when connected with the streams in place; else why not (for /readyz). Thread-safe.
  Status health() const;

  IngestStats stats() const;

  // Stops fetching, waits up to `drain` for the prompts taken to be
  // acknowledged (renewing the leases meanwhile), releases the partitions,
  // closes the connection. Call before the synchronizer's stop(), which
  // would end what is left. Idempotent; submit() refuses afterwards.
  void stop(std::chrono::milliseconds drain);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace assist::ingest

#endif
