#include "audit/audit_log.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "audit/audit_line.h"
#include "audit/audit_recovery.h"
#include "audit/audit_signing.h"
#include "core/detail/thread.h"

namespace assist {

namespace {

constexpr AuditEventType kEventTypes[] = {
    AuditEventType::sync_broadcast,          AuditEventType::sync_acked,
    AuditEventType::sync_nacked,             AuditEventType::sync_rejected_validation,
    AuditEventType::sync_rejected_freshness, AuditEventType::sync_rejected_concurrency,
    AuditEventType::sync_superseded,         AuditEventType::sync_failed,
    AuditEventType::sync_unconfirmed,        AuditEventType::session_evicted,
    AuditEventType::prompt_adopted,          AuditEventType::prompt_dismissed,
    AuditEventType::connection_opened,       AuditEventType::connection_closed,
    AuditEventType::token_refreshed,         AuditEventType::crm_callback_failed,
    AuditEventType::audit_anchor,            AuditEventType::audit_recovery,
    AuditEventType::audit_digest,
};

}  // namespace

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
    case AuditEventType::audit_anchor: return "AUDIT_ANCHOR";
    case AuditEventType::audit_recovery: return "AUDIT_RECOVERY";
    case AuditEventType::audit_digest: return "AUDIT_DIGEST";
  }
  return "UNKNOWN";
}

std::optional<AuditEventType> parse_audit_event_type(std::string_view name) {
  for (const auto type : kEventTypes)
    if (to_string(type) == name) return type;
  return std::nullopt;
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
      case AuditErrc::bad_signing_key: return "no Ed25519 signing key for the audit digests";
      case AuditErrc::no_space: return "no disk space could be reserved for the audit log";
      case AuditErrc::stalled: return "the audit log did not write in time (a stalled disk?)";
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
  // Room asked ahead for one line that may be left out (a long refusal:
  // every violation named).
  static constexpr std::uint64_t kOptionalLineAllowance = 2048;

  static bool is_refusal(AuditEventType type) {
    return type == AuditEventType::sync_rejected_validation || type == AuditEventType::sync_rejected_freshness ||
           type == AuditEventType::sync_rejected_concurrency;
  }
  // Torn bytes kept (hex) in an AUDIT_RECOVERY line; beyond, only their count and hash.
  static constexpr std::size_t kKeptTornBytes = 16 * 1024;

  AuditOptions options;
  Env& env;
  Clock& clock;

  // Shared state, guarded by mu.
  mutable std::mutex mu;
  std::condition_variable writer_cv;  // work for the writer
  bool writer_idle = false;           // the writer waits for work (not for its batch to fill)
  std::condition_variable done_cv;    // a batch completed
  std::vector<Pending> queue;
  // Changed under mu, read without it by pending(): producers ask it per
  // prompt, and the lock is the synchronizer thread's.
  std::atomic<std::uint64_t> accepted{0};   // events queued so far
  std::atomic<std::uint64_t> completed{0};  // of those, written (or discarded after a failure); the fsync may still run
  std::uint64_t cycles_started = 0;   // batches taken by the writer
  std::uint64_t cycles_done = 0;      // batches finished (written, synced per policy)
  bool sync_requested = false;        // flush(): the next batch syncs, even if empty
  bool syncing = false;               // the writer is in an fsync, outside its turn: no rotation meanwhile
  // The turn on the file (below): a flag under mu rather than a second
  // (timed) mutex, so a commit() can wait for it with a deadline, and every
  // hand-over is visible to the sanitizers (TSAN does not see
  // std::timed_mutex::try_lock_for: pthread_mutex_clocklock).
  bool io_busy = false;
  std::condition_variable io_cv;      // io_busy ended
  std::condition_variable sync_cv;    // syncing ended
  std::optional<Clock::steady_time> timed_at;  // timed_work_at() as of the last write
  bool open = false;
  bool closed = false;
  bool stopping = false;
  std::error_code error;
  std::string error_message;
  // The space ahead could not be reserved: nothing more may be sent (commit()
  // and status() say so), but lines are still written, into the headroom.
  std::error_code space_error;
  std::string space_message;
  bool space_reported = false;  // on_failure was told of space_error
  AuditHead published_head{0, std::string(audit_detail::kGenesisHash)};
  std::thread writer;

  // Writer state: set by open() before the thread starts, then owned by
  // whoever holds the turn (io_busy): the writer thread and commit() callers
  // both write, one at a time, each taking its batch from the queue as it
  // takes the turn (so lines keep the order of the appends). An fsync runs
  // outside the turn (writes go on).
  std::unique_ptr<WritableFile> file;
  std::unique_ptr<audit_detail::DigestSigner> signer;  // null without a signing key
  std::uint64_t file_bytes = 0;
  std::uint64_t reserved_end = 0;     // the live file's space is reserved up to here
  bool reservation_unsupported = false;  // the file system cannot reserve: go without
  bool out_of_space = false;             // a reservation failed: the disk is not asked again
  std::atomic<std::uint64_t> refusals_dropped{0};  // refusal lines not written for want of space
  std::uint64_t next_rotation = 1;
  bool file_has_entries = false;  // the live file holds a line besides its anchor
  std::uint64_t bytes_out = 0;     // written to the OS, over all files
  std::uint64_t bytes_synced = 0;  // of those, known durable
  std::uint64_t lines_since_digest = 0;
  Clock::steady_time last_sync{};
  Clock::steady_time last_batch{};
  Clock::steady_time last_digest{};
  bool digested = false;  // a digest was written since open()
  AuditHead head{0, std::string(audit_detail::kGenesisHash)};
  double head_time = 0.0;  // the last line's timestamp: the log's own lines carry it

  void fail_locked(std::error_code code, std::string message) {
    if (error) return;
    error = code;
    error_message = std::move(message);
  }

  std::error_code fail(const Status& status) {
    std::lock_guard lock(mu);
    fail_locked(status.code, status.message);
    return error;
  }

  // ----- lines ---------------------------------------------------------------

  // Ends the line that starts at `start` in `buffer` as the new chain head.
  void commit_line(std::string& buffer, std::size_t start, AuditEventType type, double at) {
    head = {head.seq + 1, audit_detail::sha256_hex(std::string_view(buffer).substr(start))};
    buffer += '\n';
    head_time = at;
    ++lines_since_digest;
    if (type != AuditEventType::audit_anchor) file_has_entries = true;
  }

  // Appends `event` as the next line of the chain, in the current file.
  void format_line(std::string& buffer, const AuditEvent& event, double at) {
    const std::size_t start = buffer.size();
    audit_detail::append_line(buffer, head.seq + 1, at, event, head.sha256);
    commit_line(buffer, start, event.type, at);
  }

  // Appends `event` as the next line, first writing `buffer` out and rotating
  // when the line would take the live file beyond rotate_bytes.
  Status add_line(std::string& buffer, const AuditEvent& event, double at) {
    std::size_t start = buffer.size();
    audit_detail::append_line(buffer, head.seq + 1, at, event, head.sha256);
    const std::uint64_t line_bytes = buffer.size() - start + 1;
    if (options.rotate_bytes > 0 && file_has_entries && file_bytes + start + line_bytes > options.rotate_bytes) {
      buffer.resize(start);
      if (auto s = write_out(buffer); !s.ok()) return s;
      if (auto s = rotate(); !s.ok()) return s;
      start = 0;
      audit_detail::append_line(buffer, head.seq + 1, at, event, head.sha256);
    }
    commit_line(buffer, start, event.type, at);
    return {};
  }

  // The first line of a file that continues the chain from `previous_file`.
  AuditEvent anchor_event(const std::string& previous_file) const {
    AuditEvent e;
    e.type = AuditEventType::audit_anchor;
    e.success = true;
    e.reason = fmt::format("this file continues the chain from {}",
                           std::filesystem::path(previous_file).filename().string());
    e.detail = fmt::format("previous_seq={} previous_sha256={}", head.seq, head.sha256);
    return e;
  }

  // Appends a signed digest of the chain head (with a signing key, when
  // lines were written since the last digest); `why` becomes its code.
  Status add_digest(std::string& buffer, std::string_view why) {
    if (!signer || lines_since_digest == 0) return {};
    const audit_detail::DigestStatement statement{
        head.seq, head.sha256, audit_detail::iso8601_utc_ms(head_time),
        std::chrono::ceil<std::chrono::seconds>(options.digest_interval), signer->key_id()};
    const std::string text = audit_detail::format_statement(statement);
    const std::string signature = signer->sign(text);
    if (signature.empty()) return {make_error_code(AuditErrc::bad_signing_key), "cannot sign an audit digest (OpenSSL)"};
    AuditEvent e;
    e.type = AuditEventType::audit_digest;
    e.success = true;
    e.code = std::string(why);
    e.reason = "signed digest of the chain head";
    e.detail = audit_detail::digest_detail(statement, signature);
    format_line(buffer, e, head_time);
    lines_since_digest = 0;
    last_digest = clock.steady_now();
    digested = true;
    return {};
  }

  // The first batch of a process is signed at once: a log killed before its
  // first interval is then vouched for up to that batch, like any other, and
  // not left with no digest at all.
  bool digest_due(bool closing) const {
    return signer && lines_since_digest > 0 &&
           (closing || !digested || clock.steady_now() - last_digest >= options.digest_interval);
  }

  // ----- open: resume and recover ----------------------------------------------

  // What open() found at the end of the existing chain.
  struct Found {
    std::uint64_t live_size = 0;     // after the torn tail is cut
    std::string torn;                // the bytes cut off
    std::vector<std::string> rotated;  // the rotated files, newest first
    std::string previous_file;       // the newest rotated file, when there is one
    std::optional<AuditEventType> last_type;  // of the chain's last line
    bool last_line_in_live = false;
  };

  // Reads the last complete line of `path` (its first `size` bytes) into the head.
  std::error_code resume_from(const std::string& path, std::uint64_t size, Found& found, bool& has_line) {
    audit_detail::ReverseLineReader reader(env, path, size);
    std::string line;
    Status status;
    has_line = reader.previous(line, status) && reader.previous(line, status);  // skip bytes after the last newline
    if (!status.ok()) return fail(status);
    if (!has_line) return {};
    audit_detail::ChainFields fields;
    std::string why;
    if (!audit_detail::parse_chain_fields(line, fields, why)) {
      std::lock_guard lock(mu);
      fail_locked(AuditErrc::cannot_resume,
                  fmt::format("cannot resume the audit chain: the last line of {} is {}", path, why));
      return error;
    }
    head = {fields.seq, audit_detail::sha256_hex(line)};
    head_time = audit_detail::parse_iso8601_utc_ms(fields.timestamp).value_or(0.0);
    found.last_type = parse_audit_event_type(fields.event_type);
    return {};
  }

  // Cuts the live file's torn tail, then finds the chain head.
  std::error_code find_head(Found& found) {
    const auto rotations = rotation_numbers(options.path, env);
    for (auto n = rotations.rbegin(); n != rotations.rend(); ++n)
      found.rotated.push_back(rotated_audit_path(options.path, *n));
    if (!rotations.empty()) {
      next_rotation = rotations.back() + 1;
      found.previous_file = found.rotated.front();
    }
    if (env.file_exists(options.path)) {
      if (auto s = env.file_size(options.path, found.live_size); !s.ok()) return fail(s);
    }
    audit_detail::ReverseLineReader reader(env, options.path, found.live_size);
    Status status;
    if (found.live_size > 0 && !reader.previous(found.torn, status)) return fail(status);
    if (!found.torn.empty()) {
      found.live_size -= found.torn.size();
      if (auto s = env.truncate_file(options.path, found.live_size); !s.ok()) return fail(s);
    }
    bool has_line = false;
    if (auto ec = resume_from(options.path, found.live_size, found, has_line)) return ec;
    found.last_line_in_live = has_line;
    if (!has_line && !found.previous_file.empty()) {
      std::uint64_t size = 0;
      if (auto s = env.file_size(found.previous_file, size); !s.ok()) return fail(s);
      if (auto ec = resume_from(found.previous_file, size, found, has_line)) return ec;
    }
    return {};
  }

  // The AUDIT_RECOVERY line: what was cut, and how many prompts are closed.
  AuditEvent recovery_event(const std::string& torn, std::size_t unconfirmed) const {
    AuditEvent e;
    e.type = AuditEventType::audit_recovery;
    e.success = true;
    e.reason = "recovered after a crash: ";
    if (!torn.empty()) {
      e.reason += fmt::format("cut {} torn bytes from the end of {}; ", torn.size(),
                              std::filesystem::path(options.path).filename().string());
    }
    e.reason += fmt::format("{} prompts without an outcome closed as SYNC_UNCONFIRMED", unconfirmed);
    e.detail = fmt::format("torn_bytes={} unconfirmed={}", torn.size(), unconfirmed);
    if (!torn.empty()) {
      e.detail += fmt::format(" torn_sha256={} torn_hex={}", audit_detail::sha256_hex(torn),
                              audit_detail::to_hex(std::string_view(torn).substr(0, kKeptTornBytes)));
    }
    return e;
  }

  // Writes what open() owes the chain: the anchor of a new live file, the
  // recovery lines, a digest of an unsigned tail. Synced unless `never`.
  Status write_opening_lines(const Found& found, std::vector<AuditEvent> open_prompts) {
    std::string buffer;
    const double at = std::max(clock.unix_now(), head_time);
    if (found.live_size == 0 && head.seq > 0) format_line(buffer, anchor_event(found.previous_file), head_time);
    if (!found.torn.empty() || !open_prompts.empty()) {
      if (auto s = add_line(buffer, recovery_event(found.torn, open_prompts.size()), at); !s.ok()) return s;
      for (auto& e : open_prompts) {
        e.type = AuditEventType::sync_unconfirmed;
        e.success = false;
        e.code = "UNCONFIRMED";
        e.reason = "recovered after a crash";
        if (auto s = add_line(buffer, e, at); !s.ok()) return s;
      }
    }
    if (auto s = add_digest(buffer, "open"); !s.ok()) return s;
    if (auto s = write_out(buffer); !s.ok()) return s;
    if (bytes_out > bytes_synced && options.durability != AuditDurability::never) {
      if (auto s = file->sync(); !s.ok()) return s;
      bytes_synced = bytes_out;
    }
    return {};
  }

  std::error_code recover_and_open() {
    if (!options.signing_key_file.empty()) {
      Status status;
      signer = audit_detail::DigestSigner::load(env, options.signing_key_file, status);
      if (!signer) return fail(status);
    }
    Found found;
    if (auto ec = find_head(found)) return ec;
    std::vector<std::pair<std::string, std::uint64_t>> scan;  // newest first
    if (found.live_size > 0) scan.emplace_back(options.path, found.live_size);
    for (const auto& path : found.rotated) {
      std::uint64_t size = 0;
      if (auto s = env.file_size(path, size); !s.ok()) return fail(s);
      scan.emplace_back(path, size);
    }
    std::vector<AuditEvent> open_prompts;
    if (auto s = audit_detail::find_open_prompts(env, scan, options.recovery_window, open_prompts); !s.ok())
      return fail(s);
    if (auto s = env.open_appendable(options.path, file); !s.ok()) return fail(s);
    file_bytes = found.live_size;
    file_has_entries = found.last_line_in_live && found.last_type != AuditEventType::audit_anchor;
    lines_since_digest = head.seq > 0 && found.last_type != AuditEventType::audit_digest ? 1 : 0;
    last_digest = clock.steady_now();
    if (auto s = write_opening_lines(found, std::move(open_prompts)); !s.ok()) return fail(s);
    return {};
  }

  // ----- the writer ------------------------------------------------------------

  // Moves the live file to <path>.<N> (after its digest, with a signing key)
  // and opens a fresh one that starts with an anchor.
  Status rotate() {
    {  // the writer's fsync of this file, if one runs, ends first
      std::unique_lock lock(mu);
      sync_cv.wait(lock, [&] { return !syncing; });
    }
    std::string buffer;
    if (auto s = add_digest(buffer, "rotation"); !s.ok()) return s;
    if (auto s = write_out(buffer); !s.ok()) return s;
    if (options.durability != AuditDurability::never) {
      if (auto s = file->sync(); !s.ok()) return s;
      bytes_synced = bytes_out;
    }
    if (auto s = file->close(); !s.ok()) return s;
    file.reset();
    // Space reserved beyond the end of the file it leaves is given back.
    if (reserved_end > file_bytes) {
      if (auto s = env.truncate_file(options.path, file_bytes); !s.ok()) return s;
    }
    reserved_end = 0;
    const std::string rotated = rotated_audit_path(options.path, next_rotation);
    if (auto s = env.rename_file(options.path, rotated); !s.ok()) return s;
    ++next_rotation;
    if (auto s = env.open_appendable(options.path, file); !s.ok()) return s;
    if (auto s = env.sync_dir(directory_of(options.path)); !s.ok()) return s;
    file_bytes = 0;
    file_has_entries = false;
    format_line(buffer, anchor_event(rotated), head_time);
    return write_out(buffer);
  }

  // Formats and writes one batch, rotating as needed, then a digest when due
  // (`closing`: always, if lines are not yet covered by one).
  Status write_batch(const std::vector<Pending>& batch, bool closing) {
    std::string buffer;
    buffer.reserve(batch.size() * 512);  // a typical line is 350 to 450 bytes
    for (const auto& item : batch) {
      // The headroom is kept for the outcomes of frames already shown. A line
      // is written into it only if it must be: a refusal is told to its caller
      // anyway, and the SYNC_BROADCAST of a frame not yet sent is not needed,
      // since a failed reservation makes commit() fail and the frame is never
      // sent (its SYNC_FAILED line records it). A refused burst then costs one
      // line per prompt, not two.
      const bool refusal = is_refusal(item.event.type);
      if ((refusal || item.event.type == AuditEventType::sync_broadcast) &&
          !reserve_ahead(buffer.size() + kOptionalLineAllowance)) {
        if (refusal) ++refusals_dropped;
        continue;
      }
      if (auto s = add_line(buffer, item.event, item.at); !s.ok()) return s;
    }
    if (digest_due(closing)) {
      if (auto s = add_digest(buffer, closing ? "close" : digested ? "interval" : "first"); !s.ok()) return s;
    }
    return write_out(buffer);
  }

  // Keeps headroom_bytes reserved beyond the `n` bytes about to be written,
  // reserving reserve_bytes more at a time; false when the disk cannot give
  // more. Those bytes may still go into what is reserved: from now on nothing
  // more may be sent (space_error), while outcome lines keep the headroom.
  bool reserve_ahead(std::uint64_t n) {
    if (options.reserve_bytes == 0 || reservation_unsupported) return true;
    const std::uint64_t needed = file_bytes + n + options.headroom_bytes;
    if (needed <= reserved_end) return true;
    if (out_of_space) return false;  // asked the disk already
    const std::uint64_t from = std::max(reserved_end, file_bytes);
    const std::uint64_t to = needed + options.reserve_bytes;
    const Status s = file->reserve(from, to - from);
    if (s.ok()) {
      reserved_end = to;
      return true;
    }
    if (s.code == std::errc::operation_not_supported) {
      reservation_unsupported = true;  // a failed write still stops sending: only the headroom is lost
      return true;
    }
    out_of_space = true;
    std::lock_guard lock(mu);
    if (space_error) return false;
    space_error = AuditErrc::no_space;
    space_message = fmt::format("audit log {}: cannot reserve {} bytes ahead: {}; sending stopped", options.path,
                                to - from, s.message);
    return false;
  }

  Status write_out(std::string& buffer) {
    if (buffer.empty()) return {};
    reserve_ahead(buffer.size());
    if (auto s = file->append(buffer); !s.ok()) return s;
    if (auto s = file->flush(); !s.ok()) return s;
    file_bytes += buffer.size();
    bytes_out += buffer.size();
    buffer.clear();
    return {};
  }

  bool sync_due(bool requested) const {
    if (bytes_out <= bytes_synced) return false;
    switch (options.durability) {
      case AuditDurability::group_commit: return true;
      case AuditDurability::interval: return requested || clock.steady_now() - last_sync >= options.sync_interval;
      case AuditDurability::never: return false;
    }
    return false;
  }

  // When the writer has work without an append: an interval fsync or a
  // digest falling due. nullopt when neither can. With the turn; published
  // (timed_at) for the writer's wait.
  std::optional<Clock::steady_time> timed_work_at() const {
    std::optional<Clock::steady_time> at;
    if (options.durability == AuditDurability::interval && bytes_out > bytes_synced)
      at = last_sync + options.sync_interval;
    if (signer && lines_since_digest > 0) {
      const auto digest_at = last_digest + options.digest_interval;
      at = at ? std::min(*at, digest_at) : digest_at;
    }
    return at;
  }

  // After a batch of `taken` events was written (or failed with `status`),
  // under both locks: the accounting, and whether on_failure is now due
  // (its message; the caller calls it outside the locks, then wakes the
  // waiters: flush() must not return before on_failure has run).
  std::optional<std::string> account(std::size_t taken, const Status& status) {
    const bool newly_failed = !status.ok() && !error;
    if (!status.ok()) fail_locked(status.code, status.message);
    const bool newly_short = space_error && !space_reported && !error;
    if (newly_short) space_reported = true;
    completed += taken;
    if (!error) published_head = head;
    timed_at = error ? std::nullopt : timed_work_at();
    if ((newly_failed || newly_short) && options.on_failure) return newly_failed ? error_message : space_message;
    done_cv.notify_all();
    return std::nullopt;
  }

  // Waits, with `lock` held, until there is work: appends, an fsync or a
  // stop asked for, or timed work due (an interval fsync, a digest). Batches
  // start at most every batch_delay unless full or asked for: the rest of
  // the flow gathers into the next one.
  void wait_for_work(std::unique_lock<std::mutex>& lock) {
    while (queue.empty() && !stopping && !sync_requested) {
      writer_idle = true;
      if (!timed_at || error) {
        writer_cv.wait(lock);
        continue;
      }
      const auto wait = *timed_at - clock.steady_now();
      if (wait <= Clock::steady_time::duration::zero()) break;
      writer_cv.wait_for(lock, wait);
    }
    writer_idle = false;
    if (const auto wait = last_batch + options.batch_delay - clock.steady_now();
        !queue.empty() && wait > Clock::steady_time::duration::zero()) {
      writer_cv.wait_for(lock, wait, [&] { return queue.size() >= kFullBatch || stopping || sync_requested; });
    }
    last_batch = clock.steady_now();
  }

  // The fsync a cycle owes once its batch is written.
  struct SyncDue {
    bool now = false;
    std::uint64_t upto = 0;        // bytes_out once the batch was written
    WritableFile* file = nullptr;  // the file it went to
  };

  // With the I/O turn (so in order with the batches commit() takes): takes
  // the queue, writes it and accounts for it. Enters and returns with `lock`
  // held; the write itself runs without it.
  std::optional<std::string> write_queue(std::unique_lock<std::mutex>& lock, std::vector<Pending>& batch,
                                         bool closing, bool requested, SyncDue& due) {
    io_cv.wait(lock, [&] { return !io_busy; });
    io_busy = true;
    batch.swap(queue);
    const bool failed = static_cast<bool>(error);
    lock.unlock();
    Status status;
    if (!failed) {
      status = write_batch(batch, closing);
      due.now = status.ok() && sync_due(requested);
    }
    due.upto = bytes_out;
    due.file = file.get();
    lock.lock();
    auto failure = account(batch.size(), status);
    if (due.now) syncing = true;
    io_busy = false;
    io_cv.notify_all();
    lock.unlock();
    batch.clear();  // freed here, not under a lock
    lock.lock();
    return failure;
  }

  // fsyncs what the cycle wrote; appends and commit()s go on meanwhile, a
  // rotation waits for it. Enters and returns with `lock` held.
  std::optional<std::string> sync_written(std::unique_lock<std::mutex>& lock, const SyncDue& due) {
    lock.unlock();
    const Status status = due.file->sync();
    lock.lock();
    syncing = false;  // first: a rotation holding the turn may be waiting for this
    sync_cv.notify_all();
    io_cv.wait(lock, [&] { return !io_busy; });
    io_busy = true;
    lock.unlock();
    if (status.ok()) {
      bytes_synced = std::max(bytes_synced, due.upto);
      last_sync = clock.steady_now();
    }
    lock.lock();
    auto failure = account(0, status);
    io_busy = false;
    io_cv.notify_all();
    return failure;
  }

  // The writer thread: one cycle (wait, write, fsync per the policy) at a time.
  void run() {
    std::vector<Pending> batch;
    std::unique_lock lock(mu);
    for (;;) {
      wait_for_work(lock);
      const bool requested = sync_requested || stopping;
      const bool closing = stopping;
      sync_requested = false;
      ++cycles_started;
      lock.unlock();

      lock.lock();
      SyncDue due;
      auto failure = write_queue(lock, batch, closing, requested, due);
      if (due.now) {
        if (auto f = sync_written(lock, due)) failure = f;
      }
      if (failure) {  // before this cycle counts as done: flush() returns after it
        lock.unlock();
        options.on_failure(*failure);
        lock.lock();
      }
      ++cycles_done;
      done_cv.notify_all();
      // Only a batch taken after close() asked ends the writer: one taken
      // before still leaves the closing digest and fsync to do.
      if (closing && queue.empty()) return;
    }
  }
};

std::string_view to_string(AuditBeforeSend before_send) {
  switch (before_send) {
    case AuditBeforeSend::write: return "write";
    case AuditBeforeSend::fsync: return "fsync";
  }
  return "write";
}

std::optional<AuditBeforeSend> parse_audit_before_send(std::string_view name) {
  for (const auto value : {AuditBeforeSend::write, AuditBeforeSend::fsync})
    if (name == to_string(value)) return value;
  return std::nullopt;
}

std::string_view to_string(AuditDurability durability) {
  switch (durability) {
    case AuditDurability::group_commit: return "group_commit";
    case AuditDurability::interval: return "interval";
    case AuditDurability::never: return "never";
  }
  return "group_commit";
}

std::optional<AuditDurability> parse_audit_durability(std::string_view name) {
  for (const auto value : {AuditDurability::group_commit, AuditDurability::interval, AuditDurability::never})
    if (name == to_string(value)) return value;
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
  if (auto ec = d.recover_and_open()) return ec;
  d.last_sync = d.clock.steady_now();
  std::lock_guard lock(d.mu);
  d.published_head = d.head;
  d.timed_at = d.timed_work_at();
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
  // The first event wakes an idle writer; a full batch ends its batch_delay
  // early. Nothing else would end a wait: a writer waiting out batch_delay
  // woken for an event more would only sleep again, and under load (each
  // commit() empties the queue) that was a context switch per burst.
  if ((d.queue.size() == 1 && d.writer_idle) || d.queue.size() == Impl::kFullBatch) d.writer_cv.notify_one();
  return {};
}

std::error_code AuditLog::status() const {
  std::lock_guard lock(impl_->mu);
  return impl_->error ? impl_->error : impl_->space_error;
}

std::string AuditLog::status_message() const {
  std::lock_guard lock(impl_->mu);
  return impl_->error ? impl_->error_message : impl_->space_message;
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

std::error_code AuditLog::commit(std::chrono::milliseconds max_wait) {
  Impl& d = *impl_;
  const auto wait = std::min(d.options.commit_timeout, max_wait);
  const auto answer = [&] { return d.error ? d.error : d.space_error; };
  {
    std::lock_guard lock(d.mu);
    if (d.error || d.space_error) return answer();
    if (!d.open || d.stopping) return d.closed ? AuditErrc::closed : AuditErrc::not_open;
  }
  // Written here, on the caller's thread: no hand-off to the writer, and no
  // wait for an fsync the writer may be in. Only a writer stuck in a write
  // (a stalled disk) makes this wait, for at most commit_timeout.
  std::vector<Impl::Pending> batch;
  std::unique_lock lock(d.mu);
  if (!d.io_cv.wait_for(lock, wait, [&] { return !d.io_busy; })) return AuditErrc::stalled;
  d.io_busy = true;
  batch.swap(d.queue);
  const bool failed = static_cast<bool>(d.error);
  lock.unlock();
  Status status;
  if (!failed && !batch.empty()) status = d.write_batch(batch, false);
  lock.lock();
  const auto failure = d.account(batch.size(), status);
  d.io_busy = false;
  d.io_cv.notify_all();
  lock.unlock();
  if (failure) {
    d.options.on_failure(*failure);
    d.done_cv.notify_all();
  }
  if (d.options.before_send == AuditBeforeSend::fsync && d.options.durability != AuditDurability::never) {
    // The writer's next cycle syncs the file, these lines with it (group commit).
    lock.lock();
    if (d.error || d.stopping) return answer();
    const std::uint64_t cycle = d.cycles_started + 1;
    d.sync_requested = true;
    d.writer_cv.notify_one();
    if (!d.done_cv.wait_for(lock, wait, [&] { return d.error || d.cycles_done >= cycle; }))
      return AuditErrc::stalled;
    return answer();
  }
  lock.lock();
  return answer();
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

std::uint64_t AuditLog::refusals_dropped() const { return impl_->refusals_dropped.load(); }

std::size_t AuditLog::pending() const {
  // `completed` first: it never passes `accepted`, which only grows.
  const std::uint64_t done = impl_->completed.load();
  return static_cast<std::size_t>(impl_->accepted.load() - done);
}

AuditHead AuditLog::head() const {
  std::lock_guard lock(impl_->mu);
  return impl_->published_head;
}

}  // namespace assist
