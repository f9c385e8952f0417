// Client frame decode: any bytes a gateway may send as a WebSocket text
// message. decode_frame() must never crash, and whatever it decodes must
// survive encode and decode unchanged (the emulator encodes the same types).
#include "assist/frame.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace assist;
  const auto decoded = decode_frame(fuzz::as_text(data, size));
  if (!decoded) {
    FUZZ_CHECK(decoded.error().code);
    FUZZ_CHECK(!decoded.error().message.empty());
    return 0;
  }
  const auto again = decode_frame(encode_frame(decoded.value()));
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again.value() == decoded.value());
  return 0;
}
