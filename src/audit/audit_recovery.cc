#include "audit/audit_recovery.h"

#include <algorithm>
#include <optional>
#include <unordered_set>

#include "audit/audit_line.h"

namespace assist::audit_detail {

ReverseLineReader::ReverseLineReader(Env& env, std::string path, std::uint64_t size)
    : env_(env), path_(std::move(path)), offset_(size) {}

bool ReverseLineReader::previous(std::string& out, Status& status) {
  static constexpr std::uint64_t kChunk = 256 * 1024;
  while (!done_) {
    if (const auto newline = buffer_.rfind('\n'); newline != std::string::npos) {
      out.assign(buffer_, newline + 1);
      buffer_.resize(newline);
      return true;
    }
    if (offset_ == 0) {
      out = std::move(buffer_);
      buffer_.clear();
      done_ = true;
      return true;
    }
    const std::uint64_t n = std::min(kChunk, offset_);
    std::string chunk;
    if (status = env_.read_at(path_, offset_ - n, static_cast<std::size_t>(n), chunk); !status.ok()) return false;
    if (chunk.size() != n) {  // the file shrank under us: nothing sensible to read
      status = Status::from_errno(EIO, "read", path_);
      return false;
    }
    offset_ -= n;
    buffer_.insert(0, chunk);
  }
  return false;
}

Status find_open_prompts(Env& env, const std::vector<std::pair<std::string, std::uint64_t>>& files,
                           std::chrono::seconds window, std::vector<AuditEvent>& open) {
  // frame_ids as written (escaped) with a terminal line later in the log, and already in `open`
  std::unordered_set<std::string> ended;
  std::unordered_set<std::string> seen;
  std::optional<double> cutoff;
  bool window_passed = false;
  for (const auto& [path, size] : files) {
    ReverseLineReader reader(env, path, size);
    std::string line;
    Status status;
    if (!reader.previous(line, status)) return status;  // the torn tail, if any: not a line
    while (reader.previous(line, status)) {
      // Most lines need three members: found without a JSON parse.
      const auto timestamp = peek_string_member(line, "timestamp");
      const auto type = peek_string_member(line, "event_type");
      const auto frame_id = peek_string_member(line, "frame_id");
      if (!timestamp || !type || !frame_id) continue;  // not an audit line: verify reports it
      double at = 0.0;
      if (const auto parsed = parse_iso8601_utc_ms(*timestamp)) at = *parsed;
      else continue;
      if (!cutoff) cutoff = at - static_cast<double>(window.count());
      if (at < *cutoff) {
        window_passed = true;
        break;
      }
      const auto kind = parse_audit_event_type(*type);
      if (frame_id->empty() || !kind) continue;
      if (is_terminal(*kind)) {
        ended.emplace(*frame_id);
      } else if (*kind == AuditEventType::sync_broadcast && !ended.contains(std::string(*frame_id)) &&
                 !seen.contains(std::string(*frame_id))) {
        AuditEvent event;
        double unused = 0.0;
        std::string why;
        if (!parse_event(line, event, unused, why)) continue;
        seen.emplace(*frame_id);
        open.push_back(std::move(event));
      }
    }
    if (!status.ok()) return status;
    if (window_passed) break;
  }
  std::reverse(open.begin(), open.end());
  return {};
}

}  // namespace assist::audit_detail
