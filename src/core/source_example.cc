#include "core/source_example.h"

#include "assist/validation.h"

namespace assist {

AssistPrompt source_example_prompt() {
  AssistPrompt p;
  p.session_id = "SESS-998877";
  p.agent_id = "AGT-4455";
  p.interaction_id = "INT-112233";
  p.snippets = {
      {"KB-1001", "Verify customer account status before escalation.", {"billing", "escalation"}, "CRM"},
      {"KB-1002", "Apply retention discount code RET24.", {"retention", "discount"}, "KNOWLEDGE_BASE"},
  };
  p.priority_override = true;
  p.priority_level = 5;
  p.ttl_seconds = 45;
  p.relevance_score = relevance_score(p.snippets);
  return p;
}

}  // namespace assist
