// An outcome as a JSON object (internal): what the HTTP API answers for
// ?wait=outcome and GET /v1/prompts/{frame_id}, and what scale-out publishes
// on the outcomes stream (docs/scale-out.md), so a follower reads the same
// object wherever it comes from.
#ifndef ASSIST_SRC_CORE_OUTCOME_JSON_H
#define ASSIST_SRC_CORE_OUTCOME_JSON_H

#include <optional>
#include <string_view>

#include <boost/json/object.hpp>

#include "assist/outcome.h"

namespace assist {

// {"frame_id","outcome":"ACKED"|...,"sequence"} and, when they apply,
// "nack_code", "latency_ms" (write to ACK/NACK, in ms to the microsecond),
// "duplicate":true and "reason". Thread-safe, pure.
boost::json::object outcome_json(const SyncOutcome& outcome);

// The outcome `object` describes (members as outcome_json writes them;
// unknown members ignored, a latency read back to the microsecond), or
// nullopt when "frame_id" or "outcome" is missing or not a known value.
std::optional<SyncOutcome> outcome_from_json(const boost::json::object& object);

// "ACKED" -> OutcomeKind::acked, ...; nullopt for anything else.
std::optional<OutcomeKind> outcome_kind_from_string(std::string_view text);

}  // namespace assist

#endif
