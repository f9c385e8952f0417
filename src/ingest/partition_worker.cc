#include "ingest/partition_worker.h"

#include <chrono>

#include "core/detail/log_record.h"
#include "core/detail/thread.h"
#include "ingest/prompt_stream.h"

namespace assist::ingest {

using detail::LogRecord;
using namespace std::chrono_literals;

namespace {
constexpr int kFetchBatch = 256;
constexpr auto kFetchTimeout = 100ms;  // bounds how long stopping waits for the thread
constexpr auto kFullBackoff = 2ms;     // the synchronizer is at max_pending
constexpr auto kTroubleBackoff = 200ms;
}  // namespace

PartitionWorker::PartitionWorker(std::uint32_t partition, std::shared_ptr<bus::PullConsumer> consumer,
                                 Synchronizer& sync, std::shared_ptr<Acknowledger> acknowledger,
                                 ConsumeCounters& counters, util::LoggerPtr log)
    : partition_(partition),
      consumer_(std::move(consumer)),
      sync_(sync),
      acknowledger_(std::move(acknowledger)),
      counters_(counters),
      log_(std::move(log)) {
  thread_ = detail::named_thread("assist-ingest-p", [this] { run(); });
}

PartitionWorker::~PartitionWorker() {
  stopping_ = true;
  thread_.join();
}

void PartitionWorker::run() {
  while (!stopping_) {
    auto fetched = consumer_->fetch(kFetchBatch, kFetchTimeout);
    if (!fetched) {
      log_->warn(LogRecord("cannot fetch prompts: retrying")
                     .with("partition", partition_)
                     .with("reason", fetched.error().message)
                     .error(fetched.error().code));
      std::this_thread::sleep_for(kTroubleBackoff);
      continue;
    }
    for (auto& delivery : fetched.value()) take(std::make_shared<bus::Delivery>(std::move(delivery)));
  }
}

void PartitionWorker::take(std::shared_ptr<bus::Delivery> delivery) {
  auto frame = decode_prompt_message(delivery->data());
  if (!frame) {
    // Not ours to deliver (a producer's mistake): nothing was accepted, so no outcome; say so and drop it.
    counters_.malformed.fetch_add(1);
    log_->error(LogRecord("a message of the prompt stream is not a PROMPT_SYNC frame: acknowledged and dropped")
                    .with("partition", partition_)
                    .with("stream_sequence", delivery->stream_sequence())
                    .with("reason", frame.error().message));
    (void)delivery->ack_async();
    return;
  }
  if (!acknowledger_->take(frame->frame_id)) return;  // still at work here: its first delivery will be acked
  if (!submit(delivery, frame.value())) acknowledger_->untake(frame->frame_id);
}

bool PartitionWorker::submit(const std::shared_ptr<bus::Delivery>& delivery, PromptSync& frame) {
  const bool redelivered = delivery->delivery_count() > 1;
  const IngestAssignment assigned{frame.frame_id, delivery->stream_sequence() << kSequenceShift, redelivered};
  for (;;) {
    auto result = sync_.sync_prompt(frame.payload, assigned);
    if (result) {
      counters_.submitted.fetch_add(1);
      if (redelivered) counters_.redelivered.fetch_add(1);
      TakenMessage message{partition_, consumer_, delivery};
      // The acknowledger, not this worker: the lease may be lost (the worker gone) before the outcome.
      result->then([ack = acknowledger_, message](const SyncOutcome& outcome) { ack->finished(message, outcome); });
      return true;
    }
    const auto& error = result.error();
    if (error.code == SubmitErrc::queue_full) {
      if (stopping_) return false;
      std::this_thread::sleep_for(kFullBackoff);
      continue;
    }
    if (error.code == SubmitErrc::invalid_prompt) {
      // Audited by the synchronizer as REJECTED_VALIDATION: that is its outcome.
      SyncOutcome outcome;
      outcome.kind = OutcomeKind::rejected_validation;
      outcome.frame_id = frame.frame_id;
      outcome.reason = error.message;
      acknowledger_->finished(TakenMessage{partition_, consumer_, delivery}, std::move(outcome));
      return true;
    }
    log_->warn(LogRecord("the synchronizer does not take prompts: left for redelivery")
                   .with("partition", partition_)
                   .with("frame_id", frame.frame_id)
                   .with("reason", error.message));
    std::this_thread::sleep_for(kTroubleBackoff);
    return false;
  }
}

}  // namespace assist::ingest
