#include "outcomes_command.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "bus/connection.h"
#include "bus/subscription.h"
#include "exit_codes.h"
#include "help.h"
#include "ingest/prompt_stream.h"
#include "service/config.h"

namespace assist::cli {
namespace {

struct OutcomesArgs {
  std::string config;
  std::vector<std::string> servers;
  std::string credentials_file;
  std::string stream;
  bool from_start = false;
  std::optional<long> count;
};

// Set by SIGTERM and SIGINT.
std::atomic<bool> stop_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free, "used in a signal handler");

extern "C" void request_stop(int) { stop_requested = true; }

// Outcome bodies handed over by the subscription's libnats thread to the
// printing thread, so that a slow stdout never blocks libnats.
class OutcomeQueue {
 public:
  void push(std::string_view body) {
    std::lock_guard lock(mutex_);
    bodies_.emplace_back(body);
    cv_.notify_one();
  }
  // The next body, or nullopt when none came within `timeout`.
  std::optional<std::string> pop(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    if (!cv_.wait_for(lock, timeout, [this] { return !bodies_.empty(); })) return std::nullopt;
    auto body = std::move(bodies_.front());
    bodies_.pop_front();
    return body;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::string> bodies_;
};

// Where to connect: the command line's --servers, else [ingest] of --config.
// Prints the problems and returns nullopt when the configuration is bad.
std::optional<bus::ConnectOptions> connect_options(OutcomesArgs& args) {
  bus::ConnectOptions options;
  options.client_name = "assist-sync outcomes";
  if (!args.servers.empty()) {
    for (const auto& url : args.servers) {
      if (!url.starts_with("nats://") && !url.starts_with("tls://")) {
        fmt::print(stderr, "assist-sync outcomes: --servers: expected nats://host:port or tls://host:port, got '{}'\n",
                   bus::shown_server_url(url));
        return std::nullopt;
      }
    }
    options.servers = args.servers;
    if (!args.credentials_file.empty()) options.credentials_file = args.credentials_file;
    if (args.stream.empty()) args.stream = service::IngestConfig{}.stream;
    return options;
  }
  const auto loaded = service::load_config(args.config, service::process_env(), service::SecretFiles::skip);
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) fmt::print(stderr, "assist-sync outcomes: {}\n", e);
    fmt::print(stderr, "assist-sync outcomes: {} configuration error(s); see docs/configuration.md\n",
               loaded.errors.size());
    return std::nullopt;
  }
  const auto& ingest = loaded.config.ingest;
  if (ingest.servers.empty()) {
    fmt::print(stderr, "assist-sync outcomes: ingest.servers: no NATS server in {} (or give --servers)\n", args.config);
    return std::nullopt;
  }
  options.servers = ingest.servers;
  if (!ingest.credentials_file.empty()) options.credentials_file = ingest.credentials_file;
  if (args.stream.empty()) args.stream = ingest.stream;
  return options;
}

// The exit code for a bus error: the configuration's, or the work's.
int exit_code_for(const Status& error) {
  return error.code == bus::BusErrc::bad_config ? exit_code::usage : exit_code::failure;
}

int print_outcomes(OutcomesArgs& args) {
  auto options = connect_options(args);
  if (!options) return exit_code::usage;
  options->on_connection_change = [](bool connected) {
    fmt::print(stderr, "assist-sync outcomes: {}\n",
               connected ? "connection to NATS back" : "connection to NATS lost; reconnecting");
  };
  auto connection = bus::Connection::connect(std::move(*options));
  if (!connection) {
    fmt::print(stderr, "assist-sync outcomes: {}\n", connection.error().message);
    return exit_code_for(connection.error());
  }
  OutcomeQueue queue;
  auto subscription = bus::Subscription::follow_stream(
      *connection.value(), ingest::outcome_stream_name(args.stream), std::string(ingest::kOutcomeSubjects),
      args.from_start ? bus::Subscription::StreamStart::stored : bus::Subscription::StreamStart::new_only,
      [&queue](std::string_view, std::string_view body) { queue.push(body); });
  if (!subscription) {
    fmt::print(stderr, "assist-sync outcomes: {}\n", subscription.error().message);
    return exit_code_for(subscription.error());
  }
  std::signal(SIGTERM, request_stop);
  std::signal(SIGINT, request_stop);
  long printed = 0;
  while (!stop_requested && (!args.count || printed < *args.count)) {
    // Woken at least every 100 ms to see a signal.
    if (const auto body = queue.pop(std::chrono::milliseconds(100))) {
      fmt::print("{}\n", *body);
      std::fflush(stdout);
      ++printed;
    }
  }
  return exit_code::ok;
}

}  // namespace

std::function<int()> add_outcomes_command(CLI::App& app) {
  auto args = std::make_shared<OutcomesArgs>();
  auto* cmd = app.add_subcommand(
      "outcomes",
      "Print the outcomes of prompts published to the outcomes stream (<stream>_OUTCOMES, scale-out through "
      "NATS JetStream), one JSON object a line, following new ones until SIGTERM/SIGINT");
  auto* config = cmd->add_option("-c,--config", args->config,
                                 "TOML configuration file of `run`: connects to its [ingest] servers and stream "
                                 "(validated as `run --print-config` does)")
                     ->check(CLI::ExistingFile);
  auto* servers = cmd->add_option("--servers", args->servers, "NATS server URLs, comma-separated, instead of --config")
                      ->delimiter(',');
  config->excludes(servers);
  cmd->add_option("--credentials-file", args->credentials_file, "A NATS .creds file, with --servers")
      ->check(CLI::ExistingFile)
      ->needs(servers);
  cmd->add_option("--stream", args->stream,
                  "The prompt stream whose outcomes to print (default: ingest.stream, ASSIST_PROMPTS)");
  cmd->add_flag("--from-start", args->from_start, "Print the outcomes the stream stores first, then the new ones");
  cmd->add_option("--count", args->count, "Exit after printing N outcomes")->check(CLI::PositiveNumber);
  cmd->callback([cmd] {
    if (cmd->count("--config") == 0 && cmd->count("--servers") == 0)
      throw CLI::RequiredError("--config or --servers");
  });
  document(*cmd,
           {{"assist-sync outcomes --config /etc/assist-sync/assist-sync.toml",
             "assist-sync outcomes --servers nats://nats-1:4222,nats://nats-2:4222 --from-start --count 100",
             "assist-sync outcomes --config my.toml | jq -c 'select(.outcome != \"ACKED\")'"},
            {{"ASSIST_<SECTION>_<KEY>", "overrides a key of --config, e.g. ASSIST_INGEST_SERVERS"}},
            {{exit_code::ok, "--count outcomes printed, or stopped by SIGTERM/SIGINT"},
             {exit_code::failure, "NATS unreachable, or the outcomes stream does not exist"},
             {exit_code::usage, "bad usage or configuration (every problem is printed)"}}});
  return [cmd, args] { return *cmd ? print_outcomes(*args) : -1; };
}

}  // namespace assist::cli
