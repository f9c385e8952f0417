#include "ingest/acknowledger.h"

#include "core/detail/log_record.h"
#include "core/detail/thread.h"
#include "ingest/prompt_stream.h"

namespace assist::ingest {

using detail::LogRecord;

Acknowledger::Acknowledger(Synchronizer& sync, bus::Connection& connection, std::string instance_id,
                           util::LoggerPtr log)
    : sync_(sync), connection_(connection), instance_id_(std::move(instance_id)), log_(std::move(log)) {
  thread_ = detail::named_thread("assist-ingest-ack", [this] { run(); });
}

Acknowledger::~Acknowledger() { stop(); }

void Acknowledger::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

bool Acknowledger::take(const std::string& frame_id) {
  std::lock_guard lock(mu_);
  return taken_.insert(frame_id).second;
}

void Acknowledger::untake(const std::string& frame_id) { done_with(frame_id); }

void Acknowledger::done_with(const std::string& frame_id) {
  std::lock_guard lock(mu_);
  taken_.erase(frame_id);
  if (taken_.empty()) idle_cv_.notify_all();
}

void Acknowledger::finished(TakenMessage message, SyncOutcome outcome) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      // After stop(): left for redelivery to the partition's next owner.
      ++counts_.left_unacked;
      taken_.erase(outcome.frame_id);
      return;
    }
    queue_.push_back(Finished{std::move(message), std::move(outcome)});
  }
  work_cv_.notify_one();
}

bool Acknowledger::wait_idle(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mu_);
  return idle_cv_.wait_until(lock, deadline, [&] { return taken_.empty(); });
}

std::size_t Acknowledger::taken() const {
  std::lock_guard lock(mu_);
  return taken_.size();
}

AcknowledgerCounts Acknowledger::counts() const {
  std::lock_guard lock(mu_);
  return counts_;
}

void Acknowledger::run() {
  std::deque<Finished> batch;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      work_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left
      batch.swap(queue_);
    }
    acknowledge(batch);
    batch.clear();
  }
}

// One audit wait for the whole batch; then each outcome is published and its
// message acknowledged when the PubAck (or its failure) comes: the audit log
// is the record, the outcomes stream is for followers.
void Acknowledger::acknowledge(std::deque<Finished>& batch) {
  if (const Status audited = sync_.flush_audit(); !audited.ok()) {
    log_->error(LogRecord("audit log not writable: prompts left unacknowledged, for redelivery")
                    .with("prompts", static_cast<std::uint64_t>(batch.size()))
                    .with("reason", audited.message)
                    .error(audited.code));
    for (auto& f : batch) done_with(f.outcome.frame_id);
    std::lock_guard lock(mu_);
    counts_.left_unacked += batch.size();
    return;
  }
  for (auto& f : batch) {
    const auto subject = outcome_subject(f.message.partition, f.outcome.frame_id);
    auto message = std::make_shared<TakenMessage>(std::move(f.message));
    connection_.publish_async(
        subject, encode_outcome_message(f.outcome, instance_id_, message->partition), f.outcome.frame_id,
        [this, message, frame_id = f.outcome.frame_id](Result<bus::PublishAck> published) {
          const Status acked = message->delivery->ack_async();
          {
            std::lock_guard lock(mu_);
            if (!published) ++counts_.outcome_publish_failures;
            if (acked.ok()) ++counts_.acknowledged;
          }
          if (!published || !acked.ok())
            log_->warn(LogRecord(acked.ok() ? "outcome not published (it is in the audit log)"
                                            : "acknowledgement not sent: the prompt will be redelivered")
                           .with("frame_id", frame_id)
                           .with("reason", acked.ok() ? published.error().message : acked.message));
          done_with(frame_id);
        });
  }
}

}  // namespace assist::ingest
