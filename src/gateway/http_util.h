// Small HTTP helpers shared by the emulator's endpoints.
#ifndef ASSIST_SRC_GATEWAY_HTTP_UTIL_H
#define ASSIST_SRC_GATEWAY_HTTP_UTIL_H

#include <chrono>
#include <string>
#include <string_view>

#include <boost/beast/http.hpp>

namespace assist::gateway {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

// A response with a JSON body (Content-Type application/json) and the
// emulator's Server header.
Response json_response(unsigned status, std::string body, bool keep_alive);

// An error response whose body is {"error":error,"error_description":description}
// (the RFC 6749 §5.2 / RFC 6750 §3 shape, used for every error the gateway gives).
Response json_error(unsigned status, std::string_view error, std::string_view description,
                    bool keep_alive);

// Sets Retry-After to whole seconds (RFC 9110 §10.2.3), at least 1.
void set_retry_after(Response& response, std::chrono::seconds delay);

// The path of a request target (what precedes '?').
std::string_view target_path(std::string_view target);

}  // namespace assist::gateway

#endif
