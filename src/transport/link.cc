#include "transport/link.h"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/unordered/unordered_flat_map.hpp>
#include <spdlog/spdlog.h>

namespace assist::transport {

namespace asio = boost::asio;
using RealClock = std::chrono::steady_clock;

namespace {

// Errors no retry can cure: configuration or permission problems.
bool is_fatal(const std::error_code& error) {
  if (error.category() != transport_category()) return false;
  switch (static_cast<TransportErrc>(error.value())) {
    case TransportErrc::invalid_client:
    case TransportErrc::invalid_scope:
    case TransportErrc::invalid_request:
    case TransportErrc::unsupported_grant_type:
    case TransportErrc::token_rejected:
    case TransportErrc::missing_scope:
    case TransportErrc::bad_token_response:
    case TransportErrc::bad_url:
    case TransportErrc::tls:
    case TransportErrc::handshake_forbidden:
      return true;
    default:
      return false;
  }
}

// Frames a corked burst may gather before it is flushed: about 40 KB of
// typical PROMPT_SYNC frames, under one loopback segment.
constexpr unsigned kMaxCorkedBurst = 64;

}  // namespace

// One physical connection and what was written on it.
struct Link::Leg {
  explicit Leg(const asio::any_io_executor& ex) : wake(ex), keepalive(ex) {}
  std::shared_ptr<Connection> conn;
  std::shared_ptr<const Token> token;
  Hello hello;
  asio::steady_timer wake;       // the writer waits here when it has nothing to do
  asio::steady_timer keepalive;
  bool alive = true;
  bool wake_pending = false;
  bool ping_due = false;
  bool retiring = false;  // takes no new frames; closes once its in-flight frames are answered
  RealClock::time_point drain_deadline = RealClock::time_point::max();
  Clock::steady_time up_since;
  std::error_code death;
  unsigned tasks = 0;
  unsigned burst = 0;  // frames written back to back since the writer last waited
  // Written, not answered yet: key -> sequence. Flat (no allocation per
  // frame); the frames themselves stay with the handler.
  boost::unordered_flat_map<FrameKey, std::uint64_t, FrameKeyHash> inflight;
};

Link::Link(LinkId id, LinkContext context)
    : id_(id),
      ctx_(std::move(context)),
      backoff_(ctx_.options.reconnect),
      events_(ctx_.executor),
      finished_signal_(ctx_.executor, RealClock::time_point::max()) {}

Link::~Link() = default;

void Link::start() {
  if (started_) return;
  started_ = true;
  asio::co_spawn(ctx_.executor, run(), asio::detached);
}

void Link::wake() {
  if (sending_ && sending_->alive) wake_leg(*sending_);
}

void Link::stop(Millis drain) {
  if (stopping_) return;
  stopping_ = true;
  stop_deadline_ = RealClock::now() + drain;
  if (opening_) opening_->abort();  // nothing to drain on a connection not yet open
  for (const auto& leg : legs_) {
    if (leg->alive) retire(leg, stop_deadline_);
  }
  notify();
}

asio::awaitable<void> Link::wait_closed() {
  auto self = shared_from_this();
  if (!started_) co_return;
  while (!finished_) co_await finished_signal_.async_wait(asio::as_tuple(asio::use_awaitable));
}

std::size_t Link::in_flight() const {
  std::size_t n = 0;
  for (const auto& leg : legs_) n += leg->inflight.size();
  return n + replay_.size();
}

std::size_t Link::window(const Leg& leg) const {
  std::uint32_t limit = leg.hello.max_inflight;
  if (ctx_.options.max_inflight != 0) limit = std::min(limit, ctx_.options.max_inflight);
  return std::max<std::size_t>(1, limit);
}

void Link::set_state(LinkState state, std::error_code error) {
  if (state == state_ && error == state_error_) return;
  state_ = state;
  state_error_ = error;
  ctx_.handler.on_state(id_, state, error);
}

void Link::notify() { events_.cancel(); }

void Link::wake_leg(Leg& leg) {
  leg.wake_pending = true;
  leg.wake.cancel();
}

asio::awaitable<void> Link::sleep_for(Millis delay) {
  const auto deadline = RealClock::now() + delay;
  while (!stopping_ && RealClock::now() < deadline) {
    events_.expires_at(deadline);
    co_await events_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

asio::awaitable<void> Link::run() {
  auto self = shared_from_this();
  set_state(LinkState::connecting);
  bool first = true;
  while (!stopping_) {
    bool rotating = false;
    if (sending_ && sending_->alive) {
      if (RealClock::now() < rotation_at_) {
        events_.expires_at(rotation_at_);
        co_await events_.async_wait(asio::as_tuple(asio::use_awaitable));
        continue;
      }
      rotating = true;
      set_state(LinkState::rotating);
    } else if (sending_) {
      const auto death = sending_->death;
      if (ctx_.clock.steady_now() - sending_->up_since >= ctx_.options.healthy_reset_after) backoff_.reset();
      sending_.reset();
      set_state(LinkState::down, death);
      // 4001 asks for a fresh token, not for patience: reconnect at once.
      if (death != TransportErrc::token_expired) co_await sleep_for(backoff_.next(ctx_.random));
      if (stopping_) break;
      set_state(LinkState::connecting);
    }
    Opened opened = co_await open_leg();
    if (stopping_) {
      if (opened.leg) co_await opened.leg->conn->close(1000);
      break;
    }
    if (opened.fatal) {
      spdlog::error("link {}: giving up: {}", id_, opened.error.message());
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
      retire(sending_, RealClock::now() + ctx_.options.rotation_drain);
    } else if (!first) {
      ++reconnects_;
    }
    first = false;
    install(std::move(opened.leg));
  }
  // Stopping or failed: close what is open, after its in-flight frames are answered.
  const auto deadline = stopping_ ? stop_deadline_ : RealClock::now();
  for (const auto& leg : legs_) {
    if (leg->alive) retire(leg, deadline);
  }
  while (!legs_.empty()) {
    events_.expires_at(RealClock::time_point::max());
    co_await events_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  sending_.reset();
  if (state_ != LinkState::failed) set_state(LinkState::closed);
  finished_ = true;
  finished_signal_.cancel();
}

asio::awaitable<Link::Opened> Link::open_leg() {
  for (int attempt = 0;; ++attempt) {
    TokenResult token = co_await ctx_.tokens.token();
    if (!token) {
      spdlog::warn("link {}: no token: {} ({})", id_, token.error.message(), token.detail);
      co_return Opened{nullptr, token.error, is_fatal(token.error), backoff_.next(ctx_.random)};
    }
    auto conn = std::make_shared<Connection>(ctx_.executor, ctx_.target);
    opening_ = conn;
    OpenResult result = co_await conn->open(token.token->access_token, ctx_.clock);
    opening_.reset();
    if (!result.error) {
      auto leg = std::make_shared<Leg>(ctx_.executor);
      leg->conn = std::move(conn);
      leg->token = std::move(token.token);
      leg->hello = std::move(result.hello);
      co_return Opened{std::move(leg), {}, false, Millis{0}};
    }
    spdlog::warn("link {}: {}: {} ({})", id_, conn->description(), result.error.message(), result.detail);
    if (result.error == TransportErrc::handshake_unauthorized && attempt == 0) {
      // The token may have been revoked or expired early: one fresh token, one retry.
      ctx_.tokens.invalidate(token.token->access_token);
      ++forced_refreshes_;
      continue;
    }
    const Millis jitter = backoff_.next(ctx_.random);
    const Millis delay = result.retry_after ? std::max(*result.retry_after, Millis{0}) : jitter;
    co_return Opened{nullptr, result.error, is_fatal(result.error), delay};
  }
}

void Link::install(std::shared_ptr<Leg> leg) {
  leg->up_since = ctx_.clock.steady_now();
  hello_ = leg->hello;
  // Rotate when the token is due for refresh (the provider's schedule).
  rotation_at_ = RealClock::now() + (leg->token->refresh_at - ctx_.clock.steady_now());
  sending_ = leg;
  legs_.push_back(leg);
  leg->tasks = 3;
  asio::co_spawn(ctx_.executor, reader(leg), asio::detached);
  asio::co_spawn(ctx_.executor, writer(leg), asio::detached);
  asio::co_spawn(ctx_.executor, keepalive(leg), asio::detached);
  spdlog::info("link {}: up on {} (connection {})", id_, leg->conn->description(), leg->hello.connection_id);
  ctx_.handler.on_hello(id_, leg->hello);
  set_state(LinkState::up);
}

void Link::retire(const std::shared_ptr<Leg>& leg, RealTime deadline) {
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
  if (error) spdlog::info("link {}: connection {} ended: {}", id_, leg->hello.connection_id, error.message());
  if (sending_ && sending_->alive) wake_leg(*sending_);
  notify();
}

void Link::task_done(const std::shared_ptr<Leg>& leg) {
  if (--leg->tasks == 0) {
    legs_.erase(std::remove(legs_.begin(), legs_.end(), leg), legs_.end());
    notify();
  }
}

asio::awaitable<void> Link::idle(std::shared_ptr<Leg> leg, RealTime deadline) {
  co_await end_burst(leg);
  if (!leg->alive) co_return;
  if (!leg->wake_pending) {
    leg->wake.expires_at(deadline);
    co_await leg->wake.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  leg->wake_pending = false;
}

asio::awaitable<void> Link::end_burst(std::shared_ptr<Leg> leg) {
  const bool corked = leg->burst > 0;
  leg->burst = 0;
  if (!corked) co_return;
  // Sends what the burst gathered: nothing gathered may wait for a later write.
  if (auto ec = co_await leg->conn->flush()) die(leg, ec);
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
      if (leg->inflight.empty() || RealClock::now() >= leg->drain_deadline) {
        co_await end_burst(leg);  // the close frame must not be gathered
        co_await leg->conn->close(1000);
        die(leg, {});
        break;
      }
      co_await idle(leg, leg->drain_deadline);
      continue;
    }
    if (leg->inflight.size() >= window(*leg)) {
      co_await idle(leg, RealClock::time_point::max());
      continue;
    }
    std::optional<OutFrame> frame;
    if (!replay_.empty()) {
      const FrameKey key = replay_.front().key;
      replay_.pop_front();
      frame = ctx_.handler.replay(id_, key);
      if (!frame) continue;
    } else {
      frame = ctx_.handler.next_frame(id_);
    }
    if (!frame) {
      co_await idle(leg, RealClock::time_point::max());
      continue;
    }
    // Tracked before the write: the ACK may be read before the write completes.
    if (frame->key) leg->inflight.emplace(*frame->key, frame->sequence);
    ctx_.handler.on_written(id_, *frame, ctx_.clock.steady_now());
    // Frames written back to back leave in one send: each is gathered, and
    // what the burst gathered leaves as soon as the writer runs out of frames
    // (a lone frame leaves at once, with no send of its own before the rest
    // of a burst) or after kMaxCorkedBurst frames, so a long burst flows.
    if (leg->burst == 0) leg->conn->set_cork(true);
    if (auto ec = co_await leg->conn->write(frame->text)) die(leg, ec);
    if (++leg->burst == kMaxCorkedBurst) co_await end_burst(leg);
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
    co_await leg->keepalive.async_wait(asio::as_tuple(asio::use_awaitable));
    if (!leg->alive) break;
    const auto pongs = leg->conn->pongs();
    leg->ping_due = true;
    wake_leg(*leg);
    leg->keepalive.expires_after(ctx_.options.pong_timeout);
    co_await leg->keepalive.async_wait(asio::as_tuple(asio::use_awaitable));
    if (!leg->alive) break;
    if (leg->conn->pongs() == pongs) die(leg, make_error_code(TransportErrc::peer_timeout));
  }
  task_done(leg);
}

void Link::dispatch(Leg& leg, const std::string& text) {
  auto decoded = decode_frame(text);
  if (!decoded) {
    spdlog::warn("link {}: undecodable frame from the gateway: {}", id_, decoded.error().detail);
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
            spdlog::debug("link {}: ACK for a frame not in flight here", id_);
            return;
          }
          ctx_.handler.on_ack(id_, frame, now);
          wake_leg(leg);
        } else if constexpr (std::is_same_v<T, Nack>) {
          if (!settle(frame.frame_id)) {
            spdlog::warn("link {}: NACK {} for a frame not in flight here: {}", id_, frame.code_text, frame.reason);
            return;
          }
          ctx_.handler.on_nack(id_, frame, now);
          wake_leg(leg);
        } else if constexpr (std::is_same_v<T, PromptFeedback>) {
          ctx_.handler.on_feedback(id_, frame);
        } else if constexpr (std::is_same_v<T, SessionEnded>) {
          ctx_.handler.on_session_ended(id_, frame);
        }
        // HELLO again, client-side frames and unknown types: ignored (protocol §2).
      },
      decoded.frame());
}

}  // namespace assist::transport
