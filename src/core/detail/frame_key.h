// A frame_id as a fixed-size value, for the maps that track frames by id on
// the delivery path (in flight on a connection, in flight in the scheduler,
// delivered; the emulator's delivery ledger). Internal header.
//
// The key is the 36 characters of the canonical UUID text, held inline: a map
// keyed by it allocates nothing per key, compares with one memcmp and hashes
// two words. The text is kept, not parsed, so a key matches exactly the
// frame_id strings that compare equal.
#ifndef ASSIST_SRC_CORE_DETAIL_FRAME_KEY_H
#define ASSIST_SRC_CORE_DETAIL_FRAME_KEY_H

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace assist::detail {

struct FrameKey {
  static constexpr std::size_t size = 36;  // 8-4-4-4-12 hex digits and dashes

  // The key of `frame_id`; nullopt unless it has exactly 36 characters (no
  // frame this client wrote has another length).
  static std::optional<FrameKey> of(std::string_view frame_id) noexcept {
    if (frame_id.size() != size) return std::nullopt;
    FrameKey key;
    std::memcpy(key.text.data(), frame_id.data(), size);
    return key;
  }

  std::string_view view() const noexcept { return {text.data(), size}; }
  friend bool operator==(const FrameKey& a, const FrameKey& b) noexcept { return a.text == b.text; }

  std::array<char, size> text{};
};

// Frame ids are random (UUID v4): the first and last eight digits carry 64
// random bits. Maps mix the result further (Boost's flat maps do).
struct FrameKeyHash {
  std::size_t operator()(const FrameKey& key) const noexcept {
    std::uint64_t head = 0;
    std::uint64_t tail = 0;
    std::memcpy(&head, key.text.data(), sizeof head);
    std::memcpy(&tail, key.text.data() + FrameKey::size - sizeof tail, sizeof tail);
    return static_cast<std::size_t>(head ^ (tail * 0x9E3779B97F4A7C15ULL));
  }
};

}  // namespace assist::detail

#endif
