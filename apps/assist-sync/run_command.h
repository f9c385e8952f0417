// `assist-sync run`: the long-running service (config file + environment,
// gateway connection pool, local HTTP API, graceful SIGTERM, SIGHUP reopens
// the log file, systemd readiness and watchdog).
#ifndef ASSIST_APPS_RUN_COMMAND_H
#define ASSIST_APPS_RUN_COMMAND_H

#include <functional>

#include <CLI/CLI.hpp>

namespace assist::cli {

// Adds the `run` subcommand to `app`; the returned function runs it when the
// subcommand was chosen and returns the exit code (exit_codes.h: 0 after a
// graceful stop or --print-config; 1 when it cannot start or a second signal
// cut the drain short; 2 for a bad configuration), -1 otherwise. The global
// --log-format / --log-level options of `app`, when given, take precedence
// over the [log] section.
std::function<int()> add_run_command(CLI::App& app);

}  // namespace assist::cli

#endif
