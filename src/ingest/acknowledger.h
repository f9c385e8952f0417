// The last step of a consumed prompt (internal, docs/scale-out.md
// "Acknowledge after the outcome"): once its outcome is reported, the
// acknowledger waits for the audit log to hold it (Synchronizer::flush_audit,
// one wait per batch), publishes it on the outcomes stream (Nats-Msg-Id =
// frame_id, so a second publication is stored once), then acknowledges the
// JetStream message. It also keeps the set of prompts taken and not yet
// acknowledged, so a redelivery of one still at work is not submitted twice.
#ifndef ASSIST_SRC_INGEST_ACKNOWLEDGER_H
#define ASSIST_SRC_INGEST_ACKNOWLEDGER_H

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>

#include "assist/outcome.h"
#include "assist/synchronizer.h"
#include "bus/connection.h"
#include "bus/pull_consumer.h"
#include "util/logger.h"

namespace assist::ingest {

// A message taken from a partition, with what it needs to be acknowledged.
struct TakenMessage {
  std::uint32_t partition = 0;
  std::shared_ptr<bus::PullConsumer> consumer;  // keeps the delivery valid
  std::shared_ptr<bus::Delivery> delivery;
};

struct AcknowledgerCounts {
  std::uint64_t acknowledged = 0;     // messages acked after their outcome was audited
  std::uint64_t left_unacked = 0;     // the audit log failed, or finished after stop(): left for redelivery
  std::uint64_t outcome_publish_failures = 0;
};

// Thread-safe. `sync` and `connection` outlive it.
class Acknowledger {
 public:
  Acknowledger(Synchronizer& sync, bus::Connection& connection, std::string instance_id, util::LoggerPtr log);
  // stop()s. Destroy it after the Connection, whose destruction may still
  // complete publications this acknowledger started.
  ~Acknowledger();
  Acknowledger(const Acknowledger&) = delete;
  Acknowledger& operator=(const Acknowledger&) = delete;

  // Marks `frame_id` taken; false when it already is (a redelivery of a
  // prompt still at work here: leave that message alone).
  bool take(const std::string& frame_id);
  // Forgets a taken frame_id without acknowledging (its message is left for redelivery).
  void untake(const std::string& frame_id);
  // `message`'s prompt ended with `outcome`: audit, publish, acknowledge
  // (after stop(): nothing, the message is left for redelivery).
  void finished(TakenMessage message, SyncOutcome outcome);
  // Waits until nothing taken is left unacknowledged, or `deadline`; true when nothing is.
  bool wait_idle(std::chrono::steady_clock::time_point deadline);
  std::size_t taken() const;
  // Ends the thread after the work queued so far; nothing is published after
  // it returns. Idempotent.
  void stop();
  AcknowledgerCounts counts() const;

 private:
  struct Finished {
    TakenMessage message;
    SyncOutcome outcome;
  };
  void run();
  void acknowledge(std::deque<Finished>& batch);
  void done_with(const std::string& frame_id);

  Synchronizer& sync_;
  bus::Connection& connection_;
  const std::string instance_id_;
  util::LoggerPtr log_;

  mutable std::mutex mu_;  // guards what follows
  std::condition_variable work_cv_;
  std::condition_variable idle_cv_;
  std::unordered_set<std::string> taken_;
  std::deque<Finished> queue_;
  AcknowledgerCounts counts_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace assist::ingest

#endif
