// POST /v1/prompts: the request body, one prompt object (see submission.h
// for what is checked).
#include "submission.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  assist::fuzz::check_submission(assist::fuzz::as_text(data, size));
  return 0;
}
