#include "audit_command.h"

#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "assist/audit.h"
#include "exit_codes.h"
#include "help.h"

namespace assist::cli {
namespace {

// One argument: the live file of a chain, with its rotated files (<path>.1,
// <path>.2, ...) found beside it. Several: exactly those files, in order.
std::vector<std::string> files_to_verify(const std::vector<std::string>& args) {
  if (args.size() != 1) return args;
  auto files = audit_chain_files(args[0]);
  if (files.empty() || files.back() != args[0]) files.push_back(args[0]);  // reported as unreadable
  return files;
}

int verify(const std::vector<std::string>& args) {
  const auto files = files_to_verify(args);
  const auto report = verify_audit(files);
  if (report.ok()) {
    fmt::print("OK: {} lines, chain intact ({} file{})\n", report.lines, files.size(), files.size() == 1 ? "" : "s");
    return exit_code::ok;
  }
  for (const auto& problem : report.problems) fmt::print("{}\n", problem.describe());
  fmt::print("FAILED: {} problem{} in {} lines\n", report.problems.size(), report.problems.size() == 1 ? "" : "s",
             report.lines);
  return exit_code::failure;
}

}  // namespace

std::function<int()> add_audit_command(CLI::App& app) {
  auto* audit = app.add_subcommand("audit", "Audit log tools");
  audit->require_subcommand(1);
  const HelpSections verify_help{
      {"assist-sync audit verify /var/lib/assist-sync/audit.jsonl",
       "assist-sync audit verify audit.jsonl.2 audit.jsonl.1 audit.jsonl"},
      {},
      {{exit_code::ok, "every line is intact and chained"},
       {exit_code::failure, "a line was changed, removed, reordered or truncated, or a file cannot be read"},
       {exit_code::usage, "bad usage (no FILE)"}}};
  document(*audit, verify_help);
  auto* verify_cmd = audit->add_subcommand(
      "verify",
      "Check the SHA-256 chain of audit files. One FILE: it and its rotated files FILE.1, FILE.2, ... "
      "Several: exactly those, oldest first.");
  auto files = std::make_shared<std::vector<std::string>>();
  verify_cmd->add_option("FILE", *files, "Audit log file(s)")->required();
  document(*verify_cmd, verify_help);
  return [audit, verify_cmd, files]() -> int {
    if (!*audit || !*verify_cmd) return -1;
    return verify(*files);
  };
}

}  // namespace assist::cli
