#include "run_command.h"

#include <csignal>
#include <cstdio>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "assist/synchronizer.h"
#include "service/config.h"
#include "service/http_api.h"
#include "service/logging.h"
#include "service/outcome_table.h"
#include "service/status_model.h"

namespace assist::cli {
namespace {

namespace asio = boost::asio;

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

// Serves until SIGTERM or SIGINT; SIGHUP reopens the log file.
void wait_for_stop(asio::io_context& io, asio::signal_set& signals) {
  asio::co_spawn(
      io,
      [&signals]() -> asio::awaitable<void> {
        for (;;) {
          const int signal = co_await signals.async_wait(asio::use_awaitable);
          if (signal != SIGHUP) {
            spdlog::info("{} received: stopping", signal == SIGTERM ? "SIGTERM" : "SIGINT");
            co_return;
          }
          service::reopen_log_files();
          spdlog::info("SIGHUP received: log file reopened");
        }
      },
      asio::detached);
  io.run();
}

int run_service(const RunArgs& args, const CLI::App& root) {
  auto loaded = service::load_config(args.config, service::process_env());
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) fmt::print(stderr, "assist-sync run: {}\n", e);
    fmt::print(stderr, "assist-sync run: {} configuration error(s); see docs/configuration.md\n", loaded.errors.size());
    return 2;
  }
  const auto& config = loaded.config;
  if (args.print_config) {
    fmt::print("{}", service::to_redacted_toml(config));
    return 0;
  }
  if (auto e = service::setup_logging(log_options(config, root)); !e.empty()) {
    fmt::print(stderr, "assist-sync run: {}\n", e);
    return 2;
  }

  // Signals are caught from here on, so a SIGTERM during start-up also stops cleanly.
  asio::io_context io(1);
  asio::signal_set signals(io, SIGTERM, SIGINT, SIGHUP);

  // The status page's figures (warnings and errors from start-up on) and the
  // outcome lookup, fed by the synchronizer.
  service::StatusModel status;
  spdlog::default_logger()->sinks().push_back(status.error_sink());
  service::OutcomeTable outcomes;
  auto sync_options = service::to_synchronizer_options(config);
  sync_options.observer = &outcomes;
  Synchronizer sync(sync_options);
  if (auto ec = sync.start(); ec) {
    spdlog::error("cannot start the synchronizer: {}", ec.message());
    return 1;
  }
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
  ho.status = &status;
  ho.outcomes = &outcomes;
  service::HttpApi api(ho, sync);
  std::string message;
  if (auto ec = api.start(message); ec) {
    spdlog::error("{}", message);
    sync.stop();
    return 1;
  }
  spdlog::info("serving on {} for gateway {} (audit {})", api.url(), service::redact(config.gateway.realtime_url),
               config.audit.path);
  // A machine-readable line for supervisors and tests (port 0 picks a free port).
  fmt::print("assist-sync listening on {}\n", api.url());
  std::fflush(stdout);

  wait_for_stop(io, signals);

  // Stop taking prompts, let the accepted ones finish (bounded by
  // sync.stop_drain_ms; the rest end as failed, audited), flush and close the
  // audit log, then answer the requests still waiting and close.
  api.stop_accepting();
  sync.stop();
  api.stop(config.http.shutdown_grace);
  const auto m = sync.metrics();
  spdlog::info("stopped: {} prompts finished, {} acked, {} failed", m.syncs_total, m.syncs_successful, m.syncs_failed);
  spdlog::default_logger()->flush();
  return 0;
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
  cmd->add_flag("--print-config", args->print_config, "Print the effective configuration (secrets redacted) and exit");
  const CLI::App* root = &app;
  return [cmd, args, root] { return *cmd ? run_service(*args, *root) : -1; };
}

}  // namespace assist::cli
