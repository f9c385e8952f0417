#include "gateway/frame_check.h"

#include <utility>

#include "assist/frame_id.h"
#include "assist/validation.h"

namespace assist::gateway {

Nack make_nack(std::string frame_id, std::uint64_t sequence, NackCode code, std::string reason) {
  Nack n;
  n.frame_id = std::move(frame_id);
  n.sequence = sequence;
  n.code = code;
  n.code_text = std::string(to_string(code));
  n.reason = std::move(reason);
  return n;
}

Nack refuse_binary() {
  return make_nack("", 0, NackCode::invalid_frame, "binary frames are not part of the protocol; send text");
}

Nack refuse_undecodable(const DecodeError& error) {
  return make_nack(error.frame_id, error.sequence, NackCode::invalid_frame, error.message);  // names what is wrong
}

std::optional<Nack> check_prompt_sync(const PromptSync& frame, bool may_write) {
  if (!may_write) {
    return make_nack(frame.frame_id, frame.sequence, NackCode::forbidden, "token lacks agentassist:write");
  }
  if (!is_uuid_v4(frame.frame_id)) {
    return make_nack(frame.frame_id, frame.sequence, NackCode::invalid_frame, "frame_id: not a UUID v4");
  }
  if (auto violations = validate(frame.payload); !violations.empty()) {
    return make_nack(frame.frame_id, frame.sequence, NackCode::invalid_frame, describe(violations));
  }
  return std::nullopt;
}

}  // namespace assist::gateway
