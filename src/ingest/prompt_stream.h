// What scale-out ingest writes to JetStream and reads back (internal,
// docs/scale-out.md): a prompt is the contract's PROMPT_SYNC frame with
// sequence 0 (the sequence is given when it is written to the gateway), so a
// producer in any language can publish one; an outcome is the HTTP API's
// outcome object plus the instance that recorded it and the partition.
#ifndef ASSIST_SRC_INGEST_PROMPT_STREAM_H
#define ASSIST_SRC_INGEST_PROMPT_STREAM_H

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "assist/frame.h"
#include "assist/outcome.h"
#include "assist/status.h"

namespace assist::ingest {

// Subjects: "<prefix>.prompts.<p>" and "<prefix>.outcomes.<p>.<frame_id>".
std::string prompt_subject(std::uint32_t partition);
std::string outcome_subject(std::uint32_t partition, std::string_view frame_id);
// The patterns of the two streams' subjects.
inline constexpr std::string_view kPromptSubjects = "assist.prompts.*";
inline constexpr std::string_view kOutcomeSubjects = "assist.outcomes.*.*";
// The outcomes stream of a prompt stream: "<stream>_OUTCOMES".
std::string outcome_stream_name(std::string_view prompt_stream);

// REQUIRES: `prompt` passed acceptance (timestamp set). Thread-safe, pure.
std::string encode_prompt_message(std::string_view frame_id, const AssistPrompt& prompt);
// The frame_id and prompt of a message, or why it is not a PROMPT_SYNC frame.
Result<PromptSync, DecodeError> decode_prompt_message(std::string_view data);

// The outcome as one JSON object: outcome_json's members, "instance" and "partition".
std::string encode_outcome_message(const SyncOutcome& outcome, std::string_view instance, std::uint32_t partition);
// The outcome of a message, or nullopt when it is not one.
std::optional<SyncOutcome> decode_outcome_message(std::string_view data);

}  // namespace assist::ingest

#endif
