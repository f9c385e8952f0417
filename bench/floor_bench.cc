// The raw-socket floor (issue 19): the fastest a plain Boost.Beast client can
// have PROMPT_SYNC-sized frames answered over one WebSocket on this machine,
// the reference every pipeline figure is quoted against.
//
// The client sends one pre-serialised frame (the pipeline's own frame: the
// source example encoded once by the core codec) per write, keeping --window
// frames unanswered, and counts the answers. The server, a child process like
// pipeline_bench's gateway, reads each frame and answers it with a fixed ACK
// of the emulator's size, one write per frame. No token, no JSON parsing, no
// bookkeeping: what is left is Beast, the kernel and the two processes.
//
//   floor_bench [--frames N] [--window W]
//
// Prints the frames answered per second, the client's CPU time and the
// server's. scripts/perf_ratios.py runs it beside the pipeline.
#include <array>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <stdexcept>
#include <string>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "assist/clock.h"
#include "assist/frame.h"
#include "assist/frame_id.h"
#include "core/source_example.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

double cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto secs = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
  return secs(usage.ru_utime) + secs(usage.ru_stime);
}

// The frame the pipeline sends for bench prompts, encoded once.
std::string pipeline_frame() {
  assist::PromptSync frame;
  frame.frame_id = assist::FrameIdGenerator(1).next();
  frame.sequence = 1'000'000;
  frame.payload = assist::source_example_prompt();
  frame.payload.session_id = "SESS-00042";
  frame.payload.agent_id = "AGT-00042";
  frame.payload.interaction_id = "INT-1000000";
  frame.payload.priority_override = false;
  frame.payload.priority_level = 3;
  frame.payload.timestamp = assist::system_clock().unix_now();
  return assist::encode(frame);
}

// An ACK as long as the emulator's.
constexpr std::string_view kAck =
    R"({"type":"ACK","frame_id":"0b7e4c4e-8f35-4c4e-9f1a-3c1d2e5f6a7b","sequence":1000000,"received_at":1764806400.123456})";

// The server: one connection, each frame read answered by one ACK written,
// until the client closes. Then it prints its CPU time to `out`.
asio::awaitable<void> serve(tcp::acceptor& acceptor, std::FILE* out) {
  auto socket = co_await acceptor.async_accept(asio::use_awaitable);
  socket.set_option(tcp::no_delay(true));
  websocket::stream<beast::tcp_stream> ws(std::move(socket));
  co_await ws.async_accept(asio::use_awaitable);
  ws.text(true);
  beast::flat_buffer buffer;
  for (;;) {
    auto [read_error, n] = co_await ws.async_read(buffer, use_tuple);
    if (read_error) break;  // the client closed: the run is over
    buffer.consume(n);
    auto [write_error, written] = co_await ws.async_write(asio::buffer(kAck), use_tuple);
    if (write_error) break;
  }
  fmt::print(out, "{:.3f}\n", cpu_seconds());
  std::fflush(out);
}

// The server in a child process; its port and, at the end, its CPU time come
// back over a pipe.
class ServerProcess {
 public:
  ServerProcess() {
    int pipe_fds[2];
    if (::pipe(pipe_fds) != 0) throw std::runtime_error("pipe failed");
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::close(pipe_fds[0]);
      std::FILE* out = ::fdopen(pipe_fds[1], "w");
      asio::io_context ioc;
      tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
      fmt::print(out, "{}\n", acceptor.local_endpoint().port());
      std::fflush(out);
      asio::co_spawn(ioc, serve(acceptor, out), asio::detached);
      ioc.run();
      std::_Exit(0);
    }
    ::close(pipe_fds[1]);
    from_child_ = ::fdopen(pipe_fds[0], "r");
    if (std::fscanf(from_child_, "%hu", &port_) != 1) throw std::runtime_error("the server did not start");
  }
  ~ServerProcess() {
    if (from_child_ != nullptr) std::fclose(from_child_);
    if (pid_ > 0) ::waitpid(pid_, nullptr, 0);
  }
  std::uint16_t port() const { return port_; }
  // The server's CPU seconds, once the client has closed.
  double cpu() {
    double seconds = 0;
    if (std::fscanf(from_child_, "%lf", &seconds) != 1) throw std::runtime_error("the server did not report");
    return seconds;
  }

 private:
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  std::FILE* from_child_ = nullptr;
};

struct Result {
  double seconds = 0;
  long answered = 0;
};

asio::awaitable<void> drive(std::uint16_t port, const std::string& frame, long frames, long window, Result& result) {
  auto ex = co_await asio::this_coro::executor;
  websocket::stream<beast::tcp_stream> ws(ex);
  co_await beast::get_lowest_layer(ws).async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                                                     asio::use_awaitable);
  beast::get_lowest_layer(ws).socket().set_option(tcp::no_delay(true));
  co_await ws.async_handshake("127.0.0.1", "/realtime/v1", asio::use_awaitable);
  ws.text(true);

  asio::steady_timer room(ex);  // cancelled when an answer frees a window slot
  long sent = 0;
  long inflight = 0;
  const auto t0 = std::chrono::steady_clock::now();
  auto writer = [&]() -> asio::awaitable<void> {
    while (sent < frames) {
      if (inflight >= window) {
        room.expires_at(asio::steady_timer::time_point::max());
        co_await room.async_wait(use_tuple);
        continue;
      }
      ++inflight;
      ++sent;
      co_await ws.async_write(asio::buffer(frame), asio::use_awaitable);
    }
  };
  asio::co_spawn(ex, writer(), asio::detached);
  beast::flat_buffer buffer;
  while (result.answered < frames) {
    const auto n = co_await ws.async_read(buffer, asio::use_awaitable);
    buffer.consume(n);
    ++result.answered;
    --inflight;
    room.cancel();
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  co_await ws.async_close(websocket::close_code::normal, asio::use_awaitable);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"floor_bench: the raw Beast floor, frames answered per second over one WebSocket"};
  long frames = 100'000;
  long window = 1000;
  app.add_option("--frames", frames, "frames to send")->check(CLI::Range(1L, 100'000'000L))->capture_default_str();
  app.add_option("--window", window, "unanswered frames at most (the pipeline's: the emulator's max_inflight)")
      ->check(CLI::Range(1L, 1'000'000L))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  std::signal(SIGPIPE, SIG_IGN);
  try {
    const std::string frame = pipeline_frame();
    ServerProcess server;
    asio::io_context client;
    Result result;
    const double cpu0 = cpu_seconds();
    asio::co_spawn(client, drive(server.port(), frame, frames, window, result), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });
    client.run();
    const double client_cpu = cpu_seconds() - cpu0;
    const double server_cpu = server.cpu();
    fmt::print("floor frames {}  window {}  frame {} bytes  elapsed {:.3f} s\n", frames, window, frame.size(),
               result.seconds);
    fmt::print("throughput {:.0f} answered/s   client process CPU {:.2f} s   server process CPU {:.2f} s\n",
               static_cast<double>(result.answered) / result.seconds, client_cpu, server_cpu);
    return result.answered == frames ? 0 : 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "floor_bench: {}\n", e.what());
    return 2;
  }
}
