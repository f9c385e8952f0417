#include <algorithm>
#include <map>
#include <tuple>

#include <fmt/format.h>

#include "assist/audit.h"
#include "audit/audit_line.h"
#include "audit/audit_signing.h"

namespace assist {

std::string_view to_string(AuditProblemKind kind) {
  switch (kind) {
    case AuditProblemKind::unreadable: return "unreadable";
    case AuditProblemKind::changed: return "changed";
    case AuditProblemKind::removed: return "removed";
    case AuditProblemKind::reordered: return "reordered";
    case AuditProblemKind::truncated: return "truncated";
    case AuditProblemKind::signature: return "signature";
    case AuditProblemKind::unsigned_lines: return "unsigned";
  }
  return "unknown";
}

std::string_view to_string(AuditVerdict verdict) {
  switch (verdict) {
    case AuditVerdict::intact: return "intact";
    case AuditVerdict::torn_tail: return "torn tail";
    case AuditVerdict::tampered: return "tampered";
    case AuditVerdict::unreadable: return "unreadable";
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
  bool complete = true;  // ends with a newline
  audit_detail::ChainFields fields;
  std::string sha256;
};

// A problem not tied to one line of a file (the key file, or the set as a whole).
constexpr std::size_t kNoFile = static_cast<std::size_t>(-1);

class Verifier {
 public:
  Verifier(std::span<const std::string> files, const AuditVerifyOptions& options, Env& env)
      : files_(files), options_(options), env_(env) {}

  AuditVerifyReport run() {
    load_key();
    for (std::size_t f = 0; f < files_.size(); ++f) read(f);
    check_order();
    check_seqs_and_links();
    check_own_lines();
    if (verifier_) check_signed_coverage();
    std::stable_sort(problems_.begin(), problems_.end(), [](const auto& a, const auto& b) {
      return std::tie(a.first, a.second.line) < std::tie(b.first, b.second.line);
    });
    for (auto& [file, p] : problems_) report_.problems.push_back(std::move(p));
    report_.verdict = verdict();
    return std::move(report_);
  }

 private:
  void problem(const Entry& e, AuditProblemKind kind, std::string message) {
    problems_.emplace_back(e.file, AuditProblem{files_[e.file], e.line, kind, std::move(message)});
  }
  std::string where(const Entry& e) const { return fmt::format("{}:{}", files_[e.file], e.line); }
  bool is(const Entry& e, AuditEventType type) const { return e.parsed && e.fields.event_type == to_string(type); }

  void load_key() {
    if (options_.public_key_file.empty()) return;
    Status status;
    verifier_ = audit_detail::DigestVerifier::load(env_, options_.public_key_file, status);
    if (!verifier_) {
      problems_.emplace_back(kNoFile,
                             AuditProblem{options_.public_key_file, 0, AuditProblemKind::unreadable, status.message});
      return;
    }
    report_.signatures_checked = true;
    report_.key_id = verifier_->key_id();
  }

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
      e.complete = complete;
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

  // The chain starts at seq 1 with the genesis hash, or at the anchor that
  // begins the first file (older files pruned or not given).
  void check_start(std::uint64_t first_seq, const Entry& first) {
    report_.first_seq = first_seq;
    if (first_seq == 1) {
      if (first.fields.prev_sha256 != audit_detail::kGenesisHash)
        problem(first, AuditProblemKind::changed, "seq 1 does not carry the genesis prev_sha256 (64 zeros)");
    } else if (is(first, AuditEventType::audit_anchor) && first.file == 0 && first.line == 1) {
      report_.from_anchor = true;
    } else {
      problem(first, AuditProblemKind::removed,
              fmt::format("the chain starts at seq {}, neither at seq 1 nor at an anchor beginning the first file: "
                          "seq 1..{} are missing (give older rotated files first)",
                          first_seq, first_seq - 1));
    }
  }

  void check_seqs_and_links() {
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      const Entry& e = entries_[i];
      if (!e.parsed) continue;
      const auto [it, inserted] = by_seq_.emplace(e.fields.seq, i);
      if (!inserted) {
        problem(e, AuditProblemKind::changed,
                fmt::format("seq {} appears twice (also {})", e.fields.seq, where(entries_[it->second])));
      }
    }
    if (by_seq_.empty()) return;
    check_start(by_seq_.begin()->first, entries_[by_seq_.begin()->second]);
    report_.last_seq = by_seq_.rbegin()->first;

    // Gaps: seqs missing between consecutive known seqs, unless unparsable
    // (already reported) lines stand where they were.
    for (auto it = by_seq_.begin(), next = std::next(it); next != by_seq_.end(); ++it, ++next) {
      const std::uint64_t missing = next->first - it->first - 1;
      if (missing == 0) continue;
      if (unparsable_between(it->second, next->second) >= missing) continue;
      problem(entries_[next->second], AuditProblemKind::removed,
              missing == 1 ? fmt::format("seq {} is missing before this line", it->first + 1)
                           : fmt::format("seq {}..{} are missing before this line", it->first + 1, next->first - 1));
    }

    // Links: each line records the SHA-256 of the line with the previous seq.
    for (const auto& [seq, index] : by_seq_) {
      const auto previous = by_seq_.find(seq - 1);
      if (previous == by_seq_.end()) continue;
      const Entry& p = entries_[previous->second];
      const Entry& e = entries_[index];
      if (p.sha256 != e.fields.prev_sha256) {
        problem(p, AuditProblemKind::changed,
                fmt::format("its SHA-256 does not match the prev_sha256 recorded by {} (seq {})", where(e), seq));
      }
    }
  }

  // Anchors, digests and recovery lines: what they state must match the chain.
  void check_own_lines() {
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      const Entry& e = entries_[i];
      if (is(e, AuditEventType::audit_anchor)) check_anchor(e);
      else if (is(e, AuditEventType::audit_digest)) check_digest(e, i);
      else if (is(e, AuditEventType::audit_recovery)) ++report_.recoveries;
    }
  }

  void check_anchor(const Entry& e) {
    if (e.line != 1) {
      problem(e, AuditProblemKind::changed, "an anchor that is not the first line of its file");
      return;
    }
    const auto seq = audit_detail::detail_value(e.fields.detail, "previous_seq");
    const auto sha = audit_detail::detail_value(e.fields.detail, "previous_sha256");
    if (!seq || *seq != std::to_string(e.fields.seq - 1) || !sha || *sha != e.fields.prev_sha256) {
      problem(e, AuditProblemKind::changed,
              "the anchor's previous_seq / previous_sha256 do not match its own seq and prev_sha256");
    }
  }

  void check_digest(const Entry& e, std::size_t index) {
    ++report_.digests;
    std::string why;
    const auto digest = audit_detail::parse_digest_detail(e.fields.detail, why);
    if (!digest) {
      problem(e, AuditProblemKind::changed, "not a digest: " + why);
      return;
    }
    const auto& s = digest->statement;
    if (s.lines != e.fields.seq - 1 || s.head_sha256 != e.fields.prev_sha256 || s.time != e.fields.timestamp) {
      problem(e, AuditProblemKind::changed,
              "the digest's statement (lines, head_sha256, time) does not match its own seq, prev_sha256 and "
              "timestamp");
      return;
    }
    if (!verifier_) return;
    if (s.key_id != verifier_->key_id()) {
      problem(e, AuditProblemKind::signature,
              fmt::format("signed with key {}, not with the given public key {}", s.key_id, verifier_->key_id()));
      return;
    }
    if (!verifier_->verify(digest->statement_text, digest->signature)) {
      problem(e, AuditProblemKind::signature,
              "the signature does not verify: the digest was altered or forged, so the chain it vouches for was "
              "rewritten");
      return;
    }
    report_.signed_through_seq = std::max(report_.signed_through_seq, s.lines);
    last_valid_digest_ = index;
    last_interval_ = s.interval;
  }

  // With a key: something must be signed, and the lines after the last
  // valid digest may not span more than its interval allows (a removed digest
  // leaves a longer unsigned tail).
  void check_signed_coverage() {
    if (report_.lines == 0) return;
    if (!last_valid_digest_) {
      problems_.emplace_back(kNoFile, AuditProblem{files_.empty() ? "" : files_[0], 0, AuditProblemKind::unsigned_lines,
                                                   "no valid signed digest in these files: nothing here is vouched "
                                                   "for by the key (was audit.signing_key_file configured?)"});
      return;
    }
    std::optional<double> first, last;
    const Entry* first_entry = nullptr;
    for (std::size_t i = *last_valid_digest_ + 1; i < entries_.size(); ++i) {
      const auto at = audit_detail::parse_iso8601_utc_ms(entries_[i].fields.timestamp);
      if (!entries_[i].parsed || !at) continue;
      if (!first) {
        first = at;
        first_entry = &entries_[i];
      }
      last = at;
    }
    if (!first) return;
    const double allowed = std::max(2.0 * static_cast<double>(last_interval_.count()),
                                    static_cast<double>(last_interval_.count()) + 60.0);
    if (*last - *first > allowed) {
      problem(*first_entry, AuditProblemKind::unsigned_lines,
              fmt::format("the lines from here on are not covered by a signed digest and span {:.0f} s, more than "
                          "the {} s digest interval allows: a digest was removed, or these lines were rewritten",
                          *last - *first, last_interval_.count()));
    }
  }

  AuditVerdict verdict() const {
    bool tampered = false;
    for (const auto& [file, p] : problems_) {
      if (p.kind == AuditProblemKind::unreadable) return AuditVerdict::unreadable;
      const bool torn_end = p.kind == AuditProblemKind::truncated && file + 1 == files_.size() &&
                            !entries_.empty() && file == entries_.back().file && p.line == entries_.back().line;
      if (!torn_end) tampered = true;
    }
    if (tampered) return AuditVerdict::tampered;
    return problems_.empty() ? AuditVerdict::intact : AuditVerdict::torn_tail;
  }

  std::span<const std::string> files_;
  const AuditVerifyOptions& options_;
  Env& env_;
  std::unique_ptr<audit_detail::DigestVerifier> verifier_;
  std::vector<Entry> entries_;
  std::map<std::uint64_t, std::size_t> by_seq_;  // seq -> index of its first entry
  std::optional<std::size_t> last_valid_digest_;
  std::chrono::seconds last_interval_{0};
  std::vector<std::pair<std::size_t, AuditProblem>> problems_;  // (file index, problem)
  AuditVerifyReport report_;
};

}  // namespace

AuditVerifyReport verify_audit(std::span<const std::string> files, const AuditVerifyOptions& options, Env& env) {
  return Verifier(files, options, env).run();
}

AuditVerifyReport verify_audit(std::span<const std::string> files, Env& env) {
  return verify_audit(files, AuditVerifyOptions{}, env);
}

}  // namespace assist
