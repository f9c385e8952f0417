// `assist-sync demo`: the README's main job.
#ifndef ASSIST_APPS_DEMO_COMMAND_H
#define ASSIST_APPS_DEMO_COMMAND_H

#include <functional>

#include <CLI/CLI.hpp>

namespace assist::cli {

// Adds the `demo` subcommand to `app`; the returned function runs it when the
// subcommand was chosen and returns the exit code.
std::function<int()> add_demo_command(CLI::App& app);

}  // namespace assist::cli

#endif
