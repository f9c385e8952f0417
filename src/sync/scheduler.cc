#include "sync/scheduler.h"

#include <algorithm>
#include <limits>

#include <boost/intrusive/list.hpp>
#include <fmt/format.h>

#include "assist/frame.h"
#include "core/prompt_sync_parts.h"

namespace assist::sync {

namespace bi = boost::intrusive;

struct Scheduler::Session {
  std::string id;
  std::string agent_id;
  std::optional<LinkId> link;
  std::deque<std::unique_ptr<Entry>> urgent;  // priority_override prompts
  std::deque<std::unique_ptr<Entry>> normal;
  std::size_t inflight = 0;
  std::uint64_t last_sequence = 0;  // of its latest frame written
  // The gateway ended it while frames were in flight: those re-open it at the
  // gateway when they arrive, so it keeps its slot until they are answered,
  // then a SESSION_END frees it on both sides.
  bool ending = false;
  // In its link's ready list, and in the idle list. Each unlinks itself when
  // the session is destroyed, so a list never points at a freed session.
  bi::list_member_hook<bi::link_mode<bi::auto_unlink>> ready_hook;
  bi::list_member_hook<bi::link_mode<bi::auto_unlink>> idle_hook;

  std::size_t queued() const { return urgent.size() + normal.size(); }
  bool idle() const { return queued() == 0 && inflight == 0; }
  bool ready() const { return ready_hook.is_linked(); }
};

struct Scheduler::LinkQueues {
  std::deque<OutFrame> control;  // SESSION_END frames, written before prompts
  // Sessions with queued prompts, served round-robin.
  bi::list<Session, bi::member_hook<Session, decltype(Session::ready_hook), &Session::ready_hook>,
           bi::constant_time_size<false>>
      ready;
};

// Eviction takes the front: O(1), where a scan of every session made a flood
// of new sessions quadratic.
struct Scheduler::IdleSessions {
  bi::list<Session, bi::member_hook<Session, decltype(Session::idle_hook), &Session::idle_hook>,
           bi::constant_time_size<false>>
      list;
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
    : options_(options), placement_(placement), clock_(clock), sink_(sink), idle_(std::make_unique<IdleSessions>()) {
  // Sized for its bound up front: growing it rehashes every entry at once,
  // which stalled delivery for milliseconds at ~42 k entries.
  delivered_.reserve(options_.remembered_deliveries);
}

Scheduler::~Scheduler() = default;

std::optional<std::string> Scheduler::staleness(const Entry& entry) const {
  const double age = clock_.unix_now() - *entry.prompt.timestamp;
  if (age > options_.freshness_seconds - options_.freshness_margin_seconds)
    return fmt::format("age {:.3f} s is over the {:.3f} s freshness threshold (less a {:.0f} ms margin for the way to the desktop)",
                       age, options_.freshness_seconds, options_.freshness_margin_seconds * 1000);
  if (age > entry.prompt.ttl_seconds)
    return fmt::format("age {:.3f} s is over its ttl of {} s", age, entry.prompt.ttl_seconds);
  return std::nullopt;
}

// Ingested prompts number their frames from their floor, so a session's
// sequence grows across instances; the others from this scheduler's counter.
std::uint64_t Scheduler::next_sequence(Session& session, const Entry& entry) {
  session.last_sequence =
      entry.sequence_floor ? std::max(session.last_sequence + 1, entry.sequence_floor) : ++sequence_;
  return session.last_sequence;
}

// A redelivered prompt may have been shown, and its outcome recorded, by
// its earlier owner: its reason says it was redelivered (so a reader of the
// audit logs can tell a first outcome from a redelivery's), and ending here
// unwritten must not say it was not shown.
void Scheduler::report(Entry& entry, SyncOutcome outcome) {
  if (entry.redelivered) {
    const bool unwritten = outcome.kind == OutcomeKind::rejected_freshness || outcome.kind == OutcomeKind::superseded ||
                           outcome.kind == OutcomeKind::failed || outcome.kind == OutcomeKind::rejected_concurrency;
    if (unwritten) outcome.kind = OutcomeKind::unconfirmed;
    outcome.reason = fmt::format("{}{}{}", unwritten ? kRedeliveredUnwritten : kRedelivered,
                                 outcome.reason.empty() ? "" : ": ", outcome.reason);
  }
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
  session.idle_hook.unlink();  // in use: the most recently used, whatever happens next
  session.ending = false;      // a new prompt: the session goes on where it is
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
  if (idle_->list.empty() || idle_->list.front().id == except) return false;
  Session* victim = &idle_->list.front();
  const LinkId link = *victim->link;
  links_[link].control.push_back(OutFrame{std::nullopt, 0, encode(SessionEnd{victim->id})});
  sink_.on_evicted(victim->id, victim->agent_id);
  detach_from_link(*victim);
  const std::string victim_id = victim->id;  // not a reference into the element erased
  sessions_.erase(victim_id);
  placement_.wake(link);
  return true;
}

// Lists the session on its link when it has prompts to write there. A
// session never changes links while frames of it are in flight (an ending
// session keeps its slot until they are answered), so its frames cannot
// overtake each other on two connections.
void Scheduler::mark_ready(Session& session) {
  if (session.ready() || session.queued() == 0 || !session.link) return;
  links_[*session.link].ready.push_back(session);
}

// Keeps the idle list true: a placed session with nothing queued or in
// flight is at its back (most recently used), any other is off it.
void Scheduler::note_idle(Session& session) {
  if (session.idle() && session.link) {
    if (!session.idle_hook.is_linked()) idle_->list.push_back(session);
  } else {
    session.idle_hook.unlink();
  }
}

// The session leaves its link (slot freed): off that link's lists too.
void Scheduler::detach_from_link(Session& session) {
  session.ready_hook.unlink();
  session.idle_hook.unlink();
  if (session.link) placement_.release_session(session.id);
  session.link.reset();
}

void Scheduler::forget_if_idle(const std::string& session_id) {
  auto it = sessions_.find(session_id);
  if (it != sessions_.end() && it->second->idle() && !it->second->link) sessions_.erase(it);
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
    Session& session = lq.ready.front();
    lq.ready.pop_front();
    auto& queue = session.urgent.empty() ? session.normal : session.urgent;
    if (queue.empty()) continue;  // its prompts ended while it waited (superseded)
    auto entry = std::move(queue.front());
    queue.pop_front();
    --queued_;
    mark_ready(session);  // round-robin: back of the line if more are queued
    if (auto why = staleness(*entry)) {
      finish(std::move(entry), make_outcome(OutcomeKind::rejected_freshness, *why));
      note_idle(session);
      continue;
    }
    entry->sequence = next_sequence(session, *entry);
    entry->written_on = link;
    OutFrame frame{entry->key, entry->sequence,
                   encode_prompt_sync(entry->frame_id, entry->sequence, entry->payload_json)};
    ++session.inflight;
    inflight_.emplace(entry->key, std::move(entry));
    return frame;
  }
  return std::nullopt;
}

// A frame written on a connection that died unanswered may have been shown:
// when it cannot be replayed it ends unconfirmed, never as not sent.
std::optional<OutFrame> Scheduler::replay(LinkId, const FrameKey& key) {
  auto it = inflight_.find(key);
  if (it == inflight_.end()) return std::nullopt;
  if (paused_) {
    finish_inflight(key, make_outcome(OutcomeKind::unconfirmed, "written, then its connection died; not replayed: sending is stopped"),
                    clock_.steady_now());
    return std::nullopt;
  }
  if (auto why = staleness(*it->second)) {
    finish_inflight(key, make_outcome(OutcomeKind::unconfirmed, "written, then its connection died; not replayed: " + *why),
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
  ++it->second->writes;
  burst_fresh_until_ = std::min(burst_fresh_until_, *it->second->prompt.timestamp + options_.freshness_seconds -
                                                        options_.freshness_margin_seconds);
  sink_.on_written(*it->second, replayed);
}

// Waits for the records at most until the burst's oldest prompt would turn
// stale: a prompt checked fresh before the wait must still be fresh after it.
std::error_code Scheduler::before_send(LinkId) {
  const double left = std::min(burst_fresh_until_ - clock_.unix_now(), 3600.0);
  burst_fresh_until_ = std::numeric_limits<double>::infinity();
  return sink_.before_send(std::chrono::milliseconds(static_cast<std::int64_t>(std::max(0.0, left) * 1000)));
}

// Its record could not be made safe, so its bytes never left. A first write
// was not shown; a replay's earlier write may have been.
void Scheduler::on_unsent(LinkId, const FrameKey& key, std::error_code error) {
  const auto it = inflight_.find(key);
  if (it == inflight_.end()) return;
  const bool maybe_shown = it->second->writes > 1;
  const std::string why = "the audit log could not record it first: " + error.message();
  finish_inflight(key,
                  maybe_shown ? make_outcome(OutcomeKind::unconfirmed, "written on an earlier connection; its replay was not sent: " + why)
                              : make_outcome(OutcomeKind::failed, "not sent: " + why),
                  clock_.steady_now());
}

// Sessions are placed on a link before its HELLO says how many it may hold
// (prompts accepted while the first connection opens). Those beyond the
// limit move to other links now, before any of their frames is written;
// written ones would be refused with SESSION_LIMIT.
void Scheduler::on_hello(LinkId link, const Hello& hello) {
  if (placement_.sessions_on(link) <= hello.max_sessions) return;  // the usual case: nothing to move
  std::vector<Session*> placed;
  for (auto& [id, s] : sessions_)
    if (s->link == link) placed.push_back(s.get());
  std::size_t excess = placed.size() > hello.max_sessions ? placed.size() - hello.max_sessions : 0;
  for (Session* s : placed) {
    if (excess == 0) break;
    if (s->inflight > 0) continue;
    --excess;
    detach_from_link(*s);
    s->link = placement_.place_session(s->id);
    if (!s->link) {
      fail_session_queue(*s, OutcomeKind::rejected_concurrency,
                         fmt::format("no session slot: the gateway allows {} sessions per connection", hello.max_sessions));
      const std::string id = s->id;
      forget_if_idle(id);
      continue;
    }
    mark_ready(*s);
    placement_.wake(*s->link);
  }
}

void Scheduler::finish_inflight(const FrameKey& key, SyncOutcome outcome, SteadyTime at) {
  auto it = inflight_.find(key);
  if (it == inflight_.end()) return;
  auto entry = std::move(it->second);
  inflight_.erase(it);
  if (entry->written_at && (outcome.kind == OutcomeKind::acked || outcome.kind == OutcomeKind::nacked))
    outcome.latency_seconds = std::chrono::duration<double>(at - *entry->written_at).count();
  const std::string sid = entry->prompt.session_id;
  if (auto s = sessions_.find(sid); s != sessions_.end() && s->second->inflight > 0) {
    Session& session = *s->second;
    if (--session.inflight == 0 && session.ending) end_session(session);
    note_idle(session);
  }
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
  note_idle(session);
}

void Scheduler::on_session_ended(LinkId, const SessionEnded& ended) {
  auto it = sessions_.find(ended.session_id);
  if (it == sessions_.end()) return;
  Session& session = *it->second;
  fail_session_queue(session, OutcomeKind::failed,
                     fmt::format("session ended by the gateway ({})", ended.reason));
  if (session.inflight > 0 && session.link) {
    session.ending = true;
    return;
  }
  detach_from_link(session);
  forget_if_idle(ended.session_id);
}

// An ending session's last frame was answered: free its slot on both sides.
void Scheduler::end_session(Session& session) {
  session.ending = false;
  if (!session.link) return;
  const LinkId link = *session.link;
  links_[link].control.push_back(OutFrame{std::nullopt, 0, encode(SessionEnd{session.id})});
  detach_from_link(session);
  placement_.wake(link);
}

void Scheduler::on_state(LinkId link, transport::LinkState state, std::error_code error) {
  sink_.on_link_state(link, state, error);
  if (state != transport::LinkState::failed && state != transport::LinkState::closed) return;
  // The link is gone for good: nothing on it can be delivered any more.
  // Frames written on it (by where they were written, not where their
  // session lives now) may have been shown; queued ones were not.
  const std::string reason = state == transport::LinkState::failed
                                 ? fmt::format("connection failed: {}", error.message())
                                 : std::string("connection closed");
  std::vector<FrameKey> lost;
  for (auto& [key, entry] : inflight_) {
    if (entry->written_on == link) lost.push_back(key);
  }
  for (const auto& key : lost)
    finish_inflight(key, make_outcome(OutcomeKind::unconfirmed, "written, no answer: " + reason), clock_.steady_now());
  std::vector<std::string> gone;
  for (auto& [id, s] : sessions_) {
    if (s->link != link) continue;
    fail_session_queue(*s, OutcomeKind::failed, reason);
    gone.push_back(id);
  }
  for (const auto& id : gone) {
    detach_from_link(*sessions_.at(id));
    forget_if_idle(id);
  }
  links_.erase(link);
}

// Frames in flight first: their outcome lines are the ones the audit log's
// headroom is kept for (a full disk is a reason to end everything).
void Scheduler::fail_all(const std::string& queued_reason, const std::string& inflight_reason) {
  std::vector<FrameKey> keys;
  keys.reserve(inflight_.size());
  for (auto& [key, e] : inflight_) keys.push_back(key);
  for (const auto& key : keys)
    finish_inflight(key, make_outcome(OutcomeKind::unconfirmed, inflight_reason), clock_.steady_now());
  for (auto& [id, s] : sessions_) fail_session_queue(*s, OutcomeKind::failed, queued_reason);
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
