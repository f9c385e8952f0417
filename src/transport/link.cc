#include "transport/link.h"

#include <algorithm>

#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/unordered/unordered_flat_map.hpp>
#include <fmt/format.h>

#include "core/detail/log_record.h"
#include "util/spawn.h"

namespace assist::transport {

namespace asio = boost::asio;

namespace {

// What one burst may gather before it is sent: about 40 KB of typical
// PROMPT_SYNC frames, under one loopback segment. The burst is gathered
// synchronously, so this also bounds the time from the first frame's
// freshness check to its bytes reaching the socket.
constexpr std::size_t kMaxBurstFrames = 64;
constexpr std::size_t kMaxBurstBytes = 64 * 1024;
// Turns of the executor without a new answer after which the reader is taken
// to wait for the peer (reading one answer takes a few turns of its own).
constexpr std::size_t kQuietTurns = 3;

// An opening answered with something the client cannot use: a first frame
// that is no usable HELLO, or an upgrade refusal the contract does not list
// (a 4xx other than 401/403/429: a wrong path, a server that is no gateway).
bool unusable(const OpenResult& result) {
  if (result.error == TransportErrc::bad_hello) return true;
  return result.error == TransportErrc::handshake_rejected && result.http_status >= 400 && result.http_status < 500;
}

}  // namespace

// One physical connection and what was written on it.
struct Link::Leg {
  Leg(const asio::any_io_executor& ex, Clock& clock) : wake(ex, clock), keepalive(ex, clock), ack_timer(ex, clock) {}
  std::shared_ptr<Connection> conn;
  std::shared_ptr<const Token> token;
  Hello hello;
  util::Timer wake;       // the writer waits here when it has nothing to do
  util::Timer keepalive;
  util::Timer ack_timer;  // the ACK deadline of the oldest unanswered frame
  bool alive = true;
  bool wake_pending = false;
  bool ping_due = false;
  bool retiring = false;    // takes no new frames; closes once its in-flight frames are answered
  bool progressed = false;  // a frame written on it was answered: it is a working connection
  std::uint64_t answers = 0;  // ACKs and NACKs settled on it
  Clock::steady_time drain_deadline = Clock::steady_time::max();
  Clock::steady_time up_since;
  std::error_code death;
  unsigned tasks = 0;
  // Written, not answered yet: key -> sequence. Flat (no allocation per
  // frame); the frames themselves stay with the handler.
  boost::unordered_flat_map<FrameKey, std::uint64_t, FrameKeyHash> inflight;
  // Write times in write order, for the ACK deadline; answered frames are
  // dropped from the front as the deadline watcher reaches them.
  std::deque<std::pair<Clock::steady_time, FrameKey>> written;
  // The tracked frames of the burst being gathered, until it is sent.
  std::vector<FrameKey> burst;
};

Link::Link(LinkId id, LinkContext context)
    : id_(id),
      ctx_(std::move(context)),
      backoff_(ctx_.options.reconnect),
      events_(ctx_.executor, ctx_.clock),
      finished_signal_(ctx_.executor, ctx_.clock) {}

Link::~Link() = default;

void Link::start() {
  if (started_) return;
  started_ = true;
  util::spawn(ctx_.executor, run(), "link " + std::to_string(id_), ctx_.log, [self = shared_from_this()](std::exception_ptr) {
    // The link's main loop died: nothing will reconnect it. Fail it, so the
    // pool and the synchronizer end what depended on it.
    self->set_state(LinkState::failed, make_error_code(TransportErrc::internal_error));
    for (const auto& leg : self->legs_) self->die(leg, make_error_code(TransportErrc::internal_error));
    self->finish();
  });
}

void Link::wake() {
  if (sending_ && sending_->alive) wake_leg(*sending_);
}

void Link::stop(Millis drain) {
  if (stopping_) return;
  stopping_ = true;
  stop_deadline_ = ctx_.clock.steady_now() + drain;
  if (opening_) opening_->abort();  // nothing to drain on a connection not yet open
  for (const auto& leg : legs_) {
    if (leg->alive) retire(leg, stop_deadline_);
  }
  notify();
}

asio::awaitable<void> Link::wait_closed() {
  auto self = shared_from_this();
  if (!started_) co_return;
  while (!finished_) co_await finished_signal_.wait();
}

std::size_t Link::in_flight() const {
  std::size_t n = 0;
  for (const auto& leg : legs_) n += leg->inflight.size();
  return n + replay_.size();
}

bool Link::others_in_flight(const Leg& leg) const {
  return std::any_of(legs_.begin(), legs_.end(),
                     [&leg](const auto& other) { return other.get() != &leg && other->alive && !other->inflight.empty(); });
}

std::size_t Link::window(const Leg& leg) const {
  std::uint32_t limit = leg.hello.max_inflight;
  if (ctx_.options.max_inflight) limit = std::min(limit, *ctx_.options.max_inflight);
  return std::max<std::size_t>(1, limit);
}

void Link::set_state(LinkState state, std::error_code error) {
  if (state == state_ && error == state_error_) return;
  state_ = state;
  state_error_ = error;
  ctx_.handler.on_state(id_, state, error);
}

void Link::finish() {
  finished_ = true;
  finished_signal_.cancel();
}

void Link::notify() { events_.cancel(); }

void Link::wake_leg(Leg& leg) {
  leg.wake_pending = true;
  leg.wake.cancel();
}

asio::awaitable<void> Link::sleep_for(Millis delay) {
  const auto deadline = ctx_.clock.steady_now() + delay;
  while (!stopping_ && ctx_.clock.steady_now() < deadline) {
    events_.expires_at(deadline);
    co_await events_.wait();
  }
}

asio::awaitable<void> Link::run() {
  auto self = shared_from_this();
  set_state(LinkState::connecting);
  bool first = true;
  while (!stopping_) {
    bool rotating = false;
    if (sending_ && sending_->alive) {
      if (ctx_.clock.steady_now() < rotation_at_) {
        events_.expires_at(rotation_at_);
        co_await events_.wait();
        continue;
      }
      rotating = true;
      set_state(LinkState::rotating);
    } else if (sending_) {
      co_await reopen_after_death();
      if (stopping_) break;
    }
    Opened opened = co_await open_leg();
    if (stopping_) {
      if (opened.leg) co_await opened.leg->conn->close(1000);
      break;
    }
    if (opened.fatal) {
      ctx_.log->error(detail::LogRecord("link giving up").with("link", id_).error(opened.error));
      set_state(LinkState::failed, opened.error);
      break;
    }
    if (!opened.leg) {
      if (!rotating || !sending_ || !sending_->alive) set_state(LinkState::down, opened.error);
      co_await sleep_for(opened.delay);
      continue;
    }
    if (sending_ && sending_->alive) {
      ++rotations_;
      retire(sending_, ctx_.clock.steady_now() + ctx_.options.rotation_drain);
    } else if (!first) {
      ++reconnects_;
    }
    first = false;
    install(std::move(opened.leg));
  }
  // Stopping or failed: close what is open, after its in-flight frames are answered.
  const auto deadline = stopping_ ? stop_deadline_ : ctx_.clock.steady_now();
  for (const auto& leg : legs_) {
    if (leg->alive) retire(leg, deadline);
  }
  while (!legs_.empty()) {
    events_.expires_never();
    co_await events_.wait();
  }
  sending_.reset();
  if (state_ != LinkState::failed) set_state(LinkState::closed);
  finish();
}

// The sending connection died. A healthy one (answered frames, or stayed up
// healthy_reset_after) is reopened at once with the backoff starting afresh,
// as gRPC does after a connection that worked; 4001 asks for a fresh token,
// not for patience. Anything else waits its backoff.
asio::awaitable<void> Link::reopen_after_death() {
  const auto death = sending_->death;
  const bool healthy = sending_->progressed ||
                       ctx_.clock.steady_now() - sending_->up_since >= ctx_.options.healthy_reset_after;
  if (healthy) backoff_.reset();
  sending_.reset();
  set_state(LinkState::down, death);
  if (!healthy && death != TransportErrc::token_expired) co_await sleep_for(backoff_.next(ctx_.random));
  if (!stopping_) set_state(LinkState::connecting);
}

asio::awaitable<Link::Opened> Link::open_leg() {
  for (int attempt = 0;; ++attempt) {
    TokenResult token = co_await ctx_.tokens.token();
    if (!token) {
      ctx_.log->warn(detail::LogRecord("no token").with("link", id_).with("detail", token.detail).error(token.error));
      co_return Opened{nullptr, token.error, is_fatal(token.error), backoff_.next(ctx_.random)};
    }
    auto conn = ctx_.connect();
    opening_ = conn;
    OpenResult result = co_await conn->open(token.token->access_token);
    opening_.reset();
    if (!result.error) {
      unusable_answers_ = 0;
      auto leg = std::make_shared<Leg>(ctx_.executor, ctx_.clock);
      leg->conn = std::move(conn);
      leg->token = std::move(token.token);
      leg->hello = std::move(result.hello);
      co_return Opened{std::move(leg), {}, false, Millis{0}};
    }
    ctx_.log->warn(detail::LogRecord("connection failed")
                     .with("link", id_)
                     .with("url", conn->description())
                     .with("detail", result.detail)
                     .error(result.error));
    if (result.error == TransportErrc::handshake_unauthorized && attempt == 0) {
      // The token may have been revoked or expired early: one fresh token, one retry.
      ctx_.tokens.invalidate(token.token->access_token);
      ++forced_refreshes_;
      continue;
    }
    co_return refused(result);
  }
}

Link::Opened Link::refused(const OpenResult& result) {
  if (unusable(result) && ++unusable_answers_ >= ctx_.options.max_unusable_answers) {
    ctx_.log->error(detail::LogRecord("openings in a row gave nothing usable: not a usable gateway")
                      .with("link", id_)
                      .with("openings", unusable_answers_)
                      .with("detail", result.detail)
                      .error(result.error));
    return Opened{nullptr, make_error_code(TransportErrc::bad_gateway), true, Millis{0}};
  }
  const Millis jitter = backoff_.next(ctx_.random);
  const Millis delay = result.retry_after ? std::max(*result.retry_after, Millis{0}) : jitter;
  return Opened{nullptr, result.error, is_fatal(result.error), delay};
}

void Link::install(std::shared_ptr<Leg> leg) {
  const auto now = ctx_.clock.steady_now();
  leg->up_since = now;
  hello_ = leg->hello;
  has_hello_ = true;
  rotation_at_ = leg->token->refresh_at;  // rotate when the token is due for refresh (the provider's schedule)
  sending_ = leg;
  legs_.push_back(leg);
  ctx_.log->info(detail::LogRecord("connection up")
                   .with("link", id_)
                   .with("url", leg->conn->description())
                   .with("connection", leg->hello.connection_id));
  // Before the writer starts (co_spawn may run it at once, on this thread):
  // the handler learns the limits first.
  ctx_.handler.on_hello(id_, leg->hello);
  leg->tasks = 4;
  spawn_task(leg, reader(leg), "reader");
  spawn_task(leg, writer(leg), "writer");
  spawn_task(leg, keepalive(leg), "keepalive");
  spawn_task(leg, ack_deadline(leg), "ACK deadline");
  set_state(LinkState::up);
}

// A task that dies by an exception takes its connection down with it (its
// frames are replayed on the successor) rather than leaving it half served.
void Link::spawn_task(const std::shared_ptr<Leg>& leg, asio::awaitable<void> task, const char* what) {
  util::spawn(ctx_.executor, std::move(task), fmt::format("link {} {}", id_, what), ctx_.log,
              [self = shared_from_this(), leg](std::exception_ptr) {
                self->die(leg, make_error_code(TransportErrc::internal_error));
                self->task_done(leg);
              });
}

void Link::retire(const std::shared_ptr<Leg>& leg, Time deadline) {
  leg->retiring = true;
  leg->drain_deadline = std::min(leg->drain_deadline, deadline);
  wake_leg(*leg);
}

void Link::die(const std::shared_ptr<Leg>& leg, std::error_code error) {
  if (!leg->alive) return;
  leg->alive = false;
  leg->death = error;
  leg->conn->abort();
  leg->wake.cancel();
  leg->keepalive.cancel();
  leg->ack_timer.cancel();
  leg->written.clear();
  if (error == TransportErrc::token_expired) {
    ctx_.tokens.invalidate(leg->token->access_token);
    ++forced_refreshes_;
  }
  if (!leg->inflight.empty()) {
    for (const auto& [key, sequence] : leg->inflight) replay_.push_back(Unacked{sequence, key});
    leg->inflight.clear();
    // The sequence is the original write order, also across several dead legs.
    std::sort(replay_.begin(), replay_.end(),
              [](const Unacked& a, const Unacked& b) { return a.sequence < b.sequence; });
  }
  if (error)
    ctx_.log->info(
        detail::LogRecord("connection ended").with("link", id_).with("connection", leg->hello.connection_id).error(error));
  if (sending_ && sending_->alive) wake_leg(*sending_);
  notify();
}

void Link::task_done(const std::shared_ptr<Leg>& leg) {
  if (--leg->tasks == 0) {
    legs_.erase(std::remove(legs_.begin(), legs_.end(), leg), legs_.end());
    notify();
  }
}

asio::awaitable<void> Link::idle(std::shared_ptr<Leg> leg, Time deadline) {
  if (!leg->wake_pending) {
    leg->wake.expires_at(deadline);
    co_await leg->wake.wait();
  }
  leg->wake_pending = false;
}

// The window reopened with the first answer of a batch the reader is still
// taking in (a gateway answers in batches, and each answer is read in a turn
// of its own): yield while the reader goes on settling answers, so the burst
// fills the room they make together instead of leaving one frame per answer
// (a send per frame made the pipeline 0.6x as fast; SWS avoidance in TCP
// terms). Bounded, and before the burst is gathered: the time from a frame's
// freshness check to the socket is unchanged.
asio::awaitable<void> Link::let_answers_arrive(std::shared_ptr<Leg> leg) {
  const std::size_t limit = window(*leg);
  std::size_t quiet = 0;  // turns in a row without a new answer
  for (std::size_t turn = 0; turn < 4 * kMaxBurstFrames && leg->alive; ++turn) {
    if (limit - std::min(limit, leg->inflight.size()) >= kMaxBurstFrames) break;
    const std::uint64_t before = leg->answers;
    co_await asio::post(ctx_.executor, asio::use_awaitable);
    quiet = leg->answers == before ? quiet + 1 : 0;
    if (quiet == kQuietTurns) break;  // the reader waits for the peer: nothing more is coming now
  }
}

// The next frame to write: replays of dead connections first, in their
// original order, then what the handler has.
std::optional<OutFrame> Link::take_frame() {
  while (!replay_.empty()) {
    const FrameKey key = replay_.front().key;
    replay_.pop_front();
    if (auto frame = ctx_.handler.replay(id_, key)) return frame;
  }
  return ctx_.handler.next_frame(id_);
}

// Gathers a burst, synchronously: each frame is checked by the handler
// (freshness), recorded and gathered with no other work in between, so the
// first frame's check is microseconds before the burst leaves, whatever else
// (intake, other links) is queued on the executor.
std::size_t Link::gather_burst(const std::shared_ptr<Leg>& leg) {
  leg->burst.clear();
  std::size_t frames = 0;
  std::size_t bytes = 0;
  const std::size_t limit = window(*leg);
  while (frames < kMaxBurstFrames && bytes < kMaxBurstBytes && leg->inflight.size() < limit) {
    auto frame = take_frame();
    if (!frame) break;
    const auto now = ctx_.clock.steady_now();
    // Tracked before the write: the ACK may be read before the send completes.
    if (frame->key) {
      leg->inflight.emplace(*frame->key, frame->sequence);
      leg->written.emplace_back(now, *frame->key);
      if (leg->written.size() == 1) leg->ack_timer.cancel();  // the watcher had nothing to watch
      leg->burst.push_back(*frame->key);
    }
    ctx_.handler.on_written(id_, *frame, now);
    if (auto ec = leg->conn->gather(frame->text)) {
      die(leg, ec);
      break;
    }
    ++frames;
    bytes += frame->text.size();
  }
  return frames;
}

asio::awaitable<void> Link::writer(std::shared_ptr<Leg> leg) {
  auto self = shared_from_this();
  while (leg->alive) {
    if (leg->ping_due) {
      leg->ping_due = false;
      if (auto ec = co_await leg->conn->ping()) die(leg, ec);
      continue;
    }
    if (leg->retiring) {
      if (leg->inflight.empty() || ctx_.clock.steady_now() >= leg->drain_deadline) {
        co_await leg->conn->close(1000);
        die(leg, {});
        break;
      }
      co_await idle(leg, leg->drain_deadline);
      continue;
    }
    // Frames of another connection of this link (the one a rotation retires)
    // still unanswered: a frame written here now could overtake them, so
    // per-session order waits for their answers (or their replay here).
    if (leg->inflight.size() >= window(*leg) || others_in_flight(*leg)) {
      const bool window_full = leg->inflight.size() >= window(*leg);
      co_await idle(leg, Time::max());
      if (window_full) co_await let_answers_arrive(leg);
      continue;
    }
    const std::size_t gathered = gather_burst(leg);
    if (!leg->alive) break;
    if (gathered == 0) {
      co_await idle(leg, Time::max());
      continue;
    }
    // Write-ahead: the burst's records are made safe before any of its bytes
    // leave; when they cannot be, the burst is not sent at all.
    if (auto ec = ctx_.handler.before_send(id_)) {
      for (const auto& key : leg->burst) {
        if (leg->inflight.erase(key) > 0) ctx_.handler.on_unsent(id_, key, ec);
      }
      die(leg, ec);
      break;
    }
    if (auto ec = co_await leg->conn->flush()) die(leg, ec);
  }
  task_done(leg);
}

asio::awaitable<void> Link::reader(std::shared_ptr<Leg> leg) {
  auto self = shared_from_this();
  std::string text;
  while (leg->alive) {
    if (auto ec = co_await leg->conn->read(text)) {
      // A retiring leg we closed ourselves ends without error.
      die(leg, leg->retiring && leg->inflight.empty() ? std::error_code{} : ec);
      break;
    }
    dispatch(*leg, text);
  }
  task_done(leg);
}

asio::awaitable<void> Link::keepalive(std::shared_ptr<Leg> leg) {
  auto self = shared_from_this();
  while (leg->alive) {
    leg->keepalive.expires_after(ctx_.options.ping_interval);
    co_await leg->keepalive.wait();
    if (!leg->alive) break;
    const auto pongs = leg->conn->pongs();
    leg->ping_due = true;
    wake_leg(*leg);
    leg->keepalive.expires_after(ctx_.options.pong_timeout);
    co_await leg->keepalive.wait();
    if (!leg->alive) break;
    if (leg->conn->pongs() == pongs) die(leg, make_error_code(TransportErrc::peer_timeout));
  }
  task_done(leg);
}

// A frame unanswered past the ACK deadline means the connection is dead for
// delivery, whatever its pongs say: it is closed, and its frames replayed.
asio::awaitable<void> Link::ack_deadline(std::shared_ptr<Leg> leg) {
  auto self = shared_from_this();
  while (leg->alive) {
    while (!leg->written.empty() && !leg->inflight.contains(leg->written.front().second)) leg->written.pop_front();
    if (leg->written.empty()) {
      leg->ack_timer.expires_never();
    } else {
      const auto deadline = leg->written.front().first + ctx_.options.ack_timeout;
      if (ctx_.clock.steady_now() >= deadline) {
        ctx_.log->warn(detail::LogRecord("frame unanswered past the ACK deadline: closing the connection")
                         .with("link", id_)
                         .with("frame_id", leg->written.front().second.view())
                         .with("ack_timeout_ms", ctx_.options.ack_timeout.count())
                         .with("connection", leg->hello.connection_id));
        die(leg, make_error_code(TransportErrc::ack_timeout));
        break;
      }
      leg->ack_timer.expires_at(deadline);
    }
    co_await leg->ack_timer.wait();
  }
  task_done(leg);
}

// A frame of `leg` was answered: its writer may go on, and when a retiring
// leg has nothing left in flight the sending one may write again.
void Link::settled(Leg& leg) {
  ++leg.answers;
  wake_leg(leg);
  if (leg.inflight.empty() && sending_ && sending_.get() != &leg && sending_->alive) wake_leg(*sending_);
}

void Link::dispatch(Leg& leg, const std::string& text) {
  auto decoded = decode_frame(text);
  if (!decoded) {
    std::uint64_t suppressed = 0;
    if (bad_frame_log_.allow(ctx_.clock.steady_now(), suppressed))
      ctx_.log->warn(detail::LogRecord("undecodable frame from the gateway")
                       .with("link", id_)
                       .with("detail", decoded.error().message)
                       .with("suppressed", suppressed));
    return;
  }
  const auto now = ctx_.clock.steady_now();
  // Removes a tracked frame; false when this leg did not write it.
  auto settle = [&leg](const std::string& frame_id) {
    const auto key = FrameKey::of(frame_id);
    return key && leg.inflight.erase(*key) > 0;
  };
  std::visit(
      [&](const auto& frame) {
        using T = std::decay_t<decltype(frame)>;
        if constexpr (std::is_same_v<T, Ack>) {
          if (!settle(frame.frame_id)) {
            ctx_.log->debug(detail::LogRecord("ACK for a frame not in flight here").with("link", id_).with("frame_id", frame.frame_id));
            return;
          }
          leg.progressed = true;
          ctx_.handler.on_ack(id_, frame, now);
          settled(leg);
        } else if constexpr (std::is_same_v<T, Nack>) {
          if (!settle(frame.frame_id)) {
            std::uint64_t suppressed = 0;
            if (bad_frame_log_.allow(ctx_.clock.steady_now(), suppressed))
              ctx_.log->warn(detail::LogRecord("NACK for a frame not in flight here")
                               .with("link", id_)
                               .with("code", frame.code_text)
                               .with("reason", frame.reason)
                               .with("suppressed", suppressed));
            return;
          }
          leg.progressed = true;
          ctx_.handler.on_nack(id_, frame, now);
          settled(leg);
        } else if constexpr (std::is_same_v<T, PromptFeedback>) {
          ctx_.handler.on_feedback(id_, frame);
        } else if constexpr (std::is_same_v<T, SessionEnded>) {
          ctx_.handler.on_session_ended(id_, frame);
        }
        // HELLO again, client-side frames and unknown types: ignored (protocol §2).
      },
      decoded.value());
}

}  // namespace assist::transport
