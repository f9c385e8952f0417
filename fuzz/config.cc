// `assist-sync run`'s configuration: TOML text, then ASSIST_* overrides.
// The input is the TOML text, optionally followed by a line "#ENV" and
// NAME=VALUE lines (the environment). The secrets always come from the
// environment, so no file named by the input is read. Any input gives a
// configuration or errors that each say something; the printed configuration
// never shows a secret; a configuration accepted gives endpoints the
// transport can connect to; and what --print-config prints (when nothing in
// it had to be masked) loads back to the same configuration.
#include <map>
#include <string>

#include "fuzz_input.h"
#include "service/config.h"
#include "net/endpoint.h"

namespace {

using namespace assist;

constexpr std::string_view kClientSecret = "fuzz-client-secret";
constexpr std::string_view kApiKey = "fuzz-api-key";

// The variables given, plus the secrets (so the parser goes past them): an
// Environment as the process's would be, names included (a misspelt
// ASSIST_* name is an error the fuzzer may reach).
service::Environment environment(std::map<std::string, std::string> vars) {
  vars["ASSIST_CLIENT_SECRET"] = kClientSecret;
  vars["ASSIST_API_KEY"] = kApiKey;
  service::Environment env;
  for (const auto& [name, value] : vars) env.names.push_back(name);
  env.lookup = [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
  return env;
}

std::map<std::string, std::string> parse_env_lines(std::string_view text) {
  std::map<std::string, std::string> vars;
  while (!text.empty()) {
    const auto end = std::min(text.find('\n'), text.size());
    const auto line = text.substr(0, end);
    text.remove_prefix(std::min(end + 1, text.size()));
    if (const auto eq = line.find('='); eq != std::string_view::npos)
      vars[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
  }
  return vars;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto input = fuzz::as_text(data, size);
  constexpr std::string_view marker = "#ENV\n";
  const auto split = input.starts_with(marker) ? 0 : input.find("\n" + std::string(marker));
  const auto toml = input.substr(0, split);
  const auto env_text = split == std::string_view::npos ? std::string_view{} : input.substr(input.find(marker, split) + marker.size());

  const auto result = service::parse_config(toml, "fuzz.toml", environment(parse_env_lines(env_text)));
  for (const auto& error : result.errors) FUZZ_CHECK(!error.empty());
  const auto printed = service::to_redacted_toml(result.config);
  FUZZ_CHECK(printed.find(kClientSecret) == std::string::npos && printed.find(kApiKey) == std::string::npos);
  if (!result.ok()) return 0;

  const auto options = service::to_synchronizer_options(result.config);
  std::string why;
  FUZZ_CHECK(net::parse_endpoint(options.token.token_url, net::Scheme::http, why));
  FUZZ_CHECK(net::parse_endpoint(options.realtime.realtime_url, net::Scheme::websocket, why));

  if (printed.find("***") != std::string::npos) return 0;
  const auto reloaded = service::parse_config(printed, "printed.toml", environment({}));
  FUZZ_CHECK(reloaded.ok());
  FUZZ_CHECK(service::to_redacted_toml(reloaded.config) == printed);
  return 0;
}
