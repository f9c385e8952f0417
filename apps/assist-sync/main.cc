// assist-sync: the command-line entry point.
#include <cstdio>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "audit_command.h"
#include "demo_command.h"
#include "exit_codes.h"
#include "gateway_command.h"
#include "help.h"
#include "outcomes_command.h"
#include "run_command.h"
#include "send_command.h"
#include "service/logging.h"

namespace {

using namespace assist::cli;

void document_root(CLI::App& app) {
  document(app, {{"assist-sync demo",
                  "assist-sync run --config /etc/assist-sync/assist-sync.toml",
                  "assist-sync send prompts.jsonl --token-url URL --realtime-url URL --client-id ID",
                  "assist-sync gateway --listen 127.0.0.1:9000",
                  "assist-sync audit verify /var/lib/assist-sync/audit.jsonl",
                  "assist-sync outcomes --config /etc/assist-sync/assist-sync.toml",
                  "assist-sync COMMAND --help"},
                 {{"ASSIST_CLIENT_SECRET", "the OAuth client secret (run, send)"},
                  {"ASSIST_API_KEY", "the local HTTP API key (run)"},
                  {"ASSIST_<SECTION>_<KEY>", "overrides a configuration key (run)"}},
                 {{exit_code::ok, "success"},
                  {exit_code::failure, "the work failed (see each command's --help)"},
                  {exit_code::usage, "bad usage or configuration (the problem is printed)"},
                  {exit_code::gateway_fatal, "the gateway refuses the credentials or configuration (run, send)"},
                  {exit_code::audit_fatal, "the audit log cannot be written (run)"}}});
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"assist-sync: delivers agent-assist prompts to a real-time gateway", "assist-sync"};
  app.require_subcommand(1);
  std::string log_format = "auto";
  std::string log_level = "info";
  app.add_option("--log-format", log_format, "Log lines: auto (text on a terminal, else JSON), text or json")
      ->check(CLI::IsMember({"auto", "text", "json"}))
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();
  document_root(app);
  const auto run_demo = add_demo_command(app);
  const auto run_service = add_run_command(app);
  const auto run_send = add_send_command(app);
  const auto run_audit = add_audit_command(app);
  const auto run_gateway = add_gateway_command(app);
  const auto run_outcomes = add_outcomes_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every other parse error is a usage error
    // (CLI11's own codes, 105, 106..., are not part of the interface).
    return app.exit(e) == 0 ? exit_code::ok : exit_code::usage;
  }
  if (auto e = assist::service::setup_logging(
          {*assist::service::parse_log_format(log_format), log_level, ""});
      !e.empty()) {
    fmt::print(stderr, "assist-sync: {}\n", e);
    return exit_code::usage;
  }
  int rc = exit_code::ok;
  for (const auto& command : {run_demo, run_service, run_send, run_audit, run_gateway, run_outcomes}) {
    if (const int chosen = command(); chosen >= 0) {
      rc = chosen;
      break;
    }
  }
  assist::service::flush_logs();  // lines are written by the logging thread
  return rc;
}
