// The contract between the transport (links, pool) and the layer above it
// (the synchronizer). Internal header.
//
// A *link* is a logical gateway connection: it survives reconnects and token
// rotations by moving onto a new physical WebSocket. The pool owns links and
// places sessions on them. Everything here runs on the pool's executor (one
// thread): handlers are called there and must not block.
#ifndef ASSIST_SRC_TRANSPORT_LINK_HANDLER_H
#define ASSIST_SRC_TRANSPORT_LINK_HANDLER_H

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <system_error>

#include "assist/frame.h"
#include "core/detail/frame_key.h"

namespace assist::transport {

using detail::FrameKey;
using detail::FrameKeyHash;
using LinkId = std::uint32_t;
using SteadyTime = std::chrono::steady_clock::time_point;

// A frame ready to be written. PROMPT_SYNC frames have the key of their
// frame_id and are tracked until ACK/NACK; SESSION_END frames have none and
// are not tracked.
struct OutFrame {
  std::optional<FrameKey> key;
  std::uint64_t sequence = 0;
  std::string text;  // the encoded JSON frame
};

enum class LinkState {
  connecting,  // opening a physical connection (first time or after a drop)
  up,          // HELLO received; frames flow
  rotating,    // a successor connection is opening (token about to expire)
  down,        // physical connection lost; reconnecting with backoff
  failed,      // gave up: fatal error (403 scope, invalid_client...), see error
  closed,      // closed on request
};

// Implemented by the synchronizer.
class LinkHandler {
 public:
  virtual ~LinkHandler() = default;

  // The link's writer can write a frame now (it is up and under its in-flight
  // limit). Return the next frame to write, or nullopt when there is none; in
  // that case the writer waits until Pool::wake(link) is called. The handler
  // runs its freshness check here, at the moment of writing.
  virtual std::optional<OutFrame> next_frame(LinkId link) = 0;

  // A tracked frame (its key) written on a physical connection that died
  // before its ACK/NACK. Return the frame to write again (same frame_id and
  // sequence) on the successor, before any new frame; nullopt drops it (the
  // handler records why). Called in the original write order. The link keeps
  // no copy of what it wrote: the handler holds the one in-flight record.
  virtual std::optional<OutFrame> replay(LinkId link, const FrameKey& key) = 0;

  // A frame was handed to the socket at `at` (latency is measured from here).
  // Its bytes are sent after before_send() of its burst allows it.
  virtual void on_written(LinkId link, const OutFrame& frame, SteadyTime at) = 0;

  // A burst of frames was gathered (on_written told of each) and is about to
  // be sent: the handler's write-ahead gate (the audit log's records of them
  // written first). An error: the burst is not sent; each of its tracked
  // frames goes to on_unsent, and the connection is closed with that error.
  virtual std::error_code before_send(LinkId link) = 0;
  // A tracked frame of a burst before_send() refused: not sent on this
  // connection (it may have been on an earlier one, when it was a replay).
  virtual void on_unsent(LinkId link, const FrameKey& key, std::error_code error) = 0;

  // Frames from the gateway. ACK/NACK arrive only for tracked frames the
  // link wrote; the link has already removed them from its in-flight set.
  virtual void on_hello(LinkId link, const Hello& hello) = 0;
  virtual void on_ack(LinkId link, const Ack& ack, SteadyTime at) = 0;
  virtual void on_nack(LinkId link, const Nack& nack, SteadyTime at) = 0;
  virtual void on_feedback(LinkId link, const PromptFeedback& feedback) = 0;
  virtual void on_session_ended(LinkId link, const SessionEnded& ended) = 0;

  // The link changed state. `error` says why for down/failed.
  virtual void on_state(LinkId link, LinkState state, std::error_code error) = 0;
};

}  // namespace assist::transport

#endif
