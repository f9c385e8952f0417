// The emulator's side of the real-time protocol: what realtime_session.cc
// does with each text message a client sends, minus the socket. Messages are
// separated by NUL bytes (which JSON text cannot hold). Every answer (ACK or
// NACK) must decode at the client as what the gateway meant, and every prompt
// the gateway accepts must fit one frame (limits::worst_case_frame_bytes).
#include <chrono>
#include <string>

#include "assist/clock.h"
#include "assist/frame.h"
#include "core/detail/frame_key.h"
#include "fuzz_input.h"
#include "gateway/frame_check.h"
#include "gateway/ledger.h"

namespace {

using namespace assist;

// The answer reaches the client intact.
void check_reaches_client(const Frame& answer) {
  const auto decoded = decode_frame(encode_frame(answer));
  FUZZ_CHECK(decoded.ok());
  FUZZ_CHECK(decoded.value() == answer);
}

void on_prompt(gateway::DeliveryLedger& ledger, const Clock& clock, const PromptSync& frame) {
  const auto forbidden = gateway::check_prompt_sync(frame, false);
  FUZZ_CHECK(forbidden && forbidden->code == NackCode::forbidden && forbidden->frame_id == frame.frame_id);
  if (auto refusal = gateway::check_prompt_sync(frame, true)) {
    check_reaches_client(*refusal);
    return;
  }
  FUZZ_CHECK(encode(frame).size() <= limits::max_frame_bytes);
  const auto key = detail::FrameKey::of(frame.frame_id);
  FUZZ_CHECK(key.has_value());
  const double age = clock.unix_now() - *frame.payload.timestamp;
  const auto outcome = ledger.deliver(*key, frame, age, [&] { return age <= frame.payload.ttl_seconds; });
  if (outcome == gateway::DeliveryLedger::Outcome::refused) {
    check_reaches_client(gateway::make_nack(frame.frame_id, frame.sequence, NackCode::stale, "too old"));
    return;
  }
  check_reaches_client(Ack{frame.frame_id, frame.sequence, outcome == gateway::DeliveryLedger::Outcome::duplicate});
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ManualClock clock;
  gateway::DeliveryLedger ledger(clock, std::chrono::seconds(60), 16);
  check_reaches_client(gateway::refuse_binary());
  const auto input = fuzz::as_text(data, size);
  for (std::size_t at = 0; at <= input.size();) {
    auto end = input.find('\0', at);
    if (end == std::string_view::npos) end = input.size();
    const auto decoded = decode_frame(input.substr(at, end - at));
    at = end + 1;
    if (!decoded) {
      const auto nack = gateway::refuse_undecodable(decoded.error());
      FUZZ_CHECK(nack.code == NackCode::invalid_frame);
      check_reaches_client(nack);
      continue;
    }
    if (const auto* prompt = std::get_if<PromptSync>(&decoded.value())) on_prompt(ledger, clock, *prompt);
    clock.advance(std::chrono::seconds(1));
  }
  return 0;
}
