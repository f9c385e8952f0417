#include "assist/audit.h"

#include <thread>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "audit/audit_line.h"
#include "audit/audit_log.h"
#include "audit/test_env.h"

namespace assist {
namespace {

using testing::describe;
using testing::FaultyEnv;
using testing::read_all;
using testing::split_lines;
using testing::TempDir;
using testing::verify_chain;
namespace json = boost::json;

AuditEvent acked_event(int i) {
  AuditEvent e;
  e.type = AuditEventType::sync_acked;
  e.session_id = "SESS-998877";
  e.agent_id = "AGT-4455";
  e.interaction_id = "INT-112233";
  e.frame_id = "frame-" + std::to_string(i);
  e.sequence = static_cast<std::uint64_t>(i);
  e.priority_override = true;
  e.relevance_score = 0.8;
  e.latency_seconds = 0.012;
  e.success = true;
  return e;
}

// Polls `condition` until it holds or a generous deadline passes.
template <typename F>
bool eventually(F condition) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

TEST(AuditLog, WritesOneJsonLinePerEventWithTheSourceFieldsAndTheChain) {
  TempDir dir;
  ManualClock clock(1'700'000'000.123);
  AuditLog log({.path = dir.file("audit.jsonl"), .clock = &clock});
  ASSERT_FALSE(log.open());
  for (int i = 1; i <= 3; ++i) ASSERT_FALSE(log.append(acked_event(i)));
  ASSERT_FALSE(log.close());

  const auto lines = split_lines(read_all(dir.file("audit.jsonl")));
  ASSERT_EQ(lines.size(), 3u);
  std::string previous(audit_detail::kGenesisHash);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const json::object line = json::parse(lines[i]).as_object();
    EXPECT_EQ(line.at("seq").to_number<std::uint64_t>(), i + 1);
    EXPECT_EQ(line.at("timestamp").as_string(), "2023-11-14T22:13:20.123Z");
    EXPECT_EQ(line.at("event_type").as_string(), "SYNC_ACKED");
    EXPECT_EQ(line.at("session_id").as_string(), "SESS-998877");
    EXPECT_EQ(line.at("agent_id").as_string(), "AGT-4455");
    EXPECT_EQ(line.at("interaction_id").as_string(), "INT-112233");
    EXPECT_EQ(line.at("frame_id").as_string(), "frame-" + std::to_string(i + 1));
    EXPECT_EQ(line.at("sequence").to_number<std::uint64_t>(), i + 1);
    EXPECT_EQ(line.at("priority_override").as_bool(), true);
    EXPECT_DOUBLE_EQ(line.at("relevance_score").as_double(), 0.8);
    EXPECT_DOUBLE_EQ(line.at("latency_seconds").as_double(), 0.012);
    EXPECT_EQ(line.at("success").as_bool(), true);
    EXPECT_TRUE(line.contains("code") && line.contains("reason") && line.contains("detail"));
    EXPECT_EQ(line.at("prev_sha256").as_string(), previous);
    previous = audit_detail::sha256_hex(lines[i]);
  }
  EXPECT_EQ(log.head().seq, 3u);
  EXPECT_EQ(log.head().sha256, previous);
}

TEST(AuditLog, AbsentOptionalsAreNull) {
  TempDir dir;
  AuditLog log({.path = dir.file("a.jsonl")});
  ASSERT_FALSE(log.open());
  AuditEvent e;
  e.type = AuditEventType::connection_opened;
  e.detail = "connection_id=c-1";
  ASSERT_FALSE(log.append(e));
  ASSERT_FALSE(log.close());
  const json::object line = json::parse(split_lines(read_all(dir.file("a.jsonl"))).at(0)).as_object();
  EXPECT_EQ(line.at("event_type").as_string(), "CONNECTION_OPENED");
  EXPECT_TRUE(line.at("sequence").is_null());
  EXPECT_TRUE(line.at("latency_seconds").is_null());
  EXPECT_EQ(line.at("detail").as_string(), "connection_id=c-1");
}

// A line's object is reused from line to line: nothing of one event may
// show in the next, and the same event gives the same line again.
TEST(AuditLog, ConsecutiveLinesCarryNothingOver) {
  AuditEvent full = acked_event(7);
  full.code = "E42";
  full.reason = std::string(300, 'r');
  full.detail = "detail \"quoted\"";
  AuditEvent bare;
  bare.type = AuditEventType::connection_closed;
  std::string first;
  audit_detail::append_line(first, 1, 1'700'000'000.0, full, audit_detail::kGenesisHash);
  std::string second;
  audit_detail::append_line(second, 2, 1'700'000'000.5, bare, "ab");
  const auto line = json::parse(second).as_object();
  EXPECT_EQ(line.at("seq").to_number<std::uint64_t>(), 2u);
  EXPECT_EQ(line.at("event_type").as_string(), "CONNECTION_CLOSED");
  for (const auto* key : {"session_id", "agent_id", "interaction_id", "frame_id", "code", "reason", "detail"})
    EXPECT_EQ(line.at(key).as_string(), "") << key;
  EXPECT_TRUE(line.at("sequence").is_null());
  EXPECT_TRUE(line.at("latency_seconds").is_null());
  EXPECT_FALSE(line.at("priority_override").as_bool());
  EXPECT_FALSE(line.at("success").as_bool());
  EXPECT_EQ(line.at("relevance_score").as_double(), 0.0);
  EXPECT_EQ(line.at("prev_sha256").as_string(), "ab");
  std::string again;
  audit_detail::append_line(again, 1, 1'700'000'000.0, full, audit_detail::kGenesisHash);
  EXPECT_EQ(again, first);
}

TEST(AuditLog, TimestampsAreUtcWithMillisecondsAndZ) {
  EXPECT_EQ(audit_detail::iso8601_utc_ms(0.0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(audit_detail::iso8601_utc_ms(951'782'400.5), "2000-02-29T00:00:00.500Z");
  EXPECT_EQ(audit_detail::iso8601_utc_ms(1'700'000'000.9999), "2023-11-14T22:13:20.999Z");
  // The text of the last second is reused: same second, next second, and back.
  EXPECT_EQ(audit_detail::iso8601_utc_ms(1'700'000'000.042), "2023-11-14T22:13:20.042Z");
  EXPECT_EQ(audit_detail::iso8601_utc_ms(1'700'000'001.0), "2023-11-14T22:13:21.000Z");
  EXPECT_EQ(audit_detail::iso8601_utc_ms(1'700'000'000.007), "2023-11-14T22:13:20.007Z");
  EXPECT_EQ(audit_detail::iso8601_utc_ms(-0.5), "1969-12-31T23:59:59.500Z");
  // And back, to the millisecond.
  for (const double t : {0.0, 951'782'400.5, 1'700'000'000.999, 4'102'444'799.001}) {
    const auto parsed = audit_detail::parse_iso8601_utc_ms(audit_detail::iso8601_utc_ms(t));
    ASSERT_TRUE(parsed) << t;
    EXPECT_NEAR(*parsed, t, 0.0005) << t;
  }
  for (const auto* bad : {"", "2023-11-14T22:13:20Z", "2023-13-14T22:13:20.123Z", "2023-02-30T22:13:20.123Z",
                          "2023-11-14T24:13:20.123Z", "2023-11-14 22:13:20.123Z", "2023-11-14T22:13:20.12aZ"})
    EXPECT_FALSE(audit_detail::parse_iso8601_utc_ms(bad)) << bad;
}

TEST(AuditLog, EventTypesHaveTheirWireNamesAndTerminality) {
  EXPECT_EQ(to_string(AuditEventType::sync_rejected_concurrency), "SYNC_REJECTED_CONCURRENCY");
  EXPECT_EQ(to_string(AuditEventType::token_refreshed), "TOKEN_REFRESHED");
  EXPECT_EQ(to_string(AuditEventType::sync_unconfirmed), "SYNC_UNCONFIRMED");
  EXPECT_EQ(to_string(AuditEventType::audit_anchor), "AUDIT_ANCHOR");
  EXPECT_EQ(to_string(AuditEventType::audit_recovery), "AUDIT_RECOVERY");
  EXPECT_EQ(to_string(AuditEventType::audit_digest), "AUDIT_DIGEST");
  EXPECT_EQ(parse_audit_event_type("SYNC_UNCONFIRMED"), AuditEventType::sync_unconfirmed);
  EXPECT_EQ(parse_audit_event_type("CRM_CALLBACK_FAILED"), AuditEventType::crm_callback_failed);
  EXPECT_EQ(parse_audit_event_type("sync_acked"), std::nullopt);
  EXPECT_TRUE(is_terminal(AuditEventType::sync_unconfirmed));
  EXPECT_FALSE(is_terminal(AuditEventType::audit_recovery));
  EXPECT_TRUE(is_terminal(AuditEventType::sync_superseded));
  EXPECT_FALSE(is_terminal(AuditEventType::sync_broadcast));
  EXPECT_FALSE(is_terminal(AuditEventType::prompt_adopted));
}

TEST(AuditLog, ResumesTheChainAfterReopen) {
  TempDir dir;
  const auto path = dir.file("audit.jsonl");
  for (int round = 0; round < 3; ++round) {
    AuditLog log({.path = path});
    ASSERT_FALSE(log.open());
    for (int i = 0; i < 2; ++i) ASSERT_FALSE(log.append(acked_event(i)));
    ASSERT_FALSE(log.close());
  }
  const auto report = verify_chain(path);
  EXPECT_TRUE(report.ok()) << describe(report);
  EXPECT_EQ(report.lines, 6u);
}

TEST(AuditLog, ATornTailIsCutKeptInARecoveryLineAndTheChainVerifiesClean) {
  TempDir dir;
  const auto path = dir.file("audit.jsonl");
  {
    AuditLog log({.path = path});
    ASSERT_FALSE(log.open());
    for (int i = 0; i < 2; ++i) ASSERT_FALSE(log.append(acked_event(i)));
    ASSERT_FALSE(log.close());
  }
  const std::string torn = R"({"seq":3,"timestamp":"2023-)";
  testing::write_all(path, read_all(path) + torn);  // a crash mid-write
  EXPECT_EQ(verify_chain(path).verdict, AuditVerdict::torn_tail) << describe(verify_chain(path));
  {
    AuditLog log({.path = path});
    ASSERT_FALSE(log.open());
    ASSERT_FALSE(log.append(acked_event(3)));
    ASSERT_FALSE(log.close());
    EXPECT_EQ(log.head().seq, 4u);
  }
  const auto report = verify_chain(path);
  EXPECT_EQ(report.verdict, AuditVerdict::intact) << describe(report);
  EXPECT_EQ(report.lines, 4u);
  EXPECT_EQ(report.recoveries, 1u);
  const auto lines = split_lines(read_all(path));
  ASSERT_EQ(lines.size(), 4u);
  const auto recovery = json::parse(lines[2]).as_object();
  EXPECT_EQ(recovery.at("event_type").as_string(), "AUDIT_RECOVERY");
  EXPECT_EQ(recovery.at("seq").to_number<std::uint64_t>(), 3u);
  const std::string detail(recovery.at("detail").as_string());
  EXPECT_NE(detail.find(fmt::format("torn_bytes={} ", torn.size())), std::string::npos) << detail;
  EXPECT_NE(detail.find("torn_hex=" + audit_detail::to_hex(torn)), std::string::npos) << detail;
  EXPECT_NE(detail.find("torn_sha256=" + audit_detail::sha256_hex(torn)), std::string::npos) << detail;
  EXPECT_EQ(json::parse(lines[3]).at("event_type").as_string(), "SYNC_ACKED");
}

TEST(AuditLog, RefusesToResumeFromACorruptLastLine) {
  TempDir dir;
  const auto path = dir.file("audit.jsonl");
  testing::write_all(path, "not json\n");
  AuditLog log({.path = path});
  EXPECT_EQ(log.open(), AuditErrc::cannot_resume);
  EXPECT_EQ(log.status(), AuditErrc::cannot_resume);
  EXPECT_NE(log.status_message().find(path), std::string::npos);
  EXPECT_TRUE(log.append(acked_event(1)));
}

TEST(AuditLog, RotationKeepsTheChainAcrossFiles) {
  TempDir dir;
  const auto path = dir.file("audit.jsonl");
  constexpr std::uint64_t kRotate = 1200;
  {
    AuditLog log({.path = path, .rotate_bytes = kRotate});
    ASSERT_FALSE(log.open());
    for (int i = 0; i < 20; ++i) ASSERT_FALSE(log.append(acked_event(i)));
    ASSERT_FALSE(log.close());
  }
  auto files = audit_chain_files(path);
  ASSERT_GE(files.size(), 4u);
  EXPECT_EQ(files[0], rotated_audit_path(path, 1));
  EXPECT_EQ(files.back(), path);
  for (const auto& f : files) EXPECT_LE(read_all(f).size(), kRotate) << f;
  auto report = verify_audit(files);
  EXPECT_TRUE(report.ok()) << describe(report);
  EXPECT_EQ(report.lines, 20u + files.size() - 1);  // every file after the first begins with an anchor

  // Each file after the first begins with an anchor naming the last line of the previous one.
  for (std::size_t f = 1; f < files.size(); ++f) {
    const auto last_of_previous = split_lines(read_all(files[f - 1])).back();
    const auto anchor = json::parse(split_lines(read_all(files[f])).front()).as_object();
    EXPECT_EQ(anchor.at("event_type").as_string(), "AUDIT_ANCHOR");
    EXPECT_EQ(anchor.at("prev_sha256").as_string(), audit_detail::sha256_hex(last_of_previous));
    const auto previous_seq = json::parse(last_of_previous).at("seq").to_number<std::uint64_t>();
    EXPECT_EQ(anchor.at("seq").to_number<std::uint64_t>(), previous_seq + 1);
    EXPECT_EQ(std::string(anchor.at("detail").as_string()),
              fmt::format("previous_seq={} previous_sha256={}", previous_seq,
                          audit_detail::sha256_hex(last_of_previous)));
  }

  // Reopening continues both the chain and the rotation numbering.
  {
    AuditLog log({.path = path, .rotate_bytes = kRotate});
    ASSERT_FALSE(log.open());
    for (int i = 0; i < 10; ++i) ASSERT_FALSE(log.append(acked_event(i)));
    ASSERT_FALSE(log.close());
  }
  const auto more = audit_chain_files(path);
  EXPECT_GT(more.size(), files.size());
  report = verify_audit(more);
  EXPECT_TRUE(report.ok()) << describe(report);
  EXPECT_EQ(report.lines, 30u + more.size() - 1);
}

TEST(AuditLog, ResumesFromTheNewestRotatedFileWhenTheLiveFileIsGone) {
  TempDir dir;
  const auto path = dir.file("audit.jsonl");
  {
    AuditLog log({.path = path, .rotate_bytes = 1000});
    ASSERT_FALSE(log.open());
    for (int i = 0; i < 6; ++i) ASSERT_FALSE(log.append(acked_event(i)));
    ASSERT_FALSE(log.close());
  }
  ASSERT_TRUE(default_env().remove_file(path).ok());  // e.g. an operator moved it into the rotated set
  const auto lines_before = verify_chain(path).lines;
  {
    AuditLog log({.path = path});
    ASSERT_FALSE(log.open());
    ASSERT_FALSE(log.append(acked_event(7)));
    ASSERT_FALSE(log.close());
  }
  const auto report = verify_chain(path);
  EXPECT_TRUE(report.ok()) << describe(report);
  EXPECT_EQ(report.lines, lines_before + 2);  // the new live file's anchor, then the event
  EXPECT_EQ(json::parse(split_lines(read_all(path)).front()).at("event_type").as_string(), "AUDIT_ANCHOR");
}

TEST(AuditLog, FailsClosedWhenTheFileCannotBeOpened) {
  TempDir dir;
  const auto path = dir.file("is-a-directory");
  std::filesystem::create_directory(path);
  AuditLog log({.path = path});
  const auto ec = log.open();
  ASSERT_TRUE(ec);
  EXPECT_EQ(log.status(), ec);
  EXPECT_NE(log.status_message().find(path), std::string::npos) << log.status_message();
  EXPECT_EQ(log.append(acked_event(1)), ec);
}

TEST(AuditLog, FailsClosedOnAnInjectedOpenError) {
  TempDir dir;
  FaultyEnv env;
  env.fail_open_at = 1;
  env.error = EACCES;
  AuditLog log({.path = dir.file("a.jsonl"), .env = &env});
  EXPECT_EQ(log.open(), std::error_code(EACCES, std::system_category()));
  EXPECT_NE(log.status_message().find("Permission denied"), std::string::npos) << log.status_message();
}

TEST(AuditLog, FailsClosedOnAWriteError) {
  TempDir dir;
  FaultyEnv env;
  env.fail_append_at = 2;  // the second batch
  const auto path = dir.file("a.jsonl");
  std::vector<std::string> failures;  // written by the writer thread, read after flush()
  AuditLog log({.path = path, .env = &env, .on_failure = [&](const std::string& m) { failures.push_back(m); }});
  ASSERT_FALSE(log.open());
  ASSERT_FALSE(log.append(acked_event(1)));
  ASSERT_FALSE(log.flush());
  EXPECT_TRUE(failures.empty());
  ASSERT_FALSE(log.append(acked_event(2)));
  const auto ec = log.flush();
  EXPECT_EQ(ec, std::error_code(ENOSPC, std::system_category()));
  ASSERT_EQ(failures.size(), 1u);  // told once, before flush() returned
  EXPECT_EQ(failures[0], log.status_message());
  EXPECT_EQ(log.status(), ec);
  EXPECT_NE(log.status_message().find(path), std::string::npos);
  EXPECT_NE(log.status_message().find("No space left on device"), std::string::npos);
  EXPECT_EQ(log.append(acked_event(3)), ec);  // refused from now on
  EXPECT_EQ(log.close(), ec);
  EXPECT_EQ(failures.size(), 1u);
  EXPECT_EQ(split_lines(read_all(path)).size(), 1u);
}

// A full disk: the space ahead cannot be reserved, so nothing more may be
// sent (no_space); refusals are no longer written, while the outcome of a
// frame already sent still goes into the headroom.
TEST(AuditLog, WithoutSpaceAheadRefusalsGiveWayToOutcomes) {
  TempDir dir;
  FaultyEnv env;
  const auto path = dir.file("a.jsonl");
  AuditLog log({.path = path, .env = &env, .reserve_bytes = 1024, .headroom_bytes = 4096});
  ASSERT_FALSE(log.open());
  ASSERT_FALSE(log.append(acked_event(1)));
  ASSERT_FALSE(log.flush());
  env.fail_reserves_from = env.reserves + 1;  // the disk is full from now on
  for (int i = 0; i < 20; ++i) {
    auto refusal = acked_event(100 + i);
    refusal.type = AuditEventType::sync_rejected_concurrency;
    refusal.success = false;
    refusal.reason = "session SESS-998877 already has 64 prompts queued";
    ASSERT_FALSE(log.append(refusal));
  }
  ASSERT_FALSE(log.append(acked_event(2)));
  ASSERT_FALSE(log.flush());  // every line it kept was written
  EXPECT_EQ(log.commit(), make_error_code(AuditErrc::no_space));  // nothing more may be sent
  EXPECT_EQ(log.refusals_dropped(), 20u);
  log.close();
  const auto lines = split_lines(read_all(path));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(json::parse(lines[1]).at("frame_id").as_string(), "frame-2");
  const auto report = verify_chain(path);
  EXPECT_TRUE(report.ok()) << describe(report);
}

// The burst whose commit() meets the full disk is never sent, so its
// SYNC_BROADCAST lines stay out of the headroom (its prompts' SYNC_FAILED
// lines record them): a refused burst must not crowd out the outcomes of the
// frames already shown.
TEST(AuditLog, TheBurstStoppedByAFullDiskLeavesItsBroadcastLinesOut) {
  TempDir dir;
  FaultyEnv env;
  const auto path = dir.file("a.jsonl");
  AuditLog log({.path = path, .env = &env, .reserve_bytes = 1024, .headroom_bytes = 4096});
  ASSERT_FALSE(log.open());
  ASSERT_FALSE(log.append(acked_event(1)));
  ASSERT_FALSE(log.flush());
  env.fail_reserves_from = env.reserves + 1;  // the disk is full from now on
  for (int i = 0; i < 20; ++i) {
    auto broadcast = acked_event(100 + i);
    broadcast.type = AuditEventType::sync_broadcast;
    ASSERT_FALSE(log.append(broadcast));
  }
  ASSERT_FALSE(log.append(acked_event(2)));  // a frame shown earlier
  EXPECT_EQ(log.commit(), make_error_code(AuditErrc::no_space));  // the burst is not sent
  log.close();
  const auto lines = split_lines(read_all(path));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(json::parse(lines[1]).at("frame_id").as_string(), "frame-2");
  EXPECT_TRUE(verify_chain(path).ok());
}

TEST(AuditLog, FailsClosedOnASyncError) {
  TempDir dir;
  FaultyEnv env;
  env.fail_sync_at = 1;
  env.error = EIO;
  AuditLog log({.path = dir.file("a.jsonl"), .env = &env});
  ASSERT_FALSE(log.open());
  ASSERT_FALSE(log.append(acked_event(1)));
  EXPECT_EQ(log.flush(), std::error_code(EIO, std::system_category()));
  EXPECT_NE(log.status_message().find("fsync"), std::string::npos);
  EXPECT_TRUE(log.append(acked_event(2)));
}

TEST(AuditLog, AppendOutsideOpenAndCloseIsRefused) {
  TempDir dir;
  AuditLog log({.path = dir.file("a.jsonl")});
  EXPECT_EQ(log.append(acked_event(1)), AuditErrc::not_open);
  ASSERT_FALSE(log.open());
  ASSERT_FALSE(log.close());
  EXPECT_EQ(log.append(acked_event(1)), AuditErrc::closed);
  EXPECT_FALSE(log.status());
}

TEST(AuditLog, GroupCommitSyncsBatchesNotLinesAndLosesNothing) {
  TempDir dir;
  FaultyEnv env;
  env.arm_sync_gate();
  const auto path = dir.file("a.jsonl");
  AuditLog log({.path = path, .env = &env});
  ASSERT_FALSE(log.open());
  ASSERT_FALSE(log.append(acked_event(0)));
  env.wait_for_sync_at_gate();  // the writer is inside the first fsync

  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&log] {
      for (int i = 0; i < kPerThread; ++i) ASSERT_FALSE(log.append(acked_event(i)));
    });
  }
  for (auto& t : threads) t.join();
  // The first line is written (its fsync waits at the gate); the rest queue behind it.
  EXPECT_EQ(log.pending(), static_cast<std::size_t>(kThreads * kPerThread));
  env.release_sync_gate();
  ASSERT_FALSE(log.flush());

  // One fsync for the first line, one for everything queued behind it.
  EXPECT_EQ(env.syncs.load(), 2);
  EXPECT_EQ(log.pending(), 0u);
  ASSERT_FALSE(log.close());
  const auto report = verify_chain(path);
  EXPECT_TRUE(report.ok()) << describe(report);
  EXPECT_EQ(report.lines, static_cast<std::uint64_t>(kThreads * kPerThread + 1));
}

// With a batch delay longer than the test, only a full batch, flush() or
// close() makes the writer start a batch before the delay is over.
class AuditBatchDelay : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(log_.open());
    ASSERT_FALSE(log_.append(acked_event(0)));  // the first batch is not delayed
    ASSERT_TRUE(eventually([&] { return env_.appends.load() == 1; }));
  }
  std::size_t written_lines() { return split_lines(read_all(path_)).size(); }

  TempDir dir_;
  FaultyEnv env_;
  ManualClock clock_;
  std::string path_ = dir_.file("a.jsonl");
  AuditLog log_{{.path = path_, .durability = AuditDurability::never, .batch_delay = std::chrono::hours(1),
                 .env = &env_, .clock = &clock_}};
};

TEST_F(AuditBatchDelay, EventsGatherUntilFlushThenLeaveInOneWrite) {
  for (int i = 1; i <= 100; ++i) ASSERT_FALSE(log_.append(acked_event(i)));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(log_.pending(), 100u);
  EXPECT_EQ(env_.appends.load(), 1);
  ASSERT_FALSE(log_.flush());
  EXPECT_EQ(log_.pending(), 0u);
  EXPECT_EQ(env_.appends.load(), 2);
  EXPECT_EQ(written_lines(), 101u);
}

TEST_F(AuditBatchDelay, AFullBatchLeavesWithoutWaiting) {
  for (int i = 1; i <= 512; ++i) ASSERT_FALSE(log_.append(acked_event(i)));
  EXPECT_TRUE(eventually([&] { return log_.pending() == 0; }));
  EXPECT_EQ(env_.appends.load(), 2);
  EXPECT_EQ(written_lines(), 513u);
}

TEST_F(AuditBatchDelay, CloseWritesWhatIsGathering) {
  for (int i = 1; i <= 5; ++i) ASSERT_FALSE(log_.append(acked_event(i)));
  ASSERT_FALSE(log_.close());
  EXPECT_EQ(written_lines(), 6u);
  EXPECT_TRUE(verify_chain(path_).ok());
}

TEST(AuditLog, NeverPolicyDoesNotSync) {
  TempDir dir;
  FaultyEnv env;
  AuditLog log({.path = dir.file("a.jsonl"), .durability = AuditDurability::never, .env = &env});
  ASSERT_FALSE(log.open());
  for (int i = 0; i < 10; ++i) ASSERT_FALSE(log.append(acked_event(i)));
  ASSERT_FALSE(log.flush());
  ASSERT_FALSE(log.close());
  EXPECT_EQ(env.syncs.load(), 0);
  EXPECT_EQ(split_lines(read_all(dir.file("a.jsonl"))).size(), 10u);
}

TEST(AuditLog, IntervalPolicySyncsWhenTheIntervalHasPassedOrOnFlush) {
  TempDir dir;
  FaultyEnv env;
  ManualClock clock;
  AuditLog log({.path = dir.file("a.jsonl"),
                .durability = AuditDurability::interval,
                .sync_interval = std::chrono::hours(1),
                .env = &env,
                .clock = &clock});
  ASSERT_FALSE(log.open());
  ASSERT_FALSE(log.append(acked_event(1)));
  ASSERT_TRUE(eventually([&] { return log.pending() == 0; }));
  EXPECT_EQ(env.syncs.load(), 0);  // written, not yet due
  ASSERT_FALSE(log.flush());
  EXPECT_EQ(env.syncs.load(), 1);  // flush forces it

  clock.advance(std::chrono::minutes(61));
  ASSERT_FALSE(log.append(acked_event(2)));
  ASSERT_TRUE(eventually([&] { return log.pending() == 0; }));
  EXPECT_EQ(env.syncs.load(), 2);  // due: synced with the batch
  ASSERT_FALSE(log.close());
}

}  // namespace
}  // namespace assist
