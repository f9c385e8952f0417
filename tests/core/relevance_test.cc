#include <gtest/gtest.h>

#include "assist/validation.h"
#include "support/prompt_gen.h"

namespace assist {
namespace {

KnowledgeSnippet snippet(std::string id, std::string source, std::size_t tags = 0) {
  return {std::move(id), "content", std::vector<std::string>(tags, "tag"), std::move(source)};
}

TEST(Relevance, SourceFormula) {
  std::vector<KnowledgeSnippet> s;
  EXPECT_DOUBLE_EQ(relevance_score(s), 0.6);
  s.push_back(snippet("a", "KB"));
  EXPECT_DOUBLE_EQ(relevance_score(s), 0.65);
  s.push_back(snippet("b", "KB"));
  EXPECT_DOUBLE_EQ(relevance_score(s), 0.7);
  for (int i = 0; i < 4; ++i) s.push_back(snippet("c", "KB"));
  EXPECT_DOUBLE_EQ(relevance_score(s), 0.9);  // 6 snippets: bonus hits its 0.3 cap
  s.push_back(snippet("d", "KB"));
  EXPECT_DOUBLE_EQ(relevance_score(s), 0.9);
  s.push_back(snippet("e", "CRM"));
  EXPECT_DOUBLE_EQ(relevance_score(s), 1.0);  // 0.6 + 0.3 + 0.1
}

TEST(Relevance, CrmBonusOnlyForExactSource) {
  std::vector<KnowledgeSnippet> s{snippet("a", "crm")};
  EXPECT_DOUBLE_EQ(relevance_score(s), 0.65);
  s[0].source_system = "CRM";
  EXPECT_DOUBLE_EQ(relevance_score(s), 0.75);
}

TEST(Relevance, SourceExampleIs08) {
  EXPECT_DOUBLE_EQ(relevance_score(testing::source_example_prompt().snippets), 0.8);
}

TEST(Relevance, NeverAboveOne) {
  std::vector<KnowledgeSnippet> s(30, snippet("x", "CRM"));
  EXPECT_DOUBLE_EQ(relevance_score(s), 1.0);
}

TEST(SnippetPolicy, RejectLeavesTheExcessForValidation) {
  auto p = testing::source_example_prompt();
  p.snippets.assign(12, snippet("x", "KB"));
  const auto vs = prepare(p, SnippetPolicy::reject);
  EXPECT_EQ(p.snippets.size(), 12u);
  ASSERT_EQ(vs.size(), 1u);
  EXPECT_EQ(vs[0].field, "snippets");
}

TEST(SnippetPolicy, TrimKeepsBestTenInInputOrder) {
  auto p = testing::source_example_prompt();
  p.priority_override = false;
  p.snippets.clear();
  // 12 snippets: ids 0..11. CRM at 3 and 9; more tags at 5 (3 tags) and 7 (2 tags).
  for (int i = 0; i < 12; ++i) p.snippets.push_back(snippet(std::to_string(i), "KB"));
  p.snippets[3].source_system = "CRM";
  p.snippets[9].source_system = "CRM";
  p.snippets[5].tags.assign(3, "t");
  p.snippets[7].tags.assign(2, "t");
  const auto vs = prepare(p, SnippetPolicy::trim);
  EXPECT_TRUE(vs.empty()) << describe(vs);
  std::vector<std::string> ids;
  for (const auto& s : p.snippets) ids.push_back(s.snippet_id);
  // Rank: 3, 9 (CRM), 5, 7 (tags), then 0,1,2,4,6,8 by input order; 10 and 11 drop.
  EXPECT_EQ(ids, (std::vector<std::string>{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}));
  EXPECT_DOUBLE_EQ(p.relevance_score, 1.0);  // computed after trimming: 0.6 + 0.3 + 0.1
}

TEST(SnippetPolicy, TrimDropsLowestRankedNotLast) {
  std::vector<KnowledgeSnippet> s;
  for (int i = 0; i < 11; ++i) s.push_back(snippet(std::to_string(i), "KB", 1));
  s[0].tags.clear();  // the only snippet without tags ranks last
  s[10].source_system = "CRM";
  trim_snippets(s);
  ASSERT_EQ(s.size(), 10u);
  EXPECT_EQ(s.front().snippet_id, "1");
  EXPECT_EQ(s.back().snippet_id, "10");
}

TEST(SnippetPolicy, RankOrder) {
  EXPECT_TRUE(snippet_rank_less(snippet("a", "CRM"), snippet("b", "KB", 5)));
  EXPECT_TRUE(snippet_rank_less(snippet("a", "KB", 2), snippet("b", "KB", 1)));
  EXPECT_FALSE(snippet_rank_less(snippet("a", "KB", 1), snippet("b", "KB", 1)));
}

}  // namespace
}  // namespace assist
