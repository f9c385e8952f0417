// The synchronizer's machinery behind the public Synchronizer: the
// synchronizer thread's io_context, the token provider, the scheduler and
// the pool; acceptance (Intake) and event routing (EventRouter); and the
// lifecycle: start with its checks, the fatal state, and a bounded stop.
// The deterministic simulation (tests/sim) builds one with in-memory seams
// and drives its io_context itself.
#ifndef ASSIST_SRC_SYNC_SYNCHRONIZER_CORE_H
#define ASSIST_SRC_SYNC_SYNCHRONIZER_CORE_H

#include <atomic>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "assist/synchronizer.h"
#include "audit/audit_log.h"
#include "sync/event_router.h"
#include "sync/intake.h"
#include "sync/scheduler.h"
#include "transport/connection.h"
#include "transport/pool.h"
#include "transport/token_provider.h"
#include "util/logger.h"
#include "util/timer.h"

namespace assist::sync {

// Replaceable parts, for the simulation. Empty members: the real ones.
struct Seams {
  transport::ConnectionFactory connect;       // WebSocket connections to realtime_url
  transport::TokenTransport token_transport;  // HTTP(S) requests to token_url
  // False: the caller runs io() itself (poll it) instead of a thread of ours.
  bool own_thread = true;
  // Seeds frame_ids (replayable runs); nullopt: the OS.
  std::optional<std::uint64_t> frame_id_seed;
};

class SynchronizerCore final : public Placement {
 public:
  SynchronizerCore(SynchronizerOptions options, Seams seams = {});
  ~SynchronizerCore() override;

  // See Synchronizer. Thread-safe where Synchronizer's are.
  Status start();
  SubmitResult submit(AssistPrompt prompt, std::optional<IngestAssignment> assigned = std::nullopt) {
    return intake_.submit(std::move(prompt), std::move(assigned));
  }
  std::size_t room() const { return intake_.room(); }
  Status flush_audit();
  void stop();
  bool ready() const;
  SynchronizerStatus status() const;
  MetricsSnapshot metrics() const;

  // For a caller that runs io() itself (Seams::own_thread false): begin_stop()
  // starts the stop on io(); once stop_drained() the caller calls stop(),
  // which closes the CRM sinks and the audit log.
  void begin_stop();
  bool stop_drained() const { return drained_.load(); }
  boost::asio::io_context& io() { return io_; }
  std::size_t queued() const { return scheduler_.queued(); }
  std::size_t inflight() const { return scheduler_.inflight(); }

  // Placement
  std::optional<transport::LinkId> place_session(const std::string& session_id) override;
  std::size_t sessions_on(transport::LinkId link) const override;
  void release_session(const std::string& session_id) override;
  void wake(transport::LinkId link) override;

 private:
  enum class Phase { created, running, stopping, stopped };

  Status check_options();
  void take_inbox();
  void take_whole_inbox();
  void fail_closed();
  void give_up(std::error_code error, std::string detail);
  void report_fatal();
  void on_prompt_ended();
  boost::asio::awaitable<void> drain_and_close(Clock::steady_time deadline);
  bool on_own_threads() const;
  void run_io();
  void finish_stop();

  SynchronizerOptions options_;
  Seams seams_;
  Clock& clock_;
  SeededRandom owned_random_;
  Random& random_;
  util::LoggerPtr log_;
  boost::asio::io_context io_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{io_.get_executor()};
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<CrmCallbackPool> crm_pool_;
  std::unique_ptr<CrmWebhook> crm_webhook_;
  EventRouter router_;
  Intake intake_;
  transport::TokenProvider tokens_;
  Scheduler scheduler_;
  transport::Pool pool_;
  std::vector<std::unique_ptr<Entry>> taken_;  // synchronizer thread only: taken from the inbox,
  std::size_t taken_next_ = 0;                 // handed to the scheduler up to here
  util::Timer settled_;                        // cancelled when the last pending prompt ends while draining
  bool draining_ = false;                      // synchronizer thread only
  bool gave_up_ = false;                       // synchronizer thread only: give_up's work has run
  std::atomic<bool> audit_failed_{false};
  std::atomic<bool> fatal_reported_{false};  // on_fatal was called (once)
  std::atomic<bool> drained_{false};
  std::thread thread_;

  mutable std::mutex mu_;  // guards what follows
  std::condition_variable stopped_cv_;
  Phase phase_ = Phase::created;
  bool finishing_ = false;
  Clock::steady_time stop_deadline_{};
  Status fatal_;
  std::promise<void> drain_done_;
};

}  // namespace assist::sync

#endif
