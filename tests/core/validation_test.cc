#include "assist/validation.h"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "support/prompt_gen.h"

namespace assist {
namespace {

using testing::source_example_prompt;

// The violation for `field`, or nullptr.
const Violation* find(const std::vector<Violation>& vs, std::string_view field) {
  for (const auto& v : vs)
    if (v.field == field) return &v;
  return nullptr;
}

TEST(Validation, SourceExampleIsValidWithRelevance08) {
  auto p = source_example_prompt();
  EXPECT_TRUE(prepare(p, SnippetPolicy::reject).empty()) << describe(validate(p));
  EXPECT_DOUBLE_EQ(p.relevance_score, 0.8);
}

TEST(Validation, EmptyIdsAreNamed) {
  auto p = source_example_prompt();
  p.session_id.clear();
  p.agent_id.clear();
  p.interaction_id.clear();
  p.snippets[1].snippet_id.clear();
  const auto vs = validate(p);
  ASSERT_EQ(vs.size(), 4u) << describe(vs);
  for (auto field : {"session_id", "agent_id", "interaction_id", "snippets[1].snippet_id"}) {
    const auto* v = find(vs, field);
    ASSERT_NE(v, nullptr) << field;
    EXPECT_EQ(v->reason, "is empty");
  }
}

TEST(Validation, ReportsEveryViolationAtOnce) {
  auto p = source_example_prompt();
  p.session_id.clear();
  p.priority_level = 9;
  p.relevance_score = 1.5;
  p.ttl_seconds = 5;
  p.snippets[0].content = "bad \x01 byte";
  const auto vs = validate(p);
  EXPECT_EQ(vs.size(), 5u) << describe(vs);
  EXPECT_NE(find(vs, "session_id"), nullptr);
  EXPECT_NE(find(vs, "priority_level"), nullptr);
  EXPECT_NE(find(vs, "relevance_score"), nullptr);
  EXPECT_NE(find(vs, "ttl_seconds"), nullptr);
  ASSERT_NE(find(vs, "snippets[0].content"), nullptr);
  EXPECT_EQ(find(vs, "snippets[0].content")->reason, "contains control character 0x01");
}

TEST(Validation, SnippetCountLimits) {
  auto p = source_example_prompt();
  p.snippets.clear();
  EXPECT_NE(find(validate(p), "snippets"), nullptr);
  p.snippets.assign(10, source_example_prompt().snippets[0]);
  EXPECT_TRUE(validate(p).empty()) << describe(validate(p));
  p.snippets.push_back(p.snippets[0]);
  const auto vs = validate(p);
  ASSERT_EQ(vs.size(), 1u);
  EXPECT_EQ(vs[0].field, "snippets");
  EXPECT_EQ(vs[0].reason, "has 11 snippets, over the limit of 10");
}

TEST(Validation, PriorityRange) {
  auto p = source_example_prompt();
  p.priority_override = false;
  for (int level : {1, 2, 3, 4, 5}) {
    p.priority_level = level;
    EXPECT_TRUE(validate(p).empty()) << level;
  }
  for (int level : {0, 6, -1, 100}) {
    p.priority_level = level;
    const auto vs = validate(p);
    ASSERT_EQ(vs.size(), 1u) << level;
    EXPECT_EQ(vs[0].field, "priority_level");
  }
}

TEST(Validation, OverrideOnlyAtFourOrFive) {
  auto p = source_example_prompt();
  p.priority_override = true;
  for (int level : {4, 5}) {
    p.priority_level = level;
    EXPECT_TRUE(validate(p).empty()) << level;
  }
  for (int level : {1, 2, 3}) {
    p.priority_level = level;
    const auto vs = validate(p);
    ASSERT_EQ(vs.size(), 1u) << level;
    EXPECT_EQ(vs[0].field, "priority_override");
    EXPECT_EQ(vs[0].reason, "needs priority_level 4 or higher, got " + std::to_string(level));
  }
}

TEST(Validation, RelevanceRangeAndFiniteness) {
  auto p = source_example_prompt();
  for (double r : {0.0, 0.5, 1.0}) {
    p.relevance_score = r;
    EXPECT_TRUE(validate(p).empty()) << r;
  }
  for (double r : {-0.01, 1.01}) {
    p.relevance_score = r;
    ASSERT_NE(find(validate(p), "relevance_score"), nullptr) << r;
  }
  for (double r : {std::nan(""), std::numeric_limits<double>::infinity(),
                   -std::numeric_limits<double>::infinity()}) {
    p.relevance_score = r;
    const auto vs = validate(p);
    const auto* v = find(vs, "relevance_score");
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(v->reason, "is not a finite number");
  }
}

TEST(Validation, TimestampMustBeFiniteAndNonNegative) {
  auto p = source_example_prompt();
  for (double t : {std::nan(""), std::numeric_limits<double>::infinity(), -1.0}) {
    p.timestamp = t;
    EXPECT_NE(find(validate(p), "timestamp"), nullptr) << t;
  }
}

TEST(Validation, TtlRangeAndDefault) {
  EXPECT_EQ(AssistPrompt{}.ttl_seconds, 45);
  auto p = source_example_prompt();
  for (int ttl : {10, 45, 120}) {
    p.ttl_seconds = ttl;
    EXPECT_TRUE(validate(p).empty()) << ttl;
  }
  for (int ttl : {9, 121, 0, -5}) {
    p.ttl_seconds = ttl;
    const auto vs = validate(p);
    ASSERT_EQ(vs.size(), 1u);
    EXPECT_EQ(vs[0].field, "ttl_seconds");
    EXPECT_EQ(vs[0].reason, "is " + std::to_string(ttl) + ", must be 10..120");
  }
}

TEST(Validation, InvalidUtf8IsNamedByField) {
  auto p = source_example_prompt();
  p.agent_id = "AGT-\xff";
  p.snippets[0].tags[1] = "esc\xc3";  // truncated sequence
  p.snippets[1].content = "\xed\xa0\x80";  // surrogate
  const auto vs = validate(p);
  ASSERT_EQ(vs.size(), 3u) << describe(vs);
  EXPECT_EQ(find(vs, "agent_id")->reason, "is not valid UTF-8");
  EXPECT_EQ(find(vs, "snippets[0].tags[1]")->reason, "is not valid UTF-8");
  EXPECT_EQ(find(vs, "snippets[1].content")->reason, "is not valid UTF-8");
}

TEST(Validation, ContentAllowsTabNewlineButIdsDoNot) {
  auto p = source_example_prompt();
  p.snippets[0].content = "line one\n\tline two\r\n";
  EXPECT_TRUE(validate(p).empty());
  p.session_id = "SESS\n1";
  p.snippets[0].content = "bell\x07";
  p.snippets[1].content = "del\x7f";
  const auto vs = validate(p);
  EXPECT_EQ(vs.size(), 3u) << describe(vs);
}

TEST(Validation, SizeLimits) {
  auto p = source_example_prompt();
  p.session_id.assign(limits::max_id_bytes, 's');
  p.snippets[0].content.assign(limits::max_content_bytes, 'c');
  p.snippets[0].tags.assign(limits::max_tags_per_snippet, std::string(limits::max_tag_bytes, 't'));
  p.snippets[0].source_system.assign(limits::max_source_system_bytes, 'S');
  EXPECT_TRUE(validate(p).empty()) << describe(validate(p));

  p.session_id += 's';
  p.snippets[0].content += 'c';
  p.snippets[0].tags.push_back("one-too-many");
  p.snippets[0].tags[0] += 't';
  p.snippets[0].source_system += 'S';
  const auto vs = validate(p);
  EXPECT_EQ(find(vs, "session_id")->reason, "is 129 bytes, over the limit of 128");
  EXPECT_EQ(find(vs, "snippets[0].content")->reason, "is 4097 bytes, over the limit of 4096");
  EXPECT_EQ(find(vs, "snippets[0].tags")->reason, "has 17 tags, over the limit of 16");
  EXPECT_NE(find(vs, "snippets[0].tags[0]"), nullptr);
  EXPECT_NE(find(vs, "snippets[0].source_system"), nullptr);
}

TEST(Validation, TotalContentLimit) {
  auto p = source_example_prompt();
  p.snippets.assign(5, source_example_prompt().snippets[0]);
  for (auto& s : p.snippets) s.content.assign(limits::max_content_bytes, 'c');  // 20480 > 16384
  const auto vs = validate(p);
  ASSERT_EQ(vs.size(), 1u) << describe(vs);
  EXPECT_EQ(vs[0].reason, "content totals 20480 bytes, over the limit of 16384");
}

TEST(Validation, DescribeJoinsFieldAndReason) {
  const std::vector<Violation> vs{{"a", "is empty"}, {"b[1].c", "is bad"}};
  EXPECT_EQ(describe(vs), "a: is empty; b[1].c: is bad");
}

TEST(Validation, GeneratedValidPromptsAreValid) {
  testing::PromptGenerator gen(7);
  for (int i = 0; i < 300; ++i) {
    const auto p = gen.valid_prompt();
    ASSERT_TRUE(validate(p).empty()) << "prompt " << i << ": " << describe(validate(p));
  }
}

TEST(Utf8, AcceptsWellFormedRejectsMalformed) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("plain"));
  EXPECT_TRUE(is_valid_utf8("é中😀\xf4\x8f\xbf\xbf"));  // includes U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\x80"));              // lone continuation
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(is_valid_utf8("\xe0\x80\xaf"));      // overlong 3-byte
  EXPECT_FALSE(is_valid_utf8("\xf0\x80\x80\xaf"));  // overlong 4-byte
  EXPECT_FALSE(is_valid_utf8("\xed\xbf\xbf"));      // surrogate
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xe4\xb8"));          // truncated
  EXPECT_FALSE(is_valid_utf8("\xff"));
}

}  // namespace
}  // namespace assist
