// GatewayStats serialisation: the body of GET /stats and of --stats-file.
#include <boost/json.hpp>

#include "assist/gateway.h"
#include "core/detail/json_text.h"

namespace assist {

std::string GatewayStats::to_json() const {
  boost::json::object nacks;
  for (const auto& [code, n] : nacks_by_code) nacks[code] = n;
  const boost::json::object out{
      {"frames_received", frames_received},
      {"prompts_delivered", prompts_delivered},
      {"acks_sent", acks_sent},
      {"duplicates_suppressed", duplicates_suppressed},
      {"nacks_by_code", std::move(nacks)},
      {"stale_arrivals", stale_arrivals},
      {"connections_opened", connections_opened},
      {"connections_active", connections_active},
      {"closes_4001", closes_4001},
      {"closes_1001", closes_1001},
      {"closes_1009", closes_1009},
      {"connections_dropped", connections_dropped},
      {"max_prompt_age_at_delivery_s", max_prompt_age_at_delivery_s},
      {"order_violations", order_violations},
      {"sessions_ended", sessions_ended},
      {"feedback_sent", feedback_sent},
      {"token_requests", token_requests},
      {"tokens_issued", tokens_issued},
      {"token_errors", token_errors},
      {"handshakes_refused", handshakes_refused},
      {"bad_requests", bad_requests},
  };
  return detail::to_json_text(out);
}

}  // namespace assist
