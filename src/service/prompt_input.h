// Prompt objects as users submit them: one per HTTP body (POST /v1/prompts),
// one per line of NDJSON (POST /v1/prompts/batch) or JSONL (`assist-sync
// send`). Splitting and error mapping only; decode_prompt_object() (frame.h)
// decodes each object. Pure, except read_prompt_line(), which reads a stream.
#ifndef ASSIST_SRC_SERVICE_PROMPT_INPUT_H
#define ASSIST_SRC_SERVICE_PROMPT_INPUT_H

#include <cstddef>
#include <istream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "assist/frame.h"
#include "assist/validation.h"

namespace assist::service {

// A decode error as one violation: "snippets[1].tags[0]: expected a string"
// names the member before the colon; errors about the whole text name "body".
Violation decode_violation(const DecodeError& error);

// One line (LF removed) as a prompt's text: without a trailing CR; nullopt
// when it holds only spaces and tabs (blank lines are skipped, not errors).
std::optional<std::string_view> prompt_line_text(std::string_view line);

struct PromptLine {
  std::size_t number = 0;  // 1-based, blank lines counted
  std::string_view text;   // see prompt_line_text()
};

// The non-blank lines of an NDJSON body. `count` is how many there are;
// `lines` holds the first `max_lines` of them (views into `body`), so an
// oversized batch is measured without being stored.
struct PromptLines {
  std::vector<PromptLine> lines;
  std::size_t count = 0;
};
PromptLines split_prompt_lines(std::string_view body, std::size_t max_lines);

// The longest JSONL line `assist-sync send` reads (the default HTTP body limit).
inline constexpr std::size_t kMaxPromptLineBytes = 1 << 20;

enum class LineRead {
  line,      // `line` holds the next line, without its LF
  too_long,  // the line had more than max_bytes bytes: skipped to its LF, `line` holds its start
  end,       // no more input
};
// Reads the next line of `in` into `line`, holding at most `max_bytes` bytes
// in memory whatever the input. A last line without LF is still a line.
LineRead read_prompt_line(std::istream& in, std::string& line, std::size_t max_bytes);

}  // namespace assist::service

#endif  // ASSIST_SRC_SERVICE_PROMPT_INPUT_H
