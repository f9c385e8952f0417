#include <algorithm>
#include <map>
#include <tuple>

#include <fmt/format.h>

#include "assist/audit.h"
#include "audit/audit_line.h"

namespace assist {

std::string_view to_string(AuditProblemKind kind) {
  switch (kind) {
    case AuditProblemKind::unreadable: return "unreadable";
    case AuditProblemKind::changed: return "changed";
    case AuditProblemKind::removed: return "removed";
    case AuditProblemKind::reordered: return "reordered";
    case AuditProblemKind::truncated: return "truncated";
  }
  return "unknown";
}

std::string AuditProblem::describe() const { return fmt::format("{}:{}: {}: {}", file, line, to_string(kind), message); }

namespace {

// One line of the chain, in file order.
struct Entry {
  std::size_t file = 0;
  std::uint64_t line = 0;
  bool parsed = false;
  audit_detail::ChainFields fields;
  std::string sha256;
};

class Verifier {
 public:
  Verifier(std::span<const std::string> files, Env& env) : files_(files), env_(env) {}

  AuditVerifyReport run() {
    for (std::size_t f = 0; f < files_.size(); ++f) read(f);
    check_order();
    check_seqs_and_links();
    std::stable_sort(problems_.begin(), problems_.end(),
                     [](const auto& a, const auto& b) { return std::tie(a.first, a.second.line) < std::tie(b.first, b.second.line); });
    for (auto& [file, p] : problems_) report_.problems.push_back(std::move(p));
    return std::move(report_);
  }

 private:
  void problem(const Entry& e, AuditProblemKind kind, std::string message) {
    problems_.emplace_back(e.file, AuditProblem{files_[e.file], e.line, kind, std::move(message)});
  }
  std::string where(const Entry& e) const { return fmt::format("{}:{}", files_[e.file], e.line); }

  void read(std::size_t f) {
    std::string bytes;
    if (auto s = env_.read_file(files_[f], bytes); !s.ok()) {
      problems_.emplace_back(f, AuditProblem{files_[f], 0, AuditProblemKind::unreadable, s.message});
      return;
    }
    std::size_t start = 0;
    std::uint64_t number = 0;
    while (start < bytes.size()) {
      const auto end = bytes.find('\n', start);
      const bool complete = end != std::string::npos;
      const std::string_view text =
          std::string_view(bytes).substr(start, complete ? end - start : std::string::npos);
      Entry e;
      e.file = f;
      e.line = ++number;
      e.sha256 = audit_detail::sha256_hex(text);
      ++report_.lines;
      std::string why;
      e.parsed = audit_detail::parse_chain_fields(text, e.fields, why);
      if (!complete) {
        problem(e, AuditProblemKind::truncated,
                e.parsed ? "last line has no newline (cut off at a line boundary, or torn)"
                         : fmt::format("last line is cut off ({})", why));
      } else if (!e.parsed) {
        problem(e, AuditProblemKind::changed, fmt::format("not an audit line (changed, or torn by a crash): {}", why));
      }
      entries_.push_back(std::move(e));
      if (!complete) break;
      start = end + 1;
    }
  }

  // Lines must come in increasing seq order.
  void check_order() {
    const Entry* previous = nullptr;
    for (const auto& e : entries_) {
      if (!e.parsed) continue;
      if (previous != nullptr && e.fields.seq <= previous->fields.seq) {
        problem(e, AuditProblemKind::reordered,
                fmt::format("seq {} comes after seq {} ({})", e.fields.seq, previous->fields.seq, where(*previous)));
      }
      previous = &e;
    }
  }

  // Unparsable lines between two entries (in file order): they may be the
  // changed lines that held the missing seqs.
  std::size_t unparsable_between(std::size_t a, std::size_t b) const {
    std::size_t n = 0;
    for (std::size_t i = std::min(a, b) + 1; i < std::max(a, b); ++i) n += entries_[i].parsed ? 0 : 1;
    return n;
  }

  void check_seqs_and_links() {
    std::map<std::uint64_t, std::size_t> by_seq;  // seq -> index of its first entry
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      const Entry& e = entries_[i];
      if (!e.parsed) continue;
      const auto [it, inserted] = by_seq.emplace(e.fields.seq, i);
      if (!inserted) {
        problem(e, AuditProblemKind::changed,
                fmt::format("seq {} appears twice (also {})", e.fields.seq, where(entries_[it->second])));
      }
    }
    if (by_seq.empty()) return;

    // The chain starts at seq 1 with the genesis hash.
    const auto& [first_seq, first_index] = *by_seq.begin();
    const Entry& first = entries_[first_index];
    if (first_seq != 1) {
      problem(first, AuditProblemKind::removed,
              fmt::format("the chain starts at seq {}: seq 1..{} are missing (give older rotated files first)",
                          first_seq, first_seq - 1));
    } else if (first.fields.prev_sha256 != audit_detail::kGenesisHash) {
      problem(first, AuditProblemKind::changed, "seq 1 does not carry the genesis prev_sha256 (64 zeros)");
    }

    // Gaps: seqs missing between consecutive known seqs, unless unparsable
    // (already reported) lines stand where they were.
    for (auto it = by_seq.begin(), next = std::next(it); next != by_seq.end(); ++it, ++next) {
      const std::uint64_t missing = next->first - it->first - 1;
      if (missing == 0) continue;
      if (unparsable_between(it->second, next->second) >= missing) continue;
      problem(entries_[next->second], AuditProblemKind::removed,
              missing == 1 ? fmt::format("seq {} is missing before this line", it->first + 1)
                           : fmt::format("seq {}..{} are missing before this line", it->first + 1, next->first - 1));
    }

    // Links: each line records the SHA-256 of the line with the previous seq.
    for (const auto& [seq, index] : by_seq) {
      const auto previous = by_seq.find(seq - 1);
      if (previous == by_seq.end()) continue;
      const Entry& p = entries_[previous->second];
      const Entry& e = entries_[index];
      if (p.sha256 != e.fields.prev_sha256) {
        problem(p, AuditProblemKind::changed,
                fmt::format("its SHA-256 does not match the prev_sha256 recorded by {} (seq {})", where(e), seq));
      }
    }
  }

  std::span<const std::string> files_;
  Env& env_;
  std::vector<Entry> entries_;
  std::vector<std::pair<std::size_t, AuditProblem>> problems_;  // (file index, problem)
  AuditVerifyReport report_;
};

}  // namespace

AuditVerifyReport verify_audit(std::span<const std::string> files, Env& env) {
  return Verifier(files, env).run();
}

}  // namespace assist
