#include "audit/audit_line.h"

#include <array>
#include <cassert>
#include <chrono>
#include <cmath>
#include <memory>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <openssl/evp.h>


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

// The object of one line, kept per thread and refilled for each line: no
// object is built (with Boost.JSON's duplicate-key check) and, once the
// strings have grown to their usual sizes, nothing is allocated. Members
// keep their insertion order, which is the line's key order.
class LineObject {
 public:
  LineObject() {
    object_.reserve(kMembers);  // the pointers below stay valid: no reallocation
    seq_ = add("seq", 0u);
    timestamp_ = text("timestamp");
    event_type_ = text("event_type");
    session_id_ = text("session_id");
    agent_id_ = text("agent_id");
    interaction_id_ = text("interaction_id");
    frame_id_ = text("frame_id");
    sequence_ = add("sequence", nullptr);
    priority_override_ = add("priority_override", false);
    relevance_score_ = add("relevance_score", 0.0);
    latency_seconds_ = add("latency_seconds", nullptr);
    success_ = add("success", false);
    code_ = text("code");
    reason_ = text("reason");
    detail_ = text("detail");
    prev_sha256_ = text("prev_sha256");
    assert(object_.size() == kMembers);
  }

  void append(std::string& out, std::uint64_t seq, double unix_seconds, const AuditEvent& event,
              std::string_view prev_sha256) {
    *seq_ = seq;
    timestamp_->assign(iso8601_utc_ms(unix_seconds));
    event_type_->assign(to_string(event.type));
    session_id_->assign(event.session_id);
    agent_id_->assign(event.agent_id);
    interaction_id_->assign(event.interaction_id);
    frame_id_->assign(event.frame_id);
    if (event.sequence) *sequence_ = *event.sequence;
    else *sequence_ = nullptr;
    *priority_override_ = event.priority_override;
    *relevance_score_ = event.relevance_score;
    if (event.latency_seconds) *latency_seconds_ = *event.latency_seconds;
    else *latency_seconds_ = nullptr;
    *success_ = event.success;
    code_->assign(event.code);
    reason_->assign(event.reason);
    detail_->assign(event.detail);
    prev_sha256_->assign(prev_sha256);
    serializer_.reset(&object_);
    std::array<char, 1024> chunk;
    while (!serializer_.done()) out += serializer_.read(chunk.data(), chunk.size());
  }

 private:
  template <typename T>
  json::value* add(std::string_view key, T initial) {
    return &object_.emplace(key, initial).first->value();
  }
  json::string* text(std::string_view key) { return &add(key, json::string())->get_string(); }

  static constexpr std::size_t kMembers = 16;
  json::object object_;
  json::serializer serializer_;
  json::value* seq_;
  json::string* timestamp_;
  json::string* event_type_;
  json::string* session_id_;
  json::string* agent_id_;
  json::string* interaction_id_;
  json::string* frame_id_;
  json::value* sequence_;
  json::value* priority_override_;
  json::value* relevance_score_;
  json::value* latency_seconds_;
  json::value* success_;
  json::string* code_;
  json::string* reason_;
  json::string* detail_;
  json::string* prev_sha256_;
};

}  // namespace

void append_line(std::string& out, std::uint64_t seq, double unix_seconds, const AuditEvent& event,
                 std::string_view prev_sha256) {
  thread_local LineObject line;
  line.append(out, seq, unix_seconds, event, prev_sha256);
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
