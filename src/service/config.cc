#include "service/config.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include <boost/asio/ip/address.hpp>
#include <boost/url/parse.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
// toml++ 3.3.0 (Debian 12) asserts on a table header such as "[#" where it
// should report a parse error, which aborts builds without NDEBUG (asan,
// fuzz); found by fuzz/config (corpus/config/crash_toml_assert_on_hash_key).
// Without the assert it reports the error, clean under ASan and UBSan.
#define TOML_ASSERT(expr) static_cast<void>(0)
#include <toml++/toml.h>
#include <unistd.h>

#include "assist/validation.h"
#include "net/tls.h"
#include "service/logging.h"
#include "net/endpoint.h"

namespace assist::service {
namespace {

template <class T>
using Access = T& (*)(ServiceConfig&);

// One configuration key: how to read it from TOML and from the environment,
// and how to print it. Setters return an error (without the key) or "".
struct Field {
  std::string section;
  std::string key;
  std::function<std::string(ServiceConfig&, const toml::node&)> from_toml;
  std::function<std::string(ServiceConfig&, const std::string&)> from_env;
  std::function<std::string(const ServiceConfig&)> render;

  std::string path() const { return section + "." + key; }
};

template <class T>
std::string toml_text(T value) {
  std::ostringstream out;
  out << toml::value<T>(std::move(value));
  return out.str();
}

std::string one_of(const std::vector<std::string>& allowed, const std::string& got) {
  return fmt::format("expected one of {}, got '{}'", fmt::join(allowed, ", "), got);
}

Field string_field(std::string section, std::string key, Access<std::string> access,
                   std::vector<std::string> allowed = {}) {
  auto check = [allowed](const std::string& v) {
    if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), v) == allowed.end())
      return one_of(allowed, v);
    return std::string();
  };
  return {std::move(section), std::move(key),
          [access, check](ServiceConfig& c, const toml::node& n) {
            if (!n.is_string()) return std::string("expected a string");
            auto v = *n.value<std::string>();
            if (auto e = check(v); !e.empty()) return e;
            access(c) = std::move(v);
            return std::string();
          },
          [access, check](ServiceConfig& c, const std::string& v) {
            if (auto e = check(v); !e.empty()) return e;
            access(c) = v;
            return std::string();
          },
          [access](const ServiceConfig& c) { return toml_text(access(const_cast<ServiceConfig&>(c))); }};
}

std::optional<bool> parse_bool(const std::string& v) {
  if (v == "true" || v == "1" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "0" || v == "no" || v == "off") return false;
  return std::nullopt;
}

Field bool_field(std::string section, std::string key, Access<bool> access) {
  return {std::move(section), std::move(key),
          [access](ServiceConfig& c, const toml::node& n) {
            if (!n.is_boolean()) return std::string("expected true or false");
            access(c) = *n.value<bool>();
            return std::string();
          },
          [access](ServiceConfig& c, const std::string& v) {
            const auto b = parse_bool(v);
            if (!b) return fmt::format("expected true or false, got '{}'", v);
            access(c) = *b;
            return std::string();
          },
          [access](const ServiceConfig& c) { return std::string(access(const_cast<ServiceConfig&>(c)) ? "true" : "false"); }};
}

// Integers of any unsigned type T (and milliseconds through `Millis`), in [min, max].
template <class T>
Field integer_field(std::string section, std::string key, Access<T> access, std::int64_t min, std::int64_t max) {
  auto store = [access, min, max](ServiceConfig& c, std::int64_t v) {
    if (v < min || v > max) return fmt::format("expected an integer in [{}, {}], got {}", min, max, v);
    if constexpr (std::is_same_v<T, Millis>) access(c) = Millis(v);
    else access(c) = static_cast<T>(v);
    return std::string();
  };
  auto get = [access](const ServiceConfig& c) -> std::int64_t {
    if constexpr (std::is_same_v<T, Millis>) return access(const_cast<ServiceConfig&>(c)).count();
    else return static_cast<std::int64_t>(access(const_cast<ServiceConfig&>(c)));
  };
  return {std::move(section), std::move(key),
          [store](ServiceConfig& c, const toml::node& n) {
            if (!n.is_integer()) return std::string("expected an integer");
            return store(c, *n.value<std::int64_t>());
          },
          [store](ServiceConfig& c, const std::string& v) {
            std::int64_t parsed = 0;
            const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), parsed);
            if (ec != std::errc() || end != v.data() + v.size()) return fmt::format("expected an integer, got '{}'", v);
            return store(c, parsed);
          },
          [get](const ServiceConfig& c) { return std::to_string(get(c)); }};
}

Field double_field(std::string section, std::string key, Access<double> access, double min, double max) {
  auto store = [access, min, max](ServiceConfig& c, double v) {
    if (!(v >= min && v <= max)) return fmt::format("expected a number in [{}, {}], got {}", min, max, v);
    access(c) = v;
    return std::string();
  };
  return {std::move(section), std::move(key),
          [store](ServiceConfig& c, const toml::node& n) {
            if (!n.is_number()) return std::string("expected a number");
            return store(c, *n.value<double>());
          },
          [store](ServiceConfig& c, const std::string& v) {
            double parsed = 0;
            const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), parsed);
            if (ec != std::errc() || end != v.data() + v.size()) return fmt::format("expected a number, got '{}'", v);
            return store(c, parsed);
          },
          [access](const ServiceConfig& c) { return toml_text(access(const_cast<ServiceConfig&>(c))); }};
}

// A list of strings; from the environment, separated by spaces or commas.
Field list_field(std::string section, std::string key, Access<std::vector<std::string>> access) {
  return {std::move(section), std::move(key),
          [access](ServiceConfig& c, const toml::node& n) {
            const auto* array = n.as_array();
            if (!array) return std::string("expected an array of strings");
            std::vector<std::string> values;
            for (const auto& item : *array) {
              if (!item.is_string()) return std::string("expected an array of strings");
              values.push_back(*item.value<std::string>());
            }
            access(c) = std::move(values);
            return std::string();
          },
          [access](ServiceConfig& c, const std::string& v) {
            std::vector<std::string> values;
            std::string current;
            for (const char ch : v + " ") {
              if (ch == ' ' || ch == ',') {
                if (!current.empty()) values.push_back(std::move(current));
                current.clear();
              } else {
                current.push_back(ch);
              }
            }
            access(c) = std::move(values);
            return std::string();
          },
          [access](const ServiceConfig& c) {
            toml::array array;
            for (const auto& s : access(const_cast<ServiceConfig&>(c))) array.push_back(s);
            std::ostringstream out;
            out << array;
            return out.str();
          }};
}

// The values an enumerated key takes: the library's spellings of `values`.
template <class Enum>
std::vector<std::string> spellings(std::initializer_list<Enum> values) {
  std::vector<std::string> out;
  for (const Enum value : values) {
    using transport::to_string;
    out.emplace_back(to_string(value));
  }
  return out;
}

constexpr std::int64_t kMaxMillis = 24LL * 3600 * 1000;
constexpr std::int64_t kMaxCount = std::numeric_limits<std::int32_t>::max();

// The keys of [gateway].
void add_gateway_fields(std::vector<Field>& f) {
  f.push_back(string_field("gateway", "token_url", [](ServiceConfig& c) -> auto& { return c.gateway.token_url; }));
  f.push_back(string_field("gateway", "realtime_url", [](ServiceConfig& c) -> auto& { return c.gateway.realtime_url; }));
  f.push_back(string_field("gateway", "client_id", [](ServiceConfig& c) -> auto& { return c.gateway.client_id; }));
  f.push_back(string_field("gateway", "client_secret_file",
                           [](ServiceConfig& c) -> auto& { return c.gateway.client_secret_file; }));
  f.push_back(list_field("gateway", "scopes", [](ServiceConfig& c) -> auto& { return c.gateway.scopes; }));
  f.push_back(string_field("gateway", "auth", [](ServiceConfig& c) -> auto& { return c.gateway.auth; },
                           spellings({transport::ClientAuth::basic, transport::ClientAuth::post})));
  f.push_back(bool_field("gateway", "token_in_query", [](ServiceConfig& c) -> auto& { return c.gateway.token_in_query; }));
  f.push_back(string_field("gateway", "ca_file", [](ServiceConfig& c) -> auto& { return c.gateway.ca_file; }));
  f.push_back(string_field("gateway", "pin_sha256", [](ServiceConfig& c) -> auto& { return c.gateway.pin_sha256; }));
  f.push_back(integer_field<unsigned>("gateway", "max_connections",
                                      [](ServiceConfig& c) -> auto& { return c.gateway.max_connections; }, 1, 1024));
  f.push_back(integer_field<Millis>("gateway", "ping_interval_ms",
                                    [](ServiceConfig& c) -> auto& { return c.gateway.ping_interval; }, 100, kMaxMillis));
  f.push_back(integer_field<Millis>("gateway", "pong_timeout_ms",
                                    [](ServiceConfig& c) -> auto& { return c.gateway.pong_timeout; }, 100, kMaxMillis));
  f.push_back(integer_field<Millis>("gateway", "handshake_timeout_ms",
                                    [](ServiceConfig& c) -> auto& { return c.gateway.handshake_timeout; }, 100, kMaxMillis));
  f.push_back(integer_field<Millis>("gateway", "request_timeout_ms",
                                    [](ServiceConfig& c) -> auto& { return c.gateway.request_timeout; }, 100, kMaxMillis));
}

// The keys of [sync].
void add_sync_fields(std::vector<Field>& f) {
  f.push_back(string_field("sync", "snippet_policy", [](ServiceConfig& c) -> auto& { return c.sync.snippet_policy; },
                           spellings({SnippetPolicy::reject, SnippetPolicy::trim})));
  f.push_back(bool_field("sync", "compute_relevance", [](ServiceConfig& c) -> auto& { return c.sync.compute_relevance; }));
  f.push_back(double_field("sync", "freshness_seconds",
                           [](ServiceConfig& c) -> auto& { return c.sync.freshness_seconds; }, 0.001, 120.0));
  f.push_back(integer_field<std::uint64_t>("sync", "max_pending",
                                           [](ServiceConfig& c) -> auto& { return c.sync.max_pending; }, 1, kMaxCount));
  f.push_back(integer_field<std::uint64_t>("sync", "max_queued_per_session",
                                           [](ServiceConfig& c) -> auto& { return c.sync.max_queued_per_session; }, 1,
                                           kMaxCount));
  f.push_back(integer_field<std::uint64_t>("sync", "max_audit_backlog",
                                           [](ServiceConfig& c) -> auto& { return c.sync.max_audit_backlog; }, 1,
                                           kMaxCount));
  f.push_back(integer_field<Millis>("sync", "stop_drain_ms", [](ServiceConfig& c) -> auto& { return c.sync.stop_drain; },
                                    0, kMaxMillis));
}

// The keys of [audit].
void add_audit_fields(std::vector<Field>& f) {
  f.push_back(string_field("audit", "path", [](ServiceConfig& c) -> auto& { return c.audit.path; }));
  f.push_back(string_field("audit", "durability", [](ServiceConfig& c) -> auto& { return c.audit.durability; },
                           spellings({AuditDurability::group_commit, AuditDurability::interval, AuditDurability::never})));
  f.push_back(integer_field<Millis>("audit", "sync_interval_ms",
                                    [](ServiceConfig& c) -> auto& { return c.audit.sync_interval; }, 1, kMaxMillis));
  f.push_back(integer_field<std::uint64_t>("audit", "rotate_bytes",
                                           [](ServiceConfig& c) -> auto& { return c.audit.rotate_bytes; }, 0,
                                           std::numeric_limits<std::int64_t>::max()));
  f.push_back(string_field("audit", "signing_key_file",
                           [](ServiceConfig& c) -> auto& { return c.audit.signing_key_file; }));
  f.push_back(integer_field<std::uint64_t>("audit", "digest_interval_s",
                                           [](ServiceConfig& c) -> auto& { return c.audit.digest_interval_s; }, 1,
                                           24 * 3600));
  f.push_back(string_field("audit", "before_send", [](ServiceConfig& c) -> auto& { return c.audit.before_send; },
                           spellings({AuditBeforeSend::write, AuditBeforeSend::fsync})));
  f.push_back(integer_field<Millis>("audit", "commit_timeout_ms",
                                    [](ServiceConfig& c) -> auto& { return c.audit.commit_timeout; }, 1, kMaxMillis));
  f.push_back(integer_field<std::uint64_t>("audit", "reserve_bytes",
                                           [](ServiceConfig& c) -> auto& { return c.audit.reserve_bytes; }, 0,
                                           std::uint64_t{1} << 40));
  f.push_back(integer_field<std::uint64_t>("audit", "headroom_bytes",
                                           [](ServiceConfig& c) -> auto& { return c.audit.headroom_bytes; }, 0,
                                           std::uint64_t{1} << 40));
}

// The keys of [http].
void add_http_fields(std::vector<Field>& f) {
  f.push_back(string_field("http", "listen", [](ServiceConfig& c) -> auto& { return c.http.listen; }));
  f.push_back(string_field("http", "api_key_file", [](ServiceConfig& c) -> auto& { return c.http.api_key_file; }));
  f.push_back(integer_field<std::uint64_t>("http", "body_limit", [](ServiceConfig& c) -> auto& { return c.http.body_limit; },
                                           1024, 1LL << 30));
  f.push_back(integer_field<std::uint64_t>("http", "header_limit",
                                           [](ServiceConfig& c) -> auto& { return c.http.header_limit; }, 1024, 1 << 20));
  f.push_back(integer_field<Millis>("http", "request_timeout_ms",
                                    [](ServiceConfig& c) -> auto& { return c.http.request_timeout; }, 100, kMaxMillis));
  f.push_back(integer_field<std::uint64_t>("http", "max_connections",
                                           [](ServiceConfig& c) -> auto& { return c.http.max_connections; }, 1, kMaxCount));
  f.push_back(integer_field<unsigned>("http", "threads", [](ServiceConfig& c) -> auto& { return c.http.threads; }, 1, 64));
  f.push_back(integer_field<std::uint64_t>("http", "max_batch_lines",
                                           [](ServiceConfig& c) -> auto& { return c.http.max_batch_lines; }, 1, kMaxCount));
  f.push_back(integer_field<Millis>("http", "admission_wait_ms",
                                    [](ServiceConfig& c) -> auto& { return c.http.admission_wait; }, 0, kMaxMillis));
  f.push_back(integer_field<Millis>("http", "shutdown_grace_ms",
                                    [](ServiceConfig& c) -> auto& { return c.http.shutdown_grace; }, 0, kMaxMillis));
}

// The keys of [log] and [crm].
void add_log_and_crm_fields(std::vector<Field>& f) {
  f.push_back(string_field("log", "level", [](ServiceConfig& c) -> auto& { return c.log.level; },
                           {"trace", "debug", "info", "warn", "error", "critical", "off"}));
  f.push_back(string_field("log", "format", [](ServiceConfig& c) -> auto& { return c.log.format; },
                           {"auto", "text", "json"}));
  f.push_back(string_field("log", "file", [](ServiceConfig& c) -> auto& { return c.log.file; }));
  f.push_back(string_field("crm", "webhook_url", [](ServiceConfig& c) -> auto& { return c.crm.webhook_url; }));
  f.push_back(string_field("crm", "ca_file", [](ServiceConfig& c) -> auto& { return c.crm.ca_file; }));
}

// The keys of [ingest].
void add_ingest_fields(std::vector<Field>& f) {
  f.push_back(string_field("ingest", "mode", [](ServiceConfig& c) -> auto& { return c.ingest.mode; }, {"local", "nats"}));
  f.push_back(list_field("ingest", "servers", [](ServiceConfig& c) -> auto& { return c.ingest.servers; }));
  f.push_back(string_field("ingest", "credentials_file",
                           [](ServiceConfig& c) -> auto& { return c.ingest.credentials_file; }));
  f.push_back(string_field("ingest", "stream", [](ServiceConfig& c) -> auto& { return c.ingest.stream; }));
  f.push_back(integer_field<std::uint32_t>("ingest", "partitions",
                                           [](ServiceConfig& c) -> auto& { return c.ingest.partitions; }, 1, 1024));
  f.push_back(double_field("ingest", "lease_ttl_seconds",
                           [](ServiceConfig& c) -> auto& { return c.ingest.lease_ttl_seconds; }, 1.0, 3600.0));
  f.push_back(double_field("ingest", "ack_wait_seconds",
                           [](ServiceConfig& c) -> auto& { return c.ingest.ack_wait_seconds; }, 1.0, 3600.0));
  f.push_back(string_field("ingest", "instance_id", [](ServiceConfig& c) -> auto& { return c.ingest.instance_id; }));
  f.push_back(integer_field<std::uint32_t>("ingest", "replicas", [](ServiceConfig& c) -> auto& { return c.ingest.replicas; },
                                           1, 5));
  f.push_back(double_field("ingest", "max_age_seconds", [](ServiceConfig& c) -> auto& { return c.ingest.max_age_seconds; },
                           1.0, 365.0 * 86'400));
}

// Every key of the file, with its type, its range or values, and where it goes.
const std::vector<Field>& schema() {
  static const std::vector<Field> fields = [] {
    std::vector<Field> f;
    add_gateway_fields(f);
    add_sync_fields(f);
    add_audit_fields(f);
    add_http_fields(f);
    add_log_and_crm_fields(f);
    add_ingest_fields(f);
    return f;
  }();
  return fields;
}

const Field* find_field(std::string_view section, std::string_view key) {
  for (const auto& f : schema())
    if (f.section == section && f.key == key) return &f;
  return nullptr;
}

bool section_exists(std::string_view section) {
  const auto& fields = schema();
  return std::any_of(fields.begin(), fields.end(), [&](const Field& f) { return f.section == section; });
}

// Keys that would hold a secret: refused with a pointer to the right place.
std::string secret_key_hint(std::string_view path) {
  if (path == "gateway.client_secret")
    return "secrets are not read from the configuration file: set ASSIST_CLIENT_SECRET or gateway.client_secret_file";
  if (path == "http.api_key")
    return "secrets are not read from the configuration file: set ASSIST_API_KEY or http.api_key_file";
  return {};
}

// False after a syntax error (reported), when nothing else can be checked.
bool apply_toml(ServiceConfig& config, std::string_view text, std::string_view source,
                std::vector<std::string>& errors) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    errors.push_back(fmt::format("{}:{}:{}: {}", source, e.source().begin.line, e.source().begin.column,
                                 e.description()));
    return false;
  }
  for (const auto& [section_key, section_node] : root) {
    const std::string section(section_key.str());
    const auto* table = section_node.as_table();
    if (!table || !section_exists(section)) {
      errors.push_back(fmt::format("{}:{}: unknown section '{}' (sections: gateway, sync, audit, http, log, crm, ingest)",
                                   source, section_node.source().begin.line, section));
      continue;
    }
    for (const auto& [key, node] : *table) {
      const std::string path = section + "." + std::string(key.str());
      const auto line = node.source().begin.line;
      if (auto hint = secret_key_hint(path); !hint.empty()) {
        errors.push_back(fmt::format("{}:{}: {}: {}", source, line, path, hint));
        continue;
      }
      const auto* field = find_field(section, key.str());
      if (!field) {
        errors.push_back(fmt::format("{}:{}: unknown key '{}'", source, line, path));
        continue;
      }
      if (auto e = field->from_toml(config, node); !e.empty())
        errors.push_back(fmt::format("{}:{}: {}: {}", source, line, path, e));
    }
  }
  return true;
}

// Levenshtein distance: how many one-character edits turn `a` into `b`.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// Every ASSIST_* variable that is set must be one the configuration reads.
void check_env_names(const Environment& env, std::vector<std::string>& errors) {
  const auto known = env_names();
  for (const auto& name : env.names) {
    if (!name.starts_with("ASSIST_") || std::find(known.begin(), known.end(), name) != known.end()) continue;
    const auto closest = std::min_element(known.begin(), known.end(), [&](const auto& a, const auto& b) {
      return edit_distance(name, a) < edit_distance(name, b);
    });
    errors.push_back(fmt::format("{}: unknown environment variable; did you mean {}? (every ASSIST_* variable "
                                 "must be one of those in docs/configuration.md)",
                                 name, *closest));
  }
}

void apply_env(ServiceConfig& config, const Environment& env, std::vector<std::string>& errors) {
  check_env_names(env, errors);
  for (const auto& field : schema()) {
    const auto name = env_name(field.path());
    const auto value = env.lookup(name);
    if (!value) continue;
    if (!is_valid_utf8(*value)) {  // TOML text is UTF-8; the environment need not be
      errors.push_back(fmt::format("{} ({}): not UTF-8 text", field.path(), name));
      continue;
    }
    if (auto e = field.from_env(config, *value); !e.empty())
      errors.push_back(fmt::format("{} ({}): {}", field.path(), name, e));
  }
}

// The secret from `env_var` when set and non-empty, else from `file` when
// given (with SecretFiles::skip the file is only named as the source).
void load_one_secret(const Environment& env, SecretFiles files, const std::string& env_var,
                     const std::string& file_key, const std::string& file, std::string& secret,
                     std::string& source, std::vector<std::string>& errors) {
  if (auto v = env.lookup(env_var); v && !v->empty()) {
    secret = *v;
    source = env_var;
  } else if (!file.empty() && files == SecretFiles::skip) {
    source = file;
  } else if (!file.empty()) {
    auto loaded = transport::load_secret({"", file});
    if (!loaded) {
      errors.push_back(fmt::format("{}: {}", file_key, loaded.error().message));
      return;
    }
    secret = std::move(loaded).value();
    source = file;
  }
  register_secret(secret);
}

// Parsed as the transport and the webhook will parse it when they connect,
// so that a URL this accepts is one they can use.
bool url_is_usable(const std::string& url, net::Scheme scheme, std::string& why) {
  std::string error;
  if (net::parse_endpoint(url, scheme, error)) return true;
  why = fmt::format("'{}': {}", redact(url), error);
  return false;
}

// A server URL libnats connects to: nats:// or tls://, with a host. Shown
// redacted: a URL may carry a user and password.
bool nats_url_is_usable(const std::string& url, std::string& why) {
  const auto parsed = boost::urls::parse_uri(url);
  if (parsed && (parsed->scheme() == "nats" || parsed->scheme() == "tls") && !parsed->host().empty()) return true;
  why = fmt::format("expected nats://host:port or tls://host:port, got '{}'", redact(url));
  return false;
}

void validate_ingest(const IngestConfig& ingest, std::vector<std::string>& errors) {
  std::string why;
  if (ingest.mode == "nats" && ingest.servers.empty())
    errors.push_back("ingest.servers: required when ingest.mode is \"nats\" (nats://host:port URLs)");
  for (const auto& url : ingest.servers)
    if (!nats_url_is_usable(url, why)) errors.push_back("ingest.servers: " + why);
  if (ingest.stream.empty()) errors.push_back("ingest.stream: must not be empty");
  if (ingest.instance_id.empty()) errors.push_back("ingest.instance_id: must not be empty");
}

// The streams' duplicate window (bus::StreamConfig's default).
constexpr double kDuplicateWindowSeconds = 120.0;
// max_age_seconds is at least this many ack waits: a prompt nobody
// acknowledges is redelivered that many times before it ages out.
constexpr double kAckWaitsPerMaxAge = 10.0;

// A redelivery must come after the prompt went stale, never while it may
// still be written; a prompt must stay in the stream for several redeliveries.
void validate_ingest_timing(const ServiceConfig& c, std::vector<std::string>& errors) {
  if (c.ingest.ack_wait_seconds <= c.sync.freshness_seconds)
    errors.push_back(fmt::format("ingest.ack_wait_seconds: {} must be longer than sync.freshness_seconds ({})",
                                 c.ingest.ack_wait_seconds, c.sync.freshness_seconds));
  if (c.ingest.max_age_seconds < kDuplicateWindowSeconds)
    errors.push_back(fmt::format(
        "ingest.max_age_seconds: {} must be at least {} (the streams' 2-minute duplicate window: a prompt published "
        "again after it aged out would be stored twice, and JetStream refuses a shorter max age)",
        c.ingest.max_age_seconds, kDuplicateWindowSeconds));
  else if (c.ingest.max_age_seconds < kAckWaitsPerMaxAge * c.ingest.ack_wait_seconds)
    errors.push_back(fmt::format(
        "ingest.max_age_seconds: {} must be at least {} x ingest.ack_wait_seconds ({}): a prompt not acknowledged "
        "is redelivered every ack_wait_seconds, and one older than max_age_seconds is discarded unaudited",
        c.ingest.max_age_seconds, kAckWaitsPerMaxAge, kAckWaitsPerMaxAge * c.ingest.ack_wait_seconds));
}

void validate(ServiceConfig& c, std::vector<std::string>& errors) {
  std::string why;
  if (c.gateway.token_url.empty()) errors.push_back("gateway.token_url: required (the OAuth token endpoint)");
  else if (!url_is_usable(c.gateway.token_url, net::Scheme::http, why)) errors.push_back("gateway.token_url: " + why);
  if (c.gateway.realtime_url.empty()) errors.push_back("gateway.realtime_url: required (the real-time WebSocket)");
  else if (!url_is_usable(c.gateway.realtime_url, net::Scheme::websocket, why)) errors.push_back("gateway.realtime_url: " + why);
  if (c.gateway.client_id.empty()) errors.push_back("gateway.client_id: required");
  if (c.client_secret.empty() && c.gateway.client_secret_file.empty())
    errors.push_back("gateway.client_secret_file: no client secret: set ASSIST_CLIENT_SECRET or gateway.client_secret_file");
  if (!c.gateway.pin_sha256.empty()) {
    const auto normal = net::normalize_sha256_hex(c.gateway.pin_sha256);
    if (normal.empty()) errors.push_back("gateway.pin_sha256: expected 64 hex digits (':' separators allowed)");
    else c.gateway.pin_sha256 = normal;
  }
  if (c.gateway.scopes.empty()) errors.push_back("gateway.scopes: at least one scope is required");
  if (c.audit.path.empty())
    errors.push_back("audit.path: required (every prompt's outcome is recorded there; see docs/operations.md)");
  if (!c.crm.webhook_url.empty() && !url_is_usable(c.crm.webhook_url, net::Scheme::http, why))
    errors.push_back("crm.webhook_url: " + why);
  const auto listen = parse_listen(c.http.listen);
  if (!listen) {
    errors.push_back(fmt::format("http.listen: expected IP:PORT, [IPv6]:PORT or localhost:PORT, got '{}'", c.http.listen));
  } else if (!listen->loopback && c.api_key.empty() && c.http.api_key_file.empty()) {
    errors.push_back(fmt::format(
        "http.listen: {} is not a loopback address, so an API key is required: set ASSIST_API_KEY or http.api_key_file",
        c.http.listen));
  }
  validate_ingest(c.ingest, errors);
  validate_ingest_timing(c, errors);
}

}  // namespace

std::string default_instance_id() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::strcpy(host, "localhost");
  return fmt::format("{}-{}", host, ::getpid());
}

Environment process_env() {
  Environment env;
  env.lookup = [](const std::string& name) -> std::optional<std::string> {
    if (const char* v = std::getenv(name.c_str())) return std::string(v);
    return std::nullopt;
  };
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    env.names.emplace_back(text.substr(0, text.find('=')));
  }
  return env;
}

std::vector<std::string> env_names() {
  std::vector<std::string> names;
  for (const auto& key : config_keys()) names.push_back(env_name(key));
  names.emplace_back("ASSIST_CLIENT_SECRET");
  names.emplace_back("ASSIST_API_KEY");
  return names;
}

std::string env_name(std::string_view key) {
  std::string out = "ASSIST_";
  for (const char ch : key) out.push_back(ch == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch))));
  return out;
}

ConfigResult parse_config(std::string_view toml_text, std::string_view source, const Environment& env,
                          SecretFiles secrets) {
  ConfigResult result;
  auto& c = result.config;
  if (!toml_text.empty() && !apply_toml(c, toml_text, source, result.errors)) return result;
  apply_env(c, env, result.errors);
  load_one_secret(env, secrets, "ASSIST_CLIENT_SECRET", "gateway.client_secret_file", c.gateway.client_secret_file,
                  c.client_secret, c.client_secret_source, result.errors);
  load_one_secret(env, secrets, "ASSIST_API_KEY", "http.api_key_file", c.http.api_key_file, c.api_key,
                  c.api_key_source, result.errors);
  validate(c, result.errors);
  return result;
}

ConfigResult load_config(const std::string& path, const Environment& env, SecretFiles secrets) {
  if (path.empty()) return parse_config({}, {}, env, secrets);
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ConfigResult r;
    r.errors.push_back(fmt::format("cannot read configuration file {}: {}", path, std::strerror(errno)));
    return r;
  }
  std::ostringstream text;
  text << in.rdbuf();
  auto content = text.str();
  if (content.empty()) content = "\n";  // an empty file is a valid, empty configuration
  return parse_config(content, path, env, secrets);
}

std::string to_redacted_toml(const ServiceConfig& config) {
  std::string out = "# assist-sync effective configuration (file, then ASSIST_* environment overrides)\n";
  std::string section;
  for (const auto& field : schema()) {
    if (field.section != section) {
      section = field.section;
      out += fmt::format("\n[{}]\n", section);
    }
    out += fmt::format("{} = {}\n", field.key, redact(field.render(config)));
  }
  auto describe = [](const std::string& secret, const std::string& source) {
    if (source.empty()) return std::string("not set");
    if (secret.empty()) return fmt::format("from {} (not read by --print-config)", source);
    return fmt::format("set, from {}", source);
  };
  out += "\n# secrets (never printed)\n";
  out += fmt::format("# client secret: {}\n", describe(config.client_secret, config.client_secret_source));
  out += fmt::format("# API key: {}\n", describe(config.api_key, config.api_key_source));
  return out;
}

std::vector<std::string> config_keys() {
  std::vector<std::string> keys;
  for (const auto& f : schema()) keys.push_back(f.path());
  return keys;
}

std::optional<ListenAddress> parse_listen(std::string_view text) {
  std::string_view host;
  std::string_view port_text;
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return std::nullopt;
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;  // IPv6 needs brackets
  }
  unsigned port = 0;
  const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535)
    return std::nullopt;
  ListenAddress out;
  out.port = static_cast<std::uint16_t>(port);
  if (host == "localhost") {
    out.host = "127.0.0.1";
    out.loopback = true;
    return out;
  }
  boost::system::error_code error;
  const auto address = boost::asio::ip::make_address(std::string(host), error);
  if (error) return std::nullopt;
  out.host = address.to_string();
  out.loopback = address.is_loopback();
  return out;
}

SynchronizerOptions to_synchronizer_options(const ServiceConfig& c) {
  SynchronizerOptions o;
  o.token.token_url = c.gateway.token_url;
  o.token.client_id = c.gateway.client_id;
  o.token.client_secret = c.client_secret;
  o.token.scopes = c.gateway.scopes;
  o.token.auth = transport::parse_client_auth(c.gateway.auth).value_or(o.token.auth);
  o.token.request_timeout = c.gateway.request_timeout;
  o.token.tls.ca_file = c.gateway.ca_file;
  o.token.tls.pin_sha256 = c.gateway.pin_sha256;
  o.realtime.realtime_url = c.gateway.realtime_url;
  o.realtime.token_in_query = c.gateway.token_in_query;
  o.realtime.ping_interval = c.gateway.ping_interval;
  o.realtime.pong_timeout = c.gateway.pong_timeout;
  o.realtime.handshake_timeout = c.gateway.handshake_timeout;
  o.realtime.max_connections = c.gateway.max_connections;
  o.realtime.tls = o.token.tls;
  o.snippet_policy = parse_snippet_policy(c.sync.snippet_policy).value_or(o.snippet_policy);
  o.compute_relevance = c.sync.compute_relevance;
  o.freshness_seconds = c.sync.freshness_seconds;
  o.max_pending = static_cast<std::size_t>(c.sync.max_pending);
  o.max_queued_per_session = static_cast<std::size_t>(c.sync.max_queued_per_session);
  o.max_audit_backlog = static_cast<std::size_t>(c.sync.max_audit_backlog);
  o.stop_drain = c.sync.stop_drain;
  o.audit.path = c.audit.path;
  o.audit.durability = parse_audit_durability(c.audit.durability).value_or(o.audit.durability);
  o.audit.sync_interval = c.audit.sync_interval;
  o.audit.rotate_bytes = c.audit.rotate_bytes;
  o.audit.signing_key_file = c.audit.signing_key_file;
  o.audit.digest_interval = std::chrono::seconds(c.audit.digest_interval_s);
  o.audit.before_send = parse_audit_before_send(c.audit.before_send).value_or(o.audit.before_send);
  o.audit.reserve_bytes = c.audit.reserve_bytes;
  o.audit.commit_timeout = c.audit.commit_timeout;
  o.audit.headroom_bytes = c.audit.headroom_bytes;
  o.crm_webhook.url = c.crm.webhook_url;
  o.crm_webhook.ca_file = c.crm.ca_file;
  return o;
}

}  // namespace assist::service
