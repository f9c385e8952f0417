// Consumes one partition of the prompt stream while this instance holds its
// lease (internal, docs/scale-out.md "Consumption"): a thread fetches from the
// partition's durable consumer, in stream order, and hands each prompt to the
// synchronizer with the frame_id given at ingest, a sequence floor from the
// stream sequence, and whether it is a redelivery; its outcome goes to the
// Acknowledger.
#ifndef ASSIST_SRC_INGEST_PARTITION_WORKER_H
#define ASSIST_SRC_INGEST_PARTITION_WORKER_H

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>

#include "assist/synchronizer.h"
#include "bus/pull_consumer.h"
#include "ingest/acknowledger.h"
#include "util/logger.h"

namespace assist::ingest {

// A frame's sequence floor: the stream sequence shifted left by this many
// bits, so that a session's frames reordered here (an override first) can
// take the numbers between two stream sequences without reaching the next.
inline constexpr unsigned kSequenceShift = 16;

// What the workers of an instance did; shared by them, outlives them.
struct ConsumeCounters {
  std::atomic<std::uint64_t> submitted{0};
  std::atomic<std::uint64_t> redelivered{0};  // of those, delivered before (delivery count above 1)
  std::atomic<std::uint64_t> malformed{0};    // not a PROMPT_SYNC frame: logged, acknowledged, dropped
};

class PartitionWorker {
 public:
  // Starts fetching `partition` from `consumer`. `sync` and `counters` outlive it.
  PartitionWorker(std::uint32_t partition, std::shared_ptr<bus::PullConsumer> consumer, Synchronizer& sync,
                  std::shared_ptr<Acknowledger> acknowledger, ConsumeCounters& counters, util::LoggerPtr log);
  // Stops fetching and joins the thread (within one fetch timeout); prompts
  // already handed over go on to their outcome and acknowledgement.
  ~PartitionWorker();
  PartitionWorker(const PartitionWorker&) = delete;
  PartitionWorker& operator=(const PartitionWorker&) = delete;


 private:
  void run();
  void take(std::shared_ptr<bus::Delivery> delivery);
  // Hands the prompt over, waiting while the synchronizer is full; false
  // when it cannot take prompts (stopped, audit down): left for redelivery.
  bool submit(const std::shared_ptr<bus::Delivery>& delivery, PromptSync& frame);

  const std::uint32_t partition_;
  const std::shared_ptr<bus::PullConsumer> consumer_;
  Synchronizer& sync_;
  const std::shared_ptr<Acknowledger> acknowledger_;
  ConsumeCounters& counters_;
  util::LoggerPtr log_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace assist::ingest

#endif
