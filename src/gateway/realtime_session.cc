#include "gateway/realtime_session.h"

#include <deque>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <variant>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <fmt/format.h>

#include "assist/frame.h"
#include "gateway/frame_check.h"
#include "net/coalescing_stream.h"

namespace assist::gateway {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using asio::awaitable;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// How far ahead of the gateway's clock a prompt's timestamp may be (protocol §2).
constexpr double kMaxFutureSkewSeconds = 5.0;

template <class... Ts>
struct overloaded : Ts... {
  using Ts::operator()...;
};
// Spelled out for clang 14 (the fuzz preset), which lacks C++20's CTAD for aggregates.
template <class... Ts>
overloaded(Ts...) -> overloaded<Ts...>;

// Close codes of protocol §2 beyond RFC 6455 §7.4.1.
constexpr std::uint16_t close_token_expired = 4001;
constexpr std::uint16_t close_going_away = 1001;

// Types only the server sends; a client sending one is ignored (protocol §2).
bool is_server_frame_type(std::string_view type) {
  return type == "HELLO" || type == "ACK" || type == "NACK" || type == "PROMPT_FEEDBACK" || type == "SESSION_ENDED";
}

// One message for the writer: a text frame, or a close frame when close_code != 0.
struct Outgoing {
  std::string text;
  bool is_ack = false;
  std::uint16_t close_code = 0;
};

template <class NextLayer>
class RealtimeSession final : public LiveConnection,
                              public std::enable_shared_from_this<RealtimeSession<NextLayer>> {
 public:
  RealtimeSession(std::shared_ptr<GatewayState> state, NextLayer&& stream, IssuedToken token)
      : state_(std::move(state)),
        opts_(state_->options),
        clock_(state_->clock),
        ws_(std::move(stream)),
        token_(std::move(token)),
        wake_writer_(ws_.get_executor()),
        wake_reader_(ws_.get_executor()),
        backlog_limit_(static_cast<std::size_t>(opts_.max_inflight) + 256) {}

  // Also runs for connections still open when the gateway stops (their
  // coroutines are destroyed without resuming).
  ~RealtimeSession() override {
    leave();
    state_->connections.release(token_.client_id);
  }

  awaitable<void> run(Request request) {
    auto self = this->shared_from_this();
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = opts_.request_timeout;
    timeouts.idle_timeout = opts_.idle_timeout;
    timeouts.keep_alive_pings = true;
    ws_.set_option(timeouts);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "assist-gateway-emulator"); }));
    ws_.read_message_max(opts_.max_frame_bytes);
    ws_.auto_fragment(false);
    auto [accept_ec] = co_await ws_.async_accept(request, use_tuple);
    if (accept_ec) co_return;
    ws_.text(true);
    opened_ = clock_.steady_now();
    state_->ledger.add(&GatewayStats::connections_opened);
    state_->ledger.add(&GatewayStats::connections_active);
    registry_id_ = state_->connections.add(this->weak_from_this());

    Hello hello;
    hello.connection_id = state_->next_connection_id();
    hello.max_sessions = opts_.max_sessions;
    hello.max_snippets = opts_.max_snippets;
    hello.max_inflight = opts_.max_inflight;
    hello.max_frame_bytes = opts_.max_frame_bytes;
    hello.token_expires_at = std::floor(token_.expires_at);
    enqueue({encode(hello)});
    asio::co_spawn(ws_.get_executor(), write_loop(), asio::detached);

    co_await read_loop();
    done_ = true;
    wake_writer_.cancel();
    leave();
  }

  void post_tick() override {
    on_strand([](RealtimeSession& s) { s.on_tick(); });
  }
  void post_close(std::uint16_t code) override {
    on_strand([code](RealtimeSession& s) { s.close(code, "closed by the gateway"); });
  }
  void post_end_session(const std::string& session_id) override {
    on_strand([session_id](RealtimeSession& s) { s.end_session(session_id, "ended_by_gateway"); });
  }
  void post_release_acks() override {
    on_strand([](RealtimeSession& s) { s.release_due_acks(s.clock_.steady_now()); });
  }

 private:
  // Undoes the registration of an accepted connection, once.
  void leave() {
    if (registry_id_ == 0) return;
    state_->connections.remove(registry_id_);
    state_->ledger.subtract(&GatewayStats::connections_active);
    registry_id_ = 0;
  }

  template <class F>
  void on_strand(F f) {
    asio::post(ws_.get_executor(), [self = this->shared_from_this(), f = std::move(f)]() mutable {
      if (!self->done_) f(*self);
    });
  }

  awaitable<void> read_loop() {
    beast::flat_buffer buffer;
    for (;;) {
      auto [ec, n] = co_await ws_.async_read(buffer, use_tuple);
      if (ec) {
        // Beast has already sent close 1009 (RFC 6455 §7.4.1) for an oversized message.
        if (ec == websocket::error::message_too_big) state_->ledger.add(&GatewayStats::closes_1009);
        co_return;
      }
      state_->ledger.add(&GatewayStats::frames_received);
      const bool drop = state_->faults.drop_after_frame();
      if (!closing_) {
        handle({static_cast<const char*>(buffer.data().data()), buffer.size()}, ws_.got_text());
      }
      buffer.consume(buffer.size());
      if (drop) {
        state_->ledger.add(&GatewayStats::connections_dropped);
        abort();
        co_return;
      }
      // Backpressure: a peer that does not read its answers stops being read.
      while (queue_.size() >= backlog_limit_ && !done_) {
        wake_reader_.expires_at(asio::steady_timer::time_point::max());
        co_await wake_reader_.async_wait(use_tuple);
      }
      if (done_) co_return;
    }
  }

  awaitable<void> write_loop() {
    auto self = this->shared_from_this();
    while (!done_) {
      if (queue_.empty()) {
        wake_writer_.expires_at(asio::steady_timer::time_point::max());
        co_await wake_writer_.async_wait(use_tuple);
        // Let the reader answer the frames it already holds first, so that
        // their ACKs leave together rather than one send each.
        co_await asio::post(ws_.get_executor(), asio::use_awaitable);
        continue;
      }
      Outgoing item = std::move(queue_.front());
      queue_.pop_front();
      if (item.close_code != 0) {
        // The read loop ends when the peer answers the close (or on timeout).
        ws_.next_layer().cork(false);
        co_await ws_.async_close(websocket::close_reason(static_cast<websocket::close_code>(item.close_code), item.text), use_tuple);
        co_return;
      }
      if (item.is_ack) {
        --unacked_;
        state_->ledger.add(&GatewayStats::acks_sent);
      }
      // Answers leave together, in one send, while more are sure to follow:
      // more are queued, or received frames are still to be read.
      ws_.next_layer().cork(!queue_.empty() || ws_.next_layer().has_unread());
      auto [ec, n] = co_await ws_.async_write(asio::buffer(item.text), use_tuple);
      wake_reader_.cancel();
      if (ec) co_return;
    }
  }

  void enqueue(Outgoing item) {
    queue_.push_back(std::move(item));
    wake_writer_.cancel();
  }

  void nack(const Nack& n) {
    state_->ledger.add_nack(n.code);
    enqueue({encode(n)});
  }

  void handle(std::string_view text, bool is_text) {
    if (!is_text) {
      nack(refuse_binary());
      return;
    }
    auto decoded = decode_frame(text);
    if (!decoded) {
      const auto& err = decoded.error();
      // A frame of a type only the server sends is ignored, broken or not (protocol §2).
      if (is_server_frame_type(err.type)) return;
      nack(refuse_undecodable(err));
      return;
    }
    std::visit(overloaded{
                   [this](PromptSync& frame) { on_prompt(frame); },
                   [this](SessionEnd& frame) { sessions_.erase(frame.session_id); },
                   // Unknown types, and server-to-client types sent the wrong way, are
                   // ignored (protocol §2, forward compatibility).
                   [](auto&) {},
               },
               decoded.value());
  }

  void on_prompt(PromptSync& frame) {
    if (auto refusal = check_prompt_sync(frame, token_.has_scope("agentassist:write"))) {
      nack(*refusal);
      return;
    }
    const auto id = detail::FrameKey::of(frame.frame_id);
    const double age = clock_.unix_now() - *frame.payload.timestamp;
    const auto& session_id = frame.payload.session_id;
    // A frame already delivered is acknowledged again whatever its age or
    // slot; a new one must pass these first.
    std::optional<std::pair<NackCode, std::string>> refusal;
    const auto admit = [&]() -> bool {
      if (-age > kMaxFutureSkewSeconds) {
        // A prompt from the future would pass every age check (protocol §2).
        refusal.emplace(NackCode::invalid_frame,
                        fmt::format("timestamp: {:.3f} s ahead of the gateway's clock (more than {} s)", -age,
                                    kMaxFutureSkewSeconds));
      } else if (age > frame.payload.ttl_seconds) {
        refusal.emplace(NackCode::stale, fmt::format("prompt is {:.3f} s old, older than its ttl of {} s", age,
                                                     frame.payload.ttl_seconds));
      } else if (!sessions_.contains(session_id) && sessions_.size() >= opts_.max_sessions) {
        refusal.emplace(NackCode::session_limit,
                        fmt::format("this connection already holds {} sessions", sessions_.size()));
      } else if (unacked_ >= opts_.max_inflight) {
        refusal.emplace(NackCode::inflight_limit, fmt::format("{} prompts are awaiting their ACK", unacked_));
      }
      return !refusal;
    };
    const auto outcome = state_->ledger.deliver(*id, frame, age, admit);
    if (outcome == DeliveryLedger::Outcome::refused) {
      nack(make_nack(frame.frame_id, frame.sequence, refusal->first, refusal->second));
      return;
    }
    const bool duplicate = outcome == DeliveryLedger::Outcome::duplicate;
    const auto now = clock_.steady_now();
    if (!duplicate) {
      if (opts_.on_delivered) opts_.on_delivered(frame.frame_id);
      sessions_.try_emplace(session_id, now);
      if (opts_.desktop.send_feedback) {
        PromptFeedback fb;
        fb.frame_id = frame.frame_id;
        fb.session_id = session_id;
        fb.action = state_->faults.draw(opts_.desktop.adoption_probability) ? FeedbackAction::adopted
                                                                             : FeedbackAction::dismissed;
        feedback_.emplace(now + opts_.desktop.feedback_delay, std::move(fb));
      }
    }
    queue_ack(Ack{frame.frame_id, frame.sequence, duplicate}, now);
  }

  void queue_ack(const Ack& ack, Clock::steady_time now) {
    ++unacked_;
    const auto delay = state_->faults.next_ack_delay();
    if (delay.count() == 0 && !state_->stalled && delayed_acks_.empty()) {
      enqueue({encode(ack), true});
    } else {
      delayed_acks_.emplace(now + delay, encode(ack));
    }
  }

  void release_due_acks(Clock::steady_time now) {
    if (state_->stalled || closing_) return;
    while (!delayed_acks_.empty() && delayed_acks_.begin()->first <= now) {
      enqueue({std::move(delayed_acks_.begin()->second), true});
      delayed_acks_.erase(delayed_acks_.begin());
    }
  }

  void on_tick() {
    if (closing_) return;
    const auto now = clock_.steady_now();
    if (clock_.unix_now() >= token_.expires_at) {
      close(close_token_expired, "token expired");
      return;
    }
    if (opts_.faults.go_away_after.count() > 0 && now - opened_ >= opts_.faults.go_away_after) {
      close(close_going_away, "going away");
      return;
    }
    release_due_acks(now);
    while (!feedback_.empty() && feedback_.begin()->first <= now) {
      auto fb = std::move(feedback_.begin()->second);
      feedback_.erase(feedback_.begin());
      fb.at = clock_.unix_now();
      state_->ledger.add(&GatewayStats::feedback_sent);
      enqueue({encode(fb)});
    }
    if (opts_.desktop.session_length.count() > 0) {
      std::vector<std::string> over;
      for (const auto& [id, started] : sessions_) {
        if (now - started >= opts_.desktop.session_length) over.push_back(id);
      }
      for (const auto& id : over) end_session(id, "interaction_completed");
    }
  }

  void end_session(const std::string& session_id, std::string_view reason) {
    if (closing_ || sessions_.erase(session_id) == 0) return;
    state_->ledger.add(&GatewayStats::sessions_ended);
    enqueue({encode(SessionEnded{session_id, std::string(reason)})});
  }

  // Sends a close frame after what is queued; frames received from now on are
  // not answered, and held ACKs are not sent (the client replays them).
  void close(std::uint16_t code, std::string_view reason) {
    if (closing_) return;
    closing_ = true;
    if (code == close_token_expired) state_->ledger.add(&GatewayStats::closes_4001);
    if (code == close_going_away) state_->ledger.add(&GatewayStats::closes_1001);
    enqueue({std::string(reason), false, code});
  }

  // Closes the TCP connection without a close frame.
  void abort() {
    closing_ = true;
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

  const std::shared_ptr<GatewayState> state_;
  const GatewayOptions& opts_;
  Clock& clock_;
  websocket::stream<net::CoalescingStream<NextLayer>> ws_;
  const IssuedToken token_;
  asio::steady_timer wake_writer_;  // cancelled when the queue grows
  asio::steady_timer wake_reader_;  // cancelled when the queue shrinks
  const std::size_t backlog_limit_;
  std::uint64_t registry_id_ = 0;
  Clock::steady_time opened_{};
  bool closing_ = false;
  bool done_ = false;
  std::deque<Outgoing> queue_;
  std::uint32_t unacked_ = 0;  // accepted prompts whose ACK is not yet written
  std::multimap<Clock::steady_time, std::string> delayed_acks_;
  std::multimap<Clock::steady_time, PromptFeedback> feedback_;
  std::unordered_map<std::string, Clock::steady_time> sessions_;  // slot -> first delivery
};

template <class NextLayer>
awaitable<void> run_session(std::shared_ptr<GatewayState> state, NextLayer stream, Request request,
                            IssuedToken token) {
  auto session =
      std::make_shared<RealtimeSession<NextLayer>>(std::move(state), std::move(stream), std::move(token));
  co_await session->run(std::move(request));
}

}  // namespace

awaitable<void> run_realtime(std::shared_ptr<GatewayState> state, beast::tcp_stream stream,
                             Request request, IssuedToken token) {
  return run_session(std::move(state), std::move(stream), std::move(request), std::move(token));
}

awaitable<void> run_realtime(std::shared_ptr<GatewayState> state,
                             beast::ssl_stream<beast::tcp_stream> stream, Request request,
                             IssuedToken token) {
  return run_session(std::move(state), std::move(stream), std::move(request), std::move(token));
}

}  // namespace assist::gateway
