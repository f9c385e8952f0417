// net::CoalescingStream over a real TCP connection on 127.0.0.1: what is
// written corked stays in user space until flushed, a pending read never
// flushes when flush_on_read is off, and gathering is bounded.
#include "net/coalescing_stream.h"

#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

namespace assist::net {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

// A coalescing stream connected to a plain socket (the peer).
struct Pair {
  explicit Pair(asio::io_context& io) : stream(io.get_executor()), peer(io) {
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    stream.next_layer().connect(acceptor.local_endpoint());
    acceptor.accept(peer);
  }
  CoalescingStream<tcp::socket> stream;
  tcp::socket peer;
};

// Runs `body` on `io`; fails the test when it has not finished within 10 s.
void run(asio::io_context& io, asio::awaitable<void> body) {
  bool finished = false;
  asio::co_spawn(io, std::move(body), [&finished](std::exception_ptr e) {
    finished = true;
    if (e) std::rethrow_exception(e);
  });
  io.run_for(10s);
  EXPECT_TRUE(finished) << "did not complete";
}

// Writes all of `text` (held in the coroutine frame while the write runs).
template <class Stream>
asio::awaitable<void> write_text(Stream& stream, std::string text) {
  co_await asio::async_write(stream, asio::buffer(text), asio::use_awaitable);
}

asio::awaitable<std::string> read_exactly(tcp::socket& socket, std::size_t n) {
  std::string text(n, '\0');
  co_await asio::async_read(socket, asio::buffer(text), asio::use_awaitable);
  co_return text;
}

TEST(CoalescingStream, CorkedWritesLeaveTogetherOnFlush) {
  asio::io_context io;
  Pair pair(io);
  run(io, [&pair]() -> asio::awaitable<void> {
    pair.stream.cork(true);
    co_await write_text(pair.stream, "one ");
    co_await write_text(pair.stream, "two ");
    EXPECT_EQ(pair.peer.available(), 0u);  // both writes completed, nothing was sent
    co_await pair.stream.async_flush(asio::use_awaitable);
    EXPECT_EQ(co_await read_exactly(pair.peer, 8), "one two ");
    // Uncorked now: a write leaves on its own.
    co_await write_text(pair.stream, "three");
    EXPECT_EQ(co_await read_exactly(pair.peer, 5), "three");
  }());
}

TEST(CoalescingStream, AReadDoesNotFlushWhenFlushOnReadIsOff) {
  asio::io_context io;
  Pair pair(io);
  run(io, [&pair]() -> asio::awaitable<void> {
    pair.stream.flush_on_read(false);
    pair.stream.cork(true);
    co_await write_text(pair.stream, "held");
    co_await write_text(pair.peer, "x");
    char byte = 0;
    const auto n = co_await pair.stream.async_read_some(asio::buffer(&byte, 1), asio::use_awaitable);
    EXPECT_EQ(n, 1u);
    EXPECT_EQ(byte, 'x');
    EXPECT_EQ(pair.peer.available(), 0u);  // the read left the gathered bytes alone
    co_await pair.stream.async_flush(asio::use_awaitable);
    EXPECT_EQ(co_await read_exactly(pair.peer, 4), "held");
  }());
}

TEST(CoalescingStream, AReadFlushesByDefault) {
  asio::io_context io;
  Pair pair(io);
  run(io, [&pair]() -> asio::awaitable<void> {
    pair.stream.cork(true);
    co_await write_text(pair.stream, "ask");
    // The peer answers only once it has the question: the stream's read must
    // have sent it, or neither side would ever complete.
    auto answer = [&pair]() -> asio::awaitable<void> {
      EXPECT_EQ(co_await read_exactly(pair.peer, 3), "ask");
      co_await write_text(pair.peer, "!");
    };
    asio::co_spawn(pair.peer.get_executor(), answer(), asio::detached);
    char byte = 0;
    co_await pair.stream.async_read_some(asio::buffer(&byte, 1), asio::use_awaitable);
    EXPECT_EQ(byte, '!');
  }());
}

TEST(CoalescingStream, GatheringIsBounded) {
  asio::io_context io;
  Pair pair(io);
  run(io, [&pair]() -> asio::awaitable<void> {
    pair.stream.cork(true);
    const std::string big(70 * 1024, 'b');  // over the 64 KiB a corked stream gathers
    constexpr std::size_t bound = 64 * 1024;
    std::string received;
    auto read = [&]() -> asio::awaitable<void> { received = co_await read_exactly(pair.peer, bound); };
    using namespace asio::experimental::awaitable_operators;
    co_await (write_text(pair.stream, big) && read());  // no flush: the read completes only because the bound was reached
    EXPECT_EQ(received, big.substr(0, bound));
    co_await pair.stream.async_flush(asio::use_awaitable);  // the rest, if still gathered
    EXPECT_EQ(co_await read_exactly(pair.peer, big.size() - bound), big.substr(bound));
  }());
}

}  // namespace
}  // namespace assist::net
