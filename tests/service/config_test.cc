#include "service/config.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include <gtest/gtest.h>

namespace assist::service {
namespace {

using Vars = std::map<std::string, std::string>;

Environment env_of(Vars vars) {
  Environment env;
  for (const auto& [name, value] : vars) env.names.push_back(name);
  env.lookup = [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
  return env;
}

constexpr std::string_view kMinimal = R"(
[gateway]
token_url = "https://platform.example.com/oauth/token"
realtime_url = "wss://api.example.com/realtime/v1"
client_id = "client-1"

[audit]
path = "/var/lib/assist-sync/audit.jsonl"
)";

const Vars kSecret{{"ASSIST_CLIENT_SECRET", "s3cr3t-value"}};

bool has_error_containing(const ConfigResult& r, std::string_view text) {
  for (const auto& e : r.errors)
    if (e.find(text) != std::string::npos) return true;
  return false;
}

std::string all_errors(const ConfigResult& r) {
  std::string out;
  for (const auto& e : r.errors) out += e + "\n";
  return out;
}

// kMinimal, with the client secret and `vars` in the environment.
ConfigResult parse_minimal_with(Vars vars) {
  vars.insert(kSecret.begin(), kSecret.end());
  return parse_config(kMinimal, "t.toml", env_of(std::move(vars)));
}

TEST(ConfigTest, MinimalFileWithDefaults) {
  const auto r = parse_config(kMinimal, "test.toml", env_of(kSecret));
  ASSERT_TRUE(r.ok()) << all_errors(r);
  EXPECT_EQ(r.config.gateway.client_id, "client-1");
  EXPECT_EQ(r.config.client_secret, "s3cr3t-value");
  EXPECT_EQ(r.config.client_secret_source, "ASSIST_CLIENT_SECRET");
  EXPECT_EQ(r.config.http.listen, "127.0.0.1:8080");
  EXPECT_EQ(r.config.http.body_limit, 1u << 20);
  EXPECT_EQ(r.config.gateway.scopes.size(), 3u);
}

TEST(ConfigTest, EnvironmentOverridesTheFile) {
  auto vars = kSecret;
  vars["ASSIST_HTTP_LISTEN"] = "127.0.0.1:9999";
  vars["ASSIST_GATEWAY_MAX_CONNECTIONS"] = "3";
  vars["ASSIST_GATEWAY_TOKEN_IN_QUERY"] = "true";
  vars["ASSIST_SYNC_FRESHNESS_SECONDS"] = "1.5";
  vars["ASSIST_GATEWAY_SCOPES"] = "realtime:read agentassist:write";
  vars["ASSIST_HTTP_REQUEST_TIMEOUT_MS"] = "2500";
  const auto r = parse_config(kMinimal, "test.toml", env_of(vars));
  ASSERT_TRUE(r.ok()) << all_errors(r);
  EXPECT_EQ(r.config.http.listen, "127.0.0.1:9999");
  EXPECT_EQ(r.config.gateway.max_connections, 3u);
  EXPECT_TRUE(r.config.gateway.token_in_query);
  EXPECT_DOUBLE_EQ(r.config.sync.freshness_seconds, 1.5);
  EXPECT_EQ(r.config.gateway.scopes, (std::vector<std::string>{"realtime:read", "agentassist:write"}));
  EXPECT_EQ(r.config.http.request_timeout, std::chrono::milliseconds(2500));
}

TEST(ConfigTest, EveryKeyHasAnEnvironmentName) {
  EXPECT_EQ(env_name("http.listen"), "ASSIST_HTTP_LISTEN");
  EXPECT_EQ(env_name("gateway.ping_interval_ms"), "ASSIST_GATEWAY_PING_INTERVAL_MS");
  EXPECT_GT(config_keys().size(), 30u);
}

TEST(ConfigTest, ConfigurationFromTheEnvironmentAlone) {
  auto vars = kSecret;
  vars["ASSIST_GATEWAY_TOKEN_URL"] = "http://127.0.0.1:1/oauth/token";
  vars["ASSIST_GATEWAY_REALTIME_URL"] = "ws://127.0.0.1:1/realtime/v1";
  vars["ASSIST_GATEWAY_CLIENT_ID"] = "c";
  vars["ASSIST_AUDIT_PATH"] = "/tmp/a.jsonl";
  const auto r = parse_config({}, {}, env_of(vars));
  EXPECT_TRUE(r.ok()) << all_errors(r);
}

TEST(ConfigTest, EveryProblemIsReportedNamingItsKey) {
  const auto r = parse_config(R"(
[gateway]
token_url = "ftp://x/oauth"
realtime_url = 42
max_connections = 0
auth = "digest"
colour = "blue"

[http]
listen = "nonsense"

[bogus]
x = 1
)",
                              "bad.toml", env_of({{"ASSIST_SYNC_MAX_PENDING", "lots"}}));
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(has_error_containing(r, "gateway.token_url")) << all_errors(r);
  EXPECT_TRUE(has_error_containing(r, "bad.toml:4: gateway.realtime_url: expected a string")) << all_errors(r);
  EXPECT_TRUE(has_error_containing(r, "gateway.max_connections: expected an integer in [1, 1024]")) << all_errors(r);
  EXPECT_TRUE(has_error_containing(r, "gateway.auth: expected one of basic, post")) << all_errors(r);
  EXPECT_TRUE(has_error_containing(r, "unknown key 'gateway.colour'")) << all_errors(r);
  EXPECT_TRUE(has_error_containing(r, "unknown section 'bogus'")) << all_errors(r);
  EXPECT_TRUE(has_error_containing(r, "http.listen: expected IP:PORT")) << all_errors(r);
  EXPECT_TRUE(has_error_containing(r, "sync.max_pending (ASSIST_SYNC_MAX_PENDING): expected an integer")) << all_errors(r);
  EXPECT_TRUE(has_error_containing(r, "gateway.client_id: required")) << all_errors(r);
  EXPECT_TRUE(has_error_containing(r, "audit.path: required")) << all_errors(r);
  EXPECT_TRUE(has_error_containing(r, "no client secret")) << all_errors(r);
}

// Found by fuzz/config (corpus/config/crash_port_the_transport_refuses): a
// URL with an empty port passed validation and failed only when `run`
// started; URLs are now checked by the parser that later connects.
TEST(ConfigTest, UrlsAreCheckedAsTheTransportWillParseThem) {
  auto r = parse_minimal_with({{"ASSIST_GATEWAY_TOKEN_URL", "http://127.0109:99999/t"}});
  EXPECT_TRUE(has_error_containing(r, "gateway.token_url: 'http://127.0109:99999/t': bad port")) << all_errors(r);
  r = parse_minimal_with({{"ASSIST_GATEWAY_REALTIME_URL", "wss://user:pw@api.example.com/realtime/v1"}});
  EXPECT_TRUE(has_error_containing(r, "gateway.realtime_url:")) << all_errors(r);
  EXPECT_TRUE(has_error_containing(r, "credentials in the URL are not accepted")) << all_errors(r);
  r = parse_minimal_with({{"ASSIST_CRM_WEBHOOK_URL", "ws://crm.example.com/hook"}});
  EXPECT_TRUE(has_error_containing(r, "crm.webhook_url:")) << all_errors(r);
  r = parse_minimal_with({{"ASSIST_GATEWAY_TOKEN_URL", "http://127.0.0.1:/t"}});  // empty port: the default
  EXPECT_TRUE(r.ok()) << all_errors(r);
}

// toml++ 3.3.0 asserted on this (asan builds aborted); it is a syntax error.
TEST(ConfigTest, CommentInATableHeaderIsASyntaxError) {
  const auto r = parse_config("[# ass", "hash.toml", env_of(kSecret));
  EXPECT_TRUE(has_error_containing(r, "hash.toml:1:")) << all_errors(r);
}

// Found by fuzz/config (corpus/config/crash_env_value_not_utf8): bytes that
// are not UTF-8 were taken, and --print-config showed other characters.
TEST(ConfigTest, EnvironmentValuesMustBeUtf8) {
  auto vars = kSecret;
  vars["ASSIST_GATEWAY_SCOPES"] = "realtime:read,agent\xfe\x98:write";
  const auto r = parse_config(kMinimal, "t.toml", env_of(vars));
  EXPECT_TRUE(has_error_containing(r, "gateway.scopes (ASSIST_GATEWAY_SCOPES): not UTF-8 text")) << all_errors(r);
}

TEST(ConfigTest, SyntaxErrorsNameLineAndColumn) {
  const auto r = parse_config("[gateway\ntoken_url = 1\n", "broken.toml", env_of(kSecret));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(has_error_containing(r, "broken.toml:1:")) << all_errors(r);
}

TEST(ConfigTest, ASyntaxErrorIsReportedAlone) {
  // Without a secret either: no "required" error may follow the syntax error.
  const auto r = parse_config("[gateway]\ntoken_url = \"https://x/oauth\"\nclient_id = \n", "broken.toml", env_of({}));
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_TRUE(has_error_containing(r, "broken.toml:3:")) << all_errors(r);
}

TEST(ConfigTest, AMisspeltVariableIsAnErrorNamingTheClosestName) {
  auto vars = kSecret;
  vars["ASSIST_GATWAY_CLIENT_ID"] = "typo";
  vars["ASSIST_CLIENT_SECRETS"] = "x";
  vars["PATH"] = "/usr/bin";  // not ours: ignored
  const auto r = parse_config(kMinimal, "test.toml", env_of(vars));
  EXPECT_EQ(r.errors.size(), 2u) << all_errors(r);
  EXPECT_TRUE(has_error_containing(r, "ASSIST_GATWAY_CLIENT_ID: unknown environment variable; did you mean "
                                      "ASSIST_GATEWAY_CLIENT_ID?"))
      << all_errors(r);
  EXPECT_TRUE(has_error_containing(r, "ASSIST_CLIENT_SECRETS: unknown environment variable; did you mean "
                                      "ASSIST_CLIENT_SECRET?"))
      << all_errors(r);
  for (const auto& name : env_names()) EXPECT_TRUE(name.starts_with("ASSIST_")) << name;
  EXPECT_EQ(env_names().size(), config_keys().size() + 2);
}

TEST(ConfigTest, SecretFilesCanBeNamedWithoutBeingRead) {
  std::string text(kMinimal);
  text.insert(text.find("client_id"), "client_secret_file = \"/nonexistent/client_secret\"\n");
  const auto read = parse_config(text, "test.toml", env_of({}));
  EXPECT_TRUE(has_error_containing(read, "gateway.client_secret_file")) << all_errors(read);
  const auto named = parse_config(text, "test.toml", env_of({}), SecretFiles::skip);
  ASSERT_TRUE(named.ok()) << all_errors(named);
  EXPECT_TRUE(named.config.client_secret.empty());
  EXPECT_NE(to_redacted_toml(named.config).find("client secret: from /nonexistent/client_secret (not read"),
            std::string::npos)
      << to_redacted_toml(named.config);
}

TEST(ConfigTest, SecretsAreRefusedInTheFile) {
  std::string text(kMinimal);
  text.insert(text.find("client_id"), "client_secret = \"oops\"\n");
  const auto r = parse_config(text, "test.toml", env_of(kSecret));
  EXPECT_TRUE(has_error_containing(r, "gateway.client_secret: secrets are not read from the configuration file"))
      << all_errors(r);
}

TEST(ConfigTest, SecretFromAFileWhenTheVariableIsUnset) {
  const auto dir = std::filesystem::temp_directory_path() / ("assist-config-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto secret_file = (dir / "secret").string();
  std::ofstream(secret_file) << "from-the-file\n";
  std::string text(kMinimal);
  text.insert(text.find("client_id"), "client_secret_file = \"" + secret_file + "\"\n");
  const auto r = parse_config(text, "test.toml", env_of({}));
  ASSERT_TRUE(r.ok()) << all_errors(r);
  EXPECT_EQ(r.config.client_secret, "from-the-file");
  EXPECT_EQ(r.config.client_secret_source, secret_file);

  std::string missing(kMinimal);
  missing.insert(missing.find("client_id"), "client_secret_file = \"" + (dir / "absent").string() + "\"\n");
  const auto m = parse_config(missing, "test.toml", env_of({}));
  EXPECT_TRUE(has_error_containing(m, "gateway.client_secret_file")) << all_errors(m);
  std::filesystem::remove_all(dir);
}

TEST(ConfigTest, NonLoopbackListenerNeedsAnApiKey) {
  auto vars = kSecret;
  vars["ASSIST_HTTP_LISTEN"] = "0.0.0.0:8080";
  const auto without = parse_config(kMinimal, "test.toml", env_of(vars));
  EXPECT_TRUE(has_error_containing(without, "http.listen: 0.0.0.0:8080 is not a loopback address")) << all_errors(without);
  vars["ASSIST_API_KEY"] = "an-api-key-1234";
  const auto with = parse_config(kMinimal, "test.toml", env_of(vars));
  EXPECT_TRUE(with.ok()) << all_errors(with);
  EXPECT_EQ(with.config.api_key, "an-api-key-1234");
}

TEST(ConfigTest, PrintedConfigurationRedactsSecrets) {
  auto vars = kSecret;
  vars["ASSIST_API_KEY"] = "api-key-value-42";
  vars["ASSIST_CRM_WEBHOOK_URL"] = "https://user:hunter22@crm.example.com/hook?access_token=tok123";
  const auto r = parse_config(kMinimal, "test.toml", env_of(vars));
  // Credentials in a URL are refused (the webhook cannot use them), without showing them.
  EXPECT_TRUE(has_error_containing(r, "crm.webhook_url: 'https://user:***@crm.example.com")) << all_errors(r);
  EXPECT_EQ(all_errors(r).find("hunter22"), std::string::npos) << all_errors(r);
  const auto text = to_redacted_toml(r.config);
  EXPECT_EQ(text.find("s3cr3t-value"), std::string::npos) << text;
  EXPECT_EQ(text.find("api-key-value-42"), std::string::npos) << text;
  EXPECT_EQ(text.find("hunter22"), std::string::npos) << text;
  EXPECT_EQ(text.find("tok123"), std::string::npos) << text;
  EXPECT_NE(text.find("client secret: set, from ASSIST_CLIENT_SECRET"), std::string::npos) << text;
  EXPECT_EQ(text.find(" bytes"), std::string::npos) << "the secret's length is not printed either\n" << text;
  EXPECT_NE(text.find("token_url = 'https://platform.example.com/oauth/token'"), std::string::npos) << text;
  // The printed configuration is itself a valid configuration file.
  vars["ASSIST_CRM_WEBHOOK_URL"] = "https://crm.example.com/hook?access_token=tok123";
  const auto valid = parse_config(kMinimal, "test.toml", env_of(vars));
  ASSERT_TRUE(valid.ok()) << all_errors(valid);
  const auto printed = to_redacted_toml(valid.config);
  EXPECT_EQ(printed.find("tok123"), std::string::npos) << printed;
  const auto again = parse_config(printed, "printed.toml", env_of(kSecret));
  EXPECT_TRUE(again.ok()) << all_errors(again) << printed;
}

TEST(ConfigTest, TheExampleConfigurationIsValid) {
  const auto r = load_config(std::string(ASSIST_EXAMPLES_DIR) + "/assist-sync.toml", env_of(kSecret));
  EXPECT_TRUE(r.ok()) << all_errors(r);
  EXPECT_EQ(r.config.audit.rotate_bytes, 268435456u);
}

TEST(ConfigTest, MissingFileIsAnError) {
  const auto r = load_config("/nonexistent/assist-sync.toml", env_of(kSecret));
  EXPECT_TRUE(has_error_containing(r, "cannot read configuration file /nonexistent/assist-sync.toml")) << all_errors(r);
}

TEST(ConfigTest, ListenAddresses) {
  auto v4 = parse_listen("127.0.0.1:0");
  ASSERT_TRUE(v4);
  EXPECT_TRUE(v4->loopback);
  auto v6 = parse_listen("[::1]:8080");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 8080);
  EXPECT_TRUE(v6->loopback);
  auto any = parse_listen("0.0.0.0:80");
  ASSERT_TRUE(any);
  EXPECT_FALSE(any->loopback);
  EXPECT_TRUE(parse_listen("localhost:1")->loopback);
  EXPECT_FALSE(parse_listen("::1:80"));
  EXPECT_FALSE(parse_listen("127.0.0.1:70000"));
  EXPECT_FALSE(parse_listen("example.com:80"));
  EXPECT_FALSE(parse_listen("127.0.0.1"));
}

TEST(ConfigTest, SynchronizerOptionsFollowTheConfiguration) {
  auto vars = kSecret;
  vars["ASSIST_GATEWAY_PIN_SHA256"] = std::string(64, 'A');
  vars["ASSIST_GATEWAY_AUTH"] = "post";
  vars["ASSIST_AUDIT_DURABILITY"] = "interval";
  vars["ASSIST_AUDIT_SIGNING_KEY_FILE"] = "/etc/assist-sync/audit-signing-key.pem";
  vars["ASSIST_AUDIT_DIGEST_INTERVAL_S"] = "60";
  vars["ASSIST_SYNC_SNIPPET_POLICY"] = "trim";
  const auto r = parse_config(kMinimal, "test.toml", env_of(vars));
  ASSERT_TRUE(r.ok()) << all_errors(r);
  const auto o = to_synchronizer_options(r.config);
  EXPECT_EQ(o.token.client_secret, "s3cr3t-value");
  EXPECT_EQ(o.token.auth, transport::ClientAuth::post);
  EXPECT_EQ(o.token.tls.pin_sha256, std::string(64, 'a'));
  EXPECT_EQ(o.realtime.tls.pin_sha256, std::string(64, 'a'));
  EXPECT_EQ(o.audit.durability, AuditDurability::interval);
  EXPECT_EQ(o.audit.signing_key_file, "/etc/assist-sync/audit-signing-key.pem");
  EXPECT_EQ(o.audit.digest_interval, std::chrono::seconds(60));
  EXPECT_EQ(o.snippet_policy, SnippetPolicy::trim);
  EXPECT_EQ(o.realtime.realtime_url, "wss://api.example.com/realtime/v1");
}

// A file that sets nothing but what is required gives the library's own
// defaults, field by field: the service states no default of its own.
TEST(ConfigTest, TheDefaultsAreTheLibrarys) {
  const auto r = parse_config(kMinimal, "test.toml", env_of(kSecret));
  ASSERT_TRUE(r.ok()) << all_errors(r);
  const auto o = to_synchronizer_options(r.config);
  const SynchronizerOptions library;
  EXPECT_EQ(o.token.scopes, library.token.scopes);
  EXPECT_EQ(o.token.auth, library.token.auth);
  EXPECT_EQ(o.token.request_timeout, library.token.request_timeout);
  EXPECT_EQ(o.realtime.token_in_query, library.realtime.token_in_query);
  EXPECT_EQ(o.realtime.ping_interval, library.realtime.ping_interval);
  EXPECT_EQ(o.realtime.pong_timeout, library.realtime.pong_timeout);
  EXPECT_EQ(o.realtime.handshake_timeout, library.realtime.handshake_timeout);
  EXPECT_EQ(o.realtime.max_connections, library.realtime.max_connections);
  EXPECT_EQ(o.snippet_policy, library.snippet_policy);
  EXPECT_EQ(o.compute_relevance, library.compute_relevance);
  EXPECT_EQ(o.freshness_seconds, library.freshness_seconds);
  EXPECT_EQ(o.max_pending, library.max_pending);
  EXPECT_EQ(o.max_queued_per_session, library.max_queued_per_session);
  EXPECT_EQ(o.max_audit_backlog, library.max_audit_backlog);
  EXPECT_EQ(o.stop_drain, library.stop_drain);
  EXPECT_EQ(o.audit.durability, library.audit.durability);
  EXPECT_EQ(o.audit.sync_interval, library.audit.sync_interval);
  EXPECT_EQ(o.audit.rotate_bytes, library.audit.rotate_bytes);
  EXPECT_EQ(o.audit.digest_interval, library.audit.digest_interval);
  EXPECT_EQ(o.audit.before_send, library.audit.before_send);
  EXPECT_EQ(o.audit.commit_timeout, library.audit.commit_timeout);
  EXPECT_EQ(o.audit.reserve_bytes, library.audit.reserve_bytes);
  EXPECT_EQ(o.audit.headroom_bytes, library.audit.headroom_bytes);

  const HttpApiOptions http;
  const auto listen = parse_listen(r.config.http.listen);
  ASSERT_TRUE(listen.has_value());
  EXPECT_EQ(listen->host, http.host);
  EXPECT_EQ(listen->port, http.port);
  EXPECT_EQ(r.config.http.body_limit, http.body_limit);
  EXPECT_EQ(r.config.http.header_limit, http.header_limit);
  EXPECT_EQ(r.config.http.request_timeout, http.request_timeout);
  EXPECT_EQ(r.config.http.max_connections, http.max_connections);
  EXPECT_EQ(r.config.http.threads, http.threads);
  EXPECT_EQ(r.config.http.max_batch_lines, http.max_batch_lines);
  EXPECT_EQ(r.config.http.admission_wait, http.admission_wait);
}

// Each of `values` is spelled by to_string as parse reads it back, and the
// configuration takes that spelling from `variable` into the option `get` reads.
template <class Enum, class ToString, class Parse, class Get>
void expect_library_spellings(std::initializer_list<Enum> values, const std::string& variable, ToString to_text,
                              Parse parse, Get get) {
  for (const Enum value : values) {
    const std::string spelling(to_text(value));
    EXPECT_EQ(parse(spelling), value) << spelling;
    auto vars = kSecret;
    vars[variable] = spelling;
    const auto r = parse_config(kMinimal, "test.toml", env_of(vars));
    ASSERT_TRUE(r.ok()) << all_errors(r);
    EXPECT_EQ(get(to_synchronizer_options(r.config)), value) << variable << "=" << spelling;
  }
}

// Every value the configuration accepts for an enumerated key is one the
// library parses, and the library's spelling of each value is accepted.
TEST(ConfigTest, EnumeratedValuesAreTheLibrarysSpellings) {
  using transport::ClientAuth;
  expect_library_spellings(
      {ClientAuth::basic, ClientAuth::post}, "ASSIST_GATEWAY_AUTH", [](ClientAuth v) { return transport::to_string(v); },
      transport::parse_client_auth, [](const SynchronizerOptions& o) { return o.token.auth; });
  expect_library_spellings(
      {SnippetPolicy::reject, SnippetPolicy::trim}, "ASSIST_SYNC_SNIPPET_POLICY",
      [](SnippetPolicy v) { return to_string(v); }, parse_snippet_policy,
      [](const SynchronizerOptions& o) { return o.snippet_policy; });
  expect_library_spellings(
      {AuditDurability::group_commit, AuditDurability::interval, AuditDurability::never}, "ASSIST_AUDIT_DURABILITY",
      [](AuditDurability v) { return to_string(v); }, parse_audit_durability,
      [](const SynchronizerOptions& o) { return o.audit.durability; });
  expect_library_spellings(
      {AuditBeforeSend::write, AuditBeforeSend::fsync}, "ASSIST_AUDIT_BEFORE_SEND",
      [](AuditBeforeSend v) { return to_string(v); }, parse_audit_before_send,
      [](const SynchronizerOptions& o) { return o.audit.before_send; });
  EXPECT_FALSE(transport::parse_client_auth("Basic").has_value());
  EXPECT_FALSE(parse_snippet_policy("").has_value());
}

TEST(ConfigTest, IngestIsLocalByDefaultAndNeedsNoServer) {
  const auto r = parse_config(kMinimal, "test.toml", env_of(kSecret));
  ASSERT_TRUE(r.ok()) << all_errors(r);
  const auto& ingest = r.config.ingest;
  EXPECT_EQ(ingest.mode, "local");
  EXPECT_TRUE(ingest.servers.empty());
  EXPECT_TRUE(ingest.credentials_file.empty());
  EXPECT_EQ(ingest.stream, "ASSIST_PROMPTS");
  EXPECT_EQ(ingest.partitions, 16u);
  EXPECT_DOUBLE_EQ(ingest.lease_ttl_seconds, 10.0);
  EXPECT_EQ(ingest.replicas, 1u);
  EXPECT_DOUBLE_EQ(ingest.max_age_seconds, 86'400.0);
  EXPECT_TRUE(ingest.instance_id.ends_with("-" + std::to_string(::getpid()))) << ingest.instance_id;
  EXPECT_GT(ingest.instance_id.size(), std::to_string(::getpid()).size() + 1) << "a host name first";
}

TEST(ConfigTest, IngestFromTheFileAndTheEnvironment) {
  std::string text(kMinimal);
  text += R"(
[ingest]
mode = "nats"
servers = ["nats://nats-1:4222", "tls://nats-2:4222"]
credentials_file = "/etc/assist-sync/nats.creds"
stream = "PROMPTS"
partitions = 64
lease_ttl_seconds = 2.5
instance_id = "web-3"
replicas = 3
max_age_seconds = 3600
)";
  auto vars = kSecret;
  vars["ASSIST_INGEST_PARTITIONS"] = "32";
  vars["ASSIST_INGEST_LEASE_TTL_SECONDS"] = "7.5";
  auto r = parse_config(text, "test.toml", env_of(vars));
  ASSERT_TRUE(r.ok()) << all_errors(r);
  EXPECT_EQ(r.config.ingest.mode, "nats");
  EXPECT_EQ(r.config.ingest.servers, (std::vector<std::string>{"nats://nats-1:4222", "tls://nats-2:4222"}));
  EXPECT_EQ(r.config.ingest.credentials_file, "/etc/assist-sync/nats.creds");
  EXPECT_EQ(r.config.ingest.stream, "PROMPTS");
  EXPECT_EQ(r.config.ingest.partitions, 32u);
  EXPECT_DOUBLE_EQ(r.config.ingest.lease_ttl_seconds, 7.5);
  EXPECT_EQ(r.config.ingest.instance_id, "web-3");
  EXPECT_EQ(r.config.ingest.replicas, 3u);
  EXPECT_DOUBLE_EQ(r.config.ingest.max_age_seconds, 3600.0);

  vars["ASSIST_INGEST_REPLICAS"] = "5";
  vars["ASSIST_INGEST_MAX_AGE_SECONDS"] = "7200";
  r = parse_config(text, "test.toml", env_of(vars));
  ASSERT_TRUE(r.ok()) << all_errors(r);
  EXPECT_EQ(r.config.ingest.replicas, 5u);
  EXPECT_DOUBLE_EQ(r.config.ingest.max_age_seconds, 7200.0);

  vars["ASSIST_INGEST_SERVERS"] = "nats://a:4222, nats://b:4222";
  r = parse_config(text, "test.toml", env_of(vars));
  ASSERT_TRUE(r.ok()) << all_errors(r);
  EXPECT_EQ(r.config.ingest.servers, (std::vector<std::string>{"nats://a:4222", "nats://b:4222"}));
}

TEST(ConfigTest, IngestErrorsNameTheKey) {
  auto r = parse_minimal_with({{"ASSIST_INGEST_MODE", "kafka"}});
  EXPECT_TRUE(has_error_containing(r, "ingest.mode (ASSIST_INGEST_MODE): expected one of local, nats")) << all_errors(r);
  r = parse_minimal_with({{"ASSIST_INGEST_MODE", "nats"}});
  EXPECT_TRUE(has_error_containing(r, "ingest.servers: required when ingest.mode is \"nats\"")) << all_errors(r);
  r = parse_minimal_with({{"ASSIST_INGEST_PARTITIONS", "0"}});
  EXPECT_TRUE(has_error_containing(r, "ingest.partitions (ASSIST_INGEST_PARTITIONS): expected an integer in [1, 1024]"))
      << all_errors(r);
  r = parse_minimal_with({{"ASSIST_INGEST_PARTITIONS", "1025"}});
  EXPECT_TRUE(has_error_containing(r, "ingest.partitions")) << all_errors(r);
  r = parse_minimal_with({{"ASSIST_INGEST_LEASE_TTL_SECONDS", "0.5"}});
  EXPECT_TRUE(has_error_containing(r, "ingest.lease_ttl_seconds (ASSIST_INGEST_LEASE_TTL_SECONDS): expected a number"))
      << all_errors(r);
  r = parse_minimal_with({{"ASSIST_INGEST_STREAM", ""}, {"ASSIST_INGEST_INSTANCE_ID", ""}});
  EXPECT_TRUE(has_error_containing(r, "ingest.stream: must not be empty")) << all_errors(r);
  EXPECT_TRUE(has_error_containing(r, "ingest.instance_id: must not be empty")) << all_errors(r);
}

TEST(ConfigTest, IngestReplicasAndMaxAgeAreCheckedAndSayWhy) {
  auto r = parse_minimal_with({{"ASSIST_INGEST_REPLICAS", "0"}});
  EXPECT_TRUE(has_error_containing(r, "ingest.replicas (ASSIST_INGEST_REPLICAS): expected an integer in [1, 5]"))
      << all_errors(r);
  r = parse_minimal_with({{"ASSIST_INGEST_REPLICAS", "6"}});
  EXPECT_TRUE(has_error_containing(r, "ingest.replicas")) << all_errors(r);
  r = parse_minimal_with({{"ASSIST_INGEST_MAX_AGE_SECONDS", "60"}});
  EXPECT_TRUE(has_error_containing(r, "ingest.max_age_seconds: 60 must be at least 120 (the streams' 2-minute "
                                      "duplicate window"))
      << all_errors(r);
  // Above the duplicate window, but under 10 ack waits (30 s by default).
  r = parse_minimal_with({{"ASSIST_INGEST_MAX_AGE_SECONDS", "200"}});
  EXPECT_TRUE(has_error_containing(r, "ingest.max_age_seconds: 200 must be at least 10 x ingest.ack_wait_seconds (300)"))
      << all_errors(r);
  r = parse_minimal_with({{"ASSIST_INGEST_MAX_AGE_SECONDS", "300"}});
  EXPECT_TRUE(r.ok()) << all_errors(r);
  r = parse_minimal_with({{"ASSIST_INGEST_MAX_AGE_SECONDS", "3000"}, {"ASSIST_INGEST_ACK_WAIT_SECONDS", "600"}});
  EXPECT_TRUE(has_error_containing(r, "ingest.max_age_seconds: 3000 must be at least 10 x ingest.ack_wait_seconds "
                                      "(6000)"))
      << all_errors(r);

  r = parse_minimal_with({{"ASSIST_INGEST_REPLICAS", "3"}});
  ASSERT_TRUE(r.ok()) << all_errors(r);
  const auto printed = to_redacted_toml(r.config);
  EXPECT_NE(printed.find("replicas = 3"), std::string::npos) << printed;
  EXPECT_NE(printed.find("max_age_seconds = 86400"), std::string::npos) << printed;
}

TEST(ConfigTest, AnIngestServerUrlIsCheckedAndNeverShownWithItsPassword) {
  const auto r = parse_minimal_with(
      {{"ASSIST_INGEST_MODE", "nats"}, {"ASSIST_INGEST_SERVERS", "http://user:hunter2@nats-1:4222 nats-2:4222"}});
  EXPECT_TRUE(has_error_containing(r, "ingest.servers: expected nats://host:port or tls://host:port")) << all_errors(r);
  EXPECT_EQ(std::count_if(r.errors.begin(), r.errors.end(),
                          [](const std::string& e) { return e.starts_with("ingest.servers:"); }),
            2)
      << all_errors(r);
  EXPECT_EQ(all_errors(r).find("hunter2"), std::string::npos) << all_errors(r);

  const auto ok =
      parse_minimal_with({{"ASSIST_INGEST_MODE", "nats"}, {"ASSIST_INGEST_SERVERS", "nats://user:hunter2@nats-1:4222"}});
  ASSERT_TRUE(ok.ok()) << all_errors(ok);
  const auto printed = to_redacted_toml(ok.config);
  EXPECT_NE(printed.find("[ingest]"), std::string::npos) << printed;
  EXPECT_EQ(printed.find("hunter2"), std::string::npos) << printed;
}

}  // namespace
}  // namespace assist::service
