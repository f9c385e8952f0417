// Retry-After (RFC 9110 §10.2.3) from a token endpoint's 429: any header
// value gives a wait in [0, cap] or nullopt, never a crash.
#include "fuzz_input.h"
#include "transport/retry_after.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using assist::transport::Millis;
  const Millis cap{60'000};
  const auto value = assist::fuzz::as_text(data, size);
  for (const double now : {0.0, 1'700'000'000.0}) {
    if (const auto wait = assist::transport::parse_retry_after(value, now, cap)) {
      FUZZ_CHECK(wait->count() >= 0 && *wait <= cap);
    }
  }
  return 0;
}
