#include "net/endpoint.h"

#include <charconv>

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

namespace assist::net {

namespace urls = boost::urls;

std::optional<Endpoint> parse_endpoint(std::string_view url, Scheme scheme, std::string& error) {
  auto parsed = urls::parse_absolute_uri(url);
  if (!parsed) {
    error = "not an absolute URL";
    return std::nullopt;
  }
  const urls::url_view& u = *parsed;
  Endpoint out;
  const std::string name = u.scheme();
  const bool http = scheme == Scheme::http;
  if (name == (http ? "https" : "wss")) {
    out.tls = true;
  } else if (name != (http ? "http" : "ws")) {
    error = http ? "scheme must be http or https" : "scheme must be ws or wss";
    return std::nullopt;
  }
  out.host = u.host_address();
  if (out.host.empty()) {
    error = "URL has no host";
    return std::nullopt;
  }
  if (u.has_userinfo()) {
    error = "credentials in the URL are not accepted";
    return std::nullopt;
  }
  const std::string_view port = u.port();
  if (port.empty()) {  // absent, or "host:" (RFC 3986 §3.2.3: the scheme's default)
    out.port = out.tls ? "443" : "80";
    out.host_header = u.encoded_host();
  } else {
    unsigned number = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
    if (ec != std::errc{} || end != port.data() + port.size() || number == 0 || number > 65535) {
      error = "bad port";
      return std::nullopt;
    }
    out.port = port;
    out.host_header = u.encoded_host_and_port();
  }
  out.target = u.encoded_path().empty() ? "/" : std::string(u.encoded_path());
  if (u.has_query()) {
    out.target += '?';
    out.target += std::string_view(u.encoded_query());
  }
  return out;
}

std::string target_with_token(std::string_view target, std::string_view token) {
  urls::url u;
  if (auto parsed = urls::parse_origin_form(target)) u = *parsed;
  else u.set_path(target);
  u.params().set("access_token", token);
  return std::string(u.encoded_resource());
}

std::string redact_url(std::string_view url_or_target) {
  urls::url u;
  if (auto absolute = urls::parse_absolute_uri(url_or_target)) {
    u = *absolute;
  } else if (auto origin = urls::parse_origin_form(url_or_target)) {
    u = *origin;
  } else {
    return "<unparsable URL>";
  }
  u.remove_userinfo();
  for (auto it = u.params().begin(); it != u.params().end(); ++it) {
    if ((*it).key == "access_token") it = u.params().set(it, "REDACTED");
  }
  return std::string(u.buffer());
}

}  // namespace assist::net
