// Helpers shared by the fuzz targets: checks that hold in every build, and a
// reader that turns fuzzer bytes into values for the structured targets.
#ifndef ASSIST_FUZZ_FUZZ_INPUT_H
#define ASSIST_FUZZ_FUZZ_INPUT_H

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

// Aborts (a crash for libFuzzer, a failure for the replay test) when `cond`
// is false; unlike assert(), also with NDEBUG.
#define FUZZ_CHECK(cond)                                                                     \
  do {                                                                                       \
    if (!(cond)) ::assist::fuzz::check_failed(#cond, __FILE__, __LINE__);                    \
  } while (false)

namespace assist::fuzz {

[[noreturn]] inline void check_failed(const char* what, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", file, line, what);
  std::abort();
}

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Consumes the input front to back; past its end every read gives zeros, so
// any input yields a value.
class ByteReader {
 public:
  ByteReader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

  bool empty() const { return at_ >= size_; }

  std::uint8_t byte() { return at_ < size_ ? data_[at_++] : 0; }

  template <class Int>
  Int integer() {
    static_assert(std::is_integral_v<Int>);
    std::make_unsigned_t<Int> v = 0;
    for (std::size_t i = 0; i < sizeof(Int); ++i) v = static_cast<decltype(v)>((v << 8) | byte());
    return static_cast<Int>(v);
  }

  bool boolean() { return (byte() & 1) != 0; }

  // Any double, NaN and infinities included (from its bit pattern).
  double any_double() {
    const auto bits = integer<std::uint64_t>();
    double d = 0;
    std::memcpy(&d, &bits, sizeof d);
    return d;
  }

  // Any finite double (NaN and infinities become 0).
  double finite_double() {
    const double d = any_double();
    return std::isfinite(d) ? d : 0.0;
  }

  // Well-formed UTF-8 of at most `max_chars` code points (any, NUL and
  // control characters included): the strings encoders are given.
  std::string utf8(std::size_t max_chars) {
    const std::size_t n = byte() % (max_chars + 1);
    std::string out;
    for (std::size_t i = 0; i < n && !empty(); ++i) {
      const std::uint8_t b = byte();
      if (b < 0x80) {
        out.push_back(static_cast<char>(b));
        continue;
      }
      std::uint32_t cp = ((static_cast<std::uint32_t>(b & 0x7f) << 16) | integer<std::uint16_t>()) % 0x110000;
      if (cp >= 0xd800 && cp <= 0xdfff) cp -= 0x800;  // no surrogates
      append_utf8(out, cp);
    }
    return out;
  }

 private:
  static void append_utf8(std::string& out, std::uint32_t cp) {
    auto put = [&out](std::uint32_t v) { out.push_back(static_cast<char>(v)); };
    if (cp < 0x80) {
      put(cp);
    } else if (cp < 0x800) {
      put(0xc0 | (cp >> 6));
      put(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      put(0xe0 | (cp >> 12));
      put(0x80 | ((cp >> 6) & 0x3f));
      put(0x80 | (cp & 0x3f));
    } else {
      put(0xf0 | (cp >> 18));
      put(0x80 | ((cp >> 12) & 0x3f));
      put(0x80 | ((cp >> 6) & 0x3f));
      put(0x80 | (cp & 0x3f));
    }
  }

  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t at_ = 0;
};

}  // namespace assist::fuzz

#endif
