// The connection pool: links to the gateway, and which session lives on which.
// A link holds at most HELLO's max_sessions sessions; more sessions open more
// links, up to RealtimeOptions::max_connections. A session stays on its link
// while it lives (so its prompts stay in order, across reconnects too); a link
// without sessions closes after idle_close_after, unless it is the last one.
#ifndef ASSIST_SRC_TRANSPORT_POOL_H
#define ASSIST_SRC_TRANSPORT_POOL_H

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "assist/clock.h"
#include "assist/status.h"
#include "assist/transport.h"
#include "transport/link.h"
#include "transport/link_handler.h"
#include "transport/token_provider.h"
#include "util/logger.h"
#include "util/timer.h"

namespace assist::transport {

struct PoolStats {
  std::size_t links_open = 0;           // links up or rotating
  std::size_t links = 0;                // links not closed or failed
  std::size_t sessions = 0;
  std::uint64_t reconnects = 0;
  std::uint64_t rotations = 0;
  std::uint64_t token_refreshes = 0;    // tokens fetched by the provider
  std::uint64_t forced_token_refreshes = 0;  // after a 401 upgrade or a close 4001
  std::size_t in_flight = 0;            // written, not yet ACKed/NACKed, or waiting for replay
  unsigned max_backoff_step = 0;        // the deepest reconnect backoff of any link (Link::backoff_step)
};

// Not thread-safe: call everything on `ex` (a strand or a single-threaded
// io_context). The references passed in outlive the pool and its coroutines:
// co_await stop() before destroying them.
class Pool {
 public:
  // `connect` makes the physical connections; nullptr: WebSocket connections
  // to opts.realtime_url. The pool, its links and connections log to `log`.
  Pool(boost::asio::any_io_executor ex, TokenProvider& tokens, RealtimeOptions opts,
       LinkHandler& handler, Clock& clock, Random& random, ConnectionFactory connect = nullptr,
       util::LoggerPtr log = util::Logger::process_default());
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Why the options cannot work (a realtime_url that is no ws(s) URL, a TLS
  // setup that failed: bad_url, tls), the message naming the option; ok when
  // they can work.
  const Status& config_status() const { return config_; }
  // Opens the first link. With a config_error() that link fails at once
  // (on_state failed with that error).
  void start();
  // The link holding the session, or one with a free slot (opening a new link
  // if under max_connections); nullopt when every link is full and no new
  // link may be opened.
  std::optional<LinkId> place_session(const std::string& session_id);
  // Frees the session's slot (after the caller queued a SESSION_END, or after
  // SESSION_ENDED).
  void release_session(const std::string& session_id);
  // The handler has frames for this link.
  void wake(LinkId link);
  // Lets in-flight ACKs arrive up to `drain`, then closes every link with 1000.
  boost::asio::awaitable<void> stop(std::chrono::milliseconds drain);

  PoolStats stats() const;
  // Sessions placed on a link (PoolStats::sessions without the walk over links).
  std::size_t sessions() const { return sessions_.size(); }
  // Sessions placed on `link` (0 for a link the pool does not hold).
  std::size_t sessions_on(LinkId link) const;

 private:
  struct Slot {
    std::shared_ptr<Link> link;
    std::size_t sessions = 0;
    std::uint64_t idle_generation = 0;  // bumped whenever the link gains or loses its last session
  };
  bool usable(const Slot& slot) const;
  // Room for one more session on this link: its HELLO's max_sessions, or
  // `learned` before it has one.
  bool has_room(const Slot& slot, std::uint32_t learned) const;
  std::uint32_t learned_max_sessions() const;
  LinkId open_link();
  boost::asio::awaitable<void> close_when_idle(LinkId id, std::uint64_t generation);

  boost::asio::any_io_executor executor_;
  TokenProvider& tokens_;
  RealtimeOptions options_;
  LinkHandler& handler_;
  Clock& clock_;
  Random& random_;
  ConnectionFactory connect_;
  util::LoggerPtr log_;
  Status config_;
  std::map<LinkId, Slot> links_;
  std::unordered_map<std::string, LinkId> sessions_;
  std::unordered_map<LinkId, std::shared_ptr<util::Timer>> idle_timers_;
  LinkId next_id_ = 1;
  // The link the last session went to or left: tried first, so placing a
  // session costs O(1) while it has room, not a walk over every link (with
  // 1,000 links that walk was the synchronizer thread's main work).
  LinkId fill_hint_ = 0;
  bool stopping_ = false;
  std::uint64_t closed_reconnects_ = 0;
  std::uint64_t closed_rotations_ = 0;
  std::uint64_t closed_forced_ = 0;
};

}  // namespace assist::transport

#endif
