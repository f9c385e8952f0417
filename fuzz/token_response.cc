// The token endpoint's answer body (protocol §1): a 200's token, or a
// 400/401's OAuth error code. Any body gives a token or a typed error whose
// detail is one printable line (it is logged), and a token is never due for
// refresh the moment it arrives.
#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "assist/clock.h"
#include "fuzz_input.h"
#include "transport/token_provider.h"

namespace {

bool printable_line(std::string_view text) {
  return std::none_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace assist;
  using namespace std::chrono_literals;
  const auto body = fuzz::as_text(data, size);
  const std::vector<std::string> scopes{std::begin(transport::default_scopes), std::end(transport::default_scopes)};
  const Clock::steady_time sent_at{std::chrono::hours(1)};

  const auto result = transport::parse_token_response(body, scopes, sent_at, 60s);
  if (result) {
    const auto& token = *result.token;
    FUZZ_CHECK(!result.error);
    FUZZ_CHECK(!token.access_token.empty());
    FUZZ_CHECK(transport::missing_scopes(scopes, token.scope).empty());
    FUZZ_CHECK(token.sent_at == sent_at && sent_at < token.refresh_at && token.refresh_at < token.expires_at);
  } else {
    FUZZ_CHECK(result.error);
    FUZZ_CHECK(!result.detail.empty() && printable_line(result.detail));
  }

  const auto oauth_error = transport::oauth_error_of(body);
  FUZZ_CHECK(printable_line(oauth_error));
  for (const unsigned status : {400u, 401u}) {
    FUZZ_CHECK(make_error_code(transport::token_error_for(status, oauth_error)));
  }
  return 0;
}
