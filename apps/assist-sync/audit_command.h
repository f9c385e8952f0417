// `assist-sync audit verify FILE...`: checks the audit log's hash chain.
#ifndef ASSIST_APPS_AUDIT_COMMAND_H
#define ASSIST_APPS_AUDIT_COMMAND_H

#include <functional>

#include <CLI/CLI.hpp>

namespace assist::cli {

// Adds the `audit` subcommand (with `verify`) to `app`; the returned function
// runs it when the subcommand was chosen and returns the exit code: 0 when
// the chain is intact, 1 when a problem was found (one line each on stdout).
std::function<int()> add_audit_command(CLI::App& app);

}  // namespace assist::cli

#endif
