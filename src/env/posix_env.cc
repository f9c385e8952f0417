#include <cerrno>
#include <cstring>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "assist/env.h"

namespace assist {

namespace {

// Retries a system call interrupted by a signal.
template <typename F>
auto retry_eintr(F call) {
  for (;;) {
    auto result = call();
    if (result >= 0 || errno != EINTR) return result;
  }
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  Status append(std::string_view data) override {
    if (fd_ < 0) return Status::from_errno(EBADF, "write", path_);
    while (!data.empty()) {
      const ssize_t n = retry_eintr([&] { return ::write(fd_, data.data(), data.size()); });
      if (n < 0) return Status::from_errno(errno, "write", path_);
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
  }

  // Nothing is buffered in the process: append() writes straight to the fd.
  Status flush() override {
    if (fd_ < 0) return Status::from_errno(EBADF, "flush", path_);
    return {};
  }

  Status sync() override {
    if (fd_ < 0) return Status::from_errno(EBADF, "fsync", path_);
    if (retry_eintr([&] { return ::fdatasync(fd_); }) != 0) return Status::from_errno(errno, "fsync", path_);
    return {};
  }

  Status reserve(std::uint64_t offset, std::uint64_t length) override {
    if (fd_ < 0) return Status::from_errno(EBADF, "fallocate", path_);
    const auto off = static_cast<off_t>(offset);
    const auto len = static_cast<off_t>(length);
    if (retry_eintr([&] { return ::fallocate(fd_, FALLOC_FL_KEEP_SIZE, off, len); }) != 0)
      return Status::from_errno(errno, "fallocate", path_);
    return {};
  }

  Status close() override {
    if (fd_ < 0) return Status::from_errno(EBADF, "close", path_);
    const int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) return Status::from_errno(errno, "close", path_);
    return {};
  }

 private:
  int fd_;
  std::string path_;
};

class PosixEnv final : public Env {
 public:
  Status open_appendable(const std::string& path, std::unique_ptr<WritableFile>& out) override {
    const int fd =
        retry_eintr([&] { return ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640); });
    if (fd < 0) return Status::from_errno(errno, "open", path);
    out = std::make_unique<PosixWritableFile>(fd, path);
    return {};
  }

  Status read_at(const std::string& path, std::uint64_t offset, std::size_t n, std::string& out) override {
    const int fd = retry_eintr([&] { return ::open(path.c_str(), O_RDONLY | O_CLOEXEC); });
    if (fd < 0) return Status::from_errno(errno, "open", path);
    out.resize(n);
    std::size_t got = 0;
    Status status;
    while (got < n) {
      const ssize_t r = retry_eintr(
          [&] { return ::pread(fd, out.data() + got, n - got, static_cast<off_t>(offset + got)); });
      if (r < 0) {
        status = Status::from_errno(errno, "read", path);
        break;
      }
      if (r == 0) break;
      got += static_cast<std::size_t>(r);
    }
    ::close(fd);
    out.resize(got);
    return status;
  }

  Status read_file(const std::string& path, std::string& out) override {
    std::uint64_t size = 0;
    if (auto s = file_size(path, size); !s.ok()) return s;
    return read_at(path, 0, static_cast<std::size_t>(size), out);
  }

  Status file_size(const std::string& path, std::uint64_t& size) override {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return Status::from_errno(errno, "stat", path);
    size = static_cast<std::uint64_t>(st.st_size);
    return {};
  }

  bool file_exists(const std::string& path) override { return ::access(path.c_str(), F_OK) == 0; }

  Status rename_file(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return Status::from_errno(errno, "rename", from + " -> " + to);
    return {};
  }

  Status remove_file(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return Status::from_errno(errno, "remove", path);
    return {};
  }

  Status truncate_file(const std::string& path, std::uint64_t size) override {
    const int fd = retry_eintr([&] { return ::open(path.c_str(), O_WRONLY | O_CLOEXEC); });
    if (fd < 0) return Status::from_errno(errno, "open", path);
    Status status;
    if (retry_eintr([&] { return ::ftruncate(fd, static_cast<off_t>(size)); }) != 0) {
      status = Status::from_errno(errno, "truncate", path);
    } else if (retry_eintr([&] { return ::fsync(fd); }) != 0) {
      status = Status::from_errno(errno, "fsync", path);
    }
    ::close(fd);
    return status;
  }

  Status list_dir(const std::string& dir, std::vector<std::string>& names) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return Status::from_errno(errno, "opendir", dir);
    names.clear();
    while (const dirent* entry = ::readdir(d)) {
      const std::string_view name = entry->d_name;
      if (name != "." && name != "..") names.emplace_back(name);
    }
    ::closedir(d);
    return {};
  }

  Status sync_dir(const std::string& dir) override {
    const int fd = retry_eintr([&] { return ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); });
    if (fd < 0) return Status::from_errno(errno, "open", dir);
    Status status;
    if (retry_eintr([&] { return ::fsync(fd); }) != 0) status = Status::from_errno(errno, "fsync", dir);
    ::close(fd);
    return status;
  }
};

}  // namespace

Env& default_env() {
  static PosixEnv env;
  return env;
}

}  // namespace assist
