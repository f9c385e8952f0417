// Uses the installed headers and library: validate, encode and decode a prompt.
#include <assist/frame.h>
#include <assist/frame_id.h>
#include <assist/validation.h>

#include <cstdio>

int main() {
  assist::AssistPrompt p;
  p.session_id = "S";
  p.agent_id = "A";
  p.interaction_id = "I";
  p.snippets = {{"KB-1", "Say hello.", {"greeting"}, "CRM"}};
  p.timestamp = 1.0;
  if (!assist::prepare(p, assist::SnippetPolicy::reject).empty()) return 1;
  assist::FrameIdGenerator ids;
  const assist::PromptSync frame{ids.next(), 1, p};
  const auto decoded = assist::decode_frame(assist::encode(frame));
  if (!decoded.ok() || std::get<assist::PromptSync>(decoded.value()) != frame) return 2;
  std::puts("consumer ok");
  return 0;
}
