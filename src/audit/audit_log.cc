#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "assist/audit.h"
#include "audit/audit_line.h"
#include "core/detail/thread.h"

namespace assist {

std::string_view to_string(AuditEventType type) {
  switch (type) {
    case AuditEventType::sync_broadcast: return "SYNC_BROADCAST";
    case AuditEventType::sync_acked: return "SYNC_ACKED";
    case AuditEventType::sync_nacked: return "SYNC_NACKED";
    case AuditEventType::sync_rejected_validation: return "SYNC_REJECTED_VALIDATION";
    case AuditEventType::sync_rejected_freshness: return "SYNC_REJECTED_FRESHNESS";
    case AuditEventType::sync_rejected_concurrency: return "SYNC_REJECTED_CONCURRENCY";
    case AuditEventType::sync_superseded: return "SYNC_SUPERSEDED";
    case AuditEventType::sync_failed: return "SYNC_FAILED";
    case AuditEventType::sync_unconfirmed: return "SYNC_UNCONFIRMED";
    case AuditEventType::session_evicted: return "SESSION_EVICTED";
    case AuditEventType::prompt_adopted: return "PROMPT_ADOPTED";
    case AuditEventType::prompt_dismissed: return "PROMPT_DISMISSED";
    case AuditEventType::connection_opened: return "CONNECTION_OPENED";
    case AuditEventType::connection_closed: return "CONNECTION_CLOSED";
    case AuditEventType::token_refreshed: return "TOKEN_REFRESHED";
    case AuditEventType::crm_callback_failed: return "CRM_CALLBACK_FAILED";
  }
  return "UNKNOWN";
}

bool is_terminal(AuditEventType type) {
  switch (type) {
    case AuditEventType::sync_acked:
    case AuditEventType::sync_nacked:
    case AuditEventType::sync_rejected_validation:
    case AuditEventType::sync_rejected_freshness:
    case AuditEventType::sync_rejected_concurrency:
    case AuditEventType::sync_superseded:
    case AuditEventType::sync_failed:
    case AuditEventType::sync_unconfirmed: return true;
    default: return false;
  }
}

namespace {

class AuditCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "assist.audit"; }
  std::string message(int ev) const override {
    switch (static_cast<AuditErrc>(ev)) {
      case AuditErrc::not_open: return "audit log is not open";
      case AuditErrc::closed: return "audit log is closed";
      case AuditErrc::cannot_resume: return "cannot resume the audit chain";
    }
    return "unknown audit error";
  }
};

std::string directory_of(const std::string& path) {
  auto dir = std::filesystem::path(path).parent_path().string();
  return dir.empty() ? std::string(".") : dir;
}

// The rotation numbers N of the existing files <base>.N.
std::vector<std::uint64_t> rotation_numbers(const std::string& base, Env& env) {
  std::vector<std::string> names;
  std::vector<std::uint64_t> numbers;
  if (!env.list_dir(directory_of(base), names).ok()) return numbers;
  const std::string prefix = std::filesystem::path(base).filename().string() + ".";
  for (const auto& name : names) {
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string_view digits = std::string_view(name).substr(prefix.size());
    if (digits.size() > 19 || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    if (digits.front() == '0') continue;
    numbers.push_back(std::stoull(std::string(digits)));
  }
  std::sort(numbers.begin(), numbers.end());
  return numbers;
}

// The last complete line of a file and whether bytes follow it (a torn line).
struct Tail {
  bool has_line = false;
  std::string line;
  bool torn = false;
};

IoStatus read_tail(Env& env, const std::string& path, std::uint64_t size, Tail& tail) {
  std::size_t chunk = 4096;
  for (;;) {
    const std::uint64_t offset = size > chunk ? size - chunk : 0;
    std::string bytes;
    if (auto s = env.read_at(path, offset, static_cast<std::size_t>(size - offset), bytes); !s.ok()) return s;
    const auto end = bytes.rfind('\n');
    tail.torn = !bytes.empty() && bytes.back() != '\n';
    if (end == std::string::npos) {
      if (offset == 0) return {};  // no complete line
      chunk *= 2;
      continue;
    }
    const auto before = end == 0 ? std::string::npos : bytes.rfind('\n', end - 1);
    if (before == std::string::npos && offset > 0) {
      chunk *= 2;
      continue;
    }
    const std::size_t start = before == std::string::npos ? 0 : before + 1;
    tail.has_line = true;
    tail.line = bytes.substr(start, end - start);
    return {};
  }
}

}  // namespace

const std::error_category& audit_category() noexcept {
  static const AuditCategory category;
  return category;
}

std::error_code make_error_code(AuditErrc e) noexcept { return {static_cast<int>(e), audit_category()}; }

std::string rotated_audit_path(const std::string& base, std::uint64_t n) { return fmt::format("{}.{}", base, n); }

std::vector<std::string> audit_chain_files(const std::string& base, Env& env) {
  std::vector<std::string> files;
  for (const auto n : rotation_numbers(base, env)) files.push_back(rotated_audit_path(base, n));
  if (env.file_exists(base)) files.push_back(base);
  return files;
}

// ----- AuditLog --------------------------------------------------------------

struct AuditLog::Impl {
  struct Pending {
    AuditEvent event;
    double at = 0.0;
  };

  explicit Impl(AuditOptions o)
      : options(std::move(o)),
        env(options.env != nullptr ? *options.env : default_env()),
        clock(options.clock != nullptr ? *options.clock : system_clock()) {}

  // Events that end the writer's batch_delay early.
  static constexpr std::size_t kFullBatch = 512;

  AuditOptions options;
  Env& env;
  Clock& clock;

  // Shared state, guarded by mu.
  mutable std::mutex mu;
  std::condition_variable writer_cv;  // work for the writer
  std::condition_variable done_cv;    // a batch completed
  std::vector<Pending> queue;
  std::uint64_t accepted = 0;   // events queued so far
  std::uint64_t completed = 0;  // of those, written (or discarded after a failure)
  std::uint64_t cycles_started = 0;   // batches taken by the writer
  std::uint64_t cycles_done = 0;      // batches finished (written, synced per policy)
  bool sync_requested = false;        // flush(): the next batch syncs, even if empty
  bool open = false;
  bool closed = false;
  bool stopping = false;
  std::error_code error;
  std::string error_message;
  AuditHead published_head{0, std::string(audit_detail::kGenesisHash)};
  std::thread writer;

  // Writer state: set by open() before the thread starts, then the thread's own.
  std::unique_ptr<WritableFile> file;
  std::uint64_t file_bytes = 0;
  std::uint64_t next_rotation = 1;
  bool torn_tail = false;
  bool unsynced = false;
  Clock::steady_time last_sync{};
  Clock::steady_time last_batch{};
  AuditHead head{0, std::string(audit_detail::kGenesisHash)};

  void fail_locked(std::error_code code, std::string message) {
    if (error) return;
    error = code;
    error_message = std::move(message);
  }

  std::error_code fail(const IoStatus& status) {
    std::lock_guard lock(mu);
    fail_locked(status.code, status.message);
    return error;
  }

  std::error_code resume() {
    const auto rotations = rotation_numbers(options.path, env);
    if (!rotations.empty()) next_rotation = rotations.back() + 1;

    std::uint64_t size = 0;
    if (env.file_exists(options.path)) {
      if (auto s = env.file_size(options.path, size); !s.ok()) return fail(s);
    }
    Tail tail;
    std::string tail_file = options.path;
    if (size > 0) {
      if (auto s = read_tail(env, options.path, size, tail); !s.ok()) return fail(s);
    }
    torn_tail = tail.torn;
    if (!tail.has_line && !rotations.empty()) {
      tail_file = rotated_audit_path(options.path, rotations.back());
      std::uint64_t rotated_size = 0;
      if (auto s = env.file_size(tail_file, rotated_size); !s.ok()) return fail(s);
      Tail rotated;
      if (auto s = read_tail(env, tail_file, rotated_size, rotated); !s.ok()) return fail(s);
      tail.has_line = rotated.has_line;
      tail.line = std::move(rotated.line);
    }
    if (tail.has_line) {
      audit_detail::ChainFields fields;
      std::string why;
      if (!audit_detail::parse_chain_fields(tail.line, fields, why)) {
        std::lock_guard lock(mu);
        fail_locked(AuditErrc::cannot_resume,
                    fmt::format("cannot resume the audit chain: the last line of {} is {}", tail_file, why));
        return error;
      }
      head = {fields.seq, audit_detail::sha256_hex(tail.line)};
    }
    if (auto s = env.open_appendable(options.path, file); !s.ok()) return fail(s);
    file_bytes = size;
    return {};
  }

  // Moves the live file to <path>.<N> and opens a fresh one.
  IoStatus rotate() {
    if (options.durability != AuditDurability::never) {
      if (auto s = file->sync(); !s.ok()) return s;
    }
    if (auto s = file->close(); !s.ok()) return s;
    file.reset();
    if (auto s = env.rename_file(options.path, rotated_audit_path(options.path, next_rotation)); !s.ok()) return s;
    ++next_rotation;
    if (auto s = env.open_appendable(options.path, file); !s.ok()) return s;
    if (auto s = env.sync_dir(directory_of(options.path)); !s.ok()) return s;
    file_bytes = 0;
    torn_tail = false;
    unsynced = false;
    return {};
  }

  // Formats and writes one batch, rotating as needed.
  IoStatus write_batch(const std::vector<Pending>& batch) {
    std::string buffer;
    buffer.reserve(batch.size() * 512);  // a typical line is 350 to 450 bytes
    if (torn_tail && !batch.empty()) {
      buffer += '\n';  // ends the torn line; the chain links around it
      torn_tail = false;
    }
    for (const auto& item : batch) {
      std::size_t start = buffer.size();
      audit_detail::append_line(buffer, head.seq + 1, item.at, item.event, head.sha256);
      const std::uint64_t line_bytes = buffer.size() - start + 1;
      if (options.rotate_bytes > 0 && file_bytes + start > 0 &&
          file_bytes + start + line_bytes > options.rotate_bytes) {
        std::string line = buffer.substr(start);
        buffer.resize(start);
        if (auto s = write_out(buffer); !s.ok()) return s;
        if (auto s = rotate(); !s.ok()) return s;
        buffer = std::move(line);
        start = 0;
      }
      head = {head.seq + 1, audit_detail::sha256_hex(std::string_view(buffer).substr(start))};
      buffer += '\n';
    }
    return write_out(buffer);
  }

  IoStatus write_out(std::string& buffer) {
    if (buffer.empty()) return {};
    if (auto s = file->append(buffer); !s.ok()) return s;
    if (auto s = file->flush(); !s.ok()) return s;
    file_bytes += buffer.size();
    buffer.clear();
    unsynced = true;
    return {};
  }

  bool sync_due(bool requested) const {
    if (!unsynced) return false;
    switch (options.durability) {
      case AuditDurability::group_commit: return true;
      case AuditDurability::interval: return requested || clock.steady_now() - last_sync >= options.sync_interval;
      case AuditDurability::never: return false;
    }
    return false;
  }

  void run() {
    std::vector<Pending> batch;
    std::unique_lock lock(mu);
    for (;;) {
      while (queue.empty() && !stopping && !sync_requested) {
        if (options.durability == AuditDurability::interval && unsynced) {
          const auto wait = last_sync + options.sync_interval - clock.steady_now();
          if (wait <= Clock::steady_time::duration::zero()) break;
          writer_cv.wait_for(lock, wait);
        } else {
          writer_cv.wait(lock);
        }
      }
      // Batches start at most every batch_delay unless full or asked for:
      // the rest of the flow gathers into the next one.
      if (const auto wait = last_batch + options.batch_delay - clock.steady_now();
          !queue.empty() && wait > Clock::steady_time::duration::zero()) {
        writer_cv.wait_for(lock, wait, [&] { return queue.size() >= kFullBatch || stopping || sync_requested; });
      }
      last_batch = clock.steady_now();
      batch.swap(queue);  // the queue keeps the last batch's capacity: appends rarely reallocate
      ++cycles_started;
      const bool requested = sync_requested || stopping;
      sync_requested = false;
      const bool failed = static_cast<bool>(error);
      lock.unlock();

      IoStatus status;
      if (!failed) {
        status = write_batch(batch);
        if (status.ok() && sync_due(requested)) {
          status = file->sync();
          if (status.ok()) {
            unsynced = false;
            last_sync = clock.steady_now();
          }
        }
      }

      const std::size_t taken = batch.size();
      batch.clear();  // freed here, not under the lock

      lock.lock();
      const bool newly_failed = !status.ok() && !error;
      if (!status.ok()) fail_locked(status.code, status.message);
      if (newly_failed && options.on_failure) {  // before this cycle counts as done: flush() returns after it
        const std::string message = error_message;
        lock.unlock();
        options.on_failure(message);
        lock.lock();
      }
      completed += taken;
      ++cycles_done;
      if (!error) published_head = head;
      done_cv.notify_all();
      if (stopping && queue.empty()) return;
    }
  }
};

std::optional<AuditDurability> parse_audit_durability(std::string_view name) {
  if (name == "group_commit") return AuditDurability::group_commit;
  if (name == "interval") return AuditDurability::interval;
  if (name == "never") return AuditDurability::never;
  return std::nullopt;
}

AuditLog::AuditLog(AuditOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

AuditLog::~AuditLog() { close(); }

std::error_code AuditLog::open() {
  Impl& d = *impl_;
  {
    std::lock_guard lock(d.mu);
    if (d.closed) return AuditErrc::closed;
    if (d.open || d.error) return d.error;
  }
  if (auto ec = d.resume()) return ec;
  d.last_sync = d.clock.steady_now();
  std::lock_guard lock(d.mu);
  d.published_head = d.head;
  d.open = true;
  d.writer = detail::named_thread("assist-audit", [&d] { d.run(); });
  return {};
}

std::error_code AuditLog::append(AuditEvent event) {
  Impl& d = *impl_;
  std::lock_guard lock(d.mu);
  if (d.error) return d.error;
  if (d.closed || d.stopping) return AuditErrc::closed;
  if (!d.open) return AuditErrc::not_open;
  // Stamped under the lock, so timestamps never go backwards along the chain.
  d.queue.push_back({std::move(event), d.clock.unix_now()});
  ++d.accepted;
  // The first event wakes the writer; a full batch ends its batch_delay early.
  if (d.queue.size() == 1 || d.queue.size() == Impl::kFullBatch) d.writer_cv.notify_one();
  return {};
}

std::error_code AuditLog::status() const {
  std::lock_guard lock(impl_->mu);
  return impl_->error;
}

std::string AuditLog::status_message() const {
  std::lock_guard lock(impl_->mu);
  return impl_->error_message;
}

std::error_code AuditLog::flush() {
  Impl& d = *impl_;
  std::unique_lock lock(d.mu);
  if (!d.open) return d.error ? d.error : std::error_code(AuditErrc::not_open);
  if (d.stopping) return d.error;
  // The first batch the writer takes after this request holds everything
  // appended so far and honours the request.
  const std::uint64_t cycle = d.cycles_started + 1;
  d.sync_requested = true;
  d.writer_cv.notify_one();
  d.done_cv.wait(lock, [&] { return d.error || d.cycles_done >= cycle; });
  return d.error;
}

std::error_code AuditLog::close() {
  Impl& d = *impl_;
  {
    std::lock_guard lock(d.mu);
    if (d.closed) return d.error;
    d.closed = true;
    if (!d.open) return d.error;
    d.stopping = true;
    d.writer_cv.notify_one();
  }
  d.writer.join();
  if (d.file) {
    if (auto s = d.file->close(); !s.ok()) d.fail(s);
    d.file.reset();
  }
  std::lock_guard lock(d.mu);
  return d.error;
}

std::size_t AuditLog::pending() const {
  std::lock_guard lock(impl_->mu);
  return static_cast<std::size_t>(impl_->accepted - impl_->completed);
}

AuditHead AuditLog::head() const {
  std::lock_guard lock(impl_->mu);
  return impl_->published_head;
}

}  // namespace assist
