#!/usr/bin/env python3
"""The bash completion (contrib/bash-completion/assist-sync) offers the
commands, and for each command exactly the options its --help lists, so the
two cannot drift apart.

usage: bash_completion_test.py ASSIST_SYNC_BINARY COMPLETION_FILE
"""
import re
import subprocess
import sys

binary, completion = sys.argv[1], sys.argv[2]
failures = []


def complete(*words):
    """What the completion function proposes for `assist-sync WORDS...`."""
    line = ["assist-sync", *words]
    script = (f"source {completion}\n"
              f"COMP_WORDS=({' '.join(repr(w) for w in line)}); COMP_CWORD={len(line) - 1}\n"
              "_assist_sync; printf '%s\\n' \"${COMPREPLY[@]}\"\n")
    out = subprocess.run(["bash", "--norc", "-c", script], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def help_options(*command):
    """The options a command's --help lists (its option lines, not its prose)."""
    text = subprocess.run([binary, *command, "--help"], capture_output=True, text=True, check=True).stdout
    options_part = text.split("EXAMPLES:")[0]
    return set(re.findall(r"^\s+(?:-\w,\s*)?(--[a-z0-9-]+)", options_part, re.M))


def expect(got, wanted, what):
    if got != wanted:
        failures.append(f"{what}: missing {sorted(wanted - got)}, unexpected {sorted(got - wanted)}")


expect(complete(""), {"demo", "run", "send", "gateway", "audit", "outcomes"} | help_options(), "top level")
for command in ["demo", "run", "send", "gateway", "outcomes"]:
    expect(complete(command, "--"), help_options(command), command)
expect(complete("audit", ""), {"verify", "--help", "--version"}, "audit")
expect(complete("--log-level", "debug", "gateway", "--tl"), {"--tls"}, "a global option before the command")
expect(complete("--log-level", ""), {"trace", "debug", "info", "warn", "error", "critical", "off"}, "--log-level")

print("\n".join(failures) or "completion matches every --help")
sys.exit(1 if failures else 0)
