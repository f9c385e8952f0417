// The file system operations the audit log needs, behind an interface
// (LevelDB's Env), so tests can inject failures (a write, sync or open that
// fails, a full disk) and prove the log fails closed. Every operation returns
// a Status (assist/status.h) naming the operation, the path and the OS's cause.
#ifndef ASSIST_ENV_H
#define ASSIST_ENV_H

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "assist/status.h"

namespace assist {

// A file opened for appending. Not thread-safe: one writer at a time.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Appends `data` at the end of the file (all of it, or an error).
  virtual Status append(std::string_view data) = 0;
  // Hands any bytes buffered in the process to the OS (survives a process
  // crash, not a power loss).
  virtual Status flush() = 0;
  // flush(), then forces the bytes to stable storage (fsync/fdatasync).
  virtual Status sync() = 0;
  // Allocates disk space for bytes [offset, offset + length) without changing
  // the file's size (fallocate FALLOC_FL_KEEP_SIZE), so later appends within
  // it cannot fail for want of space. An error with std::errc::no_space_on_device
  // when the disk is full; std::errc::operation_not_supported when the file
  // system cannot reserve (the caller then goes without).
  virtual Status reserve(std::uint64_t offset, std::uint64_t length) = 0;
  // flush() and release the file. Further calls fail.
  virtual Status close() = 0;
};

class Env {
 public:
  virtual ~Env() = default;
  // Opens `path` for appending, creating it (mode 0640) if missing.
  virtual Status open_appendable(const std::string& path, std::unique_ptr<WritableFile>& out) = 0;
  // Reads up to `n` bytes at `offset` into `out` (fewer at end of file).
  virtual Status read_at(const std::string& path, std::uint64_t offset, std::size_t n,
                           std::string& out) = 0;
  // The whole file.
  virtual Status read_file(const std::string& path, std::string& out) = 0;
  virtual Status file_size(const std::string& path, std::uint64_t& size) = 0;
  virtual bool file_exists(const std::string& path) = 0;
  // Atomically renames `from` to `to`, replacing `to`.
  virtual Status rename_file(const std::string& from, const std::string& to) = 0;
  virtual Status remove_file(const std::string& path) = 0;
  // Cuts `path` to its first `size` bytes (a torn tail after a crash) and
  // makes the new size durable (fsync).
  virtual Status truncate_file(const std::string& path, std::uint64_t size) = 0;
  // Names (not paths) of the entries of directory `dir`, excluding "." and "..".
  virtual Status list_dir(const std::string& dir, std::vector<std::string>& names) = 0;
  // Makes directory entry changes (create, rename) in `dir` durable.
  virtual Status sync_dir(const std::string& dir) = 0;
};

// The POSIX implementation (open/write/fsync). Thread-safe; lives for the
// whole program.
Env& default_env();

}  // namespace assist

#endif  // ASSIST_ENV_H
