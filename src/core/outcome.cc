#include "assist/outcome.h"

namespace assist {

std::string_view to_string(OutcomeKind kind) {
  switch (kind) {
    case OutcomeKind::acked: return "ACKED";
    case OutcomeKind::nacked: return "NACKED";
    case OutcomeKind::rejected_validation: return "REJECTED_VALIDATION";
    case OutcomeKind::rejected_freshness: return "REJECTED_FRESHNESS";
    case OutcomeKind::rejected_concurrency: return "REJECTED_CONCURRENCY";
    case OutcomeKind::superseded: return "SUPERSEDED";
    case OutcomeKind::failed: return "FAILED";
    case OutcomeKind::unconfirmed: return "UNCONFIRMED";
  }
  return "FAILED";
}

}  // namespace assist
