// Validation of prompts against the gateway's rules, and the relevance formula.
// Pure code: no I/O, no clocks.
#ifndef ASSIST_VALIDATION_H
#define ASSIST_VALIDATION_H

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "assist/prompt.h"

namespace assist {

// One broken rule: `field` is a path such as "snippets[3].content", `reason`
// says what is wrong in plain words.
struct Violation {
  std::string field;
  std::string reason;

  bool operator==(const Violation&) const = default;
};

// Every violation of `prompt`, in field order; empty when the prompt is valid.
// Checks ids (non-empty, size, UTF-8, no control characters), snippet count,
// priority 1..5, override only at level 4 or 5, relevance 0..1, ttl 10..120,
// finite numbers, and the byte limits in assist::limits.
std::vector<Violation> validate(const AssistPrompt& prompt);

// The future-timestamp rule (protocol §3): a `timestamp` more than
// `max_skew_seconds` ahead of `now` (Unix seconds) would pass every age
// check, so it is refused, naming `timestamp`; nullopt when it is not ahead.
std::optional<Violation> check_not_future(const AssistPrompt& prompt, double now, double max_skew_seconds);

// Joins violations as "field: reason; field: reason" for error messages.
std::string describe(std::span<const Violation> violations);

// What to do with more than limits::max_snippets snippets.
enum class SnippetPolicy {
  reject,  // leave them; validation reports the excess (default)
  trim,    // keep the best max_snippets by snippet_rank_less, in input order
};
// "reject" or "trim": the config spelling.
std::string_view to_string(SnippetPolicy policy);
// The policy spelled `name` (as to_string writes it); nullopt otherwise.
std::optional<SnippetPolicy> parse_snippet_policy(std::string_view name);

// The source's relevance formula: 0.6 + min(0.05 * snippets, 0.3) + 0.1 when
// any snippet comes from "CRM", capped at 1.0.
double relevance_score(std::span<const KnowledgeSnippet> snippets);

// True when `a` ranks before `b` for trimming: CRM snippets first, then more
// tags. Ties keep input order (the trim is stable).
bool snippet_rank_less(const KnowledgeSnippet& a, const KnowledgeSnippet& b);

// Keeps the best limits::max_snippets snippets by rank, preserving the input
// order of those kept. No-op when there are not more than the limit.
void trim_snippets(std::vector<KnowledgeSnippet>& snippets);

// Applies `policy`, sets relevance_score by the formula (computed after any
// trimming), and returns every violation of the result.
std::vector<Violation> prepare(AssistPrompt& prompt, SnippetPolicy policy);

// True when `text` is well-formed UTF-8 (no overlongs, surrogates or code
// points above U+10FFFF).
bool is_valid_utf8(std::string_view text);

}  // namespace assist

#endif  // ASSIST_VALIDATION_H
