// `assist-sync send [FILE|-]`: prompts as JSONL through the synchronizer to a
// real gateway, with a summary (or one JSON object with --json) at the end.
#ifndef ASSIST_APPS_SEND_COMMAND_H
#define ASSIST_APPS_SEND_COMMAND_H

#include <functional>

#include <CLI/CLI.hpp>

namespace assist::cli {

// Adds the `send` subcommand to `app`; the returned function runs it when the
// subcommand was chosen and returns the exit code (exit_codes.h; 0: every
// line ended in a terminal outcome; 1: some line did not (unparsable, refused
// before acceptance, or no outcome before --timeout), or the audit log cannot
// be opened; 2: bad usage, no secret, unreadable input), -1 otherwise.
std::function<int()> add_send_command(CLI::App& app);

}  // namespace assist::cli

#endif
