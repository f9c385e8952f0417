// Shared pieces of the transport integration tests: a LinkHandler that feeds
// PROMPT_SYNC frames per link and records what came back, and a runner for a
// test coroutine on an io_context.
#ifndef ASSIST_TESTS_TRANSPORT_TRANSPORT_FIXTURE_H
#define ASSIST_TESTS_TRANSPORT_TRANSPORT_FIXTURE_H

#include <chrono>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include "assist/clock.h"
#include "assist/frame.h"
#include "assist/frame_id.h"
#include "assist/gateway.h"
#include "assist/transport.h"
#include "support/prompt_gen.h"
#include "transport/link_handler.h"

namespace assist::transport::testing {

namespace asio = boost::asio;

// Feeds frames queued per link, numbering them when first written (as the
// synchronizer does), and records ACKs, NACKs and state changes.
class TestHandler final : public LinkHandler {
 public:
  explicit TestHandler(asio::io_context& ioc) : signal_(ioc) {}

  // Queues one PROMPT_SYNC of `session` for `link`.
  void enqueue(LinkId link, const std::string& session) {
    PromptSync frame;
    frame.frame_id = ids_.next();
    frame.payload = assist::testing::source_example_prompt();
    frame.payload.session_id = session;
    frame.payload.ttl_seconds = 120;
    queues_[link].push_back(std::move(frame));
    ++enqueued;
  }

  std::optional<OutFrame> next_frame(LinkId link) override {
    auto& queue = queues_[link];
    if (queue.empty()) return std::nullopt;
    PromptSync frame = std::move(queue.front());
    queue.pop_front();
    frame.sequence = ++sequence_;
    frame.payload.timestamp = system_clock().unix_now();
    OutFrame out{FrameKey::of(frame.frame_id), frame.sequence, encode(frame)};
    sent_.insert_or_assign(frame.frame_id, out);
    return out;
  }
  std::optional<OutFrame> replay(LinkId, const FrameKey& key) override {
    ++replays;
    const auto& frame = sent_.at(std::string(key.view()));
    replay_sequences.push_back(frame.sequence);
    return frame;
  }
  void on_written(LinkId, const OutFrame& frame, SteadyTime) override {
    ++writes;
    written_ids.insert(std::string(frame.key->view()));
    max_unacked = std::max(max_unacked, written_ids.size() - acked.size() - nacked.size());
    notify();
  }
  // The write-ahead gate: refuses with `refuse_bursts` while it is set.
  std::error_code before_send(LinkId) override {
    ++bursts;
    return refuse_bursts;
  }
  void on_unsent(LinkId, const FrameKey& key, std::error_code) override {
    unsent_ids.insert(std::string(key.view()));
    notify();
  }
  void on_hello(LinkId, const Hello& h) override {
    ++hellos;
    hello = h;
    notify();
  }
  void on_ack(LinkId, const Ack& ack, SteadyTime) override {
    if (!acked.insert(ack.frame_id).second) ++acked_twice;
    if (ack.duplicate) ++duplicate_acks;
    notify();
  }
  void on_nack(LinkId, const Nack& nack, SteadyTime) override {
    nacked.insert(nack.frame_id);
    nack_codes.push_back(nack.code_text);
    notify();
  }
  void on_feedback(LinkId, const PromptFeedback&) override {}
  void on_session_ended(LinkId, const SessionEnded&) override {}
  void on_state(LinkId link, LinkState state, std::error_code error) override {
    states[link].push_back(state);
    if (error) errors[link].push_back(error);
    notify();
  }

  // Waits until `done()` holds or `timeout` passes; true when it holds. Woken
  // by every handler event, and at least every 20 ms for conditions on other
  // objects' counters.
  asio::awaitable<bool> wait_until(std::function<bool()> done, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) co_return false;
      signal_.expires_at(std::min(deadline, now + std::chrono::milliseconds(20)));
      co_await signal_.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    co_return true;
  }

  bool all_acked() const { return acked.size() == enqueued; }
  bool saw_state(LinkId link, LinkState state) const {
    const auto it = states.find(link);
    return it != states.end() && std::find(it->second.begin(), it->second.end(), state) != it->second.end();
  }

  std::size_t enqueued = 0;
  std::size_t writes = 0;
  std::size_t replays = 0;
  std::size_t hellos = 0;
  std::size_t acked_twice = 0;
  std::size_t duplicate_acks = 0;
  std::size_t max_unacked = 0;
  std::size_t bursts = 0;
  std::error_code refuse_bursts;  // set: before_send refuses every burst
  Hello hello;
  std::set<std::string> written_ids;
  std::set<std::string> unsent_ids;
  std::set<std::string> acked;
  std::set<std::string> nacked;
  std::vector<std::string> nack_codes;
  std::vector<std::uint64_t> replay_sequences;
  std::map<LinkId, std::vector<LinkState>> states;
  std::map<LinkId, std::vector<std::error_code>> errors;

 private:
  void notify() { signal_.cancel(); }

  asio::steady_timer signal_;
  FrameIdGenerator ids_{7};
  std::uint64_t sequence_ = 0;
  std::map<LinkId, std::deque<PromptSync>> queues_;
  std::map<std::string, OutFrame> sent_;  // by frame_id: what replay() writes again
};

// Runs `body` on `ioc` until it and everything it started has finished;
// rethrows what it threw.
inline void run_test(asio::io_context& ioc, std::function<asio::awaitable<void>()> body) {
  std::exception_ptr failure;
  asio::co_spawn(ioc, body(), [&](std::exception_ptr e) { failure = e; });
  ioc.run();
  if (failure) std::rethrow_exception(failure);
}

inline asio::awaitable<void> sleep_ms(int ms) {
  asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::milliseconds(ms));
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

inline TokenOptions token_options(const Gateway& gateway) {
  TokenOptions options;
  options.token_url = gateway.token_url();
  options.client_id = "demo-client";
  options.client_secret = "demo-secret";
  options.backoff = {Millis{1}, 2.0, Millis{20}};
  options.retry_after_cap = Millis{20};
  options.request_timeout = Millis{5000};
  return options;
}

inline RealtimeOptions realtime_options(const Gateway& gateway) {
  RealtimeOptions options;
  options.realtime_url = gateway.realtime_url();
  options.reconnect = {Millis{2}, 2.0, Millis{50}};
  options.retry_after_cap = Millis{20};
  options.handshake_timeout = Millis{5000};
  options.rotation_drain = Millis{2000};
  return options;
}

}  // namespace assist::transport::testing

#endif
