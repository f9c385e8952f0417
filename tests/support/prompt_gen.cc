#include "support/prompt_gen.h"

#include "core/source_example.h"
#include "assist/validation.h"

namespace assist::testing {

AssistPrompt source_example_prompt() {
  AssistPrompt p = assist::source_example_prompt();
  p.timestamp = 1'700'000'000.25;
  return p;
}

std::string PromptGenerator::piece(bool whitespace, bool any_control) {
  static constexpr const char* kUnicode[] = {
      "é", "ß", "Ω", "ж", "中", "文", "€", "\xe2\x80\xa8" /* U+2028 */, "😀", "𝄞", "\xef\xbb\xbf" /* BOM */};
  static constexpr const char* kEscapes[] = {"\"", "\\", "/", "\\u0000", "</script>", "{}", "[]", "'"};
  switch (uniform(0, 5)) {
    case 0: return kUnicode[uniform(0, std::size(kUnicode) - 1)];
    case 1: return kEscapes[uniform(0, std::size(kEscapes) - 1)];
    case 2:
      if (any_control) return std::string(1, static_cast<char>(uniform(1, 0x1f)));
      if (whitespace) return std::string(1, "\t\n\r"[uniform(0, 2)]);
      return " ";
    default: return std::string(1, static_cast<char>(uniform(0x20, 0x7e)));
  }
}

std::string PromptGenerator::text(std::size_t min_len, std::size_t max_len, bool whitespace) {
  const std::size_t target = uniform(min_len, max_len);
  std::string out;
  while (out.size() < target) {
    auto p = piece(whitespace, false);
    if (out.size() + p.size() > max_len) break;
    out += p;
  }
  while (out.size() < min_len) out += 'x';
  return out;
}

std::string PromptGenerator::any_utf8(std::size_t max_len) {
  std::string out;
  const std::size_t target = uniform(0, max_len);
  while (out.size() < target) out += piece(true, true);
  return out;
}

AssistPrompt PromptGenerator::valid_prompt() {
  AssistPrompt p;
  p.session_id = text(1, limits::max_id_bytes, false);
  p.agent_id = text(1, limits::max_id_bytes, false);
  p.interaction_id = text(1, limits::max_id_bytes, false);
  const std::size_t n = uniform(1, limits::max_snippets);
  const std::size_t content_budget = limits::max_total_content_bytes / n;
  for (std::size_t i = 0; i < n; ++i) {
    KnowledgeSnippet s;
    s.snippet_id = text(1, limits::max_id_bytes, false);
    // Occasionally long content, up to the per-snippet and total limits.
    const std::size_t max_content = std::min(limits::max_content_bytes, content_budget);
    s.content = text(1, uniform(0, 3) == 0 ? max_content : std::min<std::size_t>(max_content, 200), true);
    const std::size_t tags = uniform(0, limits::max_tags_per_snippet);
    for (std::size_t t = 0; t < tags; ++t) s.tags.push_back(text(1, limits::max_tag_bytes, false));
    s.source_system = uniform(0, 2) == 0 ? "CRM" : text(0, limits::max_source_system_bytes, false);
    p.snippets.push_back(std::move(s));
  }
  p.priority_level = static_cast<int>(uniform(1, 5));
  p.priority_override = p.priority_level >= 4 && uniform(0, 1) == 1;
  p.relevance_score = relevance_score(p.snippets);
  // Fractional timestamps with full double precision.
  p.timestamp = 1.6e9 + std::uniform_real_distribution<double>(0, 2e8)(rng_);
  p.ttl_seconds = static_cast<int>(uniform(limits::min_ttl_seconds, limits::max_ttl_seconds));
  return p;
}

}  // namespace assist::testing
