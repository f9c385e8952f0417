// Audit files as `audit verify` and crash recovery read them: the input is a
// whole file. verify_audit() reports every line and never crashes; AuditLog
// resumes the chain from it (or refuses to, naming why), and resuming a file
// that verified clean, then appending, leaves a file that verifies clean.
#include <fstream>
#include <string>
#include <vector>

#include "assist/audit.h"
#include "fuzz_input.h"
#include "temp_dir.h"
#include "audit/audit_log.h"

namespace {

using namespace assist;

AuditVerifyReport verify(const std::string& path) {
  const std::vector<std::string> files{path};
  auto report = verify_audit(files);
  for (const auto& problem : report.problems) FUZZ_CHECK(!problem.describe().empty());
  return report;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto bytes = fuzz::as_text(data, size);
  const std::string path = (fuzz::temp_dir() / "audit.jsonl").string();
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    FUZZ_CHECK(out.good());
  }
  const auto before = verify(path);
  std::uint64_t lines = 0;
  for (const char c : bytes) lines += c == '\n' ? 1 : 0;
  if (!bytes.empty() && bytes.back() != '\n') ++lines;
  FUZZ_CHECK(before.lines == lines);

  AuditOptions options;
  options.path = path;
  options.durability = AuditDurability::never;
  options.batch_delay = {};
  AuditLog log(options);
  if (const auto ec = log.open(); ec) {
    FUZZ_CHECK(!log.status_message().empty());
    return 0;
  }
  AuditEvent event;
  event.type = AuditEventType::sync_acked;
  event.session_id = "S1";
  FUZZ_CHECK(!log.append(event));
  FUZZ_CHECK(!log.close());
  if (before.ok()) FUZZ_CHECK(verify(path).ok());
  return 0;
}
