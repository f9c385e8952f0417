// The synchronizer's delivery core: per-session queues, priority, supersede,
// freshness at the moment of writing, sequence numbers, in-flight tracking,
// replay decisions and outcomes. It is the transport's LinkHandler. No I/O:
// placement of sessions on links is asked of a Placement (the pool), and
// every event goes to a SchedulerSink (audit, metrics, callbacks).
// Single-threaded: every call comes from the pool's executor.
#ifndef ASSIST_SRC_SYNC_SCHEDULER_H
#define ASSIST_SRC_SYNC_SCHEDULER_H

#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <boost/unordered/unordered_flat_map.hpp>

#include "assist/clock.h"
#include "assist/outcome.h"
#include "assist/prompt.h"
#include "transport/link_handler.h"

namespace assist::sync {

using transport::FrameKey;
using transport::FrameKeyHash;
using transport::LinkId;
using transport::OutFrame;
using transport::SteadyTime;

// An accepted prompt on its way through the scheduler.
struct Entry {
  std::string frame_id;
  FrameKey key;  // of frame_id, set by Scheduler::accept
  AssistPrompt prompt;               // without its snippets: only payload_json carries them
  std::string payload_json;          // encode_prompt_payload(prompt), made off the synchronizer thread
  std::uint64_t sequence = 0;        // assigned at first write
  std::uint64_t sequence_floor = 0;  // from ingest (IngestAssignment): 0 for none
  bool redelivered = false;          // from ingest: an earlier owner may have written it
  std::optional<SteadyTime> written_at;  // last write, for write-to-ACK latency
  unsigned writes = 0;                   // times handed to a connection (more than one: replays)
  std::optional<LinkId> written_on;      // the link it was written on: the one that answers or replays it
  std::function<void(const SyncOutcome&)> done;  // called once, with the final outcome
};

// What is remembered of a delivered prompt, so later feedback can be
// attributed (PROMPT_FEEDBACK carries only frame_id and session_id).
struct Delivered {
  std::string agent_id;
  std::string interaction_id;
  int priority_level = 0;
  bool priority_override = false;
  double relevance_score = 0.0;
  std::uint64_t sequence = 0;
};

// Where sessions live: implemented over the connection pool.
class Placement {
 public:
  virtual ~Placement() = default;
  // The link holding `session_id`, or one with a free slot; nullopt when full.
  virtual std::optional<LinkId> place_session(const std::string& session_id) = 0;
  virtual void release_session(const std::string& session_id) = 0;
  // Sessions placed on `link` now (O(1): a HELLO on one of 1,000 links must
  // not walk every session).
  virtual std::size_t sessions_on(LinkId link) const = 0;
  // The scheduler has frames for `link`.
  virtual void wake(LinkId link) = 0;
};

// Receives everything worth recording. Calls come from the scheduler's thread.
class SchedulerSink {
 public:
  virtual ~SchedulerSink() = default;
  virtual void on_outcome(const Entry& entry, const SyncOutcome& outcome) = 0;
  virtual void on_written(const Entry& entry, bool replay) = 0;
  // The write-ahead gate before a burst is sent (LinkHandler::before_send):
  // the records of the frames written so far are safe, or an error. It may
  // wait at most `budget`: past it the burst's oldest prompt would be stale.
  virtual std::error_code before_send(std::chrono::milliseconds budget) = 0;
  virtual void on_evicted(const std::string& session_id, const std::string& agent_id) = 0;
  // `prompt` is null when the frame_id is no longer remembered.
  virtual void on_feedback(const Delivered* prompt, const PromptFeedback& feedback) = 0;
  virtual void on_link_state(LinkId link, transport::LinkState state, std::error_code error) = 0;
};

// How the reason of a redelivered prompt's outcome starts (docs/scale-out.md).
inline constexpr std::string_view kRedelivered = "redelivered (an earlier owner may have shown it)";
inline constexpr std::string_view kRedeliveredUnwritten =
    "redelivered (an earlier owner may have shown it), not written here";

struct SchedulerOptions {
  double freshness_seconds = limits::default_freshness_seconds;
  double freshness_margin_seconds = 0.0;  // written only while age <= freshness - margin
  std::size_t max_queued_per_session = 64;
  std::size_t remembered_deliveries = 65536;  // for feedback attribution
};

class Scheduler final : public transport::LinkHandler {
 public:
  Scheduler(SchedulerOptions options, Placement& placement, Clock& clock, SchedulerSink& sink);
  ~Scheduler() override;

  // Takes a validated prompt with its frame_id (a UUID: anything else ends
  // as failed at once). Supersedes a queued prompt of
  // the same session and interaction, places the session (evicting the least
  // recently used idle session when every slot is taken), and queues it. The
  // entry may end at once (rejected_concurrency) through sink and done.
  void accept(std::unique_ptr<Entry> entry);

  // Ends every queued prompt as failed (with `queued_reason`) and every
  // in-flight one (written, not answered) as unconfirmed (`inflight_reason`).
  void fail_all(const std::string& queued_reason, const std::string& inflight_reason);

  // Ends an entry that was never accepted (through sink and done, like any
  // other outcome).
  void end_unaccepted(std::unique_ptr<Entry> entry, OutcomeKind kind, std::string reason);

  // While paused no frame is handed to a link (fail-closed on audit failure).
  void set_paused(bool paused);

  std::size_t queued() const { return queued_; }
  std::size_t inflight() const { return inflight_.size(); }
  std::size_t sessions() const { return sessions_.size(); }

  // transport::LinkHandler
  std::optional<OutFrame> next_frame(LinkId link) override;
  std::optional<OutFrame> replay(LinkId link, const FrameKey& key) override;
  void on_written(LinkId link, const OutFrame& frame, SteadyTime at) override;
  std::error_code before_send(LinkId link) override;
  void on_unsent(LinkId link, const FrameKey& key, std::error_code error) override;
  void on_hello(LinkId link, const Hello& hello) override;
  void on_ack(LinkId link, const Ack& ack, SteadyTime at) override;
  void on_nack(LinkId link, const Nack& nack, SteadyTime at) override;
  void on_feedback(LinkId link, const PromptFeedback& feedback) override;
  void on_session_ended(LinkId link, const SessionEnded& ended) override;
  void on_state(LinkId link, transport::LinkState state, std::error_code error) override;

 private:
  struct Session;
  struct LinkQueues;
  struct IdleSessions;

  // Why `entry` may not be written now, or nullopt when it is fresh.
  std::optional<std::string> staleness(const Entry& entry) const;
  std::uint64_t next_sequence(Session& session, const Entry& entry);
  void finish(std::unique_ptr<Entry> entry, SyncOutcome outcome);
  void report(Entry& entry, SyncOutcome outcome);
  void finish_inflight(const FrameKey& key, SyncOutcome outcome, SteadyTime at);
  void supersede(Session& session, const Entry& newer);
  bool evict_lru_idle(const std::string& except);
  void note_idle(Session& session);
  void mark_ready(Session& session);
  void detach_from_link(Session& session);
  void end_session(Session& session);
  void forget_if_idle(const std::string& session_id);
  void fail_session_queue(Session& session, OutcomeKind kind, const std::string& reason);
  void remember(Entry&& entry);

  SchedulerOptions options_;
  Placement& placement_;
  Clock& clock_;
  SchedulerSink& sink_;
  bool paused_ = false;
  // The burst being gathered: when its oldest prompt stops being fresh
  // (unix seconds), which bounds the write-ahead wait before it is sent.
  double burst_fresh_until_ = std::numeric_limits<double>::infinity();
  std::uint64_t sequence_ = 0;
  std::size_t queued_ = 0;
  std::unordered_map<std::string, std::unique_ptr<Session>> sessions_;
  std::unordered_map<LinkId, LinkQueues> links_;
  std::unique_ptr<IdleSessions> idle_;  // placed sessions with nothing queued or in flight, least recently used first
  // Flat tables keyed inline: no allocation per frame on the delivery path.
  boost::unordered_flat_map<FrameKey, std::unique_ptr<Entry>, FrameKeyHash> inflight_;
  boost::unordered_flat_map<FrameKey, Delivered, FrameKeyHash> delivered_;
  std::deque<FrameKey> delivered_order_;
};

}  // namespace assist::sync

#endif
