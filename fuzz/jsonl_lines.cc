// `assist-sync send`'s input: a JSONL stream read line by line with the
// production bound, each non-blank line submitted (submission.h). Reading
// the same stream with a small bound must give the same short lines and
// flag exactly the long ones.
#include <sstream>
#include <string>
#include <vector>

#include "submission.h"

namespace {

using namespace assist;

struct Read {
  service::LineRead kind;
  std::string line;
};

std::vector<Read> read_all(std::string_view text, std::size_t max_bytes) {
  std::istringstream in{std::string(text)};
  std::vector<Read> out;
  std::string line;
  for (;;) {
    const auto kind = service::read_prompt_line(in, line, max_bytes);
    if (kind == service::LineRead::end) return out;
    FUZZ_CHECK(line.size() <= max_bytes);
    out.push_back({kind, line});
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = fuzz::as_text(data, size);
  const auto lines = read_all(text, service::kMaxPromptLineBytes);
  constexpr std::size_t small = 16;
  const auto bounded = read_all(text, small);
  FUZZ_CHECK(bounded.size() == lines.size());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const bool fits = lines[i].kind == service::LineRead::line && lines[i].line.size() <= small;
    FUZZ_CHECK(bounded[i].kind == (fits ? service::LineRead::line : service::LineRead::too_long));
    FUZZ_CHECK(bounded[i].line == lines[i].line.substr(0, small));
    if (lines[i].kind == service::LineRead::too_long) continue;
    if (const auto prompt_text = service::prompt_line_text(lines[i].line)) fuzz::check_submission(*prompt_text);
  }
  return 0;
}
