// The `assist-sync run` configuration: a TOML file (toml++), then environment
// overrides ASSIST_<SECTION>_<KEY>, then the secrets (from the environment or
// files, never from the command line or the TOML file), then validation.
// docs/configuration.md is the reference for every key.
#ifndef ASSIST_SRC_SERVICE_CONFIG_H
#define ASSIST_SRC_SERVICE_CONFIG_H

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "assist/synchronizer.h"
#include "service/http_api.h"

namespace assist::service {

using Millis = std::chrono::milliseconds;

// Every default below is the library's own (the option structs' defaults),
// so the two cannot drift; only the service's own settings are stated here.
// (Functions, not variables: a ServiceConfig built during static
// initialisation still sees them constructed.)
namespace defaults {
inline const SynchronizerOptions& synchronizer() {
  static const SynchronizerOptions options{};
  return options;
}
inline const HttpApiOptions& http() {
  static const HttpApiOptions options{};
  return options;
}
}  // namespace defaults

struct GatewayConfig {
  std::string token_url;           // http(s)://host[:port]/path
  std::string realtime_url;        // ws(s)://host[:port]/path
  std::string client_id;
  std::string client_secret_file;  // used when ASSIST_CLIENT_SECRET is unset or empty
  std::vector<std::string> scopes = defaults::synchronizer().token.scopes;
  std::string auth{to_string(defaults::synchronizer().token.auth)};  // basic | post
  bool token_in_query = defaults::synchronizer().realtime.token_in_query;
  std::string ca_file;
  std::string pin_sha256;
  unsigned max_connections = defaults::synchronizer().realtime.max_connections;
  Millis ping_interval = defaults::synchronizer().realtime.ping_interval;
  Millis pong_timeout = defaults::synchronizer().realtime.pong_timeout;
  Millis handshake_timeout = defaults::synchronizer().realtime.handshake_timeout;
  Millis request_timeout = defaults::synchronizer().token.request_timeout;
};

struct SyncConfig {
  std::string snippet_policy{to_string(defaults::synchronizer().snippet_policy)};  // reject | trim
  bool compute_relevance = defaults::synchronizer().compute_relevance;
  double freshness_seconds = defaults::synchronizer().freshness_seconds;
  std::uint64_t max_pending = defaults::synchronizer().max_pending;
  std::uint64_t max_queued_per_session = defaults::synchronizer().max_queued_per_session;
  std::uint64_t max_audit_backlog = defaults::synchronizer().max_audit_backlog;
  Millis stop_drain = defaults::synchronizer().stop_drain;
};

struct AuditConfig {
  std::string path;  // required
  std::string durability{to_string(defaults::synchronizer().audit.durability)};  // group_commit | interval | never
  Millis sync_interval = defaults::synchronizer().audit.sync_interval;
  std::uint64_t rotate_bytes = defaults::synchronizer().audit.rotate_bytes;
  std::string signing_key_file;  // empty: no signed digests
  std::uint64_t digest_interval_s = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(defaults::synchronizer().audit.digest_interval).count());
  // write | fsync: what a frame waits for (write-ahead)
  std::string before_send{to_string(defaults::synchronizer().audit.before_send)};
  // A burst waits at most this for its lines, else is not sent.
  Millis commit_timeout = defaults::synchronizer().audit.commit_timeout;
  // Disk space reserved ahead at a time (0: none), and kept reserved for the
  // outcomes of frames in flight.
  std::uint64_t reserve_bytes = defaults::synchronizer().audit.reserve_bytes;
  std::uint64_t headroom_bytes = defaults::synchronizer().audit.headroom_bytes;
};

struct HttpConfig {
  // IP:PORT ([v6]:PORT); port 0 picks a free one.
  std::string listen = defaults::http().host + ":" + std::to_string(defaults::http().port);
  std::string api_key_file;  // used when ASSIST_API_KEY is unset or empty
  std::uint64_t body_limit = defaults::http().body_limit;
  std::uint64_t header_limit = defaults::http().header_limit;
  Millis request_timeout = defaults::http().request_timeout;
  std::uint64_t max_connections = defaults::http().max_connections;
  unsigned threads = defaults::http().threads;
  std::uint64_t max_batch_lines = defaults::http().max_batch_lines;
  Millis admission_wait = defaults::http().admission_wait;
  Millis shutdown_grace{10'000};  // the service's own: how long `run` lets requests finish at shutdown
};

struct LogConfig {
  std::string level = "info";
  std::string format = "auto";  // auto | text | json
  std::string file;             // empty: stderr
};

struct CrmConfig {
  std::string webhook_url;  // empty: no webhook
  std::string ca_file;
};

// Host name and process id ("web-3-4711"): unique among the instances of a
// deployment without configuration.
std::string default_instance_id();

// Where prompts go once accepted: straight to this process's synchronizer
// (local), or through NATS JetStream to whichever instance owns their
// partition (nats; docs/scale-out.md).
struct IngestConfig {
  std::string mode = "local";         // local | nats
  std::vector<std::string> servers;   // nats://host:port URLs; required for nats
  std::string credentials_file;       // a NATS .creds file; empty: no authentication
  std::string stream = "ASSIST_PROMPTS";
  std::uint32_t partitions = 16;
  double lease_ttl_seconds = 10.0;
  // A prompt taken from a partition and not acknowledged within this is
  // delivered again: longer than a prompt's life in the synchronizer
  // (freshness, the 10 s ACK timeout), so only a dead or stalled owner's are.
  double ack_wait_seconds = 30.0;
  std::string instance_id = default_instance_id();
  // How many NATS servers hold each message of the two streams and each
  // lease (1..5; 3 in a three-node cluster survives the loss of one).
  std::uint32_t replicas = 1;
  // Retention of the prompt stream and the outcomes stream: older messages
  // are discarded, acknowledged or not. At least the 2-minute duplicate
  // window and 10 x ack_wait_seconds.
  double max_age_seconds = 86'400.0;
};

struct ServiceConfig {
  GatewayConfig gateway;
  SyncConfig sync;
  AuditConfig audit;
  HttpConfig http;
  LogConfig log;
  CrmConfig crm;
  IngestConfig ingest;

  // Filled by load_config from the environment or the files; never printed.
  std::string client_secret;
  std::string api_key;
  std::string client_secret_source;  // "ASSIST_CLIENT_SECRET" or the file; empty when none
  std::string api_key_source;
};

// The environment the configuration reads: a lookup by name (nullopt when
// unset) and the names of every variable set, so that a misspelt ASSIST_*
// name is an error rather than silently ignored. Injectable for tests.
struct Environment {
  std::function<std::optional<std::string>(const std::string& name)> lookup;
  std::vector<std::string> names;
};
// The process environment.
Environment process_env();

struct ConfigResult {
  ServiceConfig config;
  // Every problem found, each naming the key (and the file or variable it
  // came from): "http.listen (ASSIST_HTTP_LISTEN): expected IP:PORT, got 'x'".
  std::vector<std::string> errors;
  bool ok() const { return errors.empty(); }
};

// Whether the secret files are read, or only named (--print-config, which
// must work on a machine that cannot read them).
enum class SecretFiles { read, skip };

// Defaults, then the TOML text (`source` names it in errors; empty text: no
// file), then the ASSIST_* overrides from `env`, then the secrets, then
// validation. Unknown sections, keys and ASSIST_* variables are errors (typos
// must not pass; a variable's error names the closest valid name). A TOML
// syntax error is reported alone: nothing after it could be checked.
ConfigResult parse_config(std::string_view toml_text, std::string_view source, const Environment& env,
                          SecretFiles secrets = SecretFiles::read);

// parse_config on the file at `path` (empty: no file).
ConfigResult load_config(const std::string& path, const Environment& env, SecretFiles secrets = SecretFiles::read);

// The environment variable that overrides `key` ("http.listen" ->
// "ASSIST_HTTP_LISTEN").
std::string env_name(std::string_view key);

// Every environment variable the configuration reads: ASSIST_<SECTION>_<KEY>
// for each key, ASSIST_CLIENT_SECRET and ASSIST_API_KEY.
std::vector<std::string> env_names();

// The effective configuration as TOML, secrets replaced by a comment saying
// where they come from (never their value or length), credential-looking URL
// parts masked.
std::string to_redacted_toml(const ServiceConfig& config);

// Every key, "section.key", in documentation order.
std::vector<std::string> config_keys();

struct ListenAddress {
  std::string host;  // an IP address literal
  std::uint16_t port = 0;
  bool loopback = false;
};
// Parses "IP:PORT", "[IPv6]:PORT" or "localhost:PORT"; nullopt when malformed.
std::optional<ListenAddress> parse_listen(std::string_view text);

// The synchronizer options the configuration describes (secret included).
SynchronizerOptions to_synchronizer_options(const ServiceConfig& config);

}  // namespace assist::service

#endif  // ASSIST_SRC_SERVICE_CONFIG_H
