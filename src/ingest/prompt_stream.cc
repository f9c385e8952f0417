#include "ingest/prompt_stream.h"

#include <fmt/format.h>

#include "core/detail/json_parse.h"
#include "core/detail/json_text.h"
#include "core/outcome_json.h"

namespace assist::ingest {

std::string prompt_subject(std::uint32_t partition) { return fmt::format("assist.prompts.{}", partition); }

std::string outcome_subject(std::uint32_t partition, std::string_view frame_id) {
  return fmt::format("assist.outcomes.{}.{}", partition, frame_id);
}

std::string outcome_stream_name(std::string_view prompt_stream) { return fmt::format("{}_OUTCOMES", prompt_stream); }

std::string encode_prompt_message(std::string_view frame_id, const AssistPrompt& prompt) {
  return encode(PromptSync{std::string(frame_id), 0, prompt});
}

Result<PromptSync, DecodeError> decode_prompt_message(std::string_view data) {
  auto decoded = decode_frame(data);
  if (!decoded) return std::move(decoded).error();
  if (auto* prompt = std::get_if<PromptSync>(&decoded.value())) return std::move(*prompt);
  DecodeError error;
  error.code = make_error_code(FrameErrc::bad_value);
  error.message = "a prompt message must be a PROMPT_SYNC frame";
  return error;
}

std::string encode_outcome_message(const SyncOutcome& outcome, std::string_view instance, std::uint32_t partition) {
  auto object = outcome_json(outcome);
  object["instance"] = instance;
  object["partition"] = partition;
  return detail::to_json_text(object);
}

std::optional<SyncOutcome> decode_outcome_message(std::string_view data) {
  boost::system::error_code ec;
  const auto value = detail::parse_json_exact(data, ec);
  if (ec || !value.is_object()) return std::nullopt;
  return outcome_from_json(value.get_object());
}

}  // namespace assist::ingest
