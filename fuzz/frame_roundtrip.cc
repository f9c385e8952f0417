// Frame encode/decode round trip: for any frame of well-formed UTF-8
// strings and finite numbers (what the encoders are given),
// decode_frame(encode_frame(f)) == f, for every frame type either side writes.
#include <algorithm>
#include <iterator>

#include "assist/frame.h"
#include "core/prompt_sync_parts.h"
#include "fuzz_input.h"

namespace {

using namespace assist;

constexpr std::size_t kMaxChars = 80;

AssistPrompt make_prompt(fuzz::ByteReader& in) {
  AssistPrompt p;
  p.session_id = in.utf8(kMaxChars);
  p.agent_id = in.utf8(kMaxChars);
  p.interaction_id = in.utf8(kMaxChars);
  p.snippets.resize(in.byte() % 12);
  for (auto& s : p.snippets) {
    s.snippet_id = in.utf8(kMaxChars);
    s.content = in.utf8(4 * kMaxChars);
    s.tags.resize(in.byte() % 5);
    for (auto& tag : s.tags) tag = in.utf8(kMaxChars);
    s.source_system = in.utf8(kMaxChars);
  }
  p.priority_override = in.boolean();
  p.priority_level = in.integer<int>();
  p.relevance_score = in.finite_double();
  p.timestamp = in.finite_double();
  p.ttl_seconds = in.integer<int>();
  return p;
}

Nack make_nack(fuzz::ByteReader& in) {
  Nack n;
  n.frame_id = in.utf8(kMaxChars);
  n.sequence = in.integer<std::uint64_t>();
  // The decoder keeps the code's text and derives the code from it.
  n.code_text = in.boolean() ? std::string(to_string(static_cast<NackCode>(in.byte() % 6))) : in.utf8(kMaxChars);
  n.code = nack_code_from_string(n.code_text);
  n.reason = in.utf8(kMaxChars);
  return n;
}

Frame make_frame(fuzz::ByteReader& in) {
  switch (in.byte() % 8) {
    case 0:
      return Hello{in.utf8(kMaxChars), in.integer<std::uint32_t>(), in.integer<std::uint32_t>(),
                   in.integer<std::uint32_t>(), in.integer<std::uint32_t>(),
                   // whole and fractional seconds (quarters are exact in binary)
                   static_cast<double>(in.integer<std::int32_t>()) / 4.0};
    case 1: return Ack{in.utf8(kMaxChars), in.integer<std::uint64_t>(), in.boolean()};
    case 2: return make_nack(in);
    case 3: {
      PromptFeedback f;
      f.frame_id = in.utf8(kMaxChars);
      f.session_id = in.utf8(kMaxChars);
      f.action = in.boolean() ? FeedbackAction::adopted : FeedbackAction::dismissed;
      f.at = in.finite_double();
      return f;
    }
    case 4: return SessionEnded{in.utf8(kMaxChars), in.utf8(kMaxChars)};
    case 5: {
      PromptSync f;
      f.frame_id = in.utf8(kMaxChars);
      f.sequence = in.integer<std::uint64_t>();
      f.payload = make_prompt(in);
      return f;
    }
    case 6: return SessionEnd{in.utf8(kMaxChars)};
    default: {
      // A type this version does not know (a known one would need its members).
      static constexpr std::string_view known[] = {"HELLO",         "ACK",         "NACK",       "PROMPT_FEEDBACK",
                                                   "SESSION_ENDED", "PROMPT_SYNC", "SESSION_END"};
      auto type = in.utf8(kMaxChars);
      if (std::find(std::begin(known), std::end(known), type) != std::end(known)) type += "_NEW";
      return UnknownFrame{type};
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::ByteReader in(data, size);
  const Frame frame = make_frame(in);
  const std::string text = encode_frame(frame);
  const auto decoded = decode_frame(text);
  if (!decoded) std::fprintf(stderr, "%s\n%s\n", text.c_str(), decoded.error().message.c_str());
  FUZZ_CHECK(decoded.ok());
  FUZZ_CHECK(decoded.value() == frame);
  if (const auto* sync = std::get_if<PromptSync>(&frame)) {
    // The two-step encoding the synchronizer uses gives the same bytes.
    FUZZ_CHECK(encode_prompt_sync(sync->frame_id, sync->sequence, encode_prompt_payload(sync->payload)) == text);
  }
  return 0;
}
