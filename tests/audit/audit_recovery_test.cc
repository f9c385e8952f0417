// Crash recovery in AuditLog::open(): torn tails, prompts left without an
// outcome, and failures of the disk while recovering.
#include <map>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "assist/audit.h"
#include "audit/audit_log.h"
#include "audit/audit_recovery.h"
#include "audit/test_env.h"

namespace assist {
namespace {

using testing::describe;
using testing::FaultyEnv;
using testing::read_all;
using testing::split_lines;
using testing::TempDir;
using testing::verify_chain;
using testing::write_all;
namespace json = boost::json;

AuditEvent prompt_event(AuditEventType type, const std::string& frame_id) {
  AuditEvent e;
  e.type = type;
  e.session_id = "S-" + frame_id;
  e.agent_id = "AGT-1";
  e.interaction_id = "INT-1";
  e.frame_id = frame_id;
  e.sequence = 7;
  e.priority_override = true;
  e.relevance_score = 0.75;
  e.success = type == AuditEventType::sync_acked;
  return e;
}
AuditEvent broadcast(const std::string& frame_id) { return prompt_event(AuditEventType::sync_broadcast, frame_id); }
AuditEvent acked(const std::string& frame_id) { return prompt_event(AuditEventType::sync_acked, frame_id); }

// Appends `events` to the log at `options.path` in one batch and closes it
// (a process that wrote them and died: nothing else marks the end).
void write_events(AuditOptions options, const std::vector<AuditEvent>& events) {
  AuditLog log(std::move(options));
  ASSERT_FALSE(log.open());
  for (const auto& e : events) ASSERT_FALSE(log.append(e));
  ASSERT_FALSE(log.close());
}

std::vector<json::object> lines_of(const std::string& path) {
  std::vector<json::object> out;
  for (const auto& line : split_lines(read_all(path))) out.push_back(json::parse(line).as_object());
  return out;
}

std::string type_of(const json::object& line) { return std::string(line.at("event_type").as_string()); }
std::string frame_of(const json::object& line) { return std::string(line.at("frame_id").as_string()); }

// Terminal lines per frame_id across the chain at `base`.
std::map<std::string, int> terminal_lines(const std::string& base) {
  std::map<std::string, int> out;
  for (const auto& file : audit_chain_files(base)) {
    for (const auto& line : lines_of(file)) {
      const auto type = parse_audit_event_type(type_of(line));
      if (type && is_terminal(*type)) ++out[frame_of(line)];
    }
  }
  return out;
}

TEST(AuditRecovery, EveryBroadcastWithoutATerminalLineGetsSyncUnconfirmed) {
  TempDir dir;
  const auto path = dir.file("audit.jsonl");
  write_events({.path = path}, {broadcast("A"), broadcast("B"), acked("A"), broadcast("C")});
  AuditLog log({.path = path});
  ASSERT_FALSE(log.open());
  ASSERT_FALSE(log.close());

  const auto lines = lines_of(path);
  ASSERT_EQ(lines.size(), 7u);
  EXPECT_EQ(type_of(lines[4]), "AUDIT_RECOVERY");
  EXPECT_NE(std::string(lines[4].at("detail").as_string()).find("torn_bytes=0 unconfirmed=2"), std::string::npos);
  for (std::size_t i = 5; i < 7; ++i) {
    EXPECT_EQ(type_of(lines[i]), "SYNC_UNCONFIRMED");
    EXPECT_EQ(lines[i].at("reason").as_string(), "recovered after a crash");
    EXPECT_EQ(lines[i].at("code").as_string(), "UNCONFIRMED");
    EXPECT_FALSE(lines[i].at("success").as_bool());
    // The prompt's fields come from its SYNC_BROADCAST line.
    EXPECT_EQ(lines[i].at("session_id").as_string(), "S-" + frame_of(lines[i]));
    EXPECT_EQ(lines[i].at("agent_id").as_string(), "AGT-1");
    EXPECT_EQ(lines[i].at("interaction_id").as_string(), "INT-1");
    EXPECT_EQ(lines[i].at("sequence").to_number<std::uint64_t>(), 7u);
    EXPECT_TRUE(lines[i].at("priority_override").as_bool());
    EXPECT_DOUBLE_EQ(lines[i].at("relevance_score").as_double(), 0.75);
  }
  EXPECT_EQ(frame_of(lines[5]), "B");  // in the order they were written
  EXPECT_EQ(frame_of(lines[6]), "C");
  const auto report = verify_chain(path);
  EXPECT_TRUE(report.ok()) << describe(report);
  EXPECT_EQ(report.recoveries, 1u);
}

TEST(AuditRecovery, ACleanLogIsLeftAsItIsAndRecoveryIsNotRepeated) {
  TempDir dir;
  const auto path = dir.file("audit.jsonl");
  write_events({.path = path}, {broadcast("A"), acked("A")});
  for (int i = 0; i < 2; ++i) {
    AuditLog log({.path = path});
    ASSERT_FALSE(log.open());
    ASSERT_FALSE(log.close());
  }
  EXPECT_EQ(lines_of(path).size(), 2u);

  write_events({.path = path}, {broadcast("B")});
  for (int i = 0; i < 2; ++i) {  // the second open finds B closed by the first
    AuditLog log({.path = path});
    ASSERT_FALSE(log.open());
    ASSERT_FALSE(log.close());
  }
  EXPECT_EQ(lines_of(path).size(), 5u);
  EXPECT_EQ(terminal_lines(path), (std::map<std::string, int>{{"A", 1}, {"B", 1}}));
}

TEST(AuditRecovery, AReplayedPromptIsClosedOnce) {
  TempDir dir;
  const auto path = dir.file("audit.jsonl");
  write_events({.path = path}, {broadcast("A"), broadcast("A")});
  AuditLog log({.path = path});
  ASSERT_FALSE(log.open());
  ASSERT_FALSE(log.close());
  EXPECT_EQ(terminal_lines(path), (std::map<std::string, int>{{"A", 1}}));
}

TEST(AuditRecovery, LooksBackRecoveryWindowFromTheLastLineAndNoFurther) {
  TempDir dir;
  ManualClock clock;
  const auto path = dir.file("audit.jsonl");
  AuditOptions options{.path = path, .clock = &clock};
  options.recovery_window = std::chrono::minutes(10);
  {
    AuditLog log(options);
    ASSERT_FALSE(log.open());
    ASSERT_FALSE(log.append(broadcast("OLD")));
    clock.advance(std::chrono::minutes(11));
    ASSERT_FALSE(log.append(broadcast("NEW")));
    ASSERT_FALSE(log.close());
  }
  clock.advance(std::chrono::hours(5));  // the time of the restart does not matter
  AuditLog log(options);
  ASSERT_FALSE(log.open());
  ASSERT_FALSE(log.close());
  EXPECT_EQ(terminal_lines(path), (std::map<std::string, int>{{"NEW", 1}}));
}

TEST(AuditRecovery, ScansIntoRotatedFiles) {
  TempDir dir;
  ManualClock clock;
  const auto path = dir.file("audit.jsonl");
  const AuditOptions options{.path = path, .rotate_bytes = 1000, .clock = &clock};
  std::vector<AuditEvent> events{broadcast("EARLY")};
  for (int i = 0; i < 8; ++i) events.push_back(acked("X" + std::to_string(i)));
  write_events(options, events);
  ASSERT_GE(audit_chain_files(path).size(), 4u);
  AuditLog log(options);
  ASSERT_FALSE(log.open());
  ASSERT_FALSE(log.close());
  EXPECT_EQ(terminal_lines(path)["EARLY"], 1);
  const auto report = verify_chain(path);
  EXPECT_TRUE(report.ok()) << describe(report);
}

TEST(AuditRecovery, ALiveFileHoldingOnlyTornBytesResumesFromTheRotatedFile) {
  TempDir dir;
  const auto path = dir.file("audit.jsonl");
  write_events({.path = path, .rotate_bytes = 1000}, {broadcast("A"), acked("A"), broadcast("B"), acked("B")});
  ASSERT_TRUE(default_env().remove_file(path).ok());
  write_all(path, R"({"seq":99,"timest)");
  AuditLog log({.path = path});
  ASSERT_FALSE(log.open());
  ASSERT_FALSE(log.close());
  const auto lines = lines_of(path);
  ASSERT_GE(lines.size(), 2u);
  EXPECT_EQ(type_of(lines[0]), "AUDIT_ANCHOR");
  EXPECT_EQ(type_of(lines[1]), "AUDIT_RECOVERY");
  EXPECT_EQ(terminal_lines(path), (std::map<std::string, int>{{"A", 1}, {"B", 1}}));
  const auto report = verify_chain(path);
  EXPECT_TRUE(report.ok()) << describe(report);
}

// The reader yields the torn tail, then lines newest first, across chunk
// boundaries (lines longer than a chunk included).
TEST(AuditRecovery, TheReverseReaderYieldsTheTornTailThenEveryLineNewestFirst) {
  TempDir dir;
  const auto path = dir.file("lines");
  const std::string long_line(600 * 1024, 'x');
  write_all(path, "one\n\n" + long_line + "\nlast\ntorn");
  audit_detail::ReverseLineReader reader(default_env(), path, read_all(path).size());
  std::vector<std::string> got;
  std::string line;
  Status status;
  while (reader.previous(line, status)) got.push_back(line);
  ASSERT_TRUE(status.ok()) << status.message;
  EXPECT_EQ(got, (std::vector<std::string>{"torn", "last", long_line, "", "one"}));
}

// ----- the disk fails ---------------------------------------------------------

// A log with a torn tail and two prompts without an outcome.
void write_crashed_log(const std::string& path) {
  write_events({.path = path, .durability = AuditDurability::never}, {broadcast("A"), broadcast("B"), acked("Z")});
  write_all(path, read_all(path) + R"({"seq":4,"times)");
}

TEST(AuditRecovery, AFailedWriteOrSyncOfTheRecoveryFailsOpenAndALaterOpenRecovers) {
  for (const bool fail_sync : {false, true}) {
    TempDir dir;
    const auto path = dir.file("audit.jsonl");
    write_crashed_log(path);
    FaultyEnv env;
    env.error = fail_sync ? EIO : ENOSPC;
    (fail_sync ? env.fail_sync_at : env.fail_append_at) = 1;
    {
      AuditLog log({.path = path, .env = &env});
      const auto ec = log.open();
      EXPECT_EQ(ec, std::error_code(env.error, std::system_category()));
      EXPECT_NE(log.status_message().find(path), std::string::npos) << log.status_message();
      EXPECT_TRUE(log.append(acked("A")));
    }
    AuditLog log({.path = path});
    ASSERT_FALSE(log.open());
    ASSERT_FALSE(log.close());
    const auto report = verify_chain(path);
    EXPECT_TRUE(report.ok()) << describe(report);
    EXPECT_EQ(terminal_lines(path), (std::map<std::string, int>{{"A", 1}, {"B", 1}, {"Z", 1}}));
  }
}

TEST(AuditRecovery, AReadOrTruncateErrorFailsOpenAndLeavesTheFileAsItWas) {
  for (const bool fail_truncate : {false, true}) {
    TempDir dir;
    const auto path = dir.file("audit.jsonl");
    write_crashed_log(path);
    const std::string before = read_all(path);
    FaultyEnv env;
    env.error = EIO;
    (fail_truncate ? env.fail_truncate_at : env.fail_read_at) = 1;
    AuditLog log({.path = path, .env = &env});
    EXPECT_EQ(log.open(), std::error_code(EIO, std::system_category()));
    EXPECT_NE(log.status_message().find(fail_truncate ? "truncate" : "read"), std::string::npos)
        << log.status_message();
    EXPECT_EQ(read_all(path), before);
  }
}

// True when `text` holds a whole line recording `type` for `frame_id`.
bool has_whole_line(const std::string& text, const std::string& type, const std::string& frame_id) {
  const std::string whole = text.substr(0, text.rfind('\n') + 1);  // "" without a newline
  for (const auto& line : split_lines(whole)) {
    if (line.find("\"event_type\":\"" + type + "\"") != std::string::npos &&
        line.find("\"frame_id\":\"" + frame_id + "\"") != std::string::npos)
      return true;
  }
  return false;
}

// A batch of complete and open prompts written short at every byte position
// (the disk filled, or the process died, mid-write): each time, the next
// open() leaves a log that verifies clean, closes every prompt whose
// SYNC_BROADCAST line was written whole, and nothing else.
TEST(AuditRecovery, AShortWriteAtEveryPositionIsRecovered) {
  const std::vector<AuditEvent> first{broadcast("P1"), acked("P1")};
  const std::vector<AuditEvent> second{broadcast("P2"), acked("P2"), broadcast("P3")};
  // The size of the second batch, from a run without faults.
  std::size_t first_bytes = 0, total_bytes = 0;
  {
    TempDir dir;
    ManualClock clock;
    write_events({.path = dir.file("a"), .clock = &clock}, first);
    first_bytes = read_all(dir.file("a")).size();
    write_events({.path = dir.file("a"), .clock = &clock}, second);
    total_bytes = read_all(dir.file("a")).size();
  }
  ASSERT_GT(total_bytes, first_bytes);
  for (std::size_t cut = 0; cut <= total_bytes - first_bytes; ++cut) {
    TempDir dir(true);
    ManualClock clock;
    const auto path = dir.file("audit.jsonl");
    write_events({.path = path, .durability = AuditDurability::never, .clock = &clock}, first);
    FaultyEnv env;
    env.fail_append_at = 1;
    env.short_write_bytes = static_cast<long>(cut);
    {
      // One write for the whole batch: the writer waits its (hour-long)
      // batch_delay after the flush, until close() asks.
      AuditLog log({.path = path, .durability = AuditDurability::never, .batch_delay = std::chrono::hours(1),
                    .env = &env, .clock = &clock});
      ASSERT_FALSE(log.open());  // nothing to recover: no write
      ASSERT_FALSE(log.flush());
      for (const auto& e : second) ASSERT_FALSE(log.append(e));
      EXPECT_TRUE(log.close());  // the write failed
      EXPECT_EQ(env.appends.load(), 1);
    }
    const std::string written = read_all(path);
    ASSERT_EQ(written.size(), first_bytes + cut);
    {
      AuditLog log({.path = path, .durability = AuditDurability::never, .clock = &clock});
      ASSERT_FALSE(log.open()) << cut;
      ASSERT_FALSE(log.close());
    }
    const auto report = verify_chain(path);
    ASSERT_TRUE(report.ok()) << "cut at " << cut << "\n" << describe(report);
    auto terminal = terminal_lines(path);
    EXPECT_EQ(terminal["P1"], 1) << cut;
    for (const auto* id : {"P2", "P3"})
      EXPECT_EQ(terminal[id], has_whole_line(written, "SYNC_BROADCAST", id) ? 1 : 0) << id << " cut at " << cut;
    const bool torn = !written.empty() && written.back() != '\n';
    const bool open = (has_whole_line(written, "SYNC_BROADCAST", "P2") && !has_whole_line(written, "SYNC_ACKED", "P2")) ||
                      has_whole_line(written, "SYNC_BROADCAST", "P3");
    EXPECT_EQ(report.recoveries, torn || open ? 1u : 0u) << cut;
  }
}

// The recovery's own write torn at every position (a second crash while
// recovering from the first): the open() after it still ends with a clean
// chain and one terminal line per prompt.
TEST(AuditRecovery, ACrashWhileRecoveringIsRecoveredToo) {
  TempDir reference_dir;
  const auto reference = reference_dir.file("audit.jsonl");
  write_crashed_log(reference);
  const std::size_t crashed_bytes = read_all(reference).size();
  const std::string torn_free = read_all(reference).substr(0, read_all(reference).rfind('\n') + 1);
  {
    AuditLog log({.path = reference, .durability = AuditDurability::never});
    ASSERT_FALSE(log.open());
    ASSERT_FALSE(log.close());
  }
  const std::size_t recovery_bytes = read_all(reference).size() - torn_free.size();
  ASSERT_GT(crashed_bytes, torn_free.size());
  for (std::size_t cut = 0; cut <= recovery_bytes; ++cut) {
    TempDir dir(true);
    const auto path = dir.file("audit.jsonl");
    write_crashed_log(path);
    FaultyEnv env;
    env.fail_append_at = 1;
    env.short_write_bytes = static_cast<long>(cut);
    {
      AuditLog log({.path = path, .durability = AuditDurability::never, .env = &env});
      EXPECT_TRUE(log.open());
    }
    AuditLog log({.path = path, .durability = AuditDurability::never});
    ASSERT_FALSE(log.open()) << cut;
    ASSERT_FALSE(log.close());
    const auto report = verify_chain(path);
    ASSERT_TRUE(report.ok()) << "cut at " << cut << "\n" << describe(report);
    EXPECT_EQ(terminal_lines(path), (std::map<std::string, int>{{"A", 1}, {"B", 1}, {"Z", 1}})) << cut;
  }
}

}  // namespace
}  // namespace assist
