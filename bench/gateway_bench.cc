// Gateway emulator throughput: PROMPT_SYNC frames acknowledged per second on
// loopback, over one connection and over many. The gateway runs in-process on
// its own thread(s) (--gateway-threads, default 1: "one core"); the load
// client runs on one other thread and pipelines frames, keeping up to
// --window unacknowledged frames per connection.
//
//   gateway_bench [--connections N] [--frames TOTAL] [--window W] [--gateway-threads T]
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

#include "assist/frame.h"
#include "assist/frame_id.h"
#include "assist/gateway.h"
#include "core/source_example.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

struct Config {
  int connections = 1;
  long frames = 500'000;
  int window = 256;
  unsigned gateway_threads = 1;
};

std::string fetch_token(std::uint16_t port) {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  http::request<http::string_body> req{http::verb::post, "/oauth/token", 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::content_type, "application/x-www-form-urlencoded");
  req.body() = "grant_type=client_credentials&client_id=demo-client&client_secret=demo-secret";
  req.prepare_payload();
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  return std::string(boost::json::parse(res.body()).as_object().at("access_token").as_string());
}

// One connection's frames: a PROMPT_SYNC encoded once by the core codec, then
// patched in place per frame (a fresh frame_id of the same length; sequences
// kept at 10 digits) so that the client's own cost stays small.
class FrameSource {
 public:
  explicit FrameSource(std::uint64_t seed) : ids_(seed) {
    assist::PromptSync frame;
    frame.frame_id = ids_.next();
    frame.sequence = first_sequence;
    frame.payload = assist::source_example_prompt();
    frame.payload.session_id = fmt::format("SESS-{}", seed);
    frame.payload.timestamp = assist::system_clock().unix_now();
    text_ = assist::encode(frame);
    id_at_ = text_.find(frame.frame_id);
    seq_at_ = text_.find(std::to_string(first_sequence));
  }
  const std::string& next() {
    const auto id = ids_.next();
    std::memcpy(text_.data() + id_at_, id.data(), id.size());
    const auto seq = std::to_string(first_sequence + ++count_);
    std::memcpy(text_.data() + seq_at_, seq.data(), seq.size());
    return text_;
  }

 private:
  static constexpr std::uint64_t first_sequence = 1'000'000'000;
  assist::FrameIdGenerator ids_;
  std::string text_;
  std::size_t id_at_ = 0;
  std::size_t seq_at_ = 0;
  std::uint64_t count_ = 0;
};

struct Totals {
  long acks = 0;
  long nacks = 0;
};

asio::awaitable<void> drive(std::uint16_t port, std::string token, long frames, int window, int index,
                            Totals& totals) {
  auto ex = co_await asio::this_coro::executor;
  websocket::stream<beast::tcp_stream> ws(ex);
  co_await beast::get_lowest_layer(ws).async_connect(
      tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), asio::use_awaitable);
  beast::get_lowest_layer(ws).socket().set_option(tcp::no_delay(true));
  co_await ws.async_handshake("127.0.0.1", "/realtime/v1?access_token=" + token, asio::use_awaitable);
  ws.text(true);
  beast::flat_buffer buffer;
  co_await ws.async_read(buffer, asio::use_awaitable);  // HELLO
  buffer.clear();

  FrameSource source(static_cast<std::uint64_t>(index) + 1);
  asio::steady_timer room(ex);  // cancelled when an ACK frees a window slot
  long sent = 0;
  long answered = 0;
  int inflight = 0;
  auto writer = [&]() -> asio::awaitable<void> {
    while (sent < frames) {
      if (inflight >= window) {
        room.expires_at(asio::steady_timer::time_point::max());
        co_await room.async_wait(use_tuple);
        continue;
      }
      ++inflight;
      ++sent;
      co_await ws.async_write(asio::buffer(source.next()), asio::use_awaitable);
    }
  };
  asio::co_spawn(ex, writer(), asio::detached);
  while (answered < frames) {
    co_await ws.async_read(buffer, asio::use_awaitable);
    const std::string_view text(static_cast<const char*>(buffer.data().data()), buffer.size());
    if (text.starts_with(R"({"type":"ACK")")) {
      ++totals.acks;
    } else {
      ++totals.nacks;
    }
    buffer.clear();
    ++answered;
    --inflight;
    room.cancel();
  }
  co_await ws.async_close(websocket::close_code::normal, asio::use_awaitable);
}

// CPU seconds (user + system) used by every thread of this process except
// the calling one: the gateway's threads, when the client runs on this one.
double cpu_seconds_of_other_threads() {
  const auto self = std::to_string(::gettid());
  const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
  double total = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) {
    if (entry.path().filename() == self) continue;
    std::ifstream in(entry.path() / "stat");
    std::string line;
    std::getline(in, line);
    // Fields after the parenthesised name: state is field 3; utime 14, stime 15.
    std::istringstream rest(line.substr(line.rfind(')') + 2));
    std::string field;
    double utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
      if (i == 14) utime = std::stod(field);
      if (i == 15) stime = std::stod(field);
    }
    total += (utime + stime) / tick;
  }
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"gateway_bench: PROMPT_SYNC frames acknowledged per second by the gateway emulator on loopback"};
  Config config;
  app.add_option("--connections", config.connections, "WebSocket connections")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--frames", config.frames, "frames in all, spread over the connections")
      ->check(CLI::Range(1L, 1'000'000'000L))
      ->capture_default_str();
  app.add_option("--window", config.window, "unacknowledged frames per connection")
      ->check(CLI::Range(1, 100'000))
      ->capture_default_str();
  app.add_option("--gateway-threads", config.gateway_threads, "the emulator's I/O threads")
      ->check(CLI::Range(1u, 64u))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  assist::GatewayOptions options;
  options.threads = config.gateway_threads;
  options.max_connections_per_client = static_cast<std::uint32_t>(config.connections) + 1;
  assist::Gateway gateway(options);
  if (const auto started = gateway.start(); !started.ok()) {
    std::cerr << "cannot start the gateway: " << started.message << std::endl;
    return 2;
  }
  const auto token = fetch_token(gateway.port());

  asio::io_context client;
  Totals totals;
  const long per_connection = config.frames / config.connections;
  const double cpu_before = cpu_seconds_of_other_threads();
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < config.connections; ++i) {
    asio::co_spawn(client, drive(gateway.port(), token, per_connection, config.window, i, totals),
                   [](std::exception_ptr e) {
                     if (e) std::rethrow_exception(e);
                   });
  }
  client.run();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const double gateway_cpu = cpu_seconds_of_other_threads() - cpu_before;
  const auto stats = gateway.stats();
  fmt::print("connections={} frames={} window={} gateway_threads={} seconds={:.3f} acks={} nacks={} "
             "acks_per_second={:.0f} gateway_cpu_seconds={:.3f} acks_per_gateway_cpu_second={:.0f} "
             "prompts_delivered={} duplicates={} order_violations={}\n",
             config.connections, per_connection * config.connections, config.window,
             config.gateway_threads, seconds, totals.acks, totals.nacks,
             static_cast<double>(totals.acks) / seconds, gateway_cpu,
             static_cast<double>(totals.acks) / gateway_cpu, stats.prompts_delivered,
             stats.duplicates_suppressed, stats.order_violations);
  return totals.nacks == 0 && totals.acks == per_connection * config.connections ? 0 : 1;
}
