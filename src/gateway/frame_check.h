// The checks the real-time endpoint makes on a received message before those
// that need the connection's or the ledger's state (protocol §2): the message
// is a text frame that decodes, and a PROMPT_SYNC comes with the write scope,
// a UUID v4 frame_id and a prompt the core's rules accept. Pure: no I/O, no
// state, so the fuzz target gateway_frame runs exactly this code.
#ifndef ASSIST_SRC_GATEWAY_FRAME_CHECK_H
#define ASSIST_SRC_GATEWAY_FRAME_CHECK_H

#include <cstdint>
#include <optional>
#include <string>

#include "assist/frame.h"

namespace assist::gateway {

// A NACK with the wire spelling of `code` as its code_text.
Nack make_nack(std::string frame_id, std::uint64_t sequence, NackCode code, std::string reason);

// The NACK for a binary message (the protocol has only text frames).
Nack refuse_binary();

// The NACK for text that does not decode: INVALID_FRAME naming what was
// wrong, and the frame_id and sequence when they could be read.
Nack refuse_undecodable(const DecodeError& error);

// The NACK for a PROMPT_SYNC that fails a stateless check (FORBIDDEN without
// `may_write`; INVALID_FRAME for a frame_id that is not a UUID v4 or a prompt
// with violations, every one named), or nullopt when it passes them: then
// its frame_id is a UUID v4 and detail::FrameKey::of() has its key.
std::optional<Nack> check_prompt_sync(const PromptSync& frame, bool may_write);

}  // namespace assist::gateway

#endif
