// A stream layer beneath a Beast WebSocket stream that batches I/O. On
// loopback and LANs a send or a receive per WebSocket message, not the
// message itself, is what costs the most, so:
// - reads are served from a buffer filled by large receives;
// - writes made while corked are gathered, and leave in one send with the
//   next uncorked write, with async_flush(), or (when flush_on_read is set,
//   the default) before a read waits for the peer, which also uncorks.
// The gateway emulator answers what it reads, so "before a read waits" is
// its natural flush point. The client has a read pending at all times and
// flushes explicitly when its writer runs out of frames.
#ifndef ASSIST_SRC_NET_COALESCING_STREAM_H
#define ASSIST_SRC_NET_COALESCING_STREAM_H

#include <array>
#include <chrono>
#include <cstddef>
#include <memory>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/teardown.hpp>
#include <boost/system/system_error.hpp>

namespace assist::net {

template <class NextLayer>
class CoalescingStream {
 public:
  using next_layer_type = NextLayer;
  using executor_type = typename NextLayer::executor_type;

  // Constructs the next layer from `args`: a connected stream to take over,
  // or what makes a new one (an executor, an SSL context).
  template <class... Args>
  explicit CoalescingStream(Args&&... args)
      : next_(std::forward<Args>(args)...), flushed_(next_.get_executor(), boost::asio::steady_timer::time_point::max()) {}

  executor_type get_executor() noexcept { return next_.get_executor(); }
  NextLayer& next_layer() noexcept { return next_; }
  const NextLayer& next_layer() const noexcept { return next_; }

  // The caller has more to write soon: writes are gathered until it
  // uncorks (then its next write sends them all).
  void cork(bool on) noexcept { corked_ = on; }
  // Received bytes not read yet: answers to them are on their way.
  bool has_unread() const noexcept { return in_.size() > 0; }
  // Whether a read that must wait for the peer first uncorks and sends what
  // was gathered (default on). Off for a writer that flushes on its own.
  void flush_on_read(bool on) noexcept { flush_on_read_ = on; }

  // Uncorks and sends what was gathered; completes when it has left (at
  // once when nothing was gathered).
  template <class FlushToken>
  auto async_flush(FlushToken&& token) {
    corked_ = false;
    return async_write_some(boost::asio::const_buffer(), std::forward<FlushToken>(token));
  }

  template <class MutableBufferSequence, class ReadToken>
  auto async_read_some(const MutableBufferSequence& buffers, ReadToken&& token) {
    return boost::asio::async_compose<ReadToken, void(boost::beast::error_code, std::size_t)>(
        ReadOp<MutableBufferSequence>{*this, buffers}, token, next_);
  }

  // The synchronous side (Beast's SyncStream requirements). A synchronous
  // write only gathers, whatever the cork, and never blocks: the writer
  // gathers a whole burst this way between one freshness check and the next
  // and sends it with async_flush(). A synchronous read serves buffered bytes
  // first, then reads from the next layer.
  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers, boost::beast::error_code& ec) {
    ec = {};
    const auto n = boost::asio::buffer_copy(gathered_.prepare(boost::asio::buffer_size(buffers)), buffers);
    gathered_.commit(n);
    return n;
  }
  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers) {
    boost::beast::error_code ec;
    return write_some(buffers, ec);
  }
  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers, boost::beast::error_code& ec) {
    ec = {};
    if (in_.size() == 0) return next_.read_some(buffers, ec);
    const auto copied = boost::asio::buffer_copy(buffers, in_.data());
    in_.consume(copied);
    return copied;
  }
  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers) {
    boost::beast::error_code ec;
    const auto n = read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }
  // Bytes gathered and not yet handed to a send.
  std::size_t gathered_bytes() const noexcept { return gathered_.size(); }

  template <class ConstBufferSequence, class WriteToken>
  auto async_write_some(const ConstBufferSequence& buffers, WriteToken&& token) {
    const auto n = boost::asio::buffer_copy(gathered_.prepare(boost::asio::buffer_size(buffers)), buffers);
    gathered_.commit(n);
    return boost::asio::async_compose<WriteToken, void(boost::beast::error_code, std::size_t)>(
        WriteOp{*this, n}, token, next_);
  }

 private:
  // A few dozen prompts per receive, without a large footprint per connection.
  static constexpr std::size_t read_capacity = 16 * 1024;
  // Beyond this, gathered bytes are sent even while corked (bounded memory).
  static constexpr std::size_t max_gathered = 64 * 1024;

  bool gathering() const { return corked_ && gathered_.size() < max_gathered; }

  // Step of an operation that needs the gathered bytes sent: starts the send,
  // or waits for the one in progress (then the caller calls again).
  template <class Self>
  void send_gathered(Self& self) {
    if (sending_) {
      flushed_.async_wait([self = std::move(self)](boost::beast::error_code) mutable { self(); });
      return;
    }
    sending_ = true;
    swap(in_flight_, gathered_);
    boost::asio::async_write(next_, in_flight_.data(), std::move(self));
  }

  void on_sent() {
    sending_ = false;
    in_flight_.clear();
    flushed_.cancel();
  }

  template <class MutableBufferSequence>
  struct ReadOp {
    CoalescingStream& s;
    MutableBufferSequence buffers;
    enum { start, flushing, reading } state = start;

    template <class Self>
    void operator()(Self& self, boost::beast::error_code ec = {}, std::size_t n = 0) {
      switch (state) {
        case start:
          if (s.in_.size() > 0 || boost::asio::buffer_size(buffers) == 0) {
            state = reading;
            boost::asio::post(std::move(self));  // a handler never runs inside its initiation
            return;
          }
          if (!s.flush_on_read_) {
            state = reading;
            s.next_.async_read_some(s.in_.prepare(read_capacity), std::move(self));
            return;
          }
          state = flushing;
          s.corked_ = false;
          [[fallthrough]];
        case flushing:
          // Nothing left to answer until the peer sends more: what was
          // gathered leaves now.
          if (n > 0 || ec) s.on_sent();
          if (ec) break;
          if (s.sending_ || s.gathered_.size() > 0) {
            s.send_gathered(self);
            return;
          }
          state = reading;
          s.next_.async_read_some(s.in_.prepare(read_capacity), std::move(self));
          return;
        case reading: {
          s.in_.commit(n);
          if (ec && s.in_.size() == 0) break;
          const auto copied = boost::asio::buffer_copy(buffers, s.in_.data());
          s.in_.consume(copied);
          self.complete({}, copied);
          return;
        }
      }
      self.complete(ec, 0);
    }
  };

  struct WriteOp {
    CoalescingStream& s;
    std::size_t n;
    enum { start, gathered, flushing } state = start;

    template <class Self>
    void operator()(Self& self, boost::beast::error_code ec = {}, std::size_t sent = 0) {
      switch (state) {
        case start:
          if (s.gathering() || (!s.sending_ && s.gathered_.size() == 0)) {  // nothing to send now
            state = gathered;
            boost::asio::post(std::move(self));
            return;
          }
          state = flushing;
          [[fallthrough]];
        case flushing:
          if (sent > 0 || ec) s.on_sent();
          if (!ec && (s.sending_ || s.gathered_.size() > 0)) {
            s.send_gathered(self);
            return;
          }
          break;
        case gathered:
          break;
      }
      self.complete(ec, ec ? 0 : n);
    }
  };

  NextLayer next_;
  boost::beast::flat_buffer in_;         // received, not yet read
  boost::beast::flat_buffer gathered_;   // written, not yet sent
  boost::beast::flat_buffer in_flight_;  // being sent
  bool sending_ = false;
  bool corked_ = false;
  bool flush_on_read_ = true;
  boost::asio::steady_timer flushed_;  // never expires; cancelled when a send ends
};

// The WebSocket closing handshake ends with the next layer's own teardown.
template <class NextLayer, class TeardownHandler>
void async_teardown(boost::beast::role_type role, CoalescingStream<NextLayer>& stream,
                    TeardownHandler&& handler) {
  using boost::beast::websocket::async_teardown;
  async_teardown(role, stream.next_layer(), std::forward<TeardownHandler>(handler));
}

// How long a server's teardown waits for the peer to stop sending.
inline constexpr std::chrono::seconds kTeardownDrain{5};

// The read-and-discard loop of the server teardown below (an async_compose
// implementation: reads until an error, then closes the socket).
struct TeardownDrain {
  boost::beast::tcp_stream& tcp;
  std::unique_ptr<std::array<char, 4096>> sink = std::make_unique<std::array<char, 4096>>();

  template <class Self>
  void operator()(Self& self, boost::beast::error_code ec = {}, std::size_t = 0) {
    if (!ec) return tcp.async_read_some(boost::asio::buffer(*sink), std::move(self));
    boost::beast::error_code close_error;
    tcp.socket().close(close_error);
    // The peer's FIN, or its silence past the drain time, ends a teardown well.
    const bool clean = ec == boost::asio::error::eof || ec == boost::beast::error::timeout;
    self.complete(clean ? close_error : ec);
  }
};

// A server's teardown over plain TCP: shut down sending, read and discard
// until the peer's FIN (at most kTeardownDrain), then close. Beast 1.81's own
// reads one 2 KiB chunk at most (its end-of-data test checks the wrong
// variable) and closes with the rest unread, so when the server fails a
// connection while the peer still sends (close 1009 in the middle of an
// oversized fragmented message) the kernel answers with a reset, which can
// destroy the close frame before the peer reads it.
template <class TeardownHandler>
void async_teardown(boost::beast::role_type role, CoalescingStream<boost::beast::tcp_stream>& stream,
                    TeardownHandler&& handler) {
  auto& tcp = stream.next_layer();
  if (role != boost::beast::role_type::server) {
    using boost::beast::websocket::async_teardown;
    async_teardown(role, tcp, std::forward<TeardownHandler>(handler));
    return;
  }
  boost::system::error_code ignored;
  tcp.socket().shutdown(boost::asio::socket_base::shutdown_send, ignored);
  tcp.expires_after(kTeardownDrain);
  boost::asio::async_compose<TeardownHandler, void(boost::beast::error_code)>(TeardownDrain{tcp}, handler, tcp);
}

}  // namespace assist::net

#endif
