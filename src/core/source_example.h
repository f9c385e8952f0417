// The source tutorial's example prompt, the project's reference "typical
// prompt": the demo sends it first, tests check it end to end, benchmarks
// measure with it. Internal: a user builds prompts of their own.
#ifndef ASSIST_SRC_CORE_SOURCE_EXAMPLE_H
#define ASSIST_SRC_CORE_SOURCE_EXAMPLE_H

#include "assist/prompt.h"

namespace assist {

// Session SESS-998877, agent AGT-4455, interaction INT-112233; snippets
// KB-1001 (tags billing, escalation; source CRM) and KB-1002 (tags retention,
// discount; source KNOWLEDGE_BASE); override at priority level 5; relevance
// 0.8 by the source formula; ttl 45 s; no timestamp ("now" to the synchronizer).
AssistPrompt source_example_prompt();

}  // namespace assist

#endif  // ASSIST_SRC_CORE_SOURCE_EXAMPLE_H
