// The file system operations the audit log needs, behind an interface
// (LevelDB's Env), so tests can inject failures (a write, sync or open that
// fails, a full disk) and prove the log fails closed.
#ifndef ASSIST_ENV_H
#define ASSIST_ENV_H

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace assist {

// The outcome of a file operation: ok, or an error code with a message naming
// the operation, the path and the OS's explanation.
struct IoStatus {
  std::error_code code;
  std::string message;

  bool ok() const noexcept { return !code; }
  // "<op> <path>: <strerror>" from an errno value.
  static IoStatus from_errno(int err, std::string_view op, std::string_view path);
};

// A file opened for appending. Not thread-safe: one writer at a time.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Appends `data` at the end of the file (all of it, or an error).
  virtual IoStatus append(std::string_view data) = 0;
  // Hands any bytes buffered in the process to the OS (survives a process
  // crash, not a power loss).
  virtual IoStatus flush() = 0;
  // flush(), then forces the bytes to stable storage (fsync/fdatasync).
  virtual IoStatus sync() = 0;
  // Allocates disk space for bytes [offset, offset + length) without changing
  // the file's size (fallocate FALLOC_FL_KEEP_SIZE), so later appends within
  // it cannot fail for want of space. An error with std::errc::no_space_on_device
  // when the disk is full; std::errc::operation_not_supported when the file
  // system cannot reserve (the caller then goes without).
  virtual IoStatus reserve(std::uint64_t offset, std::uint64_t length) = 0;
  // flush() and release the file. Further calls fail.
  virtual IoStatus close() = 0;
};

class Env {
 public:
  virtual ~Env() = default;
  // Opens `path` for appending, creating it (mode 0640) if missing.
  virtual IoStatus open_appendable(const std::string& path, std::unique_ptr<WritableFile>& out) = 0;
  // Reads up to `n` bytes at `offset` into `out` (fewer at end of file).
  virtual IoStatus read_at(const std::string& path, std::uint64_t offset, std::size_t n,
                           std::string& out) = 0;
  // The whole file.
  virtual IoStatus read_file(const std::string& path, std::string& out) = 0;
  virtual IoStatus file_size(const std::string& path, std::uint64_t& size) = 0;
  virtual bool file_exists(const std::string& path) = 0;
  // Atomically renames `from` to `to`, replacing `to`.
  virtual IoStatus rename_file(const std::string& from, const std::string& to) = 0;
  virtual IoStatus remove_file(const std::string& path) = 0;
  // Cuts `path` to its first `size` bytes (a torn tail after a crash) and
  // makes the new size durable (fsync).
  virtual IoStatus truncate_file(const std::string& path, std::uint64_t size) = 0;
  // Names (not paths) of the entries of directory `dir`, excluding "." and "..".
  virtual IoStatus list_dir(const std::string& dir, std::vector<std::string>& names) = 0;
  // Makes directory entry changes (create, rename) in `dir` durable.
  virtual IoStatus sync_dir(const std::string& dir) = 0;
};

// The POSIX implementation (open/write/fsync). Thread-safe; lives for the
// whole program.
Env& default_env();

}  // namespace assist

#endif  // ASSIST_ENV_H
