// Test doubles for assist::Env (counts operations and injects failures, on
// top of the real POSIX files) and helpers shared by the audit tests.
#ifndef ASSIST_TESTS_AUDIT_TEST_ENV_H
#define ASSIST_TESTS_AUDIT_TEST_ENV_H

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "assist/audit.h"
#include "assist/env.h"

namespace assist::testing {

// Delegates to default_env(); the Nth (1-based) append / sync / open /
// read / truncate fails with the configured errno (0: never), and so does
// every reserve from the fail_reserves_from-th on. A failing
// append first writes `short_write_bytes` of its data when that is not
// negative (a short write: the disk filled up, or the process died, mid-write).
// A sync gate, when armed, makes the first sync wait until released, so a
// test can line up appends behind it.
class FaultyEnv final : public Env {
 public:
  std::atomic<int> fail_append_at{0};
  std::atomic<long> short_write_bytes{-1};
  std::atomic<int> fail_sync_at{0};
  std::atomic<int> fail_open_at{0};
  std::atomic<int> fail_read_at{0};  // read_at and read_file
  std::atomic<int> fail_truncate_at{0};
  std::atomic<int> fail_reserves_from{0};  // this reserve and every later one fail (the disk stays full)
  std::atomic<int> error{ENOSPC};

  std::atomic<int> appends{0};
  std::atomic<int> syncs{0};
  std::atomic<int> opens{0};
  std::atomic<int> reads{0};
  std::atomic<int> truncates{0};
  std::atomic<int> reserves{0};

  void arm_sync_gate() {
    std::lock_guard lock(mu_);
    gate_armed_ = true;
  }
  // Blocks until a sync is waiting at the gate.
  void wait_for_sync_at_gate() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return waiting_at_gate_; });
  }
  void release_sync_gate() {
    std::lock_guard lock(mu_);
    gate_armed_ = false;
    cv_.notify_all();
  }

  Status open_appendable(const std::string& path, std::unique_ptr<WritableFile>& out) override {
    if (++opens == fail_open_at) return Status::from_errno(error, "open", path);
    std::unique_ptr<WritableFile> inner;
    if (auto s = default_env().open_appendable(path, inner); !s.ok()) return s;
    out = std::make_unique<File>(*this, std::move(inner), path);
    return {};
  }
  Status read_at(const std::string& p, std::uint64_t o, std::size_t n, std::string& out) override {
    if (++reads == fail_read_at) return Status::from_errno(error, "read", p);
    return default_env().read_at(p, o, n, out);
  }
  Status read_file(const std::string& p, std::string& out) override {
    if (++reads == fail_read_at) return Status::from_errno(error, "read", p);
    return default_env().read_file(p, out);
  }
  Status file_size(const std::string& p, std::uint64_t& s) override { return default_env().file_size(p, s); }
  bool file_exists(const std::string& p) override { return default_env().file_exists(p); }
  Status rename_file(const std::string& f, const std::string& t) override { return default_env().rename_file(f, t); }
  Status remove_file(const std::string& p) override { return default_env().remove_file(p); }
  Status truncate_file(const std::string& p, std::uint64_t size) override {
    if (++truncates == fail_truncate_at) return Status::from_errno(error, "truncate", p);
    return default_env().truncate_file(p, size);
  }
  Status list_dir(const std::string& d, std::vector<std::string>& n) override { return default_env().list_dir(d, n); }
  Status sync_dir(const std::string& d) override { return default_env().sync_dir(d); }

 private:
  class File final : public WritableFile {
   public:
    File(FaultyEnv& env, std::unique_ptr<WritableFile> inner, std::string path)
        : env_(env), inner_(std::move(inner)), path_(std::move(path)) {}
    Status append(std::string_view data) override {
      if (++env_.appends != env_.fail_append_at) return inner_->append(data);
      if (const long n = env_.short_write_bytes; n >= 0)
        inner_->append(data.substr(0, std::min(data.size(), static_cast<std::size_t>(n))));
      return Status::from_errno(env_.error, "write", path_);
    }
    Status flush() override { return inner_->flush(); }
    Status sync() override {
      env_.pass_gate();
      if (++env_.syncs == env_.fail_sync_at) return Status::from_errno(env_.error, "fsync", path_);
      return inner_->sync();
    }
    Status reserve(std::uint64_t offset, std::uint64_t length) override {
      const int n = ++env_.reserves;
      if (env_.fail_reserves_from > 0 && n >= env_.fail_reserves_from)
        return Status::from_errno(env_.error, "fallocate", path_);
      return inner_->reserve(offset, length);
    }
    Status close() override { return inner_->close(); }

   private:
    FaultyEnv& env_;
    std::unique_ptr<WritableFile> inner_;
    std::string path_;
  };

  void pass_gate() {
    std::unique_lock lock(mu_);
    if (!gate_armed_) return;
    waiting_at_gate_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return !gate_armed_; });
  }

  std::mutex mu_;
  std::condition_variable cv_;
  bool gate_armed_ = false;
  bool waiting_at_gate_ = false;
};

// A fresh directory under the system temp dir, removed at the end.
// `in_memory`: under /dev/shm when there is one, where fsync costs nothing,
// for tests that loop over thousands of crash cases.
class TempDir {
 public:
  explicit TempDir(bool in_memory = false) {
    static std::atomic<int> counter{0};
    const bool shm = in_memory && std::filesystem::is_directory("/dev/shm");
    path_ = (shm ? std::filesystem::path("/dev/shm") : std::filesystem::temp_directory_path()) /
            ("assist-audit-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_all(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// The lines of `text` without their newlines (a last line without one too).
inline std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    const auto end = text.find('\n', start);
    if (end == std::string::npos) {
      lines.push_back(text.substr(start));
      break;
    }
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

// One line per problem, for failure messages.
inline std::string describe(const AuditVerifyReport& report) {
  std::string out = std::string(to_string(report.verdict)) + "\n";
  for (const auto& p : report.problems) out += p.describe() + "\n";
  return out;
}

// verify_audit over the whole chain at `base` (rotated files, then `base`).
inline AuditVerifyReport verify_chain(const std::string& base, const AuditVerifyOptions& options = {}) {
  const auto files = audit_chain_files(base);
  return verify_audit(files, options);
}

}  // namespace assist::testing

#endif
