// `assist-sync audit verify [--public-key FILE] FILE...`: checks the audit
// log's hash chain and signed digests; `assist-sync audit keygen --out-dir D`:
// creates the signing key pair.
#ifndef ASSIST_APPS_AUDIT_COMMAND_H
#define ASSIST_APPS_AUDIT_COMMAND_H

#include <functional>

#include <CLI/CLI.hpp>

namespace assist::cli {

// Adds the `audit` subcommand (with `verify` and `keygen`) to `app`; the
// returned function runs it when the subcommand was chosen and returns the
// exit code. verify: 0 intact, 1 tampered, 2 unreadable, 3 torn tail only
// (every problem one line on stdout); keygen: 0 done, 1 failed.
// -1 when `audit` was not chosen.
std::function<int()> add_audit_command(CLI::App& app);

}  // namespace assist::cli

#endif
