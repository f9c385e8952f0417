// `assist-sync outcomes`: prints the outcomes of prompts that the instances
// publish to the outcomes stream (scale-out through NATS JetStream,
// docs/scale-out.md), one JSON object a line, following new ones.
#ifndef ASSIST_APPS_OUTCOMES_COMMAND_H
#define ASSIST_APPS_OUTCOMES_COMMAND_H

#include <functional>

#include <CLI/CLI.hpp>

namespace assist::cli {

// Adds the `outcomes` subcommand to `app`; the returned function runs it when
// the subcommand was chosen and returns the exit code (exit_codes.h: 0 after
// --count lines or SIGTERM/SIGINT; 1 when NATS is unreachable or the stream
// does not exist; 2 for bad usage or configuration), -1 otherwise.
std::function<int()> add_outcomes_command(CLI::App& app);

}  // namespace assist::cli

#endif  // ASSIST_APPS_OUTCOMES_COMMAND_H
