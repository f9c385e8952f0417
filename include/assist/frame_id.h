// Frame identifiers: random (version 4) UUIDs.
#ifndef ASSIST_FRAME_ID_H
#define ASSIST_FRAME_ID_H

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace assist {

// Makes random UUID v4 strings. The default constructor seeds a 64-bit
// Mersenne Twister with 256 bits from std::random_device (the OS entropy
// source); the seeded constructor gives a reproducible sequence for tests.
// Not thread-safe: use one per thread or strand.
class FrameIdGenerator {
 public:
  FrameIdGenerator();
  explicit FrameIdGenerator(std::uint64_t seed);
  ~FrameIdGenerator();
  FrameIdGenerator(FrameIdGenerator&&) noexcept;
  FrameIdGenerator& operator=(FrameIdGenerator&&) noexcept;

  // The next identifier, in canonical lower-case 8-4-4-4-12 form.
  std::string next();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// True when `text` is a canonical UUID string of version 4, RFC 4122 variant.
bool is_uuid_v4(std::string_view text) noexcept;

}  // namespace assist

#endif  // ASSIST_FRAME_ID_H
