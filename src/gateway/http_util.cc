#include "gateway/http_util.h"

#include <algorithm>
#include <cctype>

#include <boost/json.hpp>

#include "core/detail/json_text.h"

namespace assist::gateway {

Response json_response(unsigned status, std::string body, bool keep_alive) {
  Response res{static_cast<http::status>(status), 11};
  res.set(http::field::server, "assist-gateway-emulator");
  res.set(http::field::content_type, "application/json");
  res.keep_alive(keep_alive);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

Response json_error(unsigned status, std::string_view error, std::string_view description,
                    bool keep_alive) {
  const boost::json::object body{{"error", error}, {"error_description", description}};
  return json_response(status, detail::to_json_text(body), keep_alive);
}

void set_retry_after(Response& response, std::chrono::seconds delay) {
  response.set(http::field::retry_after, std::to_string(std::max<std::int64_t>(delay.count(), 1)));
}

std::string_view target_path(std::string_view target) {
  return target.substr(0, target.find('?'));
}

}  // namespace assist::gateway
