// POST /v1/prompts/batch: an NDJSON body, split as the handler splits it,
// each line submitted (submission.h). The split keeps at most max_lines and
// counts the rest; every line it keeps is a non-blank line of the body.
#include "submission.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace assist;
  const auto body = fuzz::as_text(data, size);
  constexpr std::size_t max_lines = 8;
  const auto batch = service::split_prompt_lines(body, max_lines);
  FUZZ_CHECK(batch.lines.size() == std::min(batch.count, max_lines));
  std::size_t previous = 0;
  for (const auto& line : batch.lines) {
    FUZZ_CHECK(line.number > previous);
    previous = line.number;
    FUZZ_CHECK(line.text.data() >= body.data() && line.text.data() + line.text.size() <= body.data() + body.size());
    FUZZ_CHECK(line.text.find('\n') == std::string_view::npos);
    FUZZ_CHECK(line.text.find_first_not_of(" \t") != std::string_view::npos);  // a CR more may remain
    fuzz::check_submission(line.text);
  }
  return 0;
}
