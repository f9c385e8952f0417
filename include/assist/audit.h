// The audit log: one JSON line per synchronizer event (JSONL), written off the
// network path by a writer thread, in batches, with a durability policy, and
// tamper-evident: every line carries its sequence number `seq` and the
// SHA-256 of the previous line; every file after the first begins with an
// anchor line; with a signing key, signed digests vouch for the chain head.
// open() recovers a log left by a crash. verify_audit() checks a chain of
// files, names every changed, removed, reordered or truncated line and gives
// a verdict. docs/audit.md describes the format, rotation and guarantees.
#ifndef ASSIST_AUDIT_H
#define ASSIST_AUDIT_H

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "assist/clock.h"
#include "assist/env.h"

namespace assist {

enum class AuditEventType {
  sync_broadcast,             // a PROMPT_SYNC frame was written to the gateway
  sync_acked,                 // terminal: ACK received
  sync_nacked,                // terminal: NACK received (code, reason)
  sync_rejected_validation,   // terminal: refused before send, invalid prompt
  sync_rejected_freshness,    // terminal: refused before send, stale
  sync_rejected_concurrency,  // terminal: refused before send, no session slot
  sync_superseded,            // terminal: replaced by a newer prompt of its session
  sync_failed,                // terminal: never written, could not be delivered (reason)
  sync_unconfirmed,           // terminal: written, outcome unknown (no ACK before its connection died or stop(); or recovered after a crash)
  session_evicted,
  prompt_adopted,             // PROMPT_FEEDBACK ADOPTED
  prompt_dismissed,           // PROMPT_FEEDBACK DISMISSED
  connection_opened,
  connection_closed,
  token_refreshed,
  crm_callback_failed,        // a CRM callback or webhook failed or was dropped
  // The log's own lines, written by AuditLog itself (never append() them):
  audit_anchor,    // first line of every file after the first: where the chain continues from
  audit_recovery,  // open() found a crash's traces: what it cut and how many prompts it closed
  audit_digest,    // a signed statement of the chain head (with a signing key)
};

// Upper-case wire spelling: "SYNC_ACKED"...
std::string_view to_string(AuditEventType type);
// The type spelled `name` ("SYNC_ACKED"); nullopt for an unknown spelling.
std::optional<AuditEventType> parse_audit_event_type(std::string_view name);
// True for the outcomes that end a prompt (each accepted prompt has exactly one).
bool is_terminal(AuditEventType type);

// One event. Fields that do not apply stay empty / nullopt; the line always
// has every key (null for an absent optional) so readers see one schema.
// Never put secrets in any field.
struct AuditEvent {
  AuditEventType type = AuditEventType::sync_broadcast;
  std::string session_id;
  std::string agent_id;
  std::string interaction_id;
  std::string frame_id;
  std::optional<std::uint64_t> sequence;  // the frame's wire sequence, once assigned
  bool priority_override = false;
  double relevance_score = 0.0;
  std::optional<double> latency_seconds;  // send -> ACK/NACK, when measured
  bool success = false;
  std::string code;    // NACK code, or the rejection / failure code
  std::string reason;  // human-readable explanation
  std::string detail;  // free text for connection / token / CRM events
};

enum class AuditDurability {
  // A writer thread writes each batch and fsyncs it before the next; appends
  // made during an fsync form the next batch (group commit). An event is
  // durable after at most the fsync in progress plus its own.
  group_commit,
  // Batches are written as they come; fsync at most every `sync_interval`
  // (and on flush()/close()). A power loss loses up to one interval.
  interval,
  // Written to the OS, never fsynced: survives a process crash, not a power loss.
  never,
};

// "group_commit", "interval" or "never": the config spelling.
std::string_view to_string(AuditDurability durability);
// The durability spelled `name` (as to_string writes it); nullopt otherwise.
std::optional<AuditDurability> parse_audit_durability(std::string_view name);

// What a frame waits for before it is written to the gateway (the
// write-ahead rule: no prompt reaches a desktop without its SYNC_BROADCAST).
enum class AuditBeforeSend {
  // Its line is written to the file (handed to the OS): survives a crash of
  // the process, not a power loss. Costs a hand-off to the writer thread and
  // one write() per burst of frames.
  write,
  // Its line is also fsynced (with the lines of other frames: group commit):
  // survives a power loss. Costs an fsync per burst (docs/audit.md).
  fsync,
};

// "write" or "fsync": the config spelling.
std::string_view to_string(AuditBeforeSend before_send);
// The setting spelled `name` (as to_string writes it); nullopt otherwise.
std::optional<AuditBeforeSend> parse_audit_before_send(std::string_view name);

struct AuditOptions {
  std::string path;  // the live file; rotated files are <path>.1, <path>.2, ...
  AuditDurability durability = AuditDurability::group_commit;
  std::chrono::milliseconds sync_interval{1000};  // for AuditDurability::interval
  // The writer starts a batch (write, and fsync per the policy) at most this
  // often unless a full batch, flush() or close() is waiting: under a steady
  // flow one wake-up, write and fsync per interval instead of per few events.
  // It delays durability by at most this much; 0 writes at once.
  std::chrono::microseconds batch_delay{4000};
  // When the live file would grow beyond this many bytes it is renamed to
  // <path>.<N> (N = 1, 2, ...; larger is newer) and a fresh <path> continues
  // the chain. 0: never rotate.
  std::uint64_t rotate_bytes = 0;
  Env* env = nullptr;      // nullptr: default_env()
  Clock* clock = nullptr;  // nullptr: system_clock(); stamps each event
  // Called once, outside the log's locks, on the thread that hit it (the
  // writer thread, or a commit() caller), when a write, sync or rotation
  // first fails (a failure of open() is open()'s answer instead), with
  // status_message(); and once when the space ahead runs out. It lets the
  // caller fail closed at once rather than at its next append(). Must not block.
  std::function<void(const std::string& message)> on_failure = nullptr;
  // Crash recovery: open() looks this far back (in line timestamps, from the
  // last line, across rotated files) for prompts with a SYNC_BROADCAST and no
  // terminal line. A prompt's life after its write is bounded by its ttl
  // (at most 120 s), the ACK deadline and the stop drain: far less.
  std::chrono::seconds recovery_window{600};
  // Signed digests: a PEM file holding an Ed25519 private key (PKCS#8, as
  // written by generate_audit_signing_key). Empty: no digests. The key is
  // read once by open(); it never appears in a line, a log or an error.
  std::string signing_key_file{};
  // With a key: a digest after lines were written once this much time has
  // passed since the last one; also at every rotation, at open() and close().
  std::chrono::milliseconds digest_interval{std::chrono::minutes(5)};
  // What commit() waits for (the synchronizer calls it before writing frames).
  AuditBeforeSend before_send = AuditBeforeSend::write;
  // commit() waits at most this long (a stalled disk): then it answers
  // `stalled` and the burst is not sent (by then its prompts would be near
  // stale anyway); the log itself has not failed and goes on.
  std::chrono::milliseconds commit_timeout{2000};
  // Disk space is reserved ahead of the writes, reserve_bytes at a time, so
  // that headroom_bytes stay reserved beyond the last line. When the next
  // reservation fails (the disk is full), commit() fails with no_space before
  // any frame whose line might not fit is sent, while the headroom still
  // takes the outcome lines of the frames already in flight. 0: no reservation.
  // The headroom should hold an outcome line (about 450 bytes) for every
  // frame that can be in flight (connections x max_inflight), plus a
  // SYNC_FAILED line for each prompt never sent. Refusals and the
  // SYNC_BROADCAST lines of the burst the failed reservation stopped never
  // take it: they are left out (refusals counted: refusals_dropped()).
  std::uint64_t reserve_bytes = 4 << 20;
  std::uint64_t headroom_bytes = 4 << 20;
};

enum class AuditErrc {
  not_open = 1,   // append/flush before open()
  closed,         // append after close()
  cannot_resume,  // the existing file's last complete line is not an audit line
  bad_signing_key,  // signing_key_file holds no Ed25519 private key
  no_space,         // the disk space ahead could not be reserved: nothing more may be sent
  stalled,          // commit() waited commit_timeout for the writer (not a failure of the log)
};
const std::error_category& audit_category() noexcept;
std::error_code make_error_code(AuditErrc e) noexcept;

// The path of rotated file number `n` of `base`: "<base>.<n>".
std::string rotated_audit_path(const std::string& base, std::uint64_t n);
// The files of the chain at `base`, oldest first: <base>.1, <base>.2, ...
// (numeric order), then <base> itself if it exists.
std::vector<std::string> audit_chain_files(const std::string& base, Env& env = default_env());

enum class AuditProblemKind {
  unreadable,  // the file (or the public key) could not be read
  changed,     // a line's bytes differ from what the chain recorded, or it is not an audit line
  removed,     // seq numbers are missing
  reordered,   // a line comes after one with a higher or equal seq
  truncated,   // the last line has no newline (cut off, or torn by a crash)
  signature,   // a digest's signature does not verify, or it does not match the chain
  unsigned_lines,  // with a public key: no digest at all, or a tail longer than the digest interval
};
std::string_view to_string(AuditProblemKind kind);

// What verification concludes, from the problems found.
enum class AuditVerdict {
  intact,      // no problem
  torn_tail,   // only the last line of the last file is cut off: a crash, nothing else; open() recovers it
  tampered,    // a line was changed, removed, reordered, or a signature fails (or a cut elsewhere)
  unreadable,  // a file or the public key could not be read: nothing can be concluded
};
// "intact", "torn tail", "tampered", "unreadable".
std::string_view to_string(AuditVerdict verdict);

struct AuditProblem {
  std::string file;
  std::uint64_t line = 0;  // 1-based; 0 for the file as a whole
  AuditProblemKind kind = AuditProblemKind::changed;
  std::string message;

  // "<file>:<line>: <kind>: <message>"
  std::string describe() const;
};

struct AuditVerifyReport {
  AuditVerdict verdict = AuditVerdict::intact;
  std::uint64_t lines = 0;
  std::vector<AuditProblem> problems;
  // Where the verified chain starts: seq 1, or (from_anchor) the anchor that
  // begins the first file when older files were pruned or not given.
  std::uint64_t first_seq = 0;  // 0: no audit line at all
  bool from_anchor = false;
  std::uint64_t last_seq = 0;
  std::uint64_t recoveries = 0;  // AUDIT_RECOVERY lines: restarts after a crash
  std::uint64_t digests = 0;     // AUDIT_DIGEST lines
  bool signatures_checked = false;       // a public key was given
  std::string key_id;                    // its id (see generate_audit_signing_key)
  std::uint64_t signed_through_seq = 0;  // with a key: the head of the last valid digest (0: none)

  bool ok() const noexcept { return verdict == AuditVerdict::intact; }
};

struct AuditVerifyOptions {
  // PEM file with the Ed25519 public key of the signing key; empty: digests
  // are checked against the chain but their signatures are not.
  std::string public_key_file;
};

// Checks the chain across `files`, taken in the order given (rotated files
// oldest first, the live file last): every line is a JSON object with a seq
// and prev_sha256; seqs increase by exactly one from seq 1 (genesis) or from
// the anchor that begins the first file; every prev_sha256 is the SHA-256 of
// the line with the previous seq; every digest states the chain head it
// follows and, with a public key, carries a valid signature; the last line
// ends with a newline. Every problem is reported with its file and line.
// Reads through `env` only; thread-safe. On a chain still being written, the
// line being written may read as truncated, and a rotation in between can
// take a file away: verify a quiet chain for a verdict.
AuditVerifyReport verify_audit(std::span<const std::string> files, const AuditVerifyOptions& options,
                               Env& env = default_env());
AuditVerifyReport verify_audit(std::span<const std::string> files, Env& env = default_env());

// A key pair for signed digests, as written by generate_audit_signing_key.
struct AuditSigningKeyFiles {
  std::string private_key_file;  // <dir>/audit-signing-key.pem, mode 0600
  std::string public_key_file;   // <dir>/audit-signing-key.pub.pem
  std::string key_id;            // 16 hex digits of the public key's SHA-256, named by each digest
};

// Creates an Ed25519 key pair in `dir` (PEM: PKCS#8 private key, mode 0600,
// and SubjectPublicKeyInfo public key). Refuses to replace existing files.
// The error names the file and the reason, never key material. Thread-safe.
Result<AuditSigningKeyFiles> generate_audit_signing_key(const std::string& dir);

}  // namespace assist

namespace std {
template <>
struct is_error_code_enum<assist::AuditErrc> : true_type {};
}  // namespace std

#endif  // ASSIST_AUDIT_H
