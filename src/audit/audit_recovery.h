// Reading an audit log backwards after a crash (internal to the audit
// component): its torn tail, its last line, and the prompts it left open.
#ifndef ASSIST_SRC_AUDIT_AUDIT_RECOVERY_H
#define ASSIST_SRC_AUDIT_AUDIT_RECOVERY_H

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "assist/audit.h"
#include "assist/env.h"

namespace assist::audit_detail {

// The segments of a file between newlines, newest first, read in chunks
// from the end. Not thread-safe.
class ReverseLineReader {
 public:
  // Reads the first `size` bytes of `path`.
  ReverseLineReader(Env& env, std::string path, std::uint64_t size);

  // The first call yields the bytes after the last newline (a torn tail;
  // empty when the file ends with a newline or is empty), each later call
  // the line before, without its newline. False once the start of the file
  // was passed, or on a read error (then `status` says which).
  bool previous(std::string& out, Status& status);

 private:
  Env& env_;
  std::string path_;
  std::uint64_t offset_;  // bytes before buffer_ not read yet
  std::string buffer_;
  bool done_ = false;
};

// Scans `files` (paths with the byte size to read, newest first) backwards
// for prompts with a SYNC_BROADCAST and no terminal line after it, until a
// line is more than `window` older than the newest line. Each file's bytes
// after its last newline are skipped; lines that are not audit lines are
// skipped (verify reports them). `open` gets one broadcast event per such
// frame_id, oldest first.
Status find_open_prompts(Env& env, const std::vector<std::pair<std::string, std::uint64_t>>& files,
                           std::chrono::seconds window, std::vector<AuditEvent>& open);

}  // namespace assist::audit_detail

#endif
