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

struct VerifyArgs {
  std::vector<std::string> files;
  std::string public_key_file;
};

// One argument: the live file of a chain, with its rotated files (<path>.1,
// <path>.2, ...) found beside it. Several: exactly those files, in order.
std::vector<std::string> files_to_verify(const std::vector<std::string>& args) {
  if (args.size() != 1) return args;
  auto files = audit_chain_files(args[0]);
  if (files.empty() || files.back() != args[0]) files.push_back(args[0]);  // reported as unreadable
  return files;
}

// What the chain proves beyond "intact": where it starts, what is signed, recoveries.
void print_scope(const AuditVerifyReport& report, const std::vector<std::string>& files) {
  if (report.from_anchor) {
    fmt::print("verified from the anchor that begins {} (seq {}): older files were pruned or not given; seq 1..{} "
               "are not part of this check\n",
               files.front(), report.first_seq, report.first_seq - 1);
  }
  if (report.signatures_checked) {
    const auto unsigned_tail = report.last_seq > report.signed_through_seq ? report.last_seq - report.signed_through_seq : 0;
    fmt::print("signatures: {} digest{} signed with key {}; the chain through seq {} is vouched for by the key, {} "
               "line{} after it by the hash chain only\n",
               report.digests, report.digests == 1 ? "" : "s", report.key_id, report.signed_through_seq,
               unsigned_tail, unsigned_tail == 1 ? "" : "s");
  } else if (report.digests > 0) {
    fmt::print("signatures: {} digest{} not checked (give --public-key to check them)\n", report.digests,
               report.digests == 1 ? "" : "s");
  }
  if (report.recoveries > 0)
    fmt::print("recovered after a crash: {} time{} (AUDIT_RECOVERY lines)\n", report.recoveries,
               report.recoveries == 1 ? "" : "s");
}

int verify(const VerifyArgs& args) {
  const auto files = files_to_verify(args.files);
  const auto report = verify_audit(files, AuditVerifyOptions{args.public_key_file});
  for (const auto& problem : report.problems) fmt::print("{}\n", problem.describe());
  const auto plural = [](std::size_t n) { return n == 1 ? "" : "s"; };
  switch (report.verdict) {
    case AuditVerdict::intact:
      fmt::print("OK: {} lines, chain intact ({} file{})\n", report.lines, files.size(), plural(files.size()));
      print_scope(report, files);
      return exit_code::ok;
    case AuditVerdict::torn_tail:
      fmt::print("TORN TAIL: {} lines; only the last line is cut off, as a crash leaves it, nothing else is wrong. "
                 "The next start of the service recovers it.\n",
                 report.lines);
      print_scope(report, files);
      return exit_code::torn_tail;
    case AuditVerdict::unreadable:
      fmt::print("UNREADABLE: cannot verify: {} problem{}\n", report.problems.size(), plural(report.problems.size()));
      return exit_code::usage;
    case AuditVerdict::tampered: break;
  }
  fmt::print("FAILED: {} problem{} in {} lines\n", report.problems.size(), plural(report.problems.size()),
             report.lines);
  return exit_code::failure;
}

int keygen(const std::string& dir) {
  const auto made = generate_audit_signing_key(dir);
  if (!made) {
    fmt::print(stderr, "assist-sync audit keygen: {}\n", made.error().message);
    return exit_code::failure;
  }
  const AuditSigningKeyFiles& files = made.value();
  fmt::print("private key: {} (mode 0600: set audit.signing_key_file to it; keep it from anyone who can write the "
             "log)\npublic key:  {} (give it to whoever verifies: assist-sync audit verify --public-key FILE)\n"
             "key id:      {}\n",
             files.private_key_file, files.public_key_file, files.key_id);
  return exit_code::ok;
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
       {exit_code::failure, "tampered: a line was changed, removed or reordered, or a signature does not match"},
       {exit_code::usage, "bad usage (no FILE), or a file cannot be read"},
       {exit_code::torn_tail, "only the last line is cut off, as a crash leaves it (the next start recovers it)"}}};
  document(*audit, verify_help);
  auto* verify_cmd = audit->add_subcommand(
      "verify",
      "Check the SHA-256 chain of audit files (and, with --public-key, their signed digests). One FILE: it and its "
      "rotated files FILE.1, FILE.2, ... Several: exactly those, oldest first. Exit status below.");
  auto verify_args = std::make_shared<VerifyArgs>();
  verify_cmd->add_option("FILE", verify_args->files, "Audit log file(s)")->required();
  document(*verify_cmd, verify_help);
  verify_cmd->add_option("--public-key", verify_args->public_key_file,
                         "PEM Ed25519 public key: check every digest's signature (assist-sync audit keygen)");
  auto* keygen_cmd = audit->add_subcommand(
      "keygen", "Create an Ed25519 key pair for signed audit digests: audit-signing-key.pem (0600) and "
                "audit-signing-key.pub.pem in --out-dir");
  auto out_dir = std::make_shared<std::string>();
  keygen_cmd->add_option("--out-dir", *out_dir, "Directory for the two files (existing files are never replaced)")
      ->required()
      ->check(CLI::ExistingDirectory);
  return [audit, verify_cmd, verify_args, keygen_cmd, out_dir]() -> int {
    if (!*audit || !(*verify_cmd || *keygen_cmd)) return -1;
    if (*keygen_cmd) return keygen(*out_dir);
    return verify(*verify_args);
  };
}

}  // namespace assist::cli
