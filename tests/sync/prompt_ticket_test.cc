#include "sync/prompt_ticket.h"

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

namespace assist {
namespace {

using namespace std::chrono_literals;

SyncOutcome acked_outcome() {
  SyncOutcome o;
  o.kind = OutcomeKind::acked;
  o.frame_id = "f-1";
  o.sequence = 7;
  return o;
}

TEST(PromptTicket, FutureAskedBeforeCompletionGetsTheOutcome) {
  auto state = std::make_shared<PromptTicket::State>("f-1", nullptr);
  const PromptTicket ticket = TicketFactory::issue(state);
  auto future = ticket.future();
  EXPECT_EQ(future.wait_for(0s), std::future_status::timeout);
  state->complete(acked_outcome());
  ASSERT_EQ(future.wait_for(0s), std::future_status::ready);
  EXPECT_EQ(future.get().sequence, 7u);
  EXPECT_EQ(ticket.future().get().kind, OutcomeKind::acked);  // asked again: same outcome
}

TEST(PromptTicket, FutureAskedAfterCompletionIsReady) {
  auto state = std::make_shared<PromptTicket::State>("f-1", nullptr);
  state->complete(acked_outcome());
  const PromptTicket ticket = TicketFactory::issue(state);
  const auto future = ticket.future();
  ASSERT_EQ(future.wait_for(0s), std::future_status::ready);
  EXPECT_EQ(future.get().sequence, 7u);
}

TEST(PromptTicket, WaitBlocksUntilCompletedFromAnotherThread) {
  auto state = std::make_shared<PromptTicket::State>("f-1", nullptr);
  const PromptTicket ticket = TicketFactory::issue(state);
  EXPECT_FALSE(ticket.done());
  std::thread completer([state] {
    std::this_thread::sleep_for(20ms);  // lets wait() block first (the order does not matter for the result)
    state->complete(acked_outcome());
  });
  const auto outcome = ticket.wait();
  completer.join();
  EXPECT_EQ(outcome.sequence, 7u);
  EXPECT_TRUE(ticket.done());
}

TEST(PromptTicket, OnlyTheFirstCompletionCounts) {
  auto state = std::make_shared<PromptTicket::State>("f-1", nullptr);
  const PromptTicket ticket = TicketFactory::issue(state);
  int calls = 0;
  ticket.then([&calls](const SyncOutcome&) { ++calls; });
  state->complete(acked_outcome());
  auto second = acked_outcome();
  second.kind = OutcomeKind::failed;
  state->complete(second);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(ticket.wait().kind, OutcomeKind::acked);
  EXPECT_EQ(ticket.future().get().kind, OutcomeKind::acked);
  int late = 0;
  ticket.then([&late](const SyncOutcome& o) { late += o.kind == OutcomeKind::acked ? 1 : 100; });
  EXPECT_EQ(late, 1);  // known already: called at once
}

}  // namespace
}  // namespace assist
