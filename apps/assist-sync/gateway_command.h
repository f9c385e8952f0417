// `assist-sync gateway`: runs the gateway emulator as a process.
#ifndef ASSIST_APPS_GATEWAY_COMMAND_H
#define ASSIST_APPS_GATEWAY_COMMAND_H

#include <functional>

#include <CLI/CLI.hpp>

namespace assist::cli {

// Adds the `gateway` subcommand to `app`; the returned function runs it when
// the subcommand was chosen (until SIGTERM/SIGINT, then writes --stats-file
// and returns 0; 1 when the gateway cannot start; 2 for a bad option value,
// see exit_codes.h) and returns -1 otherwise.
std::function<int()> add_gateway_command(CLI::App& app);

}  // namespace assist::cli

#endif
