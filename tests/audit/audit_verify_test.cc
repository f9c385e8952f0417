#include <algorithm>

#include <gtest/gtest.h>

#include "assist/audit.h"
#include "audit/audit_log.h"
#include "audit/test_env.h"

namespace assist {
namespace {

using testing::describe;
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
  EXPECT_EQ(report.verdict, AuditVerdict::intact);
  EXPECT_EQ(report.lines, 6u);
  EXPECT_EQ(report.first_seq, 1u);
  EXPECT_EQ(report.last_seq, 6u);
  EXPECT_FALSE(report.from_anchor);
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
  EXPECT_EQ(report.verdict, AuditVerdict::torn_tail);  // what a crash leaves, and nothing else
}

TEST_F(AuditVerify, ATornTailWithAnythingElseWrongIsTampering) {
  lines_[1][lines_[1].find("AGENT")] = 'a';
  const std::string whole = join_lines(lines_);
  write_all(path_, whole.substr(0, whole.size() - 20));
  const auto report = verify_one(path_);
  EXPECT_EQ(report.problems.size(), 2u) << describe(report);
  EXPECT_EQ(report.verdict, AuditVerdict::tampered);
}

TEST_F(AuditVerify, ACutLineInAnEarlierFileIsTampering) {
  const auto second = dir_.file("second.jsonl");
  const std::string head = join_lines({lines_.begin(), lines_.begin() + 3});
  write_all(path_, head.substr(0, head.size() - 1));  // the first file lost its last newline
  write_all(second, join_lines({lines_.begin() + 3, lines_.end()}));
  const std::vector<std::string> files{path_, second};
  const auto report = verify_audit(files);
  ASSERT_EQ(report.problems.size(), 1u) << describe(report);
  EXPECT_EQ(report.problems[0].kind, AuditProblemKind::truncated);
  EXPECT_EQ(report.verdict, AuditVerdict::tampered);
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
  EXPECT_EQ(report.verdict, AuditVerdict::unreadable);
  EXPECT_EQ(report.problems[0].describe().rfind(dir_.file("missing.jsonl") + ":0: unreadable: ", 0), 0u)
      << report.problems[0].describe();
}

TEST_F(AuditVerify, AnUnreadableFileOutweighsWhatItsAbsenceLooksLike) {
  const auto second = dir_.file("second.jsonl");
  write_all(path_, join_lines({lines_.begin(), lines_.begin() + 3}));
  write_all(second, join_lines({lines_.begin() + 3, lines_.end()}));
  const std::vector<std::string> files{path_, dir_.file("missing.jsonl"), second};
  const auto report = verify_audit(files);
  EXPECT_EQ(report.verdict, AuditVerdict::unreadable) << describe(report);
}

// A rotated set: pruning old files keeps the rest verifiable from the anchor
// that begins the first file kept, and only from there.
class AuditVerifyPruned : public ::testing::Test {
 protected:
  void SetUp() override {
    AuditLog log({.path = path_, .durability = AuditDurability::never, .rotate_bytes = 1500});
    ASSERT_FALSE(log.open());
    for (int i = 0; i < 15; ++i) {
      AuditEvent e;
      e.type = AuditEventType::sync_acked;
      e.frame_id = "F-" + std::to_string(i);
      ASSERT_FALSE(log.append(e));
    }
    ASSERT_FALSE(log.close());
    files_ = audit_chain_files(path_);
    ASSERT_GE(files_.size(), 4u);
  }
  TempDir dir_;
  const std::string path_ = dir_.file("audit.jsonl");
  std::vector<std::string> files_;
};

TEST_F(AuditVerifyPruned, APrunedSetVerifiesFromItsFirstAnchor) {
  ASSERT_TRUE(default_env().remove_file(files_[0]).ok());
  ASSERT_TRUE(default_env().remove_file(files_[1]).ok());
  const auto kept = audit_chain_files(path_);
  const auto report = verify_audit(kept);
  EXPECT_TRUE(report.ok()) << describe(report);
  EXPECT_TRUE(report.from_anchor);
  EXPECT_GT(report.first_seq, 1u);
  const auto anchor = split_lines(read_all(kept[0])).front();
  EXPECT_NE(anchor.find("\"seq\":" + std::to_string(report.first_seq) + ","), std::string::npos) << anchor;
}

TEST_F(AuditVerifyPruned, LinesCutFromTheStartOfThePrunedSetAreReported) {
  ASSERT_TRUE(default_env().remove_file(files_[0]).ok());
  auto lines = split_lines(read_all(files_[1]));
  lines.erase(lines.begin());  // its anchor
  write_all(files_[1], join_lines(lines));
  const auto report = verify_audit(audit_chain_files(path_));
  EXPECT_EQ(report.verdict, AuditVerdict::tampered) << describe(report);
  ASSERT_EQ(report.problems.size(), 1u) << describe(report);
  EXPECT_EQ(report.problems[0].kind, AuditProblemKind::removed);
  EXPECT_EQ(report.problems[0].file, files_[1]);
}

TEST_F(AuditVerifyPruned, AnAnchorThatMisstatesItsPredecessorIsReported) {
  auto lines = split_lines(read_all(files_[2]));
  const auto at = lines[0].find("previous_seq=") + 13;
  lines[0][at] = lines[0][at] == '9' ? '1' : '9';
  write_all(files_[2], join_lines(lines));
  auto rest = audit_chain_files(path_);
  rest.erase(rest.begin(), rest.begin() + 2);
  const auto report = verify_audit(rest);  // from the anchor: its own hash is vouched for by no earlier line
  EXPECT_EQ(report.verdict, AuditVerdict::tampered) << describe(report);
  EXPECT_EQ(report.problems[0].line, 1u);
  EXPECT_EQ(report.problems[0].kind, AuditProblemKind::changed);
}

}  // namespace
}  // namespace assist
