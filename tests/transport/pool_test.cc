// Links and the pool against the gateway emulator with faults on. Delivery is
// proven from the emulator's own counters: every prompt shown exactly once, in
// order per session.
#include <memory>
#include <sstream>

#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "transport/connection.h"
#include "transport/pool.h"
#include "transport/token_provider.h"
#include "transport_fixture.h"

namespace assist::transport {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::run_test;
using testing::sleep_ms;
using testing::TestHandler;

std::unique_ptr<Gateway> started_gateway(GatewayOptions options) {
  auto gateway = std::make_unique<Gateway>(std::move(options));
  const Status started = gateway->start();
  EXPECT_TRUE(started.ok()) << started.message;
  return gateway;
}

// A gateway, a token provider, a handler and a pool on one io_context.
struct Rig {
  explicit Rig(GatewayOptions gateway_options = {},
               const std::function<void(RealtimeOptions&)>& adjust = {},
               const std::function<void(TokenOptions&)>& adjust_tokens = {},
               Clock& clock = system_clock())
      : gateway(started_gateway(std::move(gateway_options))),
        token_opts(testing::token_options(*gateway)),
        options(testing::realtime_options(*gateway)),
        handler(ioc) {
    if (adjust) adjust(options);
    if (adjust_tokens) adjust_tokens(token_opts);
    tokens = std::make_unique<TokenProvider>(ioc.get_executor(), token_opts, clock, random);
    pool = std::make_unique<Pool>(ioc.get_executor(), *tokens, options, handler, clock, random);
  }

  // Places each session and queues `per_session` prompts for it.
  void send(const std::vector<std::string>& sessions, int per_session) {
    for (const auto& session : sessions) {
      const auto link = pool->place_session(session);
      ASSERT_TRUE(link) << session;
      for (int i = 0; i < per_session; ++i) handler.enqueue(*link, session);
      pool->wake(*link);
    }
  }

  // Keeps queueing prompts every few milliseconds until `done()` or 20 s.
  asio::awaitable<void> load_until(const std::vector<std::string>& sessions, std::function<bool()> done) {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      send(sessions, 2);
      co_await sleep_ms(5);
    }
    EXPECT_TRUE(done()) << "condition not reached under load";
  }

  // Waits for every queued prompt's ACK, then stops the pool.
  asio::awaitable<void> finish() {
    const bool acked = co_await handler.wait_until([this] { return handler.all_acked(); }, 20s);
    EXPECT_TRUE(acked) << handler.acked.size() << " of " << handler.enqueued << " acked";
    co_await pool->stop(1s);
  }

  // Each prompt acked once, shown once by the gateway, in order.
  void expect_exactly_once() const {
    const auto stats = gateway->stats();
    EXPECT_EQ(handler.acked.size(), handler.enqueued);
    EXPECT_EQ(handler.acked_twice, 0u);
    EXPECT_TRUE(handler.nacked.empty()) << handler.nack_codes.front();
    EXPECT_EQ(stats.prompts_delivered, handler.enqueued);
    EXPECT_EQ(stats.order_violations, 0u);
  }

  std::vector<std::string> sessions(int n, const std::string& prefix = "S") const {
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i) out.push_back(prefix + std::to_string(i));
    return out;
  }

  asio::io_context ioc;
  std::unique_ptr<Gateway> gateway;
  SeededRandom random{3};
  TokenOptions token_opts;
  RealtimeOptions options;
  TestHandler handler;
  std::unique_ptr<TokenProvider> tokens;
  std::unique_ptr<Pool> pool;
};

TEST(Pool, DeliversEveryPromptExactlyOnceInOrder) {
  Rig rig;
  run_test(rig.ioc, [&]() -> asio::awaitable<void> {
    rig.pool->start();
    rig.send(rig.sessions(4), 50);
    co_await rig.finish();
  });
  rig.expect_exactly_once();
  EXPECT_EQ(rig.gateway->stats().connections_opened, 1u);
  EXPECT_EQ(rig.handler.hello.max_sessions, 100u);
  EXPECT_TRUE(rig.handler.saw_state(1, LinkState::closed));
}

TEST(Pool, InflightWindowLimitsUnackedFrames) {
  Rig rig({}, [](RealtimeOptions& o) { o.max_inflight = 4; });
  run_test(rig.ioc, [&]() -> asio::awaitable<void> {
    rig.pool->start();
    rig.gateway->set_stalled(true);  // ACKs held back
    rig.send(rig.sessions(1), 20);
    EXPECT_TRUE(co_await rig.handler.wait_until([&] { return rig.handler.writes >= 4; }, 10s));
    co_await sleep_ms(50);  // a window violation would show as more writes by now
    EXPECT_EQ(rig.handler.writes, 4u);
    EXPECT_EQ(rig.pool->stats().in_flight, 4u);
    rig.gateway->set_stalled(false);
    co_await rig.finish();
  });
  rig.expect_exactly_once();
  EXPECT_LE(rig.handler.max_unacked, 4u);
}

// The write-ahead gate: a burst whose records cannot be made safe first
// (the audit disk is full) never reaches the gateway, and every frame of it
// is handed back as unsent; once the gate opens, delivery goes on.
TEST(Pool, ABurstTheWriteAheadGateRefusesIsNeverSent) {
  Rig rig;
  run_test(rig.ioc, [&]() -> asio::awaitable<void> {
    rig.pool->start();
    rig.handler.refuse_bursts = std::make_error_code(std::errc::no_space_on_device);
    rig.send(rig.sessions(1), 5);
    EXPECT_TRUE(co_await rig.handler.wait_until([&] { return rig.handler.unsent_ids.size() == 5; }, 10s));
    EXPECT_EQ(rig.handler.unsent_ids, rig.handler.written_ids);
    rig.handler.refuse_bursts = {};
    rig.send(rig.sessions(1), 3);
    EXPECT_TRUE(co_await rig.handler.wait_until([&] { return rig.handler.acked.size() == 3; }, 10s));
    co_await rig.pool->stop(1s);
  });
  EXPECT_EQ(rig.gateway->stats().prompts_delivered, 3u);
  for (const auto& id : rig.handler.unsent_ids) EXPECT_FALSE(rig.handler.acked.contains(id)) << id;
  EXPECT_TRUE(rig.handler.nacked.empty());
}

TEST(Pool, RefreshesTheTokenOnceOn401AtHandshake) {
  Rig rig;
  rig.gateway->refuse_next_handshakes(1, 401);
  run_test(rig.ioc, [&]() -> asio::awaitable<void> {
    rig.pool->start();
    rig.send(rig.sessions(2), 10);
    co_await rig.finish();
  });
  rig.expect_exactly_once();
  EXPECT_EQ(rig.gateway->stats().token_requests, 2u);
  EXPECT_EQ(rig.pool->stats().forced_token_refreshes, 1u);
  EXPECT_FALSE(rig.handler.saw_state(1, LinkState::down));  // the retry was immediate
}

TEST(Pool, ForbiddenHandshakeFailsTheLinkWithAScopeError) {
  Rig rig;
  rig.gateway->refuse_next_handshakes(1, 403);
  run_test(rig.ioc, [&]() -> asio::awaitable<void> {
    rig.pool->start();
    EXPECT_TRUE(co_await rig.handler.wait_until([&] { return rig.handler.saw_state(1, LinkState::failed); }, 10s));
    co_await rig.pool->stop(0ms);
  });
  ASSERT_FALSE(rig.handler.errors[1].empty());
  EXPECT_EQ(rig.handler.errors[1].back(), TransportErrc::handshake_forbidden);
  EXPECT_EQ(rig.gateway->stats().handshakes_refused, 1u);
}

TEST(Pool, HandshakeRefusalStormBacksOffAndRecovers) {
  Rig rig;
  rig.gateway->refuse_next_handshakes(4, 429, 1s);  // Retry-After capped at 20 ms
  run_test(rig.ioc, [&]() -> asio::awaitable<void> {
    rig.pool->start();
    rig.send(rig.sessions(2), 10);
    EXPECT_TRUE(co_await rig.handler.wait_until([&] { return rig.handler.hellos == 1; }, 10s));
    rig.gateway->refuse_next_handshakes(3, 503, 1s);
    rig.gateway->close_all(1001);
    rig.send(rig.sessions(2), 10);
    co_await rig.finish();
  });
  rig.expect_exactly_once();
  const auto stats = rig.gateway->stats();
  EXPECT_EQ(stats.handshakes_refused, 7u);
  ASSERT_FALSE(rig.handler.errors[1].empty());
  EXPECT_EQ(rig.handler.errors[1].front(), TransportErrc::handshake_rate_limited);
  EXPECT_NE(std::find(rig.handler.errors[1].begin(), rig.handler.errors[1].end(),
                      make_error_code(TransportErrc::handshake_unavailable)),
            rig.handler.errors[1].end());
}

TEST(Pool, TokenEndpointServerErrorsDelayButDoNotFailTheLink) {
  Rig rig({}, {}, [](TokenOptions& t) { t.max_attempts = 2; });
  rig.gateway->fail_next_token_requests(5, 502);  // more than one token() call can absorb
  run_test(rig.ioc, [&]() -> asio::awaitable<void> {
    rig.pool->start();
    rig.send(rig.sessions(1), 10);
    co_await rig.finish();
  });
  rig.expect_exactly_once();
  EXPECT_EQ(rig.gateway->stats().token_requests, 6u);
  EXPECT_EQ(rig.handler.errors[1].front(), TransportErrc::server_error);
  EXPECT_FALSE(rig.handler.saw_state(1, LinkState::failed));
}

TEST(Pool, AbruptDropsEveryNFramesLoseNothingAndShowNothingTwice) {
  GatewayOptions options;
  options.faults.drop_every_n_frames = 37;
  Rig rig(options);
  run_test(rig.ioc, [&]() -> asio::awaitable<void> {
    rig.pool->start();
    rig.send(rig.sessions(5), 80);
    co_await rig.finish();
  });
  rig.expect_exactly_once();
  EXPECT_GT(rig.gateway->stats().connections_dropped, 5u);
  EXPECT_GT(rig.pool->stats().reconnects, 5u);
  EXPECT_GT(rig.handler.replays, 0u);  // unanswered frames went out again on the successor
}

TEST(Pool, GoingAway1001ReconnectsUnderLoad) {
  Rig rig;
  run_test(rig.ioc, [&]() -> asio::awaitable<void> {
    rig.pool->start();
    const auto sessions = rig.sessions(3);
    co_await rig.load_until(sessions, [&] { return rig.handler.acked.size() > 100; });
    rig.gateway->close_all(1001);
    co_await rig.load_until(sessions, [&] { return rig.handler.hellos >= 2 && rig.handler.acked.size() > 300; });
    co_await rig.finish();
  });
  rig.expect_exactly_once();
  EXPECT_EQ(rig.gateway->stats().closes_1001, 1u);
  EXPECT_EQ(rig.pool->stats().reconnects, 1u);
  EXPECT_EQ(rig.handler.errors[1].front(), TransportErrc::going_away);
}

// A connection that delivered frames was healthy: when it drops, the link
// reconnects at once and its backoff starts afresh (gRPC's rule). Drops of
// connections that delivered nothing count as failures and back off. Before
// the fix the backoff reset only after 30 s of uptime, so under a gateway
// dropping every few hundred frames it grew to its cap.
TEST(Pool, ReconnectBackoffGrowsWhileConnectionsDeliverNothingAndStartsOverAfterOneThatDid) {
  Rig rig({}, [](RealtimeOptions& o) { o.reconnect = {Millis{20}, 2.0, Millis{200}}; });
  run_test(rig.ioc, [&]() -> asio::awaitable<void> {
    rig.pool->start();
    rig.send(rig.sessions(1), 1);
    EXPECT_TRUE(co_await rig.handler.wait_until([&] { return rig.handler.acked.size() == 1; }, 10s));
    for (unsigned drop = 1; drop <= 3; ++drop) {
      rig.gateway->close_all(1001);
      EXPECT_TRUE(co_await rig.handler.wait_until([&] { return rig.handler.hellos == drop + 1; }, 10s));
      EXPECT_EQ(rig.pool->stats().max_backoff_step, drop - 1) << "drop " << drop;
    }
    rig.send(rig.sessions(1), 1);  // the fourth connection delivers
    EXPECT_TRUE(co_await rig.handler.wait_until([&] { return rig.handler.acked.size() == 2; }, 10s));
    rig.gateway->close_all(1001);
    EXPECT_TRUE(co_await rig.handler.wait_until([&] { return rig.handler.hellos == 5; }, 10s));
    EXPECT_EQ(rig.pool->stats().max_backoff_step, 0u);
    co_await rig.finish();
  });
  rig.expect_exactly_once();
}

TEST(Connection, SetsNoDelayAndReadsTheHello) {
  Rig rig;
  run_test(rig.ioc, [&]() -> asio::awaitable<void> {
    std::string error;
    auto endpoint = net::parse_endpoint(rig.options.realtime_url, net::Scheme::websocket, error);
    EXPECT_TRUE(endpoint) << error;
    if (!endpoint) co_return;
    auto target = std::make_shared<ConnectionTarget>();
    target->endpoint = std::move(*endpoint);
    const auto token = co_await rig.tokens->token();
    EXPECT_TRUE(token) << token.detail;
    if (!token) co_return;
    auto conn = websocket_connections(rig.ioc.get_executor(), target, system_clock())();
    const auto opened = co_await conn->open(token.token->access_token);
    EXPECT_FALSE(opened.error) << opened.detail;
    EXPECT_EQ(opened.hello.max_sessions, 100u);
    EXPECT_TRUE(has_no_delay(*conn));
    co_await conn->close(1000);
  });
}

TEST(Pool, Close4001RotatesOntoAFreshTokenUnderContinuousLoad) {
  Rig rig;
  run_test(rig.ioc, [&]() -> asio::awaitable<void> {
    rig.pool->start();
    const auto sessions = rig.sessions(3);
    co_await rig.load_until(sessions, [&] { return rig.handler.acked.size() > 100; });
    rig.gateway->close_all(4001);
    co_await rig.load_until(sessions, [&] { return rig.handler.hellos >= 2 && rig.handler.acked.size() > 300; });
    co_await rig.finish();
  });
  rig.expect_exactly_once();
  const auto stats = rig.gateway->stats();
  EXPECT_EQ(stats.closes_4001, 1u);
  EXPECT_EQ(stats.token_requests, 2u);  // the expired token was dropped, a fresh one fetched
  EXPECT_EQ(rig.pool->stats().forced_token_refreshes, 1u);
  EXPECT_FALSE(rig.handler.saw_state(1, LinkState::failed));
}

TEST(Pool, TokenExpiringMidStreamRotatesMakeBeforeBreak) {
  GatewayOptions options;
  options.token_ttl = 2s;  // refreshed at half life, 1 s
  Rig rig(options);
  run_test(rig.ioc, [&]() -> asio::awaitable<void> {
    rig.pool->start();
    co_await rig.load_until(rig.sessions(3), [&] { return rig.pool->stats().rotations >= 2; });
    co_await rig.finish();
  });
  rig.expect_exactly_once();
  const auto stats = rig.gateway->stats();
  EXPECT_EQ(stats.closes_4001, 0u);  // rotated before the gateway had to expire anything
  EXPECT_EQ(rig.pool->stats().reconnects, 0u);
  EXPECT_GE(stats.connections_opened, 3u);
  EXPECT_FALSE(rig.handler.saw_state(1, LinkState::down));  // no gap
  // The old connections were drained of their ACKs before closing: nothing resent.
  EXPECT_EQ(rig.handler.replays, 0u);
  EXPECT_EQ(rig.handler.duplicate_acks, 0u);
  EXPECT_TRUE(rig.handler.saw_state(1, LinkState::rotating));
}

TEST(Pool, TwoHundredFiftySessionsSpreadOverThreeConnections) {
  Rig rig({}, [](RealtimeOptions& o) { o.max_connections = 3; });
  run_test(rig.ioc, [&]() -> asio::awaitable<void> {
    rig.pool->start();
    // The first link's HELLO tells max_sessions before placement starts.
    EXPECT_TRUE(co_await rig.handler.wait_until([&] { return rig.handler.hellos == 1; }, 10s));
    const auto sessions = rig.sessions(250);
    rig.send(sessions, 2);
    std::map<LinkId, int> per_link;
    for (const auto& s : sessions) ++per_link[*rig.pool->place_session(s)];
    EXPECT_EQ(per_link.size(), 3u);
    for (const auto& [link, count] : per_link) {
      EXPECT_LE(count, 100) << link;
      EXPECT_EQ(rig.pool->sessions_on(link), static_cast<std::size_t>(count)) << link;
    }
    // A slot freed on a full link is found again once the fill hint's link is full.
    const std::string first_on_link_1 = [&] {
      for (const auto& s : sessions)
        if (*rig.pool->place_session(s) == per_link.begin()->first) return s;
      return std::string();
    }();
    // Fill the remaining 50 slots; the 301st session finds no room and no new link.
    for (int i = 0; i < 50; ++i) EXPECT_TRUE(rig.pool->place_session("extra" + std::to_string(i)));
    EXPECT_FALSE(rig.pool->place_session("one-too-many"));
    rig.pool->release_session(first_on_link_1);
    EXPECT_EQ(rig.pool->place_session("into-the-freed-slot"), per_link.begin()->first);
    rig.pool->release_session("into-the-freed-slot");
    EXPECT_EQ(rig.pool->place_session(first_on_link_1), per_link.begin()->first);
    for (int i = 0; i < 50; ++i) rig.pool->release_session("extra" + std::to_string(i));
    // A placed session stays where it is.
    EXPECT_EQ(rig.pool->place_session(sessions[0]), rig.pool->place_session(sessions[0]));
    co_await rig.finish();
  });
  rig.expect_exactly_once();
  EXPECT_EQ(rig.gateway->stats().connections_opened, 3u);
  EXPECT_EQ(rig.pool->stats().sessions, 250u);
}

TEST(Pool, IdleLinksCloseButNeverTheLast) {
  GatewayOptions options;
  options.max_sessions = 2;
  Rig rig(options, [](RealtimeOptions& o) { o.idle_close_after = Millis{30}; });
  run_test(rig.ioc, [&]() -> asio::awaitable<void> {
    rig.pool->start();
    EXPECT_TRUE(co_await rig.handler.wait_until([&] { return rig.handler.hellos == 1; }, 10s));
    rig.send(rig.sessions(3), 1);  // two links
    co_await rig.handler.wait_until([&] { return rig.handler.all_acked(); }, 10s);
    EXPECT_EQ(rig.pool->stats().links, 2u);
    rig.pool->release_session("S2");  // the second link's only session
    EXPECT_TRUE(co_await rig.handler.wait_until([&] { return rig.pool->stats().links == 1; }, 10s));
    rig.pool->release_session("S0");
    rig.pool->release_session("S1");
    co_await sleep_ms(100);  // past idle_close_after: the last link must stay
    EXPECT_EQ(rig.pool->stats().links, 1u);
    EXPECT_EQ(rig.pool->stats().links_open, 1u);
    co_await rig.finish();
  });
  rig.expect_exactly_once();
  EXPECT_TRUE(rig.handler.saw_state(2, LinkState::closed));
}

TEST(Pool, QueryTokenOptionWorksAndLogsNeverShowTokenOrSecret) {
  std::ostringstream captured;
  auto previous = spdlog::default_logger();
  auto logger = std::make_shared<spdlog::logger>("capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(captured));
  logger->set_level(spdlog::level::trace);
  spdlog::set_default_logger(logger);
  Rig rig({}, [](RealtimeOptions& o) { o.token_in_query = true; });
  rig.gateway->refuse_next_handshakes(1, 503);  // a refusal is logged with the URL
  std::string token;
  run_test(rig.ioc, [&]() -> asio::awaitable<void> {
    rig.pool->start();
    rig.send(rig.sessions(1), 5);
    co_await rig.finish();
    token = (co_await rig.tokens->token()).token->access_token;
  });
  spdlog::set_default_logger(previous);
  rig.expect_exactly_once();
  const std::string logs = captured.str();
  EXPECT_NE(logs.find("access_token=REDACTED"), std::string::npos) << logs;
  EXPECT_EQ(logs.find(token), std::string::npos);
  EXPECT_EQ(logs.find("demo-secret"), std::string::npos);
}

TEST(Pool, PeerWithoutPongIsDeclaredDead) {
  namespace websocket = boost::beast::websocket;
  Rig rig({}, [](RealtimeOptions& o) {
    o.ping_interval = Millis{20};
    o.pong_timeout = Millis{30};
  });
  // A WebSocket peer that sends HELLO and then never reads, so never pongs.
  asio::ip::tcp::acceptor acceptor(rig.ioc, {asio::ip::make_address("127.0.0.1"), 0});
  rig.options.realtime_url = "ws://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()) + "/realtime/v1";
  rig.pool = std::make_unique<Pool>(rig.ioc.get_executor(), *rig.tokens, rig.options, rig.handler, system_clock(), rig.random);
  std::vector<std::unique_ptr<websocket::stream<asio::ip::tcp::socket>>> peers;
  run_test(rig.ioc, [&]() -> asio::awaitable<void> {
    rig.pool->start();
    auto socket = co_await acceptor.async_accept(asio::use_awaitable);
    auto& ws = *peers.emplace_back(std::make_unique<websocket::stream<asio::ip::tcp::socket>>(std::move(socket)));
    co_await ws.async_accept(asio::use_awaitable);
    ws.text(true);
    const std::string hello = encode(Hello{"silent", 100, 10, 1000, 65536, 0});
    co_await ws.async_write(asio::buffer(hello), asio::use_awaitable);
    EXPECT_TRUE(co_await rig.handler.wait_until([&] { return rig.handler.saw_state(1, LinkState::down); }, 10s));
    co_await rig.pool->stop(0ms);
    acceptor.close();
  });
  ASSERT_FALSE(rig.handler.errors[1].empty());
  EXPECT_EQ(rig.handler.errors[1].front(), TransportErrc::peer_timeout);
}

TEST(Pool, KeepalivePingsDoNotDisturbAHealthyConnection) {
  Rig rig({}, [](RealtimeOptions& o) {
    o.ping_interval = Millis{5};
    o.pong_timeout = Millis{2000};
  });
  run_test(rig.ioc, [&]() -> asio::awaitable<void> {
    rig.pool->start();
    int rounds = 0;
    co_await rig.load_until(rig.sessions(2), [&] { return ++rounds > 40; });
    co_await rig.finish();
  });
  rig.expect_exactly_once();
  EXPECT_EQ(rig.pool->stats().reconnects, 0u);
  EXPECT_FALSE(rig.handler.saw_state(1, LinkState::down));
}

TEST(Pool, BadRealtimeUrlFailsAtStart) {
  Rig rig({}, [](RealtimeOptions& o) { o.realtime_url = "http://not-a-websocket/"; });
  run_test(rig.ioc, [&]() -> asio::awaitable<void> {
    rig.pool->start();
    EXPECT_FALSE(rig.pool->place_session("S"));
    co_await rig.pool->stop(0ms);
  });
  EXPECT_EQ(rig.handler.errors[1].front(), TransportErrc::bad_url);
}

}  // namespace
}  // namespace assist::transport
