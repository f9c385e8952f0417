#include "assist/frame.h"
#include "core/prompt_sync_parts.h"

#include <array>
#include <cassert>
#include <cmath>
#include <limits>
#include <type_traits>

#include <boost/json.hpp>
// Boost.JSON is compiled here, in header-only mode, for the whole project:
// the codec's hot paths inline it, and no component links Boost::json.
#include <boost/json/src.hpp>
#include <fmt/format.h>

#include "core/detail/json_build.h"
#include "core/detail/json_parse.h"

namespace assist {
namespace json = boost::json;

namespace {

// ----- error category ------------------------------------------------------

class FrameCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "assist.frame"; }
  std::string message(int ev) const override {
    switch (static_cast<FrameErrc>(ev)) {
      case FrameErrc::malformed_json: return "malformed JSON";
      case FrameErrc::not_an_object: return "frame is not a JSON object";
      case FrameErrc::missing_field: return "required field missing";
      case FrameErrc::wrong_type: return "field has the wrong type";
      case FrameErrc::out_of_range: return "number out of range";
      case FrameErrc::bad_value: return "field has a forbidden value";
    }
    return "unknown frame error";
  }
};

// ----- decoding -------------------------------------------------------------

// A location in the frame, rendered only when an error is reported.
struct Path {
  const Path* parent = nullptr;
  std::string_view key;   // member name, or empty for an array element
  std::ptrdiff_t index = -1;
};

void render(const Path* p, std::string& out) {
  if (p == nullptr) return;
  render(p->parent, out);
  if (p->index >= 0) {
    out += fmt::format("[{}]", p->index);
  } else if (!p->key.empty()) {
    if (!out.empty()) out += '.';
    out += p->key;
  }
}

std::string_view kind_name(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "a boolean";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_: return "a number";
    case json::kind::string: return "a string";
    case json::kind::array: return "an array";
    case json::kind::object: return "an object";
  }
  return "something else";
}

enum class Need { required, optional };

class Decoder {
 public:
  bool fail(FrameErrc code, const Path& at, std::string_view what) {
    std::string where;
    render(&at, where);
    error.code = make_error_code(code);
    error.message = where.empty() ? std::string(what) : fmt::format("{}: {}", where, what);
    return false;
  }
  bool wrong_type(const Path& at, std::string_view expected, const json::value& got) {
    return fail(FrameErrc::wrong_type, at, fmt::format("expected {}, got {}", expected, kind_name(got)));
  }

  // The member `at.key` of `obj`; null when absent (an error when required).
  const json::value* member(const json::object& obj, const Path& at, Need need) {
    if (const auto* v = obj.if_contains(at.key)) return v;
    if (need == Need::required) fail(FrameErrc::missing_field, at, "is required");
    return nullptr;
  }

  bool string(const json::object& obj, const Path& parent, std::string_view key, std::string& out,
              Need need = Need::required) {
    const Path at{&parent, key};
    const auto* v = member(obj, at, need);
    if (v == nullptr) return need == Need::optional;
    return string_value(*v, at, out);
  }
  bool string_value(const json::value& v, const Path& at, std::string& out) {
    const auto* s = v.if_string();
    if (s == nullptr) return wrong_type(at, "a string", v);
    out.assign(s->data(), s->size());
    return true;
  }

  template <class Int>
  bool integer(const json::object& obj, const Path& parent, std::string_view key, Int& out,
               Need need = Need::required) {
    const Path at{&parent, key};
    const auto* v = member(obj, at, need);
    if (v == nullptr) return need == Need::optional;
    // A whole number written with a fraction (100.0) is still a whole number:
    // accept what the contract allows, whatever the writer's JSON library did.
    const bool whole_double = v->is_double() && std::isfinite(v->get_double()) &&
                              std::trunc(v->get_double()) == v->get_double();
    if (!v->is_int64() && !v->is_uint64() && !whole_double) return wrong_type(at, "an integer", *v);
    boost::system::error_code ec;
    const auto n = v->to_number<Int>(ec);
    if (ec) return fail(FrameErrc::out_of_range, at, "does not fit its range");
    out = n;
    return true;
  }
  // A member that may be absent (Need::optional): `out` is left unset then.
  bool number(const json::object& obj, const Path& parent, std::string_view key, std::optional<double>& out,
              Need need) {
    if (need == Need::optional && !obj.contains(key)) return true;
    double n = 0;
    if (!number(obj, parent, key, n)) return false;
    out = n;
    return true;
  }

  bool number(const json::object& obj, const Path& parent, std::string_view key, double& out,
              Need need = Need::required) {
    const Path at{&parent, key};
    const auto* v = member(obj, at, need);
    if (v == nullptr) return need == Need::optional;
    double n = 0;
    if (v->is_double()) n = v->get_double();
    else if (v->is_int64()) n = static_cast<double>(v->get_int64());
    else if (v->is_uint64()) n = static_cast<double>(v->get_uint64());
    else return wrong_type(at, "a number", *v);
    // 1e999 parses as infinity, which no encoder can write back as JSON.
    if (!std::isfinite(n)) return fail(FrameErrc::out_of_range, at, "does not fit a double");
    out = n;
    return true;
  }

  bool boolean(const json::object& obj, const Path& parent, std::string_view key, bool& out,
               Need need = Need::required) {
    const Path at{&parent, key};
    const auto* v = member(obj, at, need);
    if (v == nullptr) return need == Need::optional;
    if (!v->is_bool()) return wrong_type(at, "a boolean", *v);
    out = v->get_bool();
    return true;
  }

  const json::object* object(const json::object& obj, const Path& at) {
    const auto* v = member(obj, at, Need::required);
    if (v == nullptr) return nullptr;
    if (!v->is_object()) { wrong_type(at, "an object", *v); return nullptr; }
    return &v->get_object();
  }

  const json::array* array(const json::object& obj, const Path& at, Need need) {
    const auto* v = member(obj, at, need);
    if (v == nullptr) return nullptr;
    if (!v->is_array()) { wrong_type(at, "an array", *v); return nullptr; }
    return &v->get_array();
  }

  bool snippet(const json::value& v, const Path& at, KnowledgeSnippet& s) {
    const auto* obj = v.if_object();
    if (obj == nullptr) return wrong_type(at, "an object", v);
    if (!string(*obj, at, "snippet_id", s.snippet_id) || !string(*obj, at, "content", s.content) ||
        !string(*obj, at, "source_system", s.source_system))
      return false;
    const Path tags_at{&at, "tags"};
    const auto* tags = array(*obj, tags_at, Need::optional);
    if (tags == nullptr) return !error.code;  // absent is fine, wrong type is not
    s.tags.resize(tags->size());
    for (std::size_t i = 0; i < tags->size(); ++i) {
      if (!string_value((*tags)[i], Path{&tags_at, {}, static_cast<std::ptrdiff_t>(i)}, s.tags[i]))
        return false;
    }
    return true;
  }

  // `submitted`: a prompt object from a user (HTTP API, JSONL) rather than a
  // frame: priority_level, relevance_score, timestamp and ttl_seconds may be
  // absent and keep AssistPrompt's defaults.
  bool prompt(const json::object& obj, const Path& at, AssistPrompt& p, bool submitted = false) {
    const Need optional_when_submitted = submitted ? Need::optional : Need::required;
    if (!string(obj, at, "session_id", p.session_id) || !string(obj, at, "agent_id", p.agent_id) ||
        !string(obj, at, "interaction_id", p.interaction_id))
      return false;
    const Path snippets_at{&at, "snippets"};
    const auto* snippets = array(obj, snippets_at, Need::required);
    if (snippets == nullptr) return false;
    p.snippets.resize(snippets->size());
    for (std::size_t i = 0; i < snippets->size(); ++i) {
      if (!snippet((*snippets)[i], Path{&snippets_at, {}, static_cast<std::ptrdiff_t>(i)}, p.snippets[i]))
        return false;
    }
    return boolean(obj, at, "priority_override", p.priority_override, Need::optional) &&
           integer(obj, at, "priority_level", p.priority_level, optional_when_submitted) &&
           number(obj, at, "relevance_score", p.relevance_score, optional_when_submitted) &&
           number(obj, at, "timestamp", p.timestamp, optional_when_submitted) &&
           integer(obj, at, "ttl_seconds", p.ttl_seconds, optional_when_submitted);
  }

  DecodeError error;
};

const Path root{};

DecodeError error_of(FrameErrc code, std::string message) {
  DecodeError e;
  e.code = make_error_code(code);
  e.message = std::move(message);
  return e;
}

template <class F>
DecodeResult finish(Decoder& d, bool ok, F&& frame) {
  if (!ok) return std::move(d.error);
  return Frame(std::forward<F>(frame));
}

// One decoder per frame type: the members after "type".

DecodeResult decode_ack(const json::object& obj, Decoder& d) {
  Ack f;
  return finish(d, d.string(obj, root, "frame_id", f.frame_id) && d.integer(obj, root, "sequence", f.sequence) &&
                       d.boolean(obj, root, "duplicate", f.duplicate, Need::optional),
                std::move(f));
}

DecodeResult decode_prompt_sync(const json::object& obj, Decoder& d) {
  PromptSync f;
  const bool head = d.string(obj, root, "frame_id", f.frame_id) && d.integer(obj, root, "sequence", f.sequence);
  // Keep what identifies the frame so a refusal can name it.
  d.error.frame_id = f.frame_id;
  d.error.sequence = f.sequence;
  if (!head) return std::move(d.error);
  const Path payload_at{&root, "payload"};
  const auto* payload = d.object(obj, payload_at);
  return finish(d, payload != nullptr && d.prompt(*payload, payload_at, f.payload), std::move(f));
}

DecodeResult decode_nack(const json::object& obj, Decoder& d) {
  Nack f;
  const bool ok = d.string(obj, root, "frame_id", f.frame_id) &&
                  d.integer(obj, root, "sequence", f.sequence, Need::optional) &&
                  d.string(obj, root, "code", f.code_text) && d.string(obj, root, "reason", f.reason, Need::optional);
  f.code = nack_code_from_string(f.code_text);
  return finish(d, ok, std::move(f));
}

DecodeResult decode_hello(const json::object& obj, Decoder& d) {
  Hello f;
  return finish(d, d.string(obj, root, "connection_id", f.connection_id) &&
                       d.integer(obj, root, "max_sessions", f.max_sessions, Need::optional) &&
                       d.integer(obj, root, "max_snippets", f.max_snippets, Need::optional) &&
                       d.integer(obj, root, "max_inflight", f.max_inflight, Need::optional) &&
                       d.integer(obj, root, "max_frame_bytes", f.max_frame_bytes, Need::optional) &&
                       d.number(obj, root, "token_expires_at", f.token_expires_at, Need::optional),
                std::move(f));
}

DecodeResult decode_feedback(const json::object& obj, Decoder& d) {
  PromptFeedback f;
  std::string action;
  bool ok = d.string(obj, root, "frame_id", f.frame_id) && d.string(obj, root, "session_id", f.session_id) &&
            d.string(obj, root, "action", action) && d.number(obj, root, "at", f.at, Need::optional);
  if (ok) {
    if (action == "ADOPTED") f.action = FeedbackAction::adopted;
    else if (action == "DISMISSED") f.action = FeedbackAction::dismissed;
    else ok = d.fail(FrameErrc::bad_value, Path{&root, "action"},
                     fmt::format("is \"{}\", expected ADOPTED or DISMISSED", action));
  }
  return finish(d, ok, std::move(f));
}

DecodeResult decode_session_ended(const json::object& obj, Decoder& d) {
  SessionEnded f;
  return finish(d, d.string(obj, root, "session_id", f.session_id) &&
                       d.string(obj, root, "reason", f.reason, Need::optional),
                std::move(f));
}

DecodeResult decode_session_end(const json::object& obj, Decoder& d) {
  SessionEnd f;
  return finish(d, d.string(obj, root, "session_id", f.session_id), std::move(f));
}

DecodeResult decode_object(const json::object& obj, Decoder& d) {
  std::string type;
  if (!d.string(obj, root, "type", type)) return std::move(d.error);
  d.error.type = type;
  // The most frequent first: ACKs on the client, PROMPT_SYNC on the gateway.
  if (type == "ACK") return decode_ack(obj, d);
  if (type == "PROMPT_SYNC") return decode_prompt_sync(obj, d);
  if (type == "NACK") return decode_nack(obj, d);
  if (type == "HELLO") return decode_hello(obj, d);
  if (type == "PROMPT_FEEDBACK") return decode_feedback(obj, d);
  if (type == "SESSION_ENDED") return decode_session_ended(obj, d);
  if (type == "SESSION_END") return decode_session_end(obj, d);
  return Frame(UnknownFrame{std::move(type)});
}

// ----- encoding -------------------------------------------------------------

// Small frames are built in a stack buffer to spare the allocator.
class Builder {
 public:
  Builder() : resource_(buffer_.data(), buffer_.size()), obj_(&resource_) {}
  json::object& obj() { return obj_; }
  json::storage_ptr storage() { return &resource_; }
  std::string text() const { return json::serialize(obj_); }

 private:
  std::array<unsigned char, 4096> buffer_;
  json::monotonic_resource resource_;
  json::object obj_;
};

}  // namespace

const std::error_category& frame_category() {
  static const FrameCategory category;
  return category;
}

std::error_code make_error_code(FrameErrc e) { return {static_cast<int>(e), frame_category()}; }

std::string_view to_string(NackCode code) {
  switch (code) {
    case NackCode::invalid_frame: return "INVALID_FRAME";
    case NackCode::session_limit: return "SESSION_LIMIT";
    case NackCode::stale: return "STALE";
    case NackCode::forbidden: return "FORBIDDEN";
    case NackCode::inflight_limit: return "INFLIGHT_LIMIT";
    case NackCode::unknown: break;
  }
  return "UNKNOWN";
}

NackCode nack_code_from_string(std::string_view text) {
  for (auto code : {NackCode::invalid_frame, NackCode::session_limit, NackCode::stale,
                    NackCode::forbidden, NackCode::inflight_limit}) {
    if (text == to_string(code)) return code;
  }
  return NackCode::unknown;
}

std::string_view to_string(FeedbackAction action) {
  return action == FeedbackAction::adopted ? "ADOPTED" : "DISMISSED";
}

DecodeResult decode_frame(std::string_view text) noexcept {
  try {
    std::array<unsigned char, 4096> buffer;
    json::monotonic_resource resource(buffer.data(), buffer.size());
    boost::system::error_code ec;
    const json::value v = detail::parse_json_exact(text, ec, &resource);
    if (ec) return error_of(FrameErrc::malformed_json, "malformed JSON: " + ec.message());
    if (!v.is_object())
      return error_of(FrameErrc::not_an_object, fmt::format("expected a JSON object, got {}", kind_name(v)));
    Decoder d;
    return decode_object(v.get_object(), d);
  } catch (const std::exception& e) {  // allocation failure: report, never escape
    return error_of(FrameErrc::malformed_json, fmt::format("cannot decode: {}", e.what()));
  }
}

Result<AssistPrompt, DecodeError> decode_prompt_object(std::string_view text) noexcept {
  try {
    std::array<unsigned char, 4096> buffer;
    json::monotonic_resource resource(buffer.data(), buffer.size());
    boost::system::error_code ec;
    const json::value v = detail::parse_json_exact(text, ec, &resource);
    if (ec) return error_of(FrameErrc::malformed_json, "malformed JSON: " + ec.message());
    if (!v.is_object())
      return error_of(FrameErrc::not_an_object, fmt::format("expected a JSON object, got {}", kind_name(v)));
    Decoder d;
    AssistPrompt p;
    if (!d.prompt(v.get_object(), root, p, true)) return std::move(d.error);
    return p;
  } catch (const std::exception& e) {
    return error_of(FrameErrc::malformed_json, fmt::format("cannot decode: {}", e.what()));
  }
}

// The hot path (one per prompt accepted).
std::string encode_prompt_payload(const AssistPrompt& p) {
  detail::StackJsonBuilder b;
  auto& st = b.stack();
  b.text("session_id", p.session_id);
  b.text("agent_id", p.agent_id);
  b.text("interaction_id", p.interaction_id);
  st.push_key("snippets");
  for (const auto& s : p.snippets) {
    b.text("snippet_id", s.snippet_id);
    b.text("content", s.content);
    st.push_key("tags");
    for (const auto& tag : s.tags) st.push_string(tag);
    st.push_array(s.tags.size());
    b.text("source_system", s.source_system);
    st.push_object(4);
  }
  st.push_array(p.snippets.size());
  b.boolean("priority_override", p.priority_override);
  b.integer("priority_level", p.priority_level);
  b.real("relevance_score", p.relevance_score);
  if (p.timestamp) b.real("timestamp", *p.timestamp);
  b.integer("ttl_seconds", p.ttl_seconds);
  return b.finish_object(p.timestamp ? 9 : 8);
}

// The envelope is serialized by Boost.JSON with a null payload, and the
// payload's own serialization (a complete JSON value) takes that null's place.
std::string encode_prompt_sync(std::string_view frame_id, std::uint64_t sequence, std::string_view payload_json) {
  static constexpr std::string_view kNullSlot = "null}";
  enum { kType, kFrameId, kSequence, kPayload };
  thread_local detail::FixedJsonObject envelope({"type", "frame_id", "sequence", "payload"});
  envelope.text(kType, "PROMPT_SYNC");
  envelope.text(kFrameId, frame_id);
  envelope.at(kSequence) = sequence;
  envelope.at(kPayload) = nullptr;
  std::string out;
  out.reserve(128 + payload_json.size());
  envelope.serialize_onto(out);
  assert(out.ends_with(kNullSlot));
  out.resize(out.size() - kNullSlot.size());
  out += payload_json;
  out += '}';
  return out;
}

std::string encode(const PromptSync& f) {
  return encode_prompt_sync(f.frame_id, f.sequence, encode_prompt_payload(f.payload));
}

std::string encode(const SessionEnd& f) {
  Builder b;
  b.obj().emplace("type", "SESSION_END");
  b.obj().emplace("session_id", f.session_id);
  return b.text();
}

std::string encode(const Hello& f) {
  Builder b;
  auto& o = b.obj();
  o.emplace("type", "HELLO");
  o.emplace("connection_id", f.connection_id);
  o.emplace("max_sessions", f.max_sessions);
  o.emplace("max_snippets", f.max_snippets);
  o.emplace("max_inflight", f.max_inflight);
  o.emplace("max_frame_bytes", f.max_frame_bytes);
  // Whole seconds as an integer (what most readers expect), a fraction as is.
  if (std::trunc(f.token_expires_at) == f.token_expires_at && std::abs(f.token_expires_at) < 9e15)
    o.emplace("token_expires_at", static_cast<std::int64_t>(f.token_expires_at));
  else
    o.emplace("token_expires_at", f.token_expires_at);
  return b.text();
}

// One per PROMPT_SYNC the gateway takes: a reused object per thread.
std::string encode(const Ack& f) {
  enum { kType, kFrameId, kSequence, kDuplicate };
  thread_local detail::FixedJsonObject ack({"type", "frame_id", "sequence", "duplicate"});
  ack.text(kType, "ACK");
  ack.text(kFrameId, f.frame_id);
  ack.at(kSequence) = f.sequence;
  ack.at(kDuplicate) = f.duplicate;
  std::string out;
  ack.serialize_onto(out);
  return out;
}

std::string encode(const Nack& f) {
  Builder b;
  auto& o = b.obj();
  o.emplace("type", "NACK");
  o.emplace("frame_id", f.frame_id);
  o.emplace("sequence", f.sequence);
  // The text as received when there is one; an unknown code received as ""
  // stays "" (not "UNKNOWN"), so a decoded NACK encodes back to itself.
  const bool named = !f.code_text.empty() || f.code == NackCode::unknown;
  o.emplace("code", named ? std::string_view(f.code_text) : to_string(f.code));
  o.emplace("reason", f.reason);
  return b.text();
}

std::string encode(const PromptFeedback& f) {
  Builder b;
  auto& o = b.obj();
  o.emplace("type", "PROMPT_FEEDBACK");
  o.emplace("frame_id", f.frame_id);
  o.emplace("session_id", f.session_id);
  o.emplace("action", to_string(f.action));
  o.emplace("at", f.at);
  return b.text();
}

std::string encode(const SessionEnded& f) {
  Builder b;
  auto& o = b.obj();
  o.emplace("type", "SESSION_ENDED");
  o.emplace("session_id", f.session_id);
  o.emplace("reason", f.reason);
  return b.text();
}

std::string encode_frame(const Frame& frame) {
  return std::visit(
      [](const auto& f) -> std::string {
        if constexpr (std::is_same_v<std::decay_t<decltype(f)>, UnknownFrame>) {
          Builder b;
          b.obj().emplace("type", f.type);
          return b.text();
        } else {
          return encode(f);
        }
      },
      frame);
}

}  // namespace assist
