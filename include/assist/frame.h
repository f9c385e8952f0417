// Frame codec for the real-time wire contract (docs/contract.md §2): typed
// frames, encoding to and decoding from JSON text. Pure code: no I/O, no
// shared state, so every function here may be called from any thread.
#ifndef ASSIST_FRAME_H
#define ASSIST_FRAME_H

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>

#include "assist/prompt.h"
#include "assist/status.h"

namespace assist {

// Server greeting, sent once when a connection opens.
struct Hello {
  std::string connection_id;
  std::uint32_t max_sessions = 100;
  std::uint32_t max_snippets = 10;
  std::uint32_t max_inflight = 1000;
  std::uint32_t max_frame_bytes = 65536;
  double token_expires_at = 0.0;  // Unix seconds; any JSON number (a foreign gateway may send a fraction)

  bool operator==(const Hello&) const = default;
};

// The prompt is on the agent's desktop. `duplicate`: it already was, and was
// not shown again.
struct Ack {
  std::string frame_id;
  std::uint64_t sequence = 0;
  bool duplicate = false;

  bool operator==(const Ack&) const = default;
};

enum class NackCode {
  invalid_frame,
  session_limit,
  stale,
  forbidden,
  inflight_limit,
  unknown,  // a code this version does not know; the text is in Nack::code_text
};

// Wire spelling of a code ("INVALID_FRAME"...); "UNKNOWN" for NackCode::unknown.
std::string_view to_string(NackCode code);
// Parses a wire spelling; NackCode::unknown for anything else.
NackCode nack_code_from_string(std::string_view text);

struct Nack {
  std::string frame_id;  // empty when the refused frame could not be parsed
  std::uint64_t sequence = 0;
  NackCode code = NackCode::invalid_frame;
  std::string code_text;  // as received, so unknown codes stay visible
  std::string reason;

  bool operator==(const Nack&) const = default;
};

enum class FeedbackAction { adopted, dismissed };
std::string_view to_string(FeedbackAction action);

// What the agent did with a delivered prompt.
struct PromptFeedback {
  std::string frame_id;
  std::string session_id;
  FeedbackAction action = FeedbackAction::adopted;
  double at = 0.0;  // Unix seconds

  bool operator==(const PromptFeedback&) const = default;
};

// The interaction is over; the session's slot is free.
struct SessionEnded {
  std::string session_id;
  std::string reason;

  bool operator==(const SessionEnded&) const = default;
};

// Client to server: one prompt.
struct PromptSync {
  std::string frame_id;
  std::uint64_t sequence = 0;
  AssistPrompt payload;

  bool operator==(const PromptSync&) const = default;
};

// Client to server: frees a session's slot.
struct SessionEnd {
  std::string session_id;

  bool operator==(const SessionEnd&) const = default;
};

// A well-formed frame whose `type` this version does not know. Both sides
// ignore these (forward compatibility); it is not an error.
struct UnknownFrame {
  std::string type;

  bool operator==(const UnknownFrame&) const = default;
};

using Frame = std::variant<Hello, Ack, Nack, PromptFeedback, SessionEnded,
                           PromptSync, SessionEnd, UnknownFrame>;

// Why a frame could not be decoded.
enum class FrameErrc {
  malformed_json = 1,  // not JSON text, or trailing garbage
  not_an_object,       // JSON, but not an object
  missing_field,       // a required member is absent
  wrong_type,          // a member has the wrong JSON type
  out_of_range,        // a number does not fit its field
  bad_value,           // a string member holds a value the contract forbids
};
const std::error_category& frame_category();
std::error_code make_error_code(FrameErrc e);

// Why a text could not be decoded: the code (frame category) and the message
// naming the member, e.g. "payload.snippets[1].tags[0]: expected a string",
// or "malformed JSON: ...", whole (no need to prefix the code's message).
struct DecodeError : Status {
  // The frame's frame_id and sequence when they could be read despite the
  // error, so a NACK can name the frame; empty and 0 otherwise.
  std::string frame_id;
  std::uint64_t sequence = 0;
  // The frame's `type` when it could be read, so a peer can ignore a broken
  // frame of a type only it sends (protocol §2); empty otherwise.
  std::string type;
};

// The outcome of decode_frame: a frame, or why there is none.
using DecodeResult = Result<Frame, DecodeError>;

// Decodes one text frame. Never throws; malformed input yields a DecodeError.
DecodeResult decode_frame(std::string_view text) noexcept;

// A prompt object as users submit it (HTTP API, JSONL input): the
// PROMPT_SYNC payload shape, where priority_level (3), relevance_score (0),
// timestamp (0, meaning "now") and ttl_seconds (45) may be left out. Members
// are checked for shape only; validate() checks values. Never throws.
Result<AssistPrompt, DecodeError> decode_prompt_object(std::string_view text) noexcept;

// Encode a frame as compact JSON text. Any frame type can be encoded (the
// emulator writes the server-side ones). Strings are written as given; callers
// validate prompts first. May throw std::bad_alloc only.
std::string encode_frame(const Frame& frame);
std::string encode(const PromptSync& frame);
std::string encode(const SessionEnd& frame);
std::string encode(const Hello& frame);
std::string encode(const Ack& frame);
std::string encode(const Nack& frame);
std::string encode(const PromptFeedback& frame);
std::string encode(const SessionEnded& frame);

}  // namespace assist

template <>
struct std::is_error_code_enum<assist::FrameErrc> : std::true_type {};

#endif  // ASSIST_FRAME_H
