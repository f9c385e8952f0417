// The final outcome of a prompt handed to the synchronizer. Every accepted
// prompt ends in exactly one of these (protocol.md §3).
#ifndef ASSIST_OUTCOME_H
#define ASSIST_OUTCOME_H

#include <cstdint>
#include <string>
#include <string_view>

#include "assist/frame.h"

namespace assist {

enum class OutcomeKind {
  acked,                 // on the agent's desktop (ACK)
  nacked,                // refused by the gateway (NACK, see nack_code)
  rejected_validation,   // broke a prompt rule; never sent
  rejected_freshness,    // too old when it was about to be written; never sent (again)
  rejected_concurrency,  // no queue space or session slot; never sent
  superseded,            // a newer prompt for the same session and interaction replaced it before it was written
  failed,                // never written: could not be delivered (connection failed for good, stopped, audit log down)
  unconfirmed,           // written, but no ACK came before its connection died (and it could not be
                         // replayed while fresh) or before stop()'s drain bound: it may have been shown
};

// Wire-style name: "ACKED", "NACKED", "REJECTED_VALIDATION"...
std::string_view to_string(OutcomeKind kind);

struct SyncOutcome {
  OutcomeKind kind = OutcomeKind::failed;
  std::string frame_id;
  std::uint64_t sequence = 0;          // 0 when never written
  NackCode nack_code = NackCode::unknown;  // for nacked
  std::string reason;                  // plain words: the NACK reason, the violation list, why it failed
  double latency_seconds = 0.0;        // write to ACK/NACK; 0 when never answered
  bool duplicate = false;              // ACK said the gateway had already shown it

  bool delivered() const { return kind == OutcomeKind::acked; }
};

}  // namespace assist

#endif  // ASSIST_OUTCOME_H
