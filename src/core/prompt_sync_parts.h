// PROMPT_SYNC in two steps, as encode(PromptSync) does them: the payload
// once, when the prompt is accepted (on the caller's thread), and the frame
// around it when it is written (the sequence is known only then). The
// synchronizer's; a user encodes whole frames with encode().
#ifndef ASSIST_SRC_CORE_PROMPT_SYNC_PARTS_H
#define ASSIST_SRC_CORE_PROMPT_SYNC_PARTS_H

#include <cstdint>
#include <string>
#include <string_view>

#include "assist/prompt.h"

namespace assist {

std::string encode_prompt_payload(const AssistPrompt& payload);
// REQUIRES: `payload_json` came from encode_prompt_payload().
std::string encode_prompt_sync(std::string_view frame_id, std::uint64_t sequence, std::string_view payload_json);

}  // namespace assist

#endif  // ASSIST_SRC_CORE_PROMPT_SYNC_PARTS_H
