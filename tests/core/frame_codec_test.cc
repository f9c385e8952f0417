#include "assist/frame.h"
#include "core/prompt_sync_parts.h"

#include <limits>

#include <gtest/gtest.h>

#include "assist/frame_id.h"
#include "assist/validation.h"
#include "support/prompt_gen.h"

namespace assist {
namespace {

template <class T>
T decode_as(std::string_view text) {
  auto r = decode_frame(text);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  if (!r.ok()) return T{};
  const T* f = std::get_if<T>(&r.value());
  EXPECT_NE(f, nullptr) << "decoded to another frame type";
  return f != nullptr ? *f : T{};
}

DecodeError decode_error(std::string_view text) {
  auto r = decode_frame(text);
  EXPECT_FALSE(r.ok()) << "decoded: " << text;
  return r.ok() ? DecodeError{} : r.error();
}

PromptSync example_sync() {
  return PromptSync{"2f1c3f7e-6a0b-4c39-9d7e-0c5e8d3f6a11", 42, testing::source_example_prompt()};
}

TEST(FrameCodec, PromptSyncHasTheWireShape) {
  const auto text = encode(example_sync());
  EXPECT_EQ(text.rfind(R"({"type":"PROMPT_SYNC","frame_id":"2f1c3f7e-6a0b-4c39-9d7e-0c5e8d3f6a11","sequence":42,"payload":{"session_id":"SESS-998877","agent_id":"AGT-4455","interaction_id":"INT-112233","snippets":[{"snippet_id":"KB-1001","content":"Verify customer account status before escalation.","tags":["billing","escalation"],"source_system":"CRM"})", 0), 0u) << text;
  EXPECT_NE(text.find(R"("priority_override":true,"priority_level":5,)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("ttl_seconds":45}})"), std::string::npos) << text;
}

TEST(FrameCodec, PromptSyncRoundTripsTheSourceExample) {
  const auto f = example_sync();
  EXPECT_EQ(decode_as<PromptSync>(encode(f)), f);
}

TEST(FrameCodec, OnePayloadEncodingServesEveryWriteOfThePrompt) {
  const auto f = example_sync();
  const auto payload = encode_prompt_payload(f.payload);
  EXPECT_EQ(encode_prompt_sync(f.frame_id, f.sequence, payload), encode(f));
  // Another sequence (a replay keeps its own; this is any number) and a
  // frame_id that needs escaping: the envelope is still Boost.JSON's.
  for (const std::uint64_t sequence : {std::uint64_t{1}, std::numeric_limits<std::uint64_t>::max()}) {
    const PromptSync other{"quote\"back\\slash", sequence, f.payload};
    EXPECT_EQ(decode_as<PromptSync>(encode_prompt_sync(other.frame_id, other.sequence, payload)), other);
  }
}

TEST(FrameCodec, RoundTripsGeneratedValidPrompts) {
  testing::PromptGenerator gen(2026);
  FrameIdGenerator ids(1);
  for (std::uint64_t i = 0; i < 500; ++i) {
    const PromptSync f{ids.next(), i * 7919, gen.valid_prompt()};
    const auto text = encode(f);
    ASSERT_LE(text.size(), limits::max_frame_bytes);
    ASSERT_EQ(decode_as<PromptSync>(text), f) << "prompt " << i;
  }
}

TEST(FrameCodec, RoundTripsAnyControlCharacterAndUnicode) {
  testing::PromptGenerator gen(99);
  for (int i = 0; i < 300; ++i) {
    PromptSync f = example_sync();
    f.payload.session_id = gen.any_utf8(64);
    f.payload.snippets[0].content = gen.any_utf8(2000);
    f.payload.snippets[1].tags = {gen.any_utf8(16), "", gen.any_utf8(16)};
    ASSERT_EQ(decode_as<PromptSync>(encode(f)), f) << "case " << i;
  }
  PromptSync nul = example_sync();
  nul.payload.snippets[0].content = std::string("a\0b", 3);
  EXPECT_EQ(decode_as<PromptSync>(encode(nul)), nul);
}

TEST(FrameCodec, WorstCaseValidPromptFitsOneFrame) {
  // Every limit at its maximum, with the characters JSON escaping grows most.
  PromptSync f = example_sync();
  f.sequence = UINT64_MAX;
  auto& p = f.payload;
  p.session_id = p.agent_id = p.interaction_id = std::string(limits::max_id_bytes, '"');
  p.snippets.assign(limits::max_snippets, {});
  for (auto& s : p.snippets) {
    s.snippet_id = std::string(limits::max_id_bytes, '\\');
    s.content = std::string(limits::max_total_content_bytes / limits::max_snippets, '\n');
    s.tags.assign(limits::max_tags_per_snippet, std::string(limits::max_tag_bytes, '"'));
    s.source_system = std::string(limits::max_source_system_bytes, '\\');
  }
  p.snippets[0].content.append(limits::max_total_content_bytes % limits::max_snippets, '\t');
  p.relevance_score = 0.123456789012345678;
  p.timestamp = 1712345678.123456789;
  ASSERT_TRUE(validate(p).empty()) << describe(validate(p));
  const auto text = encode(f);
  EXPECT_LE(text.size(), limits::worst_case_frame_bytes());
  EXPECT_LE(text.size(), limits::max_frame_bytes);
}

// A gateway written apart from this project may write seconds with a
// fraction, whole numbers as 100.0, and members this version does not know;
// the contract allows all three. Before the fix the fractional
// token_expires_at failed the HELLO ("the gateway's first frame was not a
// HELLO") and the client reconnected forever.
TEST(FrameCodec, AcceptsAForeignGatewaysHello) {
  const auto hello = decode_as<Hello>(
      R"({"type":"HELLO","connection_id":"c-9","max_sessions":100.0,"max_snippets":10,"max_inflight":1000,)"
      R"("max_frame_bytes":65536,"token_expires_at":1733230000.52,"server":"other/2.1","limits":{"x":[1,2]}})");
  EXPECT_EQ(hello.max_sessions, 100u);
  EXPECT_DOUBLE_EQ(hello.token_expires_at, 1733230000.52);
  EXPECT_FALSE(decode_frame(R"({"type":"HELLO","connection_id":"c","max_sessions":100.5})"));
}

TEST(FrameCodec, DecodesServerFrames) {
  EXPECT_EQ(decode_as<Hello>(R"({"type":"HELLO","connection_id":"c-1","max_sessions":100,"max_snippets":10,"max_inflight":1000,"max_frame_bytes":65536,"token_expires_at":1700001800})"),
            (Hello{"c-1", 100, 10, 1000, 65536, 1700001800}));
  EXPECT_EQ(decode_as<Ack>(R"({"type":"ACK","frame_id":"f","sequence":7,"duplicate":true})"),
            (Ack{"f", 7, true}));
  EXPECT_EQ(decode_as<Ack>(R"({"type":"ACK","frame_id":"f","sequence":7})").duplicate, false);
  const auto nack = decode_as<Nack>(R"({"type":"NACK","frame_id":"f","sequence":3,"code":"STALE","reason":"old"})");
  EXPECT_EQ(nack.code, NackCode::stale);
  EXPECT_EQ(nack.reason, "old");
  EXPECT_EQ(decode_as<PromptFeedback>(R"({"type":"PROMPT_FEEDBACK","frame_id":"f","session_id":"s","action":"DISMISSED","at":1700000000.5})"),
            (PromptFeedback{"f", "s", FeedbackAction::dismissed, 1700000000.5}));
  EXPECT_EQ(decode_as<SessionEnded>(R"({"type":"SESSION_ENDED","session_id":"s","reason":"call ended"})"),
            (SessionEnded{"s", "call ended"}));
  EXPECT_EQ(decode_as<SessionEnd>(R"({"type":"SESSION_END","session_id":"s"})"), SessionEnd{"s"});
}

TEST(FrameCodec, EveryFrameTypeRoundTrips) {
  const std::vector<Frame> frames{
      Hello{"c", 1, 2, 3, 4, 5},
      Ack{"f", 9, true},
      Nack{"f", 9, NackCode::inflight_limit, "INFLIGHT_LIMIT", "too many"},
      PromptFeedback{"f", "s", FeedbackAction::adopted, 12.5},
      SessionEnded{"s", "done"},
      SessionEnd{"s"},
      example_sync(),
      UnknownFrame{"FUTURE"},
  };
  for (const auto& f : frames) {
    auto r = decode_frame(encode_frame(f));
    ASSERT_TRUE(r.ok()) << encode_frame(f);
    EXPECT_EQ(r.value(), f) << encode_frame(f);
  }
}

// ACKs are encoded from one object reused per thread: each shows only its own values.
TEST(FrameCodec, ConsecutiveAcksCarryNothingOver) {
  const Ack first{"a-much-longer-frame-id-than-the-next-one", std::numeric_limits<std::uint64_t>::max(), true};
  const Ack second{"f", 0, false};
  const auto first_text = encode(first);
  EXPECT_EQ(decode_as<Ack>(encode(second)), second);
  EXPECT_EQ(encode(first), first_text);
  EXPECT_EQ(encode(second), R"({"type":"ACK","frame_id":"f","sequence":0,"duplicate":false})");
}

TEST(FrameCodec, NackCodesMapBothWays) {
  for (auto code : {NackCode::invalid_frame, NackCode::session_limit, NackCode::stale,
                    NackCode::forbidden, NackCode::inflight_limit})
    EXPECT_EQ(nack_code_from_string(to_string(code)), code);
  const auto n = decode_as<Nack>(R"({"type":"NACK","frame_id":"","code":"NEW_CODE"})");
  EXPECT_EQ(n.code, NackCode::unknown);
  EXPECT_EQ(n.code_text, "NEW_CODE");
  EXPECT_EQ(encode(Nack{"", 0, NackCode::stale, "", "r"}).find(R"("code":"STALE")") != std::string::npos, true);
}

// Found by fuzz_frame_decode (corpus: crash_nack_with_an_empty_code): an
// empty code decoded as unknown was encoded as "UNKNOWN", so the NACK did
// not encode back to itself.
TEST(FrameCodec, ANackWithAnEmptyCodeEncodesBackToItself) {
  const auto n = decode_as<Nack>(R"({"type":"NACK","frame_id":"f","sequence":7,"code":"","reason":"r"})");
  EXPECT_EQ(n.code, NackCode::unknown);
  EXPECT_EQ(n.code_text, "");
  const auto again = decode_frame(encode(n));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again.value(), Frame{n});
}

TEST(FrameCodec, UnknownTypeIsReportedNotAnError) {
  EXPECT_EQ(decode_as<UnknownFrame>(R"({"type":"TYPING_INDICATOR","x":[1,2]})").type, "TYPING_INDICATOR");
}

TEST(FrameCodec, IgnoresUnknownMembers) {
  EXPECT_EQ(decode_as<Ack>(R"({"type":"ACK","frame_id":"f","sequence":1,"server_time":5,"extra":{"a":[]}})"),
            (Ack{"f", 1, false}));
}

TEST(FrameCodec, MalformedInputGivesTypedErrors) {
  struct Case {
    std::string_view text;
    FrameErrc code;
    std::string_view detail;
  };
  const Case cases[] = {
      {"", FrameErrc::malformed_json, ""},
      {"{", FrameErrc::malformed_json, ""},
      {R"({"type":"ACK"} trailing)", FrameErrc::malformed_json, ""},
      {"\xff\xfe", FrameErrc::malformed_json, ""},
      {R"({"type":"ACK","frame_id":"\xc3"})", FrameErrc::malformed_json, ""},  // invalid UTF-8 in a string
      {"[1,2]", FrameErrc::not_an_object, "expected a JSON object, got an array"},
      {"42", FrameErrc::not_an_object, "expected a JSON object, got a number"},
      {R"({"frame_id":"f"})", FrameErrc::missing_field, "type: is required"},
      {R"({"type":7})", FrameErrc::wrong_type, "type: expected a string, got a number"},
      {R"({"type":"ACK","sequence":1})", FrameErrc::missing_field, "frame_id: is required"},
      {R"({"type":"ACK","frame_id":"f","sequence":-1})", FrameErrc::out_of_range, "sequence: does not fit its range"},
      {R"({"type":"ACK","frame_id":"f","sequence":1.5})", FrameErrc::wrong_type, "sequence: expected an integer, got a number"},
      {R"({"type":"ACK","frame_id":"f","sequence":"1"})", FrameErrc::wrong_type, "sequence: expected an integer, got a string"},
      {R"({"type":"ACK","frame_id":"f","sequence":1,"duplicate":"yes"})", FrameErrc::wrong_type, "duplicate: expected a boolean, got a string"},
      {R"({"type":"HELLO","connection_id":"c","max_sessions":4294967296})", FrameErrc::out_of_range, "max_sessions: does not fit its range"},
      {R"({"type":"PROMPT_FEEDBACK","frame_id":"f","session_id":"s","action":"MAYBE"})", FrameErrc::bad_value, R"(action: is "MAYBE", expected ADOPTED or DISMISSED)"},
      // Found by fuzz/frame_decode (corpus/frame_decode/crash_infinite_at): a
      // number beyond a double decoded as infinity, which encoders and audit
      // lines cannot write back as JSON.
      {R"({"type":"PROMPT_FEEDBACK","frame_id":"f","session_id":"s","action":"ADOPTED","at":2.8e308})", FrameErrc::out_of_range, "at: does not fit a double"},
      {R"({"type":"PROMPT_FEEDBACK","frame_id":"f","session_id":"s","action":"ADOPTED","at":-1e999})", FrameErrc::out_of_range, "at: does not fit a double"},
      {R"({"type":"PROMPT_SYNC","frame_id":"f","sequence":1})", FrameErrc::missing_field, "payload: is required"},
      {R"({"type":"PROMPT_SYNC","frame_id":"f","sequence":1,"payload":[]})", FrameErrc::wrong_type, "payload: expected an object, got an array"},
  };
  for (const auto& c : cases) {
    const auto e = decode_error(c.text);
    EXPECT_EQ(e.code, make_error_code(c.code)) << c.text << " -> " << e.message;
    if (!c.detail.empty()) {
      EXPECT_EQ(e.message, c.detail) << c.text;
    }
    EXPECT_FALSE(e.message.empty()) << c.text;
  }
}

TEST(FrameCodec, PayloadErrorsNameTheMemberAndKeepTheFrameId) {
  auto text = encode(example_sync());
  auto replace = [&](std::string_view from, std::string_view to) {
    auto t = text;
    t.replace(t.find(from), from.size(), to);
    return t;
  };
  auto e = decode_error(replace(R"(["retention","discount"])", R"(["retention",5])"));
  EXPECT_EQ(e.message, "payload.snippets[1].tags[1]: expected a string, got a number");
  EXPECT_EQ(e.frame_id, "2f1c3f7e-6a0b-4c39-9d7e-0c5e8d3f6a11");
  EXPECT_EQ(e.sequence, 42u);
  e = decode_error(replace(R"("priority_level":5)", R"("priority_level":"high")"));
  EXPECT_EQ(e.message, "payload.priority_level: expected an integer, got a string");
  e = decode_error(replace(R"("agent_id":"AGT-4455",)", ""));
  EXPECT_EQ(e.message, "payload.agent_id: is required");
  e = decode_error(replace(R"("ttl_seconds":45)", R"("ttl_seconds":99999999999)"));
  EXPECT_EQ(e.code, make_error_code(FrameErrc::out_of_range));
  EXPECT_EQ(e.message, "payload.ttl_seconds: does not fit its range");
}

TEST(FrameCodec, ConstraintViolationsDecodeForValidationToReport) {
  // Decoding checks shape; the core rules (validate) check values.
  auto f = example_sync();
  f.payload.priority_level = 9;
  f.payload.ttl_seconds = 1;
  const auto decoded = decode_as<PromptSync>(encode(f));
  EXPECT_EQ(validate(decoded.payload).size(), 2u);
}

TEST(FrameCodec, HostileInputNeverCrashes) {
  testing::PromptGenerator gen(5);
  const auto good = encode(example_sync());
  std::string deep(100000, '[');
  EXPECT_FALSE(decode_frame(deep).ok());
  for (int i = 0; i < 2000; ++i) {
    std::string t = good;
    // Flip, cut or splice at random places; each result must decode or fail cleanly.
    for (std::size_t k = gen.uniform(1, 4); k > 0; --k) {
      const std::size_t at = gen.uniform(0, t.size() - 1);
      switch (gen.uniform(0, 2)) {
        case 0: t[at] = static_cast<char>(gen.uniform(0, 255)); break;
        case 1: t.resize(at); break;
        default: t.insert(at, gen.any_utf8(8)); break;
      }
      if (t.empty()) break;
    }
    auto r = decode_frame(t);
    if (!r.ok()) {
      EXPECT_FALSE(r.error().message.empty());
    }
  }
}

TEST(FrameCodec, ErrorCategoryHasMessages) {
  EXPECT_STREQ(frame_category().name(), "assist.frame");
  EXPECT_EQ(std::error_code(FrameErrc::missing_field).message(), "required field missing");
}

}  // namespace
}  // namespace assist

namespace assist {
namespace {

TEST(PromptObject, OptionalMembersTakeDefaults) {
  const auto r = decode_prompt_object(
      R"({"session_id":"S","agent_id":"A","interaction_id":"I","snippets":[{"snippet_id":"K","content":"c","source_system":"CRM"}]})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r.value().priority_level, 3);
  EXPECT_EQ(r.value().ttl_seconds, 45);
  EXPECT_FALSE(r.value().timestamp.has_value());
  EXPECT_FALSE(r.value().priority_override);
  EXPECT_TRUE(r.value().snippets[0].tags.empty());
}

TEST(PromptObject, ShapeErrorsNameTheMember) {
  auto r = decode_prompt_object(R"({"session_id":"S","agent_id":"A","interaction_id":"I","snippets":{}})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "snippets: expected an array, got an object");
  r = decode_prompt_object(R"({"session_id":"S","agent_id":"A","interaction_id":"I","snippets":[],"ttl_seconds":"x"})");
  EXPECT_EQ(r.error().message, "ttl_seconds: expected an integer, got a string");
  r = decode_prompt_object("not json");
  EXPECT_EQ(r.error().code, make_error_code(FrameErrc::malformed_json));
  r = decode_prompt_object(R"({"agent_id":"A"})");
  EXPECT_EQ(r.error().message, "session_id: is required");
  r = decode_prompt_object(R"({"session_id":"S","agent_id":"A","interaction_id":"I","snippets":[],"relevance_score":1e400})");
  EXPECT_EQ(r.error().code, make_error_code(FrameErrc::out_of_range));
  EXPECT_EQ(r.error().message, "relevance_score: does not fit a double");
}

// An unset timestamp is left out of the encoding (the synchronizer stamps
// every prompt it accepts), so a PROMPT_SYNC without one is refused as the
// contract requires, while a submitted prompt object may omit it.
TEST(PromptObject, AnUnsetTimestampIsLeftOutAndOnlyASubmissionMayOmitIt) {
  auto p = testing::source_example_prompt();
  p.timestamp.reset();
  const auto payload = encode_prompt_payload(p);
  EXPECT_EQ(payload.find("timestamp"), std::string::npos) << payload;
  const auto submitted = decode_prompt_object(payload);
  ASSERT_TRUE(submitted.ok()) << submitted.error().message;
  EXPECT_EQ(submitted.value(), p);

  const auto frame = decode_error(encode(PromptSync{"f", 1, p}));
  EXPECT_EQ(frame.code, make_error_code(FrameErrc::missing_field));
  EXPECT_EQ(frame.message, "payload.timestamp: is required");
  p.timestamp = 0.0;  // 1970, an ordinary value now: it round-trips, stale
  EXPECT_EQ(decode_as<PromptSync>(encode(PromptSync{"f", 1, p})).payload.timestamp, 0.0);
}

TEST(PromptObject, AcceptsAFullPayload) {
  const auto f = PromptSync{"f", 1, testing::source_example_prompt()};
  const auto text = encode(f);
  const auto payload = text.substr(text.find("\"payload\":") + 10, text.size() - text.find("\"payload\":") - 11);
  const auto r = decode_prompt_object(payload);
  ASSERT_TRUE(r.ok()) << r.error().message << " in " << payload;
  EXPECT_EQ(r.value(), f.payload);
}

}  // namespace
}  // namespace assist
