// assist-sync: the command-line entry point.
#include <cstdio>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "audit_command.h"
#include "demo_command.h"
#include "gateway_command.h"
#include "run_command.h"
#include "send_command.h"
#include "service/logging.h"

int main(int argc, char** argv) {
  CLI::App app{"assist-sync: delivers agent-assist prompts to a real-time gateway"};
  app.require_subcommand(1);
  std::string log_format = "auto";
  std::string log_level = "info";
  app.add_option("--log-format", log_format, "Log lines: auto (text on a terminal, else JSON), text or json")
      ->check(CLI::IsMember({"auto", "text", "json"}))
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();
  const auto run_demo = assist::cli::add_demo_command(app);
  const auto run_service = assist::cli::add_run_command(app);
  const auto run_send = assist::cli::add_send_command(app);
  const auto run_audit = assist::cli::add_audit_command(app);
  const auto run_gateway = assist::cli::add_gateway_command(app);
  CLI11_PARSE(app, argc, argv);
  if (auto e = assist::service::setup_logging(
          {*assist::service::parse_log_format(log_format), log_level, ""});
      !e.empty()) {
    fmt::print(stderr, "assist-sync: {}\n", e);
    return 2;
  }
  if (const int rc = run_demo(); rc >= 0) return rc;
  if (const int rc = run_service(); rc >= 0) return rc;
  if (const int rc = run_send(); rc >= 0) return rc;
  if (const int rc = run_audit(); rc >= 0) return rc;
  if (const int rc = run_gateway(); rc >= 0) return rc;
  return 0;
}
