#include "assist/validation.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>

#include <fmt/format.h>

namespace assist {
namespace {

enum class Controls { none, whitespace };  // which control characters a field may hold

// First problem with a string field, or an empty string when it is fine.
// One pass: ASCII bytes are checked inline, the rare multi-byte sequences by
// is_valid_utf8 on just that stretch.
std::string string_problem(std::string_view value, std::size_t max_bytes,
                           bool required, Controls allowed) {
  if (value.empty()) return required ? "is empty" : "";
  if (value.size() > max_bytes)
    return fmt::format("is {} bytes, over the limit of {}", value.size(), max_bytes);
  bool utf8_ok = true;
  std::size_t i = 0;
  while (i < value.size()) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (c >= 0x80) {  // a run of non-ASCII bytes
      std::size_t j = i + 1;
      while (j < value.size() && static_cast<unsigned char>(value[j]) >= 0x80) ++j;
      utf8_ok = utf8_ok && is_valid_utf8(value.substr(i, j - i));
      i = j;
      continue;
    }
    const bool control = c < 0x20 || c == 0x7f;
    if (control && !(allowed == Controls::whitespace && (c == '\t' || c == '\n' || c == '\r')))
      return fmt::format("contains control character 0x{:02x}", static_cast<unsigned>(c));
    ++i;
  }
  return utf8_ok ? "" : "is not valid UTF-8";
}

class Checker {
 public:
  void string(std::string_view field, std::string_view value, std::size_t max_bytes,
              bool required, Controls allowed = Controls::none) {
    if (auto p = string_problem(value, max_bytes, required, allowed); !p.empty())
      add(std::string(field), std::move(p));
  }
  void add(std::string field, std::string reason) {
    out.push_back({std::move(field), std::move(reason)});
  }
  std::vector<Violation> out;
};

bool is_crm(const KnowledgeSnippet& s) { return s.source_system == "CRM"; }

}  // namespace

bool is_valid_utf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) { ++p; continue; }
    std::size_t len;
    std::uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) { len = 2; cp = c & 0x1fu; }
    else if (c >= 0xe0 && c <= 0xef) { len = 3; cp = c & 0x0fu; }
    else if (c >= 0xf0 && c <= 0xf4) { len = 4; cp = c & 0x07u; }
    else return false;  // continuation byte, overlong lead (c0/c1) or > f4
    if (static_cast<std::size_t>(end - p) < len) return false;
    for (std::size_t i = 1; i < len; ++i) {
      if ((p[i] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3fu);
    }
    const bool overlong = (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    const bool surrogate = cp >= 0xd800 && cp <= 0xdfff;
    if (overlong || surrogate || cp > 0x10ffff) return false;
    p += len;
  }
  return true;
}

std::vector<Violation> validate(const AssistPrompt& prompt) {
  Checker check;
  check.string("session_id", prompt.session_id, limits::max_id_bytes, true);
  check.string("agent_id", prompt.agent_id, limits::max_id_bytes, true);
  check.string("interaction_id", prompt.interaction_id, limits::max_id_bytes, true);

  const auto& snippets = prompt.snippets;
  if (snippets.empty()) check.add("snippets", "is empty: a prompt needs at least one snippet");
  if (snippets.size() > limits::max_snippets)
    check.add("snippets", fmt::format("has {} snippets, over the limit of {}", snippets.size(),
                                      limits::max_snippets));
  std::size_t total_content = 0;
  for (std::size_t i = 0; i < snippets.size(); ++i) {
    const auto& s = snippets[i];
    const auto at = [i](std::string_view member) { return fmt::format("snippets[{}].{}", i, member); };
    if (auto p = string_problem(s.snippet_id, limits::max_id_bytes, true, Controls::none); !p.empty())
      check.add(at("snippet_id"), std::move(p));
    if (auto p = string_problem(s.content, limits::max_content_bytes, true, Controls::whitespace); !p.empty())
      check.add(at("content"), std::move(p));
    if (auto p = string_problem(s.source_system, limits::max_source_system_bytes, false, Controls::none); !p.empty())
      check.add(at("source_system"), std::move(p));
    if (s.tags.size() > limits::max_tags_per_snippet)
      check.add(at("tags"), fmt::format("has {} tags, over the limit of {}", s.tags.size(),
                                        limits::max_tags_per_snippet));
    for (std::size_t t = 0; t < s.tags.size(); ++t) {
      if (auto p = string_problem(s.tags[t], limits::max_tag_bytes, true, Controls::none); !p.empty())
        check.add(fmt::format("snippets[{}].tags[{}]", i, t), std::move(p));
    }
    total_content += s.content.size();
  }
  if (total_content > limits::max_total_content_bytes)
    check.add("snippets", fmt::format("content totals {} bytes, over the limit of {}", total_content,
                                      limits::max_total_content_bytes));

  if (prompt.priority_level < limits::min_priority || prompt.priority_level > limits::max_priority)
    check.add("priority_level", fmt::format("is {}, must be {}..{}", prompt.priority_level,
                                            limits::min_priority, limits::max_priority));
  if (prompt.priority_override && prompt.priority_level < limits::override_min_priority)
    check.add("priority_override", fmt::format("needs priority_level {} or higher, got {}",
                                               limits::override_min_priority, prompt.priority_level));
  if (!std::isfinite(prompt.relevance_score))
    check.add("relevance_score", "is not a finite number");
  else if (prompt.relevance_score < 0.0 || prompt.relevance_score > 1.0)
    check.add("relevance_score", fmt::format("is {}, must be 0..1", prompt.relevance_score));
  if (prompt.timestamp && !std::isfinite(*prompt.timestamp))
    check.add("timestamp", "is not a finite number");
  else if (prompt.timestamp && *prompt.timestamp < 0.0)
    check.add("timestamp", fmt::format("is {}, must not be negative", *prompt.timestamp));
  if (prompt.ttl_seconds < limits::min_ttl_seconds || prompt.ttl_seconds > limits::max_ttl_seconds)
    check.add("ttl_seconds", fmt::format("is {}, must be {}..{}", prompt.ttl_seconds,
                                         limits::min_ttl_seconds, limits::max_ttl_seconds));
  return std::move(check.out);
}

std::optional<Violation> check_not_future(const AssistPrompt& prompt, double now, double max_skew_seconds) {
  if (!prompt.timestamp) return std::nullopt;  // stamped with now at acceptance
  const double ahead = *prompt.timestamp - now;
  if (!(ahead > max_skew_seconds)) return std::nullopt;
  return Violation{"timestamp",
                   fmt::format("is {:.3f} s ahead of this clock (allowed skew {:.3f} s): a clock error, or "
                               "milliseconds sent as seconds",
                               ahead, max_skew_seconds)};
}

std::string describe(std::span<const Violation> violations) {
  std::string out;
  for (const auto& v : violations) {
    if (!out.empty()) out += "; ";
    out += v.field;
    out += ": ";
    out += v.reason;
  }
  return out;
}

double relevance_score(std::span<const KnowledgeSnippet> snippets) {
  const double count_bonus = std::min(0.05 * static_cast<double>(snippets.size()), 0.3);
  const double source_bonus = std::any_of(snippets.begin(), snippets.end(), is_crm) ? 0.1 : 0.0;
  return std::min(0.6 + count_bonus + source_bonus, 1.0);
}

bool snippet_rank_less(const KnowledgeSnippet& a, const KnowledgeSnippet& b) {
  if (is_crm(a) != is_crm(b)) return is_crm(a);
  return a.tags.size() > b.tags.size();
}

void trim_snippets(std::vector<KnowledgeSnippet>& snippets) {
  if (snippets.size() <= limits::max_snippets) return;
  std::vector<std::size_t> order(snippets.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return snippet_rank_less(snippets[a], snippets[b]);
  });
  order.resize(limits::max_snippets);
  std::sort(order.begin(), order.end());  // back to input order
  std::vector<KnowledgeSnippet> kept;
  kept.reserve(order.size());
  for (auto i : order) kept.push_back(std::move(snippets[i]));
  snippets = std::move(kept);
}

std::string_view to_string(SnippetPolicy policy) {
  return policy == SnippetPolicy::trim ? "trim" : "reject";
}

std::optional<SnippetPolicy> parse_snippet_policy(std::string_view name) {
  for (const auto value : {SnippetPolicy::reject, SnippetPolicy::trim})
    if (name == to_string(value)) return value;
  return std::nullopt;
}

std::vector<Violation> prepare(AssistPrompt& prompt, SnippetPolicy policy) {
  if (policy == SnippetPolicy::trim) trim_snippets(prompt.snippets);
  prompt.relevance_score = relevance_score(prompt.snippets);
  return validate(prompt);
}

}  // namespace assist
