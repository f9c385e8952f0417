// Signed digests: the key pair, digests at rotation / interval / open /
// close, and what `verify --public-key` catches that the bare chain cannot.
#include <sys/stat.h>

#include <algorithm>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "assist/audit.h"
#include "audit/audit_line.h"
#include "audit/audit_log.h"
#include "audit/audit_signing.h"
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

AuditEvent event(int i) {
  AuditEvent e;
  e.type = i % 2 ? AuditEventType::sync_acked : AuditEventType::sync_broadcast;
  e.session_id = "S-" + std::to_string(i / 2);
  e.agent_id = "AGENT";
  e.frame_id = "F-" + std::to_string(i / 2);
  return e;
}

std::string type_of(const std::string& line) { return std::string(json::parse(line).at("event_type").as_string()); }
std::string code_of(const std::string& line) { return std::string(json::parse(line).at("code").as_string()); }

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

// Replaces the 64-hex-digit value after `key` in `line`.
void set_hash(std::string& line, std::string_view key, const std::string& hash) {
  const auto at = line.find(key);
  ASSERT_NE(at, std::string::npos) << key;
  line.replace(at + key.size(), 64, hash);
}

// Replaces the decimal number after `key` in `line`.
void set_number(std::string& line, std::string_view key, std::uint64_t value) {
  const auto at = line.find(key);
  ASSERT_NE(at, std::string::npos) << key;
  const auto end = line.find_first_not_of("0123456789", at + key.size());
  line.replace(at + key.size(), end - at - key.size(), std::to_string(value));
}

// What an attacker who can write the file does after editing or removing
// lines: renumbers the seqs, recomputes every prev_sha256, and makes each
// digest's statement name the new head (its signature cannot be redone
// without the private key).
void rechain(std::vector<std::string>& lines) {
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::string previous = audit_detail::sha256_hex(lines[i - 1]);
    set_number(lines[i], "{\"seq\":", i + 1);
    set_hash(lines[i], "\"prev_sha256\":\"", previous);
    if (type_of(lines[i]) == "AUDIT_DIGEST") {
      set_number(lines[i], "lines=", i);
      set_hash(lines[i], "head_sha256=", previous);
    }
  }
}

class AuditSigning : public ::testing::Test {
 protected:
  void SetUp() override {
    auto made = generate_audit_signing_key(dir_.file(""));
    ASSERT_TRUE(made) << made.error().message;
    keys_ = std::move(made).value();
  }

  AuditOptions options() {
    AuditOptions o{.path = path_, .clock = &clock_};
    o.signing_key_file = keys_.private_key_file;
    return o;
  }
  // `n` events, the clock moving `step` before each, in one session of the log.
  void write(int n, std::chrono::seconds step = std::chrono::seconds(0), AuditOptions o = {}) {
    if (o.path.empty()) o = options();
    AuditLog log(o);
    ASSERT_FALSE(log.open());
    for (int i = 0; i < n; ++i) {
      clock_.advance(step);
      ASSERT_FALSE(log.append(event(i)));
      ASSERT_FALSE(log.flush());
    }
    ASSERT_FALSE(log.close());
  }
  AuditVerifyOptions with_key() const { return {keys_.public_key_file}; }

  TempDir dir_;
  ManualClock clock_;
  AuditSigningKeyFiles keys_;
  std::string path_ = dir_.file("audit.jsonl");
};

TEST_F(AuditSigning, KeygenWritesAnOwnerOnlyPrivateKeyAndNeverReplacesOne) {
  struct stat st {};
  ASSERT_EQ(::stat(keys_.private_key_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(read_all(keys_.private_key_file).rfind("-----BEGIN PRIVATE KEY-----", 0), 0u);
  EXPECT_EQ(read_all(keys_.public_key_file).rfind("-----BEGIN PUBLIC KEY-----", 0), 0u);
  EXPECT_EQ(keys_.key_id.size(), 16u);
  EXPECT_EQ(keys_.key_id.find_first_not_of("0123456789abcdef"), std::string::npos);

  const std::string before = read_all(keys_.private_key_file);
  const auto again = generate_audit_signing_key(dir_.file(""));
  ASSERT_FALSE(again);
  const Status& status = again.error();
  EXPECT_EQ(status.code, std::error_code(EEXIST, std::system_category()));
  EXPECT_NE(status.message.find(keys_.private_key_file), std::string::npos) << status.message;
  EXPECT_EQ(read_all(keys_.private_key_file), before);
}

TEST_F(AuditSigning, HexAndDetailHelpersRoundTrip) {
  const std::string bytes("\x00\x7f\x80\xff" "abc", 7);
  EXPECT_EQ(audit_detail::to_hex(bytes), "007f80ff616263");
  EXPECT_EQ(audit_detail::from_hex("007f80ff616263"), bytes);
  EXPECT_FALSE(audit_detail::from_hex("abc"));
  EXPECT_FALSE(audit_detail::from_hex("0G"));
  EXPECT_FALSE(audit_detail::from_hex("AB"));  // lower case only, as written
  EXPECT_EQ(audit_detail::detail_value("a=1 bb=22 c=", "bb"), "22");
  EXPECT_EQ(audit_detail::detail_value("a=1 bb=22 c=", "c"), "");
  EXPECT_FALSE(audit_detail::detail_value("a=1 bb=22", "b"));
}

TEST_F(AuditSigning, DigestsCloseEveryRotatedFileAndTheLogAndVerifyWithThePublicKey) {
  auto o = options();
  o.rotate_bytes = 2500;
  write(20, std::chrono::seconds(0), o);
  const auto files = audit_chain_files(path_);
  ASSERT_GE(files.size(), 3u);
  for (std::size_t f = 0; f < files.size(); ++f) {
    const auto lines = split_lines(read_all(files[f]));
    EXPECT_EQ(type_of(lines.back()), "AUDIT_DIGEST") << files[f];
    EXPECT_EQ(code_of(lines.back()), f + 1 < files.size() ? "rotation" : "close") << files[f];
    EXPECT_LE(read_all(files[f]).size(), 2500u + 1024u) << files[f];  // at most one digest beyond rotate_bytes
  }
  const auto report = verify_chain(path_, with_key());
  EXPECT_TRUE(report.ok()) << describe(report);
  EXPECT_TRUE(report.signatures_checked);
  EXPECT_EQ(report.key_id, keys_.key_id);
  EXPECT_EQ(report.digests, files.size() + 1);  // one ends each file, and the first batch has its own
  EXPECT_EQ(report.signed_through_seq, report.last_seq - 1);  // all but the last digest itself
  const auto unchecked = verify_chain(path_);
  EXPECT_TRUE(unchecked.ok()) << describe(unchecked);
  EXPECT_FALSE(unchecked.signatures_checked);
  EXPECT_EQ(unchecked.digests, files.size() + 1);
}

TEST_F(AuditSigning, ADigestFollowsLinesOnceTheIntervalHasPassed) {
  auto o = options();
  o.digest_interval = std::chrono::minutes(5);
  AuditLog log(o);
  ASSERT_FALSE(log.open());
  ASSERT_FALSE(log.append(event(0)));
  ASSERT_FALSE(log.flush());
  auto lines = split_lines(read_all(path_));
  ASSERT_EQ(lines.size(), 2u);  // the first batch is signed at once
  EXPECT_EQ(code_of(lines[1]), "first");
  ASSERT_FALSE(log.append(event(1)));
  ASSERT_FALSE(log.flush());
  EXPECT_EQ(split_lines(read_all(path_)).size(), 3u);  // not yet due
  clock_.advance(std::chrono::minutes(6));
  ASSERT_FALSE(log.append(event(2)));
  ASSERT_FALSE(log.flush());
  lines = split_lines(read_all(path_));
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(type_of(lines[4]), "AUDIT_DIGEST");
  EXPECT_EQ(code_of(lines[4]), "interval");
  ASSERT_FALSE(log.close());
}

// A process killed before its first digest interval: its first batch is
// signed already, so the log verifies with the key (before, it had no digest
// at all: `unsigned`, exit 1, as if tampered; the kill -9 loop found it).
TEST_F(AuditSigning, AProcessKilledBeforeItsFirstIntervalLeavesASignedLog) {
  auto o = options();
  o.digest_interval = std::chrono::minutes(5);
  AuditLog log(o);
  ASSERT_FALSE(log.open());
  for (int i = 0; i < 3; ++i) ASSERT_FALSE(log.append(event(i)));
  ASSERT_FALSE(log.flush());
  // Read as a kill -9 would leave it: without close().
  const auto report = verify_chain(path_, with_key());
  EXPECT_TRUE(report.ok()) << describe(report);
  EXPECT_EQ(report.digests, 1u);
  ASSERT_FALSE(log.close());
}

TEST_F(AuditSigning, AnIdleWriterWakesUpForADueDigest) {
  AuditOptions o{.path = path_};
  o.signing_key_file = keys_.private_key_file;
  o.digest_interval = std::chrono::milliseconds(20);
  AuditLog log(o);
  ASSERT_FALSE(log.open());
  ASSERT_FALSE(log.append(event(0)));
  ASSERT_FALSE(log.flush());  // signed at once: the first batch
  ASSERT_FALSE(log.append(event(1)));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (split_lines(read_all(path_)).size() < 4 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const auto lines = split_lines(read_all(path_));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(code_of(lines[3]), "interval");
  ASSERT_FALSE(log.close());
  EXPECT_EQ(split_lines(read_all(path_)).size(), 4u);  // nothing new to sign at close
}

// close() asked while the writer is inside a batch taken before: the writer
// still takes the closing turn (digest and fsync) before it ends.
TEST_F(AuditSigning, CloseDuringABatchStillEndsTheLogWithADigest) {
  FaultyEnv env;
  auto o = options();
  o.env = &env;
  AuditLog log(o);
  ASSERT_FALSE(log.open());
  ASSERT_FALSE(log.append(event(0)));
  ASSERT_FALSE(log.flush());  // the first batch, signed at once
  env.arm_sync_gate();
  ASSERT_FALSE(log.append(event(1)));
  env.wait_for_sync_at_gate();  // the writer is inside the batch's fsync
  std::thread closer([&] { EXPECT_FALSE(log.close()); });
  // No side-effect-free sign that close() has begun exists (an append would
  // queue an event, which hides the case): give it time. If it has not begun
  // by the release, the writer meets it idle, and the test passes anyway.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  env.release_sync_gate();
  closer.join();
  const auto lines = split_lines(read_all(path_));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(code_of(lines.back()), "close");
  EXPECT_EQ(env.syncs.load(), 3);  // the first batch's, the gated batch's, then the closing turn's
}

TEST_F(AuditSigning, OpenSignsATailLeftUnsignedByACrash) {
  write(4);
  auto lines = split_lines(read_all(path_));
  lines.pop_back();  // the close digest never came: the process died
  write_all(path_, join_lines(lines));
  write(0);
  lines = split_lines(read_all(path_));
  EXPECT_EQ(code_of(lines.back()), "open");
  const auto report = verify_chain(path_, with_key());
  EXPECT_TRUE(report.ok()) << describe(report);
}

// The case the bare chain cannot catch: a middle line edited and every later
// hash recomputed. Only the signatures notice.
TEST_F(AuditSigning, AnEditedAndRechainedLogFailsWithThePublicKeyOnly) {
  auto o = options();
  o.digest_interval = std::chrono::minutes(5);
  write(20, std::chrono::minutes(1), o);
  auto lines = split_lines(read_all(path_));
  const auto at = lines[3].find("AGENT");
  ASSERT_NE(at, std::string::npos);
  lines[3].replace(at, 5, "OTHER");
  rechain(lines);
  write_all(path_, join_lines(lines));

  const auto bare = verify_chain(path_);
  EXPECT_TRUE(bare.ok()) << describe(bare);  // what a bare hash chain proves
  const auto report = verify_chain(path_, with_key());
  EXPECT_EQ(report.verdict, AuditVerdict::tampered) << describe(report);
  const auto signature = std::find_if(report.problems.begin(), report.problems.end(),
                                      [](const auto& p) { return p.kind == AuditProblemKind::signature; });
  ASSERT_NE(signature, report.problems.end()) << describe(report);
  EXPECT_GT(signature->line, 4u);  // the first digest after the edit
}

TEST_F(AuditSigning, DigestsRemovedToHideAnEditLeaveAnUnsignedTailTheKeyCatches) {
  auto o = options();
  o.digest_interval = std::chrono::minutes(5);
  write(20, std::chrono::minutes(1), o);
  auto lines = split_lines(read_all(path_));
  lines[10].replace(lines[10].find("AGENT"), 5, "OTHER");
  std::erase_if(lines, [&, i = 0](const std::string& line) mutable {
    return i++ > 10 && type_of(line) == "AUDIT_DIGEST";
  });
  rechain(lines);
  write_all(path_, join_lines(lines));
  EXPECT_TRUE(verify_chain(path_).ok());
  const auto report = verify_chain(path_, with_key());
  EXPECT_EQ(report.verdict, AuditVerdict::tampered) << describe(report);
  ASSERT_EQ(report.problems.size(), 1u) << describe(report);
  EXPECT_EQ(report.problems[0].kind, AuditProblemKind::unsigned_lines);
}

TEST_F(AuditSigning, AnotherKeyOrNoDigestAtAllFails) {
  write(3);
  TempDir other_dir;
  const auto made = generate_audit_signing_key(other_dir.file(""));
  ASSERT_TRUE(made);
  const AuditSigningKeyFiles& other = made.value();
  auto report = verify_chain(path_, {other.public_key_file});
  EXPECT_EQ(report.verdict, AuditVerdict::tampered) << describe(report);
  ASSERT_FALSE(report.problems.empty());
  EXPECT_EQ(report.problems[0].kind, AuditProblemKind::signature);
  EXPECT_NE(report.problems[0].message.find(keys_.key_id), std::string::npos) << report.problems[0].message;

  const auto unsigned_path = dir_.file("unsigned.jsonl");
  write(3, std::chrono::seconds(0), {.path = unsigned_path});
  report = verify_chain(unsigned_path, with_key());
  EXPECT_EQ(report.verdict, AuditVerdict::tampered) << describe(report);
  ASSERT_EQ(report.problems.size(), 1u);
  EXPECT_EQ(report.problems[0].kind, AuditProblemKind::unsigned_lines);
}

TEST_F(AuditSigning, AnUnreadablePublicKeyMeansNothingCanBeConcluded) {
  write(2);
  for (const auto& key : {dir_.file("missing.pem"), keys_.private_key_file, path_}) {
    const auto report = verify_chain(path_, {key});
    EXPECT_EQ(report.verdict, AuditVerdict::unreadable) << key << "\n" << describe(report);
  }
}

TEST_F(AuditSigning, ABadSigningKeyFailsOpenNamingTheFileNotTheKey) {
  auto o = options();
  o.signing_key_file = keys_.public_key_file;  // a public key cannot sign
  AuditLog log(o);
  EXPECT_EQ(log.open(), AuditErrc::bad_signing_key);
  EXPECT_NE(log.status_message().find(keys_.public_key_file), std::string::npos) << log.status_message();
  EXPECT_EQ(log.status_message().find("BEGIN"), std::string::npos) << log.status_message();

  o.signing_key_file = dir_.file("missing.pem");
  AuditLog missing(o);
  EXPECT_EQ(missing.open(), std::error_code(ENOENT, std::system_category()));
}

// Every write and fsync of a run that rotates (digest, rename, anchor)
// failing in turn, writes cut short at several places: the next open()
// always leaves a log that verifies with the public key.
TEST_F(AuditSigning, AFailureAnywhereInARotationIsRecoveredToASignedChain) {
  for (int failing = 1; failing <= 12; ++failing) {
    for (const long cut : {-1L, 0L, 1L, 100L, 300L, 700L}) {
      TempDir dir(true);
      const auto path = dir.file("audit.jsonl");
      FaultyEnv env;
      env.error = ENOSPC;
      (cut < 0 ? env.fail_sync_at : env.fail_append_at) = failing;
      env.short_write_bytes = cut;
      auto o = options();
      o.path = path;
      o.rotate_bytes = 1500;
      o.env = &env;
      {
        AuditLog log(o);
        ASSERT_FALSE(log.open());
        for (int i = 0; i < 12; ++i) {
          if (log.append(event(i))) break;
          if (log.flush()) break;
        }
      }
      o.env = nullptr;
      {
        AuditLog log(o);
        ASSERT_FALSE(log.open()) << failing << " " << cut << " " << log.status_message();
        ASSERT_FALSE(log.close());
      }
      const auto report = verify_chain(path, with_key());
      ASSERT_TRUE(report.ok()) << "failing " << (cut < 0 ? "sync " : "write ") << failing << " cut " << cut << "\n"
                               << describe(report);
    }
  }
}

}  // namespace
}  // namespace assist
