// The audit log: one JSON line per synchronizer event (JSONL), written off the
// network path by a writer thread, in batches, with a durability policy, and
// tamper-evident: every line carries its sequence number `seq` and the
// SHA-256 of the previous line. verify_audit() checks a chain of files and
// names every changed, removed, reordered or truncated line. docs/audit.md
// describes the format, rotation and guarantees.
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
  sync_unconfirmed,           // terminal: written, no ACK before its connection died or stop(): may have been shown
  session_evicted,
  prompt_adopted,             // PROMPT_FEEDBACK ADOPTED
  prompt_dismissed,           // PROMPT_FEEDBACK DISMISSED
  connection_opened,
  connection_closed,
  token_refreshed,
  crm_callback_failed,        // a CRM callback or webhook failed or was dropped
};

// Upper-case wire spelling: "SYNC_ACKED"...
std::string_view to_string(AuditEventType type);
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

// "group_commit", "interval" or "never" (the config spelling); nullopt otherwise.
std::optional<AuditDurability> parse_audit_durability(std::string_view name);

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
  // Called once, on the writer thread and outside the log's lock, when a
  // write, sync or rotation first fails (a failure of open() is open()'s
  // answer instead), with status_message(). It lets the caller fail closed at
  // once rather than at its next append(). Must not block.
  std::function<void(const std::string& message)> on_failure = nullptr;
};

enum class AuditErrc {
  not_open = 1,   // append/flush before open()
  closed,         // append after close()
  cannot_resume,  // the existing file's last complete line is not an audit line
};
const std::error_category& audit_category() noexcept;
std::error_code make_error_code(AuditErrc e) noexcept;

// The last line written: its seq and SHA-256 (hex). Recording it elsewhere
// anchors the chain, which makes even an edit of the final line detectable.
struct AuditHead {
  std::uint64_t seq = 0;  // 0: nothing written yet
  std::string sha256;     // 64 zeros when seq is 0
};

// Thread-safe. Fails closed: after the first failure to open, write, sync or
// rotate, status() holds that error for good, append() refuses, and the
// caller (the synchronizer) must stop sending.
class AuditLog {
 public:
  explicit AuditLog(AuditOptions options);
  // close()s.
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Opens (or creates) the file and starts the writer thread. An existing
  // chain is resumed from its last complete line: seq + 1 and that line's
  // SHA-256 (from the newest rotated file when <path> is absent or empty). A
  // torn last line (no newline, e.g. after a crash) is left in place and
  // terminated; verify reports it and the chain links around it.
  std::error_code open();

  // Queues `event`, stamped with the clock's current time, for the writer
  // thread. Never waits for I/O. Returns status() (and drops the event) once
  // the log has failed, AuditErrc::not_open / closed outside open()..close().
  std::error_code append(AuditEvent event);

  // The first failure, or no error: the fail-closed signal.
  std::error_code status() const;
  // What failed, naming the path and the OS error; empty when status() is ok.
  std::string status_message() const;

  // Waits until everything appended before the call is written and, unless the
  // policy is `never`, fsynced. Returns status().
  std::error_code flush();

  // flush()es, stops the writer and closes the file. Idempotent.
  std::error_code close();

  // Events queued and not yet written (for the audit queue depth gauge).
  std::size_t pending() const;
  // The chain head as of the last completed batch.
  AuditHead head() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The path of rotated file number `n` of `base`: "<base>.<n>".
std::string rotated_audit_path(const std::string& base, std::uint64_t n);
// The files of the chain at `base`, oldest first: <base>.1, <base>.2, ...
// (numeric order), then <base> itself if it exists.
std::vector<std::string> audit_chain_files(const std::string& base, Env& env = default_env());

enum class AuditProblemKind {
  unreadable,  // the file could not be read
  changed,     // a line's bytes differ from what the chain recorded, or it is not an audit line
  removed,     // seq numbers are missing
  reordered,   // a line comes after one with a higher or equal seq
  truncated,   // the last line has no newline (cut off, or torn by a crash)
};
std::string_view to_string(AuditProblemKind kind);

struct AuditProblem {
  std::string file;
  std::uint64_t line = 0;  // 1-based; 0 for the file as a whole
  AuditProblemKind kind = AuditProblemKind::changed;
  std::string message;

  // "<file>:<line>: <kind>: <message>"
  std::string describe() const;
};

struct AuditVerifyReport {
  std::uint64_t lines = 0;
  std::vector<AuditProblem> problems;
  bool ok() const noexcept { return problems.empty(); }
};

// Checks the chain across `files`, taken in the order given (rotated files
// oldest first, the live file last): every line is a JSON object with a seq
// and prev_sha256; seqs start at 1 and increase by exactly one; every
// prev_sha256 is the SHA-256 of the line with the previous seq; the last line
// ends with a newline. Every problem is reported with its file and line.
AuditVerifyReport verify_audit(std::span<const std::string> files, Env& env = default_env());

}  // namespace assist

namespace std {
template <>
struct is_error_code_enum<assist::AuditErrc> : true_type {};
}  // namespace std

#endif  // ASSIST_AUDIT_H
