// What happens to one submitted prompt object (HTTP body, NDJSON or JSONL
// line) before it is queued, for the fuzz targets that read them: decoding
// (a refusal names a member), then acceptance as Synchronizer::sync_prompt()
// does it (timestamp stamping, snippet policy, relevance, validation). A
// prompt accepted there must become a PROMPT_SYNC frame that fits
// limits::max_frame_bytes and that the gateway decodes to the same prompt and
// finds valid too.
#ifndef ASSIST_FUZZ_SUBMISSION_H
#define ASSIST_FUZZ_SUBMISSION_H

#include <string_view>

#include "assist/frame.h"
#include "core/prompt_sync_parts.h"
#include "assist/validation.h"
#include "fuzz_input.h"
#include "service/prompt_input.h"

namespace assist::fuzz {

inline void check_accepted(const AssistPrompt& prompt) {
  const PromptSync frame{"0b7e0fd0-4a52-4c3c-9d8e-1d0f6f2a9c11", 18'446'744'073'709'551'615ULL, prompt};
  const std::string text = encode_prompt_sync(frame.frame_id, frame.sequence, encode_prompt_payload(prompt));
  FUZZ_CHECK(text.size() <= limits::max_frame_bytes);
  const auto at_gateway = decode_frame(text);
  FUZZ_CHECK(at_gateway.ok());
  FUZZ_CHECK(at_gateway.value() == Frame(frame));
  FUZZ_CHECK(validate(std::get<PromptSync>(at_gateway.value()).payload).empty());
}

inline void check_submission(std::string_view text) {
  auto decoded = decode_prompt_object(text);
  if (!decoded) {
    FUZZ_CHECK(decoded.error().code);
    const auto violation = service::decode_violation(decoded.error());
    FUZZ_CHECK(!violation.field.empty() && !violation.reason.empty());
    return;
  }
  for (const bool compute_relevance : {true, false}) {
    for (const auto policy : {SnippetPolicy::reject, SnippetPolicy::trim}) {
      AssistPrompt prompt = decoded.value();
      if (!prompt.timestamp) prompt.timestamp = 1'700'000'000.0;
      std::vector<Violation> violations;
      if (compute_relevance) {
        violations = prepare(prompt, policy);
      } else {
        if (policy == SnippetPolicy::trim) trim_snippets(prompt.snippets);
        violations = validate(prompt);
      }
      if (violations.empty()) check_accepted(prompt);
      else FUZZ_CHECK(!describe(violations).empty());
    }
  }
}

}  // namespace assist::fuzz

#endif
