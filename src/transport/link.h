// A link: one logical gateway connection that outlives its physical
// connections. It reconnects with backoff, rotates onto a fresh token before
// the current one expires (make-before-break), replays unacknowledged frames
// of a dead connection on its successor before any new frame, matches
// ACK/NACK to the frames it wrote, and treats a frame left unanswered past the
// ACK deadline as written on a dead connection.
#ifndef ASSIST_SRC_TRANSPORT_LINK_H
#define ASSIST_SRC_TRANSPORT_LINK_H

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "assist/clock.h"
#include "assist/transport.h"
#include "core/detail/log_rate_limit.h"
#include "util/backoff.h"
#include "transport/connection.h"
#include "transport/link_handler.h"
#include "transport/token_provider.h"
#include "util/logger.h"
#include "util/timer.h"

namespace assist::transport {

// What every link of a pool shares. The referenced objects outlive the links.
struct LinkContext {
  boost::asio::any_io_executor executor;
  TokenProvider& tokens;
  const RealtimeOptions& options;
  ConnectionFactory connect;
  LinkHandler& handler;
  Clock& clock;
  Random& random;
  util::LoggerPtr log;
};

// Not thread-safe: everything runs on the context's executor. Every timer
// and deadline runs on the context's clock.
class Link : public std::enable_shared_from_this<Link> {
 public:
  Link(LinkId id, LinkContext context);
  ~Link();
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  // Starts connecting; runs until stop() or a fatal error.
  void start();
  // The handler has frames for this link: the writer asks next_frame again.
  void wake();
  // Stops taking new frames, waits up to `drain` for in-flight ACKs, then
  // closes every connection with 1000. Idempotent.
  void stop(Millis drain);
  // Completes when the link is closed or failed and all its coroutines ended.
  boost::asio::awaitable<void> wait_closed();

  LinkId id() const { return id_; }
  LinkState state() const { return state_; }
  // Why the link is down or failed (empty while up).
  std::error_code error() const { return state_error_; }
  bool stopping() const { return stopping_; }
  // The last HELLO's max_sessions (100 before the first HELLO).
  std::uint32_t max_sessions() const { return hello_.max_sessions; }
  bool has_hello() const { return has_hello_; }
  std::size_t in_flight() const;
  std::uint64_t reconnects() const { return reconnects_; }
  std::uint64_t rotations() const { return rotations_; }
  std::uint64_t forced_token_refreshes() const { return forced_refreshes_; }
  // Consecutive failures the reconnect backoff has counted: grows with each
  // failed attempt or unhealthy drop, starts over after a healthy connection.
  unsigned backoff_step() const { return backoff_.failures(); }

 private:
  struct Leg;
  struct Opened {
    std::shared_ptr<Leg> leg;
    std::error_code error;
    bool fatal = false;
    Millis delay{0};
  };
  using Time = Clock::steady_time;

  boost::asio::awaitable<void> run();
  boost::asio::awaitable<void> reopen_after_death();
  boost::asio::awaitable<Opened> open_leg();
  Opened refused(const OpenResult& result);
  void install(std::shared_ptr<Leg> leg);
  void spawn_task(const std::shared_ptr<Leg>& leg, boost::asio::awaitable<void> task, const char* what);
  void retire(const std::shared_ptr<Leg>& leg, Time deadline);
  void die(const std::shared_ptr<Leg>& leg, std::error_code error);
  boost::asio::awaitable<void> reader(std::shared_ptr<Leg> leg);
  boost::asio::awaitable<void> writer(std::shared_ptr<Leg> leg);
  boost::asio::awaitable<void> keepalive(std::shared_ptr<Leg> leg);
  boost::asio::awaitable<void> ack_deadline(std::shared_ptr<Leg> leg);
  boost::asio::awaitable<void> idle(std::shared_ptr<Leg> leg, Time deadline);
  boost::asio::awaitable<void> let_answers_arrive(std::shared_ptr<Leg> leg);
  boost::asio::awaitable<void> sleep_for(Millis delay);
  std::size_t gather_burst(const std::shared_ptr<Leg>& leg);
  std::optional<OutFrame> take_frame();
  void dispatch(Leg& leg, const std::string& text);
  void wake_leg(Leg& leg);
  void settled(Leg& leg);
  bool others_in_flight(const Leg& leg) const;
  void task_done(const std::shared_ptr<Leg>& leg);
  std::size_t window(const Leg& leg) const;
  void set_state(LinkState state, std::error_code error = {});
  void finish();
  void notify();

  LinkId id_;
  LinkContext ctx_;
  util::Backoff backoff_;
  Hello hello_;
  LinkState state_ = LinkState::connecting;
  std::error_code state_error_;
  // Warnings about what a misbehaving gateway sends: at most 10 per 10 s.
  detail::LogRateLimit bad_frame_log_{10, std::chrono::seconds(10)};
  bool started_ = false;
  bool stopping_ = false;
  bool finished_ = false;
  bool has_hello_ = false;
  unsigned unusable_answers_ = 0;  // consecutive openings that gave nothing usable
  Time stop_deadline_{};
  Time rotation_at_{};
  std::shared_ptr<Leg> sending_;
  std::shared_ptr<Connection> opening_;  // while open_leg() waits for its handshake
  std::vector<std::shared_ptr<Leg>> legs_;  // every leg with a coroutine still running
  struct Unacked {
    std::uint64_t sequence;
    FrameKey key;
  };
  std::deque<Unacked> replay_;  // unacked frames of dead legs, in write order
  util::Timer events_;          // run() waits here; notify() cancels it
  util::Timer finished_signal_;
  std::uint64_t reconnects_ = 0;
  std::uint64_t rotations_ = 0;
  std::uint64_t forced_refreshes_ = 0;
};

}  // namespace assist::transport

#endif
