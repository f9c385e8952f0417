#include "audit/audit_line.h"

#include <array>
#include <chrono>
#include <cmath>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <openssl/evp.h>

namespace assist::audit_detail {
namespace json = boost::json;

std::string sha256_hex(std::string_view bytes) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest.data(), &size, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(2 * size, '0');
  for (unsigned int i = 0; i < size; ++i) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 0x0f];
  }
  return out;
}

std::string iso8601_utc_ms(double unix_seconds) {
  using namespace std::chrono;
  const auto ms = sys_time<milliseconds>(milliseconds(static_cast<std::int64_t>(std::floor(unix_seconds * 1000.0))));
  const auto day = floor<days>(ms);
  const year_month_day date(day);
  const hh_mm_ss time(ms - day);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", static_cast<int>(date.year()),
                     static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()), time.hours().count(),
                     time.minutes().count(), time.seconds().count(), time.subseconds().count());
}

std::string format_line(std::uint64_t seq, double unix_seconds, const AuditEvent& event,
                        std::string_view prev_sha256) {
  json::object line;
  line.reserve(16);
  line["seq"] = seq;
  line["timestamp"] = iso8601_utc_ms(unix_seconds);
  line["event_type"] = to_string(event.type);
  line["session_id"] = event.session_id;
  line["agent_id"] = event.agent_id;
  line["interaction_id"] = event.interaction_id;
  line["frame_id"] = event.frame_id;
  if (event.sequence) line["sequence"] = *event.sequence;
  else line["sequence"] = nullptr;
  line["priority_override"] = event.priority_override;
  line["relevance_score"] = event.relevance_score;
  if (event.latency_seconds) line["latency_seconds"] = *event.latency_seconds;
  else line["latency_seconds"] = nullptr;
  line["success"] = event.success;
  line["code"] = event.code;
  line["reason"] = event.reason;
  line["detail"] = event.detail;
  line["prev_sha256"] = prev_sha256;
  return json::serialize(line);
}

namespace {

bool is_hex64(std::string_view s) {
  if (s.size() != 64) return false;
  for (const char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

bool parse_chain_fields(std::string_view line, ChainFields& out, std::string& why) {
  boost::system::error_code ec;
  const json::value value = json::parse(line, ec);
  if (ec) {
    why = fmt::format("not valid JSON ({})", ec.message());
    return false;
  }
  const json::object* obj = value.if_object();
  if (obj == nullptr) {
    why = "not a JSON object";
    return false;
  }
  const json::value* seq = obj->if_contains("seq");
  if (seq == nullptr || !(seq->is_uint64() || (seq->is_int64() && seq->get_int64() > 0))) {
    why = "no positive integer \"seq\"";
    return false;
  }
  const json::value* prev = obj->if_contains("prev_sha256");
  if (prev == nullptr || !prev->is_string() || !is_hex64(prev->get_string())) {
    why = "no 64-hex-digit \"prev_sha256\"";
    return false;
  }
  const json::value* type = obj->if_contains("event_type");
  if (type == nullptr || !type->is_string()) {
    why = "no \"event_type\"";
    return false;
  }
  out.seq = seq->is_uint64() ? seq->get_uint64() : static_cast<std::uint64_t>(seq->get_int64());
  out.prev_sha256 = std::string(prev->get_string());
  return true;
}

}  // namespace assist::audit_detail
