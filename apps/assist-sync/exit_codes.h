// The exit status of every assist-sync command, in one place. The table in
// docs/operations.md ("Exit status") lists which command uses which; the
// example systemd unit names the permanent failures in
// RestartPreventExitStatus=, so a restart that cannot help is not attempted.
#ifndef ASSIST_APPS_EXIT_CODES_H
#define ASSIST_APPS_EXIT_CODES_H

#include "assist/synchronizer.h"

namespace assist::cli::exit_code {

// Success: graceful stop, every prompt delivered, chain intact, help/version.
inline constexpr int ok = 0;
// The work failed: `send` delivered nothing or left lines without an
// outcome, `audit verify` found a problem, `demo` ended badly, a process
// cannot start (port in use, audit log cannot be opened) or was stopped by a
// second signal without draining.
inline constexpr int failure = 1;
// Bad usage or configuration: unknown flag, missing argument, invalid value,
// configuration errors (every problem is printed). Fix the command line or
// the configuration; running again unchanged fails again.
inline constexpr int usage = 2;
// A permanent failure on the gateway side: the token endpoint refuses the
// credentials (invalid_client, invalid_scope, unauthorized_client), or the
// gateway's URLs answer as something else (404, not a WebSocket). Retrying
// cannot help until the configuration or the credentials are changed.
inline constexpr int gateway_fatal = 3;
// The audit log cannot be written (disk full, permissions, I/O error):
// sending stopped fail-closed, and the process ends so it can be noticed.
inline constexpr int audit_fatal = 4;
// `audit verify` only: the chain is intact but its last line is cut off, as a
// crash leaves it; the next start of the service recovers it (not tampering).
inline constexpr int torn_tail = 3;

// The exit code for a synchronizer that gave up for good (on_fatal): the
// audit log's failure, else the gateway side's.
inline int for_fatal(const SynchronizerStatus& status) { return status.audit.ok ? gateway_fatal : audit_fatal; }

}  // namespace assist::cli::exit_code

#endif  // ASSIST_APPS_EXIT_CODES_H
