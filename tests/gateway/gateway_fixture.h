// A gateway started in-process on an ephemeral port, with a ManualClock, and
// helpers to build frames.
#ifndef ASSIST_TESTS_GATEWAY_GATEWAY_FIXTURE_H
#define ASSIST_TESTS_GATEWAY_GATEWAY_FIXTURE_H

#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "assist/clock.h"
#include "assist/frame.h"
#include "assist/frame_id.h"
#include "assist/gateway.h"
#include "support/prompt_gen.h"
#include "test_client.h"

namespace assist::test {

class GatewayTest : public ::testing::Test {
 protected:
  // Starts a gateway with `options`, on the fixture's ManualClock unless the
  // options name another clock.
  void start(GatewayOptions options = {}) {
    if (options.clock == nullptr) options.clock = &clock;
    gateway = std::make_unique<Gateway>(std::move(options));
    ASSERT_TRUE(gateway->start().ok());
    target.port = gateway->port();
    target.pin_sha256 = gateway->certificate_sha256();
  }

  // A PROMPT_SYNC for `session`, produced now by the fixture's clock.
  std::string prompt(const std::string& frame_id, std::uint64_t sequence,
                     const std::string& session = "SESS-1", double age_seconds = 0.0) {
    PromptSync frame;
    frame.frame_id = frame_id;
    frame.sequence = sequence;
    frame.payload = testing::source_example_prompt();
    frame.payload.session_id = session;
    frame.payload.timestamp = clock.unix_now() - age_seconds;
    return encode(frame);
  }

  // A connected client holding a demo token; fails the test otherwise.
  std::unique_ptr<WsClient> open(const std::string& scope = {}) {
    const auto token = fetch_token(target, scope);
    auto client = std::make_unique<WsClient>(target);
    EXPECT_EQ(client->connect("/realtime/v1?access_token=" + token), 101u);
    auto hello = client->read_json();
    EXPECT_EQ(hello["type"], "HELLO") << client->error().message() << " timed_out=" << client->timed_out();
    return client;
  }

  // True once `pred(stats)` holds, polled for at most 5 s: some counters are
  // updated just after the peer has already seen the effect (a close frame).
  template <class Pred>
  bool stats_eventually(Pred pred) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!pred(gateway->stats())) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
  }

  ManualClock clock;
  FrameIdGenerator ids{42};
  std::unique_ptr<Gateway> gateway;
  Target target;
};

}  // namespace assist::test

#endif
