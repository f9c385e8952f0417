// The prompt model: what an agent-assist prompt is, and the limits it must fit.
// Pure data; no I/O. Field names follow the wire contract (docs/contract.md).
#ifndef ASSIST_PROMPT_H
#define ASSIST_PROMPT_H

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace assist {

// One knowledge snippet shown to the agent.
struct KnowledgeSnippet {
  std::string snippet_id;
  std::string content;
  std::vector<std::string> tags;
  std::string source_system;

  bool operator==(const KnowledgeSnippet&) const = default;
};

// A prompt for one agent in one interaction. `timestamp` is when the content was
// produced (Unix seconds, UTC, fractional); freshness is measured from it.
// Left unset, the synchronizer sets it to its clock's now at acceptance.
struct AssistPrompt {
  std::string session_id;
  std::string agent_id;
  std::string interaction_id;
  std::vector<KnowledgeSnippet> snippets;
  bool priority_override = false;
  int priority_level = 3;
  double relevance_score = 0.0;
  std::optional<double> timestamp;
  int ttl_seconds = 45;

  bool operator==(const AssistPrompt&) const = default;
};

// Limits a valid prompt respects. The byte limits are chosen so that any valid
// prompt, encoded as a PROMPT_SYNC frame, fits max_frame_bytes: strings are
// UTF-8 without control characters other than TAB, LF and CR, so JSON escaping
// at most doubles them (see worst_case_frame_bytes below).
namespace limits {
inline constexpr std::size_t max_snippets = 10;
inline constexpr int min_priority = 1;
inline constexpr int max_priority = 5;
inline constexpr int override_min_priority = 4;
inline constexpr int min_ttl_seconds = 10;
inline constexpr int max_ttl_seconds = 120;
inline constexpr int default_ttl_seconds = 45;
inline constexpr double default_freshness_seconds = 2.0;

inline constexpr std::size_t max_id_bytes = 128;            // each of the four ids
inline constexpr std::size_t max_source_system_bytes = 64;
inline constexpr std::size_t max_tags_per_snippet = 16;
inline constexpr std::size_t max_tag_bytes = 64;
inline constexpr std::size_t max_content_bytes = 4096;       // one snippet
inline constexpr std::size_t max_total_content_bytes = 16384;  // all snippets
inline constexpr std::size_t max_frame_bytes = 65536;        // protocol default

// Upper bound of an encoded PROMPT_SYNC frame for a valid prompt: every string
// escaped at worst 2x plus its quotes and separators, plus a generous fixed
// allowance for keys, numbers and the envelope.
inline constexpr std::size_t worst_case_frame_bytes() {
  constexpr std::size_t str = 3;  // two quotes and a comma
  constexpr std::size_t ids = 3 * (2 * max_id_bytes + str);
  constexpr std::size_t per_snippet_fixed =
      (2 * max_id_bytes + str) + (2 * max_source_system_bytes + str) +
      max_tags_per_snippet * (2 * max_tag_bytes + str) + str + 64;  // keys
  constexpr std::size_t content = 2 * max_total_content_bytes;
  constexpr std::size_t envelope = 512;  // type, frame_id, sequence, keys, numbers
  return ids + max_snippets * per_snippet_fixed + content + envelope;
}
static_assert(worst_case_frame_bytes() <= max_frame_bytes,
              "prompt limits must keep every valid prompt inside one frame");
}  // namespace limits

}  // namespace assist

#endif  // ASSIST_PROMPT_H
