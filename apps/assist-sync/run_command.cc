#include "run_command.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <mutex>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "assist/synchronizer.h"
#include "core/detail/log_record.h"
#include "core/detail/thread.h"
#include "exit_codes.h"
#include "help.h"
#include "ingest/jetstream_ingest.h"
#include "service/config.h"
#include "service/http_api.h"
#include "service/logging.h"
#include "service/outcome_table.h"
#include "service/status_model.h"
#include "systemd_notify.h"

namespace assist::cli {
namespace {

namespace asio = boost::asio;
using detail::LogRecord;

struct RunArgs {
  std::string config;
  bool print_config = false;
};

// The [log] section, except where the global --log-format / --log-level were given.
service::LogOptions log_options(const service::ServiceConfig& config, const CLI::App& root) {
  service::LogOptions o;
  o.file = config.log.file;
  o.level = config.log.level;
  o.format = service::parse_log_format(config.log.format).value_or(service::LogFormat::automatic);
  if (const auto* level = root.get_option_no_throw("--log-level"); level && level->count() > 0)
    o.level = level->as<std::string>();
  if (const auto* format = root.get_option_no_throw("--log-format"); format && format->count() > 0)
    o.format = service::parse_log_format(format->as<std::string>()).value_or(o.format);
  return o;
}

// Why the service stops, once: the exit code it will end with. Thread-safe.
class StopRequest {
 public:
  // The first request wins; later ones return false.
  bool request(int exit_code) {
    std::lock_guard lock(mu_);
    if (requested_) return false;
    requested_ = true;
    promise_.set_value(exit_code);
    return true;
  }
  // Blocks until a stop is requested; its exit code.
  int wait() { return future_.get(); }

 private:
  std::mutex mu_;
  bool requested_ = false;
  std::promise<int> promise_;
  std::future<int> future_ = promise_.get_future();
};

// The signals, on a thread of their own (so a second SIGTERM is seen while
// the main thread drains): SIGHUP reopens the log file, the first SIGTERM or
// SIGINT requests a graceful stop, a second one while stopping exits at once.
asio::awaitable<void> handle_signals(asio::signal_set& signals, StopRequest& stop) {
  for (;;) {
    const int signal = co_await signals.async_wait(asio::use_awaitable);
    const char* name = signal == SIGTERM ? "SIGTERM" : signal == SIGINT ? "SIGINT" : "SIGHUP";
    if (signal == SIGHUP) {
      if (service::reopen_log_files())
        spdlog::info(LogRecord("log file reopened").with("signal", name).text());
      else
        spdlog::info(LogRecord("no log file to reopen: logging to stderr").with("signal", name).text());
      continue;
    }
    if (stop.request(exit_code::ok)) {
      spdlog::info(LogRecord("stopping: draining accepted prompts (a second signal exits at once)")
                       .with("signal", name)
                       .text());
      continue;
    }
    spdlog::warn(LogRecord("second stop signal: exiting at once, without draining; prompts still pending "
                           "have no outcome in the audit log")
                     .with("signal", name)
                     .text());
    service::flush_logs();
    std::_Exit(exit_code::failure);
  }
}

// WATCHDOG=1 every half WatchdogSec= while this loop runs.
asio::awaitable<void> keep_watchdog(const SystemdNotifier& notifier) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    notifier.watchdog();
    timer.expires_after(notifier.watchdog_interval());
    co_await timer.async_wait(asio::use_awaitable);
  }
}

service::HttpApiOptions http_options(const service::ServiceConfig& config, service::StatusModel& status,
                                     service::OutcomeTable& outcomes, ingest::JetStreamIngest* ingest) {
  const auto listen = *service::parse_listen(config.http.listen);
  service::HttpApiOptions ho;
  ho.host = listen.host;
  ho.port = listen.port;
  ho.api_key = config.api_key;
  ho.body_limit = static_cast<std::size_t>(config.http.body_limit);
  ho.header_limit = static_cast<std::size_t>(config.http.header_limit);
  ho.request_timeout = config.http.request_timeout;
  ho.max_connections = static_cast<std::size_t>(config.http.max_connections);
  ho.threads = config.http.threads;
  ho.max_batch_lines = static_cast<std::size_t>(config.http.max_batch_lines);
  ho.admission_wait = config.http.admission_wait;
  ho.status = &status;
  ho.outcomes = &outcomes;
  if (ingest) {
    ho.route = [ingest](AssistPrompt prompt, std::function<void(SubmitResult)> done) {
      ingest->submit(std::move(prompt), std::move(done));
    };
    ho.route_health = [ingest] { return ingest->health(); };
    ho.extra_metrics = [ingest] { return ingest::prometheus_text(ingest->stats(), ingest->health().ok()); };
  }
  return ho;
}

std::chrono::milliseconds seconds_to_ms(double seconds) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000.0));
}

// [ingest] mode = "nats": prompts accepted here go through JetStream, and
// this instance consumes its share of the partitions (docs/scale-out.md).
ingest::IngestOptions ingest_options(const service::ServiceConfig& config, service::OutcomeTable& outcomes) {
  ingest::IngestOptions o;
  o.connect.servers = config.ingest.servers;
  if (!config.ingest.credentials_file.empty()) o.connect.credentials_file = config.ingest.credentials_file;
  o.connect.client_name = "assist-sync " + config.ingest.instance_id;
  o.stream = config.ingest.stream;
  o.partitions = config.ingest.partitions;
  o.lease_ttl = seconds_to_ms(config.ingest.lease_ttl_seconds);
  o.ack_wait = seconds_to_ms(config.ingest.ack_wait_seconds);
  o.instance_id = config.ingest.instance_id;
  o.replicas = static_cast<int>(config.ingest.replicas);
  o.max_age = seconds_to_ms(config.ingest.max_age_seconds);
  o.acceptance = service::to_synchronizer_options(config);
  o.observer = &outcomes;
  return o;
}

// Loads the configuration; prints every problem and returns false when bad.
bool load(const RunArgs& args, service::ConfigResult& loaded) {
  loaded = service::load_config(args.config, service::process_env(),
                                args.print_config ? service::SecretFiles::skip : service::SecretFiles::read);
  if (loaded.ok()) return true;
  for (const auto& e : loaded.errors) fmt::print(stderr, "assist-sync run: {}\n", e);
  fmt::print(stderr, "assist-sync run: {} configuration error(s); see docs/configuration.md\n", loaded.errors.size());
  return false;
}

// SIGTERM, SIGINT and SIGHUP handled on a thread of their own from
// construction until end(): they turn into `stop` requests.
class SignalThread {
 public:
  explicit SignalThread(StopRequest& stop) {
    asio::co_spawn(io_, handle_signals(signals_, stop), asio::detached);
    thread_ = detail::named_thread("assist-signals", [this] { io_.run(); });
  }
  ~SignalThread() { end(); }
  SignalThread(const SignalThread&) = delete;
  SignalThread& operator=(const SignalThread&) = delete;

  // Runs `task` on the signal thread too (the watchdog keep-alive).
  void spawn(asio::awaitable<void> task) { asio::co_spawn(io_, std::move(task), asio::detached); }
  // Idempotent.
  void end() {
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }

 private:
  asio::io_context io_{1};
  asio::signal_set signals_{io_, SIGTERM, SIGINT, SIGHUP};
  std::thread thread_;
};

// The synchronizer's options from the configuration, reporting outcomes to
// `outcomes`; giving up for good (credentials refused, not a gateway, audit
// unwritable) requests a stop with the exit code that says which, so a
// supervisor does not restart into the same failure (docs/operations.md).
SynchronizerOptions service_options(const service::ServiceConfig& config, service::OutcomeTable& outcomes,
                                    StopRequest& stop) {
  auto options = service::to_synchronizer_options(config);
  // In nats mode the table follows the prompts accepted here, wherever they
  // are delivered (the ingest tells it), not those this instance delivers.
  if (config.ingest.mode != "nats") options.observer = &outcomes;
  options.on_fatal = [&stop](const SynchronizerStatus& s) {
    spdlog::error(LogRecord("giving up: stopping the service").with("reason", s.fatal.message).error(s.fatal.code).text());
    stop.request(exit_code::for_fatal(s));
  };
  return options;
}

// Says the service is up: the log, a machine-readable line for supervisors
// and tests (port 0 picks a free port), systemd's READY=1 and its watchdog.
void announce(const service::HttpApi& api, const service::ServiceConfig& config, const SystemdNotifier& notifier,
              SignalThread& signals) {
  spdlog::info(LogRecord("serving")
                   .with("url", api.url())
                   .with("gateway", service::redact(config.gateway.realtime_url))
                   .with("audit", config.audit.path)
                   .text());
  fmt::print("assist-sync listening on {}\n", api.url());
  std::fflush(stdout);
  notifier.ready(fmt::format("serving on {}", api.url()));
  if (notifier.watchdog_interval().count() > 0) signals.spawn(keep_watchdog(notifier));
}

int serve(const service::ServiceConfig& config) {
  // Signals are caught from here on, so a SIGTERM during start-up also stops cleanly.
  StopRequest stop;
  const SystemdNotifier notifier;
  SignalThread signals(stop);

  // The status page's figures (warnings and errors from start-up on) and the
  // outcome lookup, fed by the synchronizer.
  service::StatusModel status;
  spdlog::default_logger()->sinks().push_back(status.error_sink());
  service::OutcomeTable outcomes;
  Synchronizer sync(service_options(config, outcomes, stop));
  if (const Status started = sync.start(); !started.ok()) {
    spdlog::error(LogRecord("cannot start the synchronizer").with("reason", started.message).error(started.code).text());
    return exit_code::failure;
  }
  std::unique_ptr<ingest::JetStreamIngest> scale_out;
  if (config.ingest.mode == "nats") {
    scale_out = std::make_unique<ingest::JetStreamIngest>(ingest_options(config, outcomes), sync);
    if (const Status started = scale_out->start(); !started.ok()) {
      spdlog::error(LogRecord("cannot start scale-out ingest").with("reason", started.message).error(started.code).text());
      sync.stop();
      return exit_code::failure;
    }
  }
  service::HttpApi api(http_options(config, status, outcomes, scale_out.get()), sync);
  if (const Status started = api.start(); !started.ok()) {
    spdlog::error(LogRecord("cannot start the HTTP API").with("reason", started.message).error(started.code).text());
    if (scale_out) scale_out->stop(std::chrono::milliseconds(0));
    sync.stop();
    return exit_code::failure;
  }
  announce(api, config, notifier, signals);

  const int code = stop.wait();
  notifier.stopping("draining accepted prompts");
  // Stop taking prompts (probes now get 503), let the accepted ones finish
  // (bounded by sync.stop_drain_ms; the rest end as failed, audited), flush
  // and close the audit log, then answer the requests still waiting and close.
  api.stop_accepting();
  // The prompts taken from partitions finish and are acknowledged before the
  // partitions are handed over; what is left is redelivered to their next owner.
  if (scale_out) scale_out->stop(config.sync.stop_drain);
  sync.stop();
  api.stop(config.http.shutdown_grace);
  signals.end();
  const auto m = sync.metrics();
  spdlog::info(LogRecord("stopped")
                   .with("prompts_finished", m.syncs_total)
                   .with("acked", m.syncs_successful)
                   .with("failed", m.syncs_failed)
                   .text());
  return code;
}

int run_service(const RunArgs& args, const CLI::App& root) {
  service::ConfigResult loaded;
  if (!load(args, loaded)) return exit_code::usage;
  if (args.print_config) {
    fmt::print("{}", service::to_redacted_toml(loaded.config));
    return exit_code::ok;
  }
  if (auto e = service::setup_logging(log_options(loaded.config, root)); !e.empty()) {
    fmt::print(stderr, "assist-sync run: {}\n", e);
    return exit_code::usage;
  }
  return serve(loaded.config);
}

}  // namespace

std::function<int()> add_run_command(CLI::App& app) {
  auto args = std::make_shared<RunArgs>();
  auto* cmd = app.add_subcommand(
      "run",
      "Run the service: keep connections to the configured gateway and serve the local HTTP API "
      "(POST /v1/prompts, /v1/prompts/batch, GET /metrics, /healthz, /readyz, the status page at /, "
      "/v1/status, /v1/prompts/{frame_id})");
  cmd->add_option("-c,--config", args->config,
                  "TOML configuration file (see docs/configuration.md); ASSIST_<SECTION>_<KEY> variables override it")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--print-config", args->print_config,
                "Print the effective configuration (secrets neither read from their files nor printed) and exit");
  document(*cmd,
           {{"assist-sync run --config /etc/assist-sync/assist-sync.toml",
             "assist-sync run --config my.toml --print-config",
             "ASSIST_HTTP_LISTEN=127.0.0.1:0 ASSIST_LOG_LEVEL=debug assist-sync run --config my.toml",
             "curl -s -XPOST 'localhost:8080/v1/prompts?wait=outcome' -d @prompt.json",
             "curl -s -XPOST localhost:8080/v1/prompts/batch --data-binary @prompts.jsonl"},
            {{"ASSIST_CLIENT_SECRET", "the OAuth client secret (else gateway.client_secret_file)"},
             {"ASSIST_API_KEY", "the HTTP API key (else http.api_key_file)"},
             {"ASSIST_<SECTION>_<KEY>", "overrides a key, e.g. ASSIST_HTTP_LISTEN; any other ASSIST_* is an error"},
             {"NOTIFY_SOCKET, WATCHDOG_USEC", "set by systemd (Type=notify, WatchdogSec=)"}},
            {{exit_code::ok, "stopped by SIGTERM/SIGINT after draining, or --print-config"},
             {exit_code::failure, "cannot start (audit log, port), or a second signal cut the drain short"},
             {exit_code::usage, "bad usage or configuration (every problem is printed)"},
             {exit_code::gateway_fatal, "the gateway refuses the credentials or the configuration"},
             {exit_code::audit_fatal, "the audit log cannot be written"}}});
  const CLI::App* root = &app;
  return [cmd, args, root] { return *cmd ? run_service(*args, *root) : -1; };
}

}  // namespace assist::cli
