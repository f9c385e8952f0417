// Audit lines, written and read back. For any event (well-formed UTF-8
// strings, any numbers) at a time between 1970 and 2106:
//   - append_line() writes one line (no raw line break) that reads back
//     field for field (a non-finite number as null), and
//     parse_chain_fields() gets its seq and prev_sha256;
//   - a chain of such lines verifies clean, and any change to a line other
//     than the last one (a changed byte, a line removed, duplicated or moved)
//     is reported by verify_audit().
#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "assist/audit.h"
#include "audit/audit_line.h"
#include "core/detail/json_parse.h"
#include "fuzz_input.h"
#include "temp_dir.h"

namespace {

using namespace assist;
namespace json = boost::json;

constexpr std::size_t kMaxChars = 40;

AuditEvent make_event(fuzz::ByteReader& in) {
  AuditEvent e;
  e.type = static_cast<AuditEventType>(in.byte() % 15);
  e.session_id = in.utf8(kMaxChars);
  e.agent_id = in.utf8(kMaxChars);
  e.interaction_id = in.utf8(kMaxChars);
  e.frame_id = in.utf8(kMaxChars);
  if (in.boolean()) e.sequence = in.integer<std::uint64_t>();
  e.priority_override = in.boolean();
  e.relevance_score = in.any_double();
  if (in.boolean()) e.latency_seconds = in.any_double();
  e.success = in.boolean();
  e.code = in.utf8(kMaxChars);
  e.reason = in.utf8(kMaxChars);
  e.detail = in.utf8(kMaxChars);
  return e;
}

std::string text_of(const json::object& line, std::string_view key) {
  const auto* v = line.if_contains(key);
  FUZZ_CHECK(v != nullptr && v->is_string());
  return std::string(v->get_string());
}

bool number_or_null(const json::value& v, double expected) {
  return std::isfinite(expected) ? v.to_number<double>() == expected : v.is_null();
}

void check_reads_back(const std::string& line, std::uint64_t seq, double at, const AuditEvent& e,
                      const std::string& prev) {
  FUZZ_CHECK(line.find('\n') == std::string::npos && line.find('\r') == std::string::npos);
  audit_detail::ChainFields chain;
  std::string why;
  FUZZ_CHECK(audit_detail::parse_chain_fields(line, chain, why));
  FUZZ_CHECK(chain.seq == seq && chain.prev_sha256 == prev);

  boost::system::error_code ec;
  const auto doc = detail::parse_json_exact(line, ec);
  FUZZ_CHECK(!ec && doc.is_object());
  const auto& o = doc.get_object();
  FUZZ_CHECK(text_of(o, "timestamp") == audit_detail::iso8601_utc_ms(at));
  FUZZ_CHECK(text_of(o, "event_type") == to_string(e.type));
  FUZZ_CHECK(text_of(o, "session_id") == e.session_id && text_of(o, "agent_id") == e.agent_id);
  FUZZ_CHECK(text_of(o, "interaction_id") == e.interaction_id && text_of(o, "frame_id") == e.frame_id);
  FUZZ_CHECK(text_of(o, "code") == e.code && text_of(o, "reason") == e.reason && text_of(o, "detail") == e.detail);
  FUZZ_CHECK(e.sequence ? o.at("sequence").to_number<std::uint64_t>() == *e.sequence : o.at("sequence").is_null());
  FUZZ_CHECK(o.at("priority_override").as_bool() == e.priority_override && o.at("success").as_bool() == e.success);
  FUZZ_CHECK(number_or_null(o.at("relevance_score"), e.relevance_score));
  FUZZ_CHECK(e.latency_seconds ? number_or_null(o.at("latency_seconds"), *e.latency_seconds)
                               : o.at("latency_seconds").is_null());
}

bool verifies_clean(const std::string& path, const std::vector<std::string>& lines) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    for (const auto& line : lines) out << line << '\n';
    FUZZ_CHECK(out.good());
  }
  const std::vector<std::string> files{path};
  return verify_audit(files).ok();
}

// One change to a line other than the last, chosen by the input.
void tamper(fuzz::ByteReader& in, std::vector<std::string>& lines) {
  const std::size_t victim = in.byte() % (lines.size() - 1);
  switch (in.byte() % 4) {
    case 0: {
      auto& line = lines[victim];
      const std::size_t at = in.integer<std::uint16_t>() % line.size();
      const auto flip = static_cast<char>(in.byte() | 1);
      line[at] = static_cast<char>(line[at] ^ flip);
      break;
    }
    case 1: lines.erase(lines.begin() + static_cast<std::ptrdiff_t>(victim)); break;
    case 2: lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(victim), lines[victim]); break;
    default: std::swap(lines[victim], lines[victim + 1]); break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::ByteReader in(data, size);
  std::vector<std::string> lines;
  std::string prev(audit_detail::kGenesisHash);
  const std::size_t count = 1 + in.byte() % 6;
  for (std::uint64_t seq = 1; seq <= count; ++seq) {
    const auto event = make_event(in);
    const double at = static_cast<double>(in.integer<std::uint32_t>()) + in.integer<std::uint16_t>() / 65536.0;
    std::string line;
    audit_detail::append_line(line, seq, at, event, prev);
    check_reads_back(line, seq, at, event, prev);
    prev = audit_detail::sha256_hex(line);
    lines.push_back(std::move(line));
  }
  const std::string path = (fuzz::temp_dir() / "chain.jsonl").string();
  FUZZ_CHECK(verifies_clean(path, lines));
  if (lines.size() < 2) return 0;
  tamper(in, lines);
  FUZZ_CHECK(!verifies_clean(path, lines));
  return 0;
}
