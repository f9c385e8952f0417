// The audit line format: building a line and reading back its chain fields
// (internal to the audit component).
#ifndef ASSIST_SRC_AUDIT_AUDIT_LINE_H
#define ASSIST_SRC_AUDIT_AUDIT_LINE_H

#include <cstdint>
#include <string>
#include <string_view>

#include "assist/audit.h"

namespace assist::audit_detail {

// prev_sha256 of the first line of a chain.
inline constexpr std::string_view kGenesisHash =
    "0000000000000000000000000000000000000000000000000000000000000000";

// SHA-256 of `bytes` as 64 lower-case hex digits.
std::string sha256_hex(std::string_view bytes);

// "2023-11-14T22:13:20.123Z" (UTC, milliseconds truncated).
std::string iso8601_utc_ms(double unix_seconds);

// Appends one JSON line, without the newline, to `out`: seq, the event's
// fields, prev_sha256.
void append_line(std::string& out, std::uint64_t seq, double unix_seconds, const AuditEvent& event,
                 std::string_view prev_sha256);

// The chain fields of a line.
struct ChainFields {
  std::uint64_t seq = 0;
  std::string prev_sha256;
};

// Parses `line` (no newline) as an audit line. On failure returns false and
// says why in `why`.
bool parse_chain_fields(std::string_view line, ChainFields& out, std::string& why);

}  // namespace assist::audit_detail

#endif
