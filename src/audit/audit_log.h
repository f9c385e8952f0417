// The hash-chained JSONL audit log the synchronizer writes (internal: a
// user sets AuditOptions; docs/audit.md describes the file).
#ifndef ASSIST_SRC_AUDIT_AUDIT_LOG_H
#define ASSIST_SRC_AUDIT_AUDIT_LOG_H

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <system_error>

#include "assist/audit.h"

namespace assist {

// The last line written: its seq and SHA-256 (hex). Recording it elsewhere
// anchors the chain, which makes even an edit of the final line detectable.
struct AuditHead {
  std::uint64_t seq = 0;  // 0: nothing written yet
  std::string sha256;     // 64 zeros when seq is 0
};

// Thread-safe. Fails closed: after the first failure to open, write, sync or
// rotate, status() holds that error for good, append() refuses, and the
// caller (the synchronizer) must stop sending. Running out of reserved space
// is softer: status() is no_space for good and nothing more may be sent, but
// append() goes on writing into the headroom, so the outcomes of the frames
// already sent are recorded.
class AuditLog {
 public:
  explicit AuditLog(AuditOptions options);
  // close()s.
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Opens (or creates) the file and starts the writer thread. An existing
  // chain is resumed from its last complete line: seq + 1 and that line's
  // SHA-256 (from the newest rotated file when <path> is absent or empty).
  // Recovery first: a torn tail (bytes after the last newline: a crash
  // mid-write) is cut off and kept, hex-encoded, in an AUDIT_RECOVERY line,
  // and every prompt of the last recovery_window with a SYNC_BROADCAST and no
  // terminal line gets SYNC_UNCONFIRMED ("recovered after a crash"). These
  // lines are written and (unless the policy is `never`) fsynced before
  // open() returns, so the log verifies clean afterwards. A new live file of
  // an existing chain starts with an anchor; with a signing key, an
  // unsigned tail gets a digest.
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

  // The write-ahead gate: writes everything appended before the call to the
  // file, on the caller's thread (before_send `write`), and with `fsync` also
  // waits for the writer thread's next fsync (group commit); says whether
  // frames may be sent: status(), which is no_space once the space ahead
  // could not be reserved. Never waits for an fsync with `write`; waits at
  // most commit_timeout, or `max_wait` when shorter, for a writer stuck in a
  // write or for the fsync (`stalled`: then nothing was promised).
  std::error_code commit(std::chrono::milliseconds max_wait = std::chrono::milliseconds::max());

  // flush()es, stops the writer and closes the file. Idempotent.
  std::error_code close();

  // Events queued and not yet written (for the audit queue depth gauge).
  std::size_t pending() const;
  // Refusals (SYNC_REJECTED_*) not written because the space ahead could not
  // be reserved: the headroom is kept for the outcomes of frames already sent.
  std::uint64_t refusals_dropped() const;
  // The chain head as of the last completed batch.
  AuditHead head() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace assist

#endif
