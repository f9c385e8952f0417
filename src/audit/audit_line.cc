#include "audit/audit_line.h"

#include <algorithm>
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
  return to_hex(std::string_view(reinterpret_cast<const char*>(digest.data()), size));
}

std::string to_hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(2 * bytes.size(), '0');
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const auto byte = static_cast<unsigned char>(bytes[i]);
    out[2 * i] = kHex[byte >> 4];
    out[2 * i + 1] = kHex[byte & 0x0f];
  }
  return out;
}

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  const auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out(hex.size() / 2, '\0');
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int high = digit(hex[2 * i]);
    const int low = digit(hex[2 * i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    out[i] = static_cast<char>(high * 16 + low);
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

std::optional<double> parse_iso8601_utc_ms(std::string_view text) {
  // "YYYY-MM-DDTHH:MM:SS.mmmZ", exactly as iso8601_utc_ms writes it.
  static constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (text.size() != kShape.size()) return std::nullopt;
  for (std::size_t i = 0; i < kShape.size(); ++i) {
    const bool want_digit = kShape[i] == 'd';
    const bool is_digit = text[i] >= '0' && text[i] <= '9';
    if (want_digit != is_digit || (!want_digit && text[i] != kShape[i])) return std::nullopt;
  }
  const auto number = [&](std::size_t at, std::size_t n) {
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) v = v * 10 + (text[i] - '0');
    return v;
  };
  using namespace std::chrono;
  const year_month_day date{year(number(0, 4)), month(static_cast<unsigned>(number(5, 2))),
                            day(static_cast<unsigned>(number(8, 2)))};
  const int hour = number(11, 2), minute = number(14, 2), second = number(17, 2);
  if (!date.ok() || hour > 23 || minute > 59 || second > 59) return std::nullopt;
  const auto whole = sys_days(date).time_since_epoch() + hours(hour) + minutes(minute) + seconds(second);
  return static_cast<double>(duration_cast<milliseconds>(whole).count() + number(20, 3)) / 1000.0;
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

std::string string_member(const json::object& obj, std::string_view key) {
  const json::value* v = obj.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

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
  out.event_type = std::string(type->get_string());
  out.timestamp = string_member(*obj, "timestamp");
  out.detail = string_member(*obj, "detail");
  return true;
}

bool parse_event(std::string_view line, AuditEvent& out, double& unix_seconds, std::string& why) {
  boost::system::error_code ec;
  const json::value value = json::parse(line, ec);
  const json::object* obj = ec ? nullptr : value.if_object();
  if (obj == nullptr) {
    why = ec ? fmt::format("not valid JSON ({})", ec.message()) : "not a JSON object";
    return false;
  }
  const auto type = parse_audit_event_type(string_member(*obj, "event_type"));
  if (!type) {
    why = "no known \"event_type\"";
    return false;
  }
  const auto at = parse_iso8601_utc_ms(string_member(*obj, "timestamp"));
  if (!at) {
    why = "no \"timestamp\" of the form 2023-11-14T22:13:20.123Z";
    return false;
  }
  out = AuditEvent{};
  out.type = *type;
  out.session_id = string_member(*obj, "session_id");
  out.agent_id = string_member(*obj, "agent_id");
  out.interaction_id = string_member(*obj, "interaction_id");
  out.frame_id = string_member(*obj, "frame_id");
  if (const auto* sequence = obj->if_contains("sequence"); sequence != nullptr && sequence->is_uint64())
    out.sequence = sequence->get_uint64();
  else if (sequence != nullptr && sequence->is_int64() && sequence->get_int64() >= 0)
    out.sequence = static_cast<std::uint64_t>(sequence->get_int64());
  if (const auto* flag = obj->if_contains("priority_override"); flag != nullptr && flag->is_bool())
    out.priority_override = flag->get_bool();
  if (const auto* score = obj->if_contains("relevance_score"); score != nullptr && score->is_number())
    out.relevance_score = score->to_number<double>();
  unix_seconds = *at;
  return true;
}

std::optional<std::string_view> peek_string_member(std::string_view line, std::string_view key) {
  const std::string pattern = fmt::format("\"{}\":\"", key);
  const auto at = line.find(pattern);
  if (at == std::string_view::npos) return std::nullopt;
  const auto start = at + pattern.size();
  for (auto i = start; i < line.size(); ++i) {
    if (line[i] == '\\') ++i;  // an escaped character, whatever it is
    else if (line[i] == '"') return line.substr(start, i - start);
  }
  return std::nullopt;
}

std::optional<std::string_view> detail_value(std::string_view detail, std::string_view key) {
  for (std::size_t start = 0; start < detail.size();) {
    const auto end = std::min(detail.find(' ', start), detail.size());
    const std::string_view item = detail.substr(start, end - start);
    if (item.size() > key.size() && item.starts_with(key) && item[key.size()] == '=')
      return item.substr(key.size() + 1);
    start = end + 1;
  }
  return std::nullopt;
}

}  // namespace assist::audit_detail
