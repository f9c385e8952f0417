#include "audit/audit_line.h"

#include <array>
#include <chrono>
#include <cmath>
#include <memory>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <openssl/evp.h>

#include "core/detail/json_build.h"

namespace assist::audit_detail {
namespace json = boost::json;

std::string sha256_hex(std::string_view bytes) {
  // The algorithm is fetched once and each thread reuses its context: a
  // fetch by EVP_sha256() per call cost more than the hash of a line.
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  thread_local const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(),
                                                                                       &EVP_MD_CTX_free);
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  if (sha256 == nullptr || !context || EVP_DigestInit_ex(context.get(), sha256, nullptr) != 1 ||
      EVP_DigestUpdate(context.get(), bytes.data(), bytes.size()) != 1 ||
      EVP_DigestFinal_ex(context.get(), digest.data(), &size) != 1) {
    EVP_Digest(bytes.data(), bytes.size(), digest.data(), &size, EVP_sha256(), nullptr);
  }
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
  const auto second = floor<seconds>(ms);
  // Consecutive lines mostly share their second: its text is kept per thread.
  thread_local sys_seconds cached_second = sys_seconds::min();
  thread_local std::string cached_prefix;
  if (second != cached_second) {
    const auto day = floor<days>(second);
    const year_month_day date(day);
    const hh_mm_ss time(second - day);
    cached_prefix = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", static_cast<int>(date.year()),
                                static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                                time.hours().count(), time.minutes().count(), time.seconds().count());
    cached_second = second;
  }
  const auto millis = static_cast<unsigned>((ms - second).count());
  std::string out;
  out.reserve(cached_prefix.size() + 5);
  out += cached_prefix;
  out += '.';
  out += static_cast<char>('0' + millis / 100);
  out += static_cast<char>('0' + millis / 10 % 10);
  out += static_cast<char>('0' + millis % 10);
  out += 'Z';
  return out;
}

namespace {

json::value json_number(double v) { return std::isfinite(v) ? json::value(v) : json::value(nullptr); }

}  // namespace

void append_line(std::string& out, std::uint64_t seq, double unix_seconds, const AuditEvent& event,
                 std::string_view prev_sha256) {
  enum {
    kSeq, kTimestamp, kEventType, kSessionId, kAgentId, kInteractionId, kFrameId, kSequence,
    kPriorityOverride, kRelevanceScore, kLatencySeconds, kSuccess, kCode, kReason, kDetail, kPrevSha256,
  };
  // The writer thread's line: refilled for each event (see FixedJsonObject).
  thread_local detail::FixedJsonObject line({"seq", "timestamp", "event_type", "session_id", "agent_id",
                                             "interaction_id", "frame_id", "sequence", "priority_override",
                                             "relevance_score", "latency_seconds", "success", "code", "reason",
                                             "detail", "prev_sha256"});
  line.at(kSeq) = seq;
  line.text(kTimestamp, iso8601_utc_ms(unix_seconds));
  line.text(kEventType, to_string(event.type));
  line.text(kSessionId, event.session_id);
  line.text(kAgentId, event.agent_id);
  line.text(kInteractionId, event.interaction_id);
  line.text(kFrameId, event.frame_id);
  if (event.sequence) line.at(kSequence) = *event.sequence;
  else line.at(kSequence) = nullptr;
  line.at(kPriorityOverride) = event.priority_override;
  // JSON has no NaN or infinity (Boost.JSON would write a bare Infinity and
  // break the line): a non-finite number is written as null.
  line.at(kRelevanceScore) = json_number(event.relevance_score);
  line.at(kLatencySeconds) = event.latency_seconds ? json_number(*event.latency_seconds) : json::value(nullptr);
  line.at(kSuccess) = event.success;
  line.text(kCode, event.code);
  line.text(kReason, event.reason);
  line.text(kDetail, event.detail);
  line.text(kPrevSha256, prev_sha256);
  line.serialize_onto(out);
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
