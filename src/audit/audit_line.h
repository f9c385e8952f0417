// The audit line format: building a line and reading back its chain fields
// (internal to the audit component).
#ifndef ASSIST_SRC_AUDIT_AUDIT_LINE_H
#define ASSIST_SRC_AUDIT_AUDIT_LINE_H

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "assist/audit.h"

namespace assist::audit_detail {

// prev_sha256 of the first line of a chain.
inline constexpr std::string_view kGenesisHash =
    "0000000000000000000000000000000000000000000000000000000000000000";

// SHA-256 of `bytes` as 64 lower-case hex digits.
std::string sha256_hex(std::string_view bytes);

// `bytes` as lower-case hex digits, two per byte.
std::string to_hex(std::string_view bytes);
// The bytes written as hex digits by to_hex; nullopt for an odd length or a
// non-hex digit.
std::optional<std::string> from_hex(std::string_view hex);

// "2023-11-14T22:13:20.123Z" (UTC, milliseconds truncated).
std::string iso8601_utc_ms(double unix_seconds);
// The Unix time of a timestamp written by iso8601_utc_ms; nullopt otherwise.
std::optional<double> parse_iso8601_utc_ms(std::string_view text);

// Appends one JSON line, without the newline, to `out`: seq, the event's
// fields, prev_sha256.
void append_line(std::string& out, std::uint64_t seq, double unix_seconds, const AuditEvent& event,
                 std::string_view prev_sha256);

// The chain fields of a line, and what the verifier reads of the log's own
// lines (anchors, digests, recoveries).
struct ChainFields {
  std::uint64_t seq = 0;
  std::string prev_sha256;
  std::string event_type;
  std::string timestamp;  // as written; empty when absent or not a string
  std::string detail;     // empty when absent or not a string
};

// Parses `line` (no newline) as an audit line. On failure returns false and
// says why in `why`.
bool parse_chain_fields(std::string_view line, ChainFields& out, std::string& why);

// The event a line records (for recovery: a SYNC_BROADCAST's prompt fields)
// and its timestamp. False, saying why, when `line` is not an audit line of a
// known event type.
bool parse_event(std::string_view line, AuditEvent& out, double& unix_seconds, std::string& why);

// The raw (still escaped) text of the string member `key` of a line written
// by append_line, found without parsing the line (recovery reads many lines
// and needs three members of each); nullopt when absent or not a string.
// A quote inside a string value is escaped, so only the real key matches.
std::optional<std::string_view> peek_string_member(std::string_view line, std::string_view key);

// The value of `key` in a detail of space-separated key=value items (values
// without spaces), as the log's own lines write them ("lines=12
// head_sha256=..."); nullopt when absent.
std::optional<std::string_view> detail_value(std::string_view detail, std::string_view key);

}  // namespace assist::audit_detail

#endif
