#include "sync/scheduler.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

#include "assist/frame.h"

namespace assist::sync {

struct Scheduler::Session {
  std::string id;
  std::string agent_id;
  std::optional<LinkId> link;
  std::deque<std::unique_ptr<Entry>> urgent;  // priority_override prompts
  std::deque<std::unique_ptr<Entry>> normal;
  std::size_t inflight = 0;
  std::uint64_t last_used = 0;
  bool ready = false;  // listed in its link's ready queue

  std::size_t queued() const { return urgent.size() + normal.size(); }
  bool idle() const { return queued() == 0 && inflight == 0; }
};

struct Scheduler::LinkQueues {
  std::deque<OutFrame> control;  // SESSION_END frames, written before prompts
  std::deque<Session*> ready;    // sessions with queued prompts, served round-robin
};

namespace {
SyncOutcome make_outcome(OutcomeKind kind, std::string reason = {}) {
  SyncOutcome o;
  o.kind = kind;
  o.reason = std::move(reason);
  return o;
}
}  // namespace

Scheduler::Scheduler(SchedulerOptions options, Placement& placement, Clock& clock, SchedulerSink& sink)
    : options_(options), placement_(placement), clock_(clock), sink_(sink) {
  // Sized for its bound up front: growing it rehashes every entry at once,
  // which stalled delivery for milliseconds at ~42 k entries.
  delivered_.reserve(options_.remembered_deliveries);
}

Scheduler::~Scheduler() = default;

std::optional<std::string> Scheduler::staleness(const Entry& entry) const {
  const double age = clock_.unix_now() - entry.prompt.timestamp;
  if (age > options_.freshness_seconds)
    return fmt::format("age {:.3f} s is over the {:.3f} s freshness threshold", age, options_.freshness_seconds);
  if (age > entry.prompt.ttl_seconds)
    return fmt::format("age {:.3f} s is over its ttl of {} s", age, entry.prompt.ttl_seconds);
  return std::nullopt;
}

void Scheduler::report(Entry& entry, SyncOutcome outcome) {
  outcome.frame_id = entry.frame_id;
  outcome.sequence = entry.sequence;
  sink_.on_outcome(entry, outcome);
  if (entry.done) entry.done(outcome);
}

void Scheduler::finish(std::unique_ptr<Entry> entry, SyncOutcome outcome) { report(*entry, std::move(outcome)); }

void Scheduler::accept(std::unique_ptr<Entry> entry) {
  const auto key = FrameKey::of(entry->frame_id);
  if (!key) {
    finish(std::move(entry), make_outcome(OutcomeKind::failed, "frame_id is not a 36-character UUID"));
    return;
  }
  entry->key = *key;
  const std::string sid = entry->prompt.session_id;
  auto& slot = sessions_[sid];
  if (!slot) {
    slot = std::make_unique<Session>();
    slot->id = sid;
  }
  Session& session = *slot;
  session.agent_id = entry->prompt.agent_id;
  session.last_used = ++tick_;
  supersede(session, *entry);

  if (session.queued() >= options_.max_queued_per_session) {
    finish(std::move(entry), make_outcome(OutcomeKind::rejected_concurrency, fmt::format("session {} already has {} prompts queued", sid,
                                                    session.queued())));
    return;
  }
  if (!session.link) {
    session.link = placement_.place_session(sid);
    if (!session.link && evict_lru_idle(sid)) session.link = placement_.place_session(sid);
    if (!session.link) {
      finish(std::move(entry), make_outcome(OutcomeKind::rejected_concurrency, "no session slot: every connection is full and no session is idle"));
      forget_if_idle(sid);
      return;
    }
  }
  auto& queue = entry->prompt.priority_override ? session.urgent : session.normal;
  queue.push_back(std::move(entry));
  ++queued_;
  mark_ready(session);
  placement_.wake(*session.link);
}

void Scheduler::supersede(Session& session, const Entry& newer) {
  for (auto* queue : {&session.urgent, &session.normal}) {
    for (auto it = queue->begin(); it != queue->end();) {
      if ((*it)->prompt.interaction_id != newer.prompt.interaction_id) {
        ++it;
        continue;
      }
      auto old = std::move(*it);
      it = queue->erase(it);
      --queued_;
      finish(std::move(old), make_outcome(OutcomeKind::superseded, fmt::format("superseded by {}", newer.frame_id)));
    }
  }
}

bool Scheduler::evict_lru_idle(const std::string& except) {
  Session* victim = nullptr;
  for (auto& [id, s] : sessions_) {
    if (id == except || !s->link || !s->idle()) continue;
    if (victim == nullptr || s->last_used < victim->last_used) victim = s.get();
  }
  if (victim == nullptr) return false;
  const LinkId link = *victim->link;
  links_[link].control.push_back(OutFrame{std::nullopt, 0, encode(SessionEnd{victim->id})});
  placement_.release_session(victim->id);
  sink_.on_evicted(victim->id, victim->agent_id);
  sessions_.erase(victim->id);
  placement_.wake(link);
  return true;
}

void Scheduler::mark_ready(Session& session) {
  if (session.ready || session.queued() == 0 || !session.link) return;
  links_[*session.link].ready.push_back(&session);
  session.ready = true;
}

void Scheduler::forget_if_idle(const std::string& session_id) {
  auto it = sessions_.find(session_id);
  if (it != sessions_.end() && it->second->idle() && !it->second->link && !it->second->ready)
    sessions_.erase(it);
}

std::optional<OutFrame> Scheduler::next_frame(LinkId link) {
  if (paused_) return std::nullopt;
  auto& lq = links_[link];
  if (!lq.control.empty()) {
    auto frame = std::move(lq.control.front());
    lq.control.pop_front();
    return frame;
  }
  while (!lq.ready.empty()) {
    Session& session = *lq.ready.front();
    lq.ready.pop_front();
    session.ready = false;
    auto& queue = session.urgent.empty() ? session.normal : session.urgent;
    if (queue.empty()) {  // its prompts ended while it waited (session ended)
      const std::string id = session.id;
      forget_if_idle(id);
      continue;
    }
    auto entry = std::move(queue.front());
    queue.pop_front();
    --queued_;
    mark_ready(session);  // round-robin: back of the line if more are queued
    if (auto why = staleness(*entry)) {
      finish(std::move(entry), make_outcome(OutcomeKind::rejected_freshness, *why));
      continue;
    }
    entry->sequence = ++sequence_;
    OutFrame frame{entry->key, entry->sequence,
                   encode_prompt_sync(entry->frame_id, entry->sequence, entry->payload_json)};
    ++session.inflight;
    inflight_.emplace(entry->key, std::move(entry));
    return frame;
  }
  return std::nullopt;
}

std::optional<OutFrame> Scheduler::replay(LinkId, const FrameKey& key) {
  auto it = inflight_.find(key);
  if (it == inflight_.end()) return std::nullopt;
  if (paused_) {
    finish_inflight(key, make_outcome(OutcomeKind::failed, "not replayed: sending is stopped"), clock_.steady_now());
    return std::nullopt;
  }
  if (auto why = staleness(*it->second)) {
    finish_inflight(key, make_outcome(OutcomeKind::rejected_freshness, "not replayed after reconnect: " + *why),
                    clock_.steady_now());
    return std::nullopt;
  }
  const Entry& entry = *it->second;  // same frame_id and sequence as first written
  return OutFrame{key, entry.sequence, encode_prompt_sync(entry.frame_id, entry.sequence, entry.payload_json)};
}

void Scheduler::on_written(LinkId, const OutFrame& frame, SteadyTime at) {
  if (!frame.key) return;
  auto it = inflight_.find(*frame.key);
  if (it == inflight_.end()) return;
  const bool replayed = it->second->written_at.has_value();
  it->second->written_at = at;
  sink_.on_written(*it->second, replayed);
}

void Scheduler::on_hello(LinkId, const Hello&) {}

void Scheduler::finish_inflight(const FrameKey& key, SyncOutcome outcome, SteadyTime at) {
  auto it = inflight_.find(key);
  if (it == inflight_.end()) return;
  auto entry = std::move(it->second);
  inflight_.erase(it);
  if (entry->written_at && outcome.kind != OutcomeKind::rejected_freshness)
    outcome.latency_seconds = std::chrono::duration<double>(at - *entry->written_at).count();
  const std::string sid = entry->prompt.session_id;
  if (auto s = sessions_.find(sid); s != sessions_.end() && s->second->inflight > 0) --s->second->inflight;
  const bool acked = outcome.kind == OutcomeKind::acked;
  report(*entry, std::move(outcome));
  if (acked) remember(std::move(*entry));  // last use: its strings move
  forget_if_idle(sid);
}

void Scheduler::on_ack(LinkId, const Ack& ack, SteadyTime at) {
  const auto key = FrameKey::of(ack.frame_id);
  if (!key) return;
  auto acked = make_outcome(OutcomeKind::acked);
  acked.duplicate = ack.duplicate;
  finish_inflight(*key, std::move(acked), at);
}

void Scheduler::on_nack(LinkId, const Nack& nack, SteadyTime at) {
  const auto code = nack.code_text.empty() ? to_string(nack.code) : std::string_view(nack.code_text);
  auto nacked = make_outcome(OutcomeKind::nacked, fmt::format("{}: {}", code, nack.reason));
  nacked.nack_code = nack.code;
  if (const auto key = FrameKey::of(nack.frame_id)) finish_inflight(*key, std::move(nacked), at);
}

void Scheduler::remember(Entry&& e) {
  auto& p = e.prompt;
  if (!delivered_
           .try_emplace(e.key, Delivered{std::move(p.agent_id), std::move(p.interaction_id), p.priority_level,
                                         p.priority_override, p.relevance_score, e.sequence})
           .second)
    return;
  delivered_order_.push_back(e.key);
  while (delivered_order_.size() > options_.remembered_deliveries) {
    delivered_.erase(delivered_order_.front());
    delivered_order_.pop_front();
  }
}

void Scheduler::on_feedback(LinkId, const PromptFeedback& feedback) {
  const auto key = FrameKey::of(feedback.frame_id);
  const auto it = key ? delivered_.find(*key) : delivered_.end();
  sink_.on_feedback(it == delivered_.end() ? nullptr : &it->second, feedback);
}

void Scheduler::fail_session_queue(Session& session, OutcomeKind kind, const std::string& reason) {
  for (auto* queue : {&session.urgent, &session.normal}) {
    while (!queue->empty()) {
      auto entry = std::move(queue->front());
      queue->pop_front();
      --queued_;
      finish(std::move(entry), make_outcome(kind, reason));
    }
  }
}

void Scheduler::on_session_ended(LinkId, const SessionEnded& ended) {
  auto it = sessions_.find(ended.session_id);
  if (it == sessions_.end()) return;
  Session& session = *it->second;
  fail_session_queue(session, OutcomeKind::failed,
                     fmt::format("session ended by the gateway ({})", ended.reason));
  if (session.link) placement_.release_session(session.id);
  session.link.reset();
  // A ready-listed session stays until its link drops the stale pointer.
  if (!session.ready) forget_if_idle(ended.session_id);
}

void Scheduler::on_state(LinkId link, transport::LinkState state, std::error_code error) {
  sink_.on_link_state(link, state, error);
  if (state != transport::LinkState::failed && state != transport::LinkState::closed) return;
  // The link is gone for good: nothing on it can be delivered any more.
  const std::string reason = state == transport::LinkState::failed
                                 ? fmt::format("connection failed: {}", error.message())
                                 : std::string("connection closed");
  std::vector<FrameKey> lost;
  for (auto& [key, entry] : inflight_) {
    auto s = sessions_.find(entry->prompt.session_id);
    if (s != sessions_.end() && s->second->link == link) lost.push_back(key);
  }
  for (const auto& key : lost)
    finish_inflight(key, make_outcome(OutcomeKind::failed, reason), clock_.steady_now());
  std::vector<std::string> gone;
  for (auto& [id, s] : sessions_) {
    if (s->link != link) continue;
    fail_session_queue(*s, OutcomeKind::failed, reason);
    s->link.reset();
    s->ready = false;
    gone.push_back(id);
  }
  links_.erase(link);
  for (const auto& id : gone) {
    placement_.release_session(id);
    forget_if_idle(id);
  }
}

void Scheduler::fail_all(OutcomeKind kind, const std::string& reason) {
  for (auto& [id, s] : sessions_) fail_session_queue(*s, kind, reason);
  std::vector<FrameKey> keys;
  keys.reserve(inflight_.size());
  for (auto& [key, e] : inflight_) keys.push_back(key);
  for (const auto& key : keys) finish_inflight(key, make_outcome(kind, reason), clock_.steady_now());
}

void Scheduler::end_unaccepted(std::unique_ptr<Entry> entry, OutcomeKind kind, std::string reason) {
  finish(std::move(entry), make_outcome(kind, std::move(reason)));
}

void Scheduler::set_paused(bool paused) {
  const bool resumed = paused_ && !paused;
  paused_ = paused;
  if (!resumed) return;
  for (auto& [link, lq] : links_)
    if (!lq.ready.empty() || !lq.control.empty()) placement_.wake(link);
}

}  // namespace assist::sync
