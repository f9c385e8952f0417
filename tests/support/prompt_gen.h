// Deterministic generators of prompts for property tests: unicode, escapes,
// control characters and long content, within or outside the limits.
#ifndef ASSIST_TESTS_SUPPORT_PROMPT_GEN_H
#define ASSIST_TESTS_SUPPORT_PROMPT_GEN_H

#include <random>
#include <string>
#include <string_view>

#include "assist/prompt.h"

namespace assist::testing {

// assist::source_example_prompt() with a fixed timestamp, for codec tests.
AssistPrompt source_example_prompt();

// `prefix` followed by `n` in decimal ("S" and 7 give "S7"): an id for a
// numbered session or interaction. (Not `"S" + std::to_string(n)`: g++ 12
// at -O3 reports a false -Wrestrict inside that operator+.)
inline std::string numbered(std::string_view prefix, unsigned long long n) {
  std::string id(prefix);
  id += std::to_string(n);
  return id;
}

class PromptGenerator {
 public:
  explicit PromptGenerator(std::uint64_t seed) : rng_(seed) {}

  // A prompt that passes validate(): text mixes ASCII, JSON metacharacters,
  // TAB/LF/CR, 2-, 3- and 4-byte UTF-8, with lengths up to the limits.
  AssistPrompt valid_prompt();

  // Any string of bytes 0x01..0x7f and multi-byte UTF-8, including every
  // control character: for codec round trips that bypass validation.
  std::string any_utf8(std::size_t max_len);

  // Text legal in a given field: `whitespace` allows TAB, LF and CR.
  std::string text(std::size_t min_len, std::size_t max_len, bool whitespace);

  std::size_t uniform(std::size_t lo, std::size_t hi) {
    return std::uniform_int_distribution<std::size_t>(lo, hi)(rng_);
  }

 private:
  std::string piece(bool whitespace, bool any_control);
  std::mt19937_64 rng_;
};

}  // namespace assist::testing

#endif
