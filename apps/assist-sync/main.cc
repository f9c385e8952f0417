// assist-sync: the command-line entry point.
#include <cstdio>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "assist/frame.h"
#include "assist/frame_id.h"
#include "assist/validation.h"

namespace {

// The source tutorial's example prompt, prepared, encoded and decoded again.
int run_demo() {
  assist::AssistPrompt p;
  p.session_id = "SESS-998877";
  p.agent_id = "AGT-4455";
  p.interaction_id = "INT-112233";
  p.snippets = {
      {"KB-1001", "Verify customer account status before escalation.", {"billing", "escalation"}, "CRM"},
      {"KB-1002", "Apply retention discount code RET24.", {"retention", "discount"}, "KNOWLEDGE_BASE"},
  };
  p.priority_override = true;
  p.priority_level = 5;
  p.timestamp = 1'700'000'000.0;
  if (auto vs = assist::prepare(p, assist::SnippetPolicy::reject); !vs.empty()) {
    fmt::print(stderr, "example prompt invalid: {}\n", assist::describe(vs));
    return 1;
  }
  assist::FrameIdGenerator ids;
  const assist::PromptSync frame{ids.next(), 1, p};
  const auto text = assist::encode(frame);
  const auto back = assist::decode_frame(text);
  if (!back.ok() || std::get<assist::PromptSync>(back.frame()) != frame) {
    fmt::print(stderr, "round trip failed\n");
    return 1;
  }
  fmt::print("example prompt valid, relevance {:.2f}, frame {} ({} bytes):\n{}\n", p.relevance_score,
             frame.frame_id, text.size(), text);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"assist-sync: delivers agent-assist prompts to a real-time gateway"};
  app.require_subcommand(1);
  auto* demo = app.add_subcommand("demo", "Run the example prompt end to end");
  CLI11_PARSE(app, argc, argv);
  if (*demo) return run_demo();
  return 0;
}
