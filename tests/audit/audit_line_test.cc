#include "audit/audit_line.h"

#include <limits>

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace assist {
namespace {

namespace json = boost::json;

// A prompt refused for a non-finite relevance_score (compute_relevance off)
// is audited with that score. Boost.JSON writes infinity as a bare
// `Infinity`, which made the line unreadable: verify reported it as changed
// and resuming after it failed.
TEST(AuditLine, NonFiniteNumbersAreWrittenAsNull) {
  for (const double bad : {std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                           std::numeric_limits<double>::quiet_NaN()}) {
    AuditEvent event;
    event.type = AuditEventType::sync_rejected_validation;
    event.relevance_score = bad;
    event.latency_seconds = bad;
    std::string line;
    audit_detail::append_line(line, 7, 1'700'000'000.0, event, audit_detail::kGenesisHash);

    boost::system::error_code ec;
    const auto doc = json::parse(line, ec);
    ASSERT_FALSE(ec) << line;
    EXPECT_TRUE(doc.at("relevance_score").is_null()) << line;
    EXPECT_TRUE(doc.at("latency_seconds").is_null()) << line;
    audit_detail::ChainFields chain;
    std::string why;
    EXPECT_TRUE(audit_detail::parse_chain_fields(line, chain, why)) << why;
    EXPECT_EQ(chain.seq, 7u);
  }
}

TEST(AuditLine, FiniteNumbersAreKept) {
  AuditEvent event;
  event.relevance_score = 0.85;
  event.latency_seconds = 0.004;
  std::string line;
  audit_detail::append_line(line, 1, 1'700'000'000.0, event, audit_detail::kGenesisHash);
  const auto doc = json::parse(line);
  EXPECT_EQ(doc.at("relevance_score").as_double(), 0.85);
  EXPECT_EQ(doc.at("latency_seconds").as_double(), 0.004);
}

}  // namespace
}  // namespace assist
