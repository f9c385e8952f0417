#include <algorithm>

#include <gtest/gtest.h>

#include "assist/audit.h"
#include "audit/test_env.h"

namespace assist {
namespace {

using testing::read_all;
using testing::split_lines;
using testing::TempDir;
using testing::write_all;

// A fresh, intact chain of `n` lines at `path`; returns its lines.
std::vector<std::string> write_chain(const std::string& path, int n) {
  AuditLog log({.path = path, .durability = AuditDurability::never});
  EXPECT_FALSE(log.open());
  for (int i = 1; i <= n; ++i) {
    AuditEvent e;
    e.type = i % 2 ? AuditEventType::sync_broadcast : AuditEventType::sync_acked;
    e.session_id = "S-" + std::to_string(i);
    e.agent_id = "AGENT";
    e.frame_id = "F-" + std::to_string(i);
    e.sequence = static_cast<std::uint64_t>(i);
    EXPECT_FALSE(log.append(e));
  }
  EXPECT_FALSE(log.close());
  return split_lines(read_all(path));
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

AuditVerifyReport verify_one(const std::string& path) {
  const std::vector<std::string> files{path};
  return verify_audit(files);
}

std::string describe(const AuditVerifyReport& report) {
  std::string out;
  for (const auto& p : report.problems) out += p.describe() + "\n";
  return out;
}

class AuditVerify : public ::testing::Test {
 protected:
  void SetUp() override { lines_ = write_chain(path_, 6); }
  TempDir dir_;
  const std::string path_ = dir_.file("audit.jsonl");
  std::vector<std::string> lines_;
};

TEST_F(AuditVerify, AnIntactChainIsOk) {
  const auto report = verify_one(path_);
  EXPECT_TRUE(report.ok()) << describe(report);
  EXPECT_EQ(report.lines, 6u);
}

TEST_F(AuditVerify, AFlippedByteInAValueIsReportedOnThatLine) {
  auto& line = lines_[2];
  const auto at = line.find("AGENT");
  ASSERT_NE(at, std::string::npos);
  line[at] ^= 0x20;  // 'A' -> 'a': still valid JSON
  write_all(path_, join_lines(lines_));
  const auto report = verify_one(path_);
  ASSERT_EQ(report.problems.size(), 1u) << describe(report);
  EXPECT_EQ(report.problems[0].line, 3u);
  EXPECT_EQ(report.problems[0].kind, AuditProblemKind::changed);
  EXPECT_EQ(report.problems[0].file, path_);
}

TEST_F(AuditVerify, AFlippedByteThatBreaksTheJsonIsReportedOnce) {
  lines_[1][0] = '[';
  write_all(path_, join_lines(lines_));
  const auto report = verify_one(path_);
  ASSERT_EQ(report.problems.size(), 1u) << describe(report);
  EXPECT_EQ(report.problems[0].line, 2u);
  EXPECT_EQ(report.problems[0].kind, AuditProblemKind::changed);
}

TEST_F(AuditVerify, AFlippedByteInTheLastLinesPrevHashIsReported) {
  auto& line = lines_[5];
  const auto at = line.find("prev_sha256\":\"") + 14;
  line[at] = line[at] == '0' ? '1' : '0';
  write_all(path_, join_lines(lines_));
  const auto report = verify_one(path_);
  ASSERT_EQ(report.problems.size(), 1u) << describe(report);
  EXPECT_EQ(report.problems[0].kind, AuditProblemKind::changed);
  EXPECT_EQ(report.problems[0].line, 5u);  // the link from line 5 to line 6 is broken
}

TEST_F(AuditVerify, ADeletedLineIsReportedWhereItWas) {
  lines_.erase(lines_.begin() + 3);  // seq 4
  write_all(path_, join_lines(lines_));
  const auto report = verify_one(path_);
  ASSERT_EQ(report.problems.size(), 1u) << describe(report);
  EXPECT_EQ(report.problems[0].kind, AuditProblemKind::removed);
  EXPECT_EQ(report.problems[0].line, 4u);
  EXPECT_NE(report.problems[0].message.find("seq 4"), std::string::npos);
}

TEST_F(AuditVerify, DeletedLeadingLinesAreReported) {
  lines_.erase(lines_.begin(), lines_.begin() + 2);
  write_all(path_, join_lines(lines_));
  const auto report = verify_one(path_);
  ASSERT_EQ(report.problems.size(), 1u) << describe(report);
  EXPECT_EQ(report.problems[0].kind, AuditProblemKind::removed);
  EXPECT_EQ(report.problems[0].line, 1u);
}

TEST_F(AuditVerify, ASwappedPairIsReportedAsReordered) {
  std::swap(lines_[2], lines_[3]);
  write_all(path_, join_lines(lines_));
  const auto report = verify_one(path_);
  ASSERT_EQ(report.problems.size(), 1u) << describe(report);
  EXPECT_EQ(report.problems[0].kind, AuditProblemKind::reordered);
  EXPECT_EQ(report.problems[0].line, 4u);
}

TEST_F(AuditVerify, ATruncatedTailIsReported) {
  const std::string whole = join_lines(lines_);
  write_all(path_, whole.substr(0, whole.size() - 20));
  const auto report = verify_one(path_);
  ASSERT_EQ(report.problems.size(), 1u) << describe(report);
  EXPECT_EQ(report.problems[0].kind, AuditProblemKind::truncated);
  EXPECT_EQ(report.problems[0].line, 6u);
}

TEST_F(AuditVerify, AMissingFinalNewlineIsReported) {
  const std::string whole = join_lines(lines_);
  write_all(path_, whole.substr(0, whole.size() - 1));
  const auto report = verify_one(path_);
  ASSERT_EQ(report.problems.size(), 1u) << describe(report);
  EXPECT_EQ(report.problems[0].kind, AuditProblemKind::truncated);
}

TEST_F(AuditVerify, AnInsertedForeignLineIsReported) {
  lines_.insert(lines_.begin() + 2, R"({"hello":"world"})");
  write_all(path_, join_lines(lines_));
  const auto report = verify_one(path_);
  ASSERT_EQ(report.problems.size(), 1u) << describe(report);
  EXPECT_EQ(report.problems[0].line, 3u);
}

TEST_F(AuditVerify, FilesInTheWrongOrderAreReported) {
  const auto second = dir_.file("second.jsonl");
  write_all(path_, join_lines({lines_.begin(), lines_.begin() + 3}));
  write_all(second, join_lines({lines_.begin() + 3, lines_.end()}));
  const std::vector<std::string> right{path_, second};
  EXPECT_TRUE(verify_audit(right).ok()) << describe(verify_audit(right));
  const std::vector<std::string> wrong{second, path_};
  const auto report = verify_audit(wrong);
  ASSERT_EQ(report.problems.size(), 1u) << describe(report);
  EXPECT_EQ(report.problems[0].kind, AuditProblemKind::reordered);
  EXPECT_EQ(report.problems[0].file, path_);  // seq 1 comes after seq 6
  EXPECT_EQ(report.problems[0].line, 1u);
}

TEST_F(AuditVerify, AnUnreadableFileIsReported) {
  const std::vector<std::string> files{dir_.file("missing.jsonl")};
  const auto report = verify_audit(files);
  ASSERT_EQ(report.problems.size(), 1u);
  EXPECT_EQ(report.problems[0].kind, AuditProblemKind::unreadable);
  EXPECT_EQ(report.problems[0].describe().rfind(dir_.file("missing.jsonl") + ":0: unreadable: ", 0), 0u)
      << report.problems[0].describe();
}

}  // namespace
}  // namespace assist
