#include "core/outcome_json.h"

#include <cmath>

namespace assist {

namespace json = boost::json;

boost::json::object outcome_json(const SyncOutcome& o) {
  json::object out{{"frame_id", o.frame_id}, {"outcome", to_string(o.kind)}, {"sequence", o.sequence}};
  if (o.kind == OutcomeKind::nacked) out["nack_code"] = to_string(o.nack_code);
  if (o.kind == OutcomeKind::acked || o.kind == OutcomeKind::nacked)
    out["latency_ms"] = std::round(o.latency_seconds * 1e6) / 1000.0;
  if (o.duplicate) out["duplicate"] = true;
  if (!o.reason.empty()) out["reason"] = o.reason;
  return out;
}

std::optional<OutcomeKind> outcome_kind_from_string(std::string_view text) {
  for (auto kind : {OutcomeKind::acked, OutcomeKind::nacked, OutcomeKind::rejected_validation,
                    OutcomeKind::rejected_freshness, OutcomeKind::rejected_concurrency, OutcomeKind::superseded,
                    OutcomeKind::failed, OutcomeKind::unconfirmed})
    if (to_string(kind) == text) return kind;
  return std::nullopt;
}

std::optional<SyncOutcome> outcome_from_json(const boost::json::object& object) {
  const auto* frame_id = object.if_contains("frame_id");
  const auto* kind_text = object.if_contains("outcome");
  if (!frame_id || !frame_id->is_string() || !kind_text || !kind_text->is_string()) return std::nullopt;
  const auto kind = outcome_kind_from_string(kind_text->get_string());
  if (!kind) return std::nullopt;
  SyncOutcome o;
  o.kind = *kind;
  o.frame_id = std::string(frame_id->get_string());
  if (const auto* v = object.if_contains("sequence"); v && v->is_number()) {
    boost::system::error_code ec;
    if (const auto n = v->to_number<std::uint64_t>(ec); !ec) o.sequence = n;
  }
  if (const auto* v = object.if_contains("nack_code"); v && v->is_string())
    o.nack_code = nack_code_from_string(v->get_string());
  if (const auto* v = object.if_contains("latency_ms"); v && v->is_number()) {
    boost::system::error_code ec;
    if (const auto ms = v->to_number<double>(ec); !ec) o.latency_seconds = ms / 1000.0;
  }
  if (const auto* v = object.if_contains("duplicate"); v && v->is_bool()) o.duplicate = v->get_bool();
  if (const auto* v = object.if_contains("reason"); v && v->is_string()) o.reason = std::string(v->get_string());
  return o;
}

}  // namespace assist
