// docs/library.md's example: the gateway emulator, a synchronizer pointed at
// it, one prompt delivered and its outcome. CI builds it from the installed
// package and runs it (tests/consumer).
#include <assist/gateway.h>
#include <assist/synchronizer.h>

#include <cstdio>
#include <string>

int main() {
  assist::Gateway gateway(assist::GatewayOptions{});  // 127.0.0.1, a free port, no TLS
  if (const assist::Status started = gateway.start(); !started.ok()) {
    std::fprintf(stderr, "no emulator: %s\n", started.message.c_str());
    return 1;
  }

  assist::SynchronizerOptions options;
  options.token.token_url = gateway.token_url();
  options.token.client_id = "demo-client";
  options.token.client_secret = "demo-secret";  // yours: from the environment or a file, see docs/library.md
  options.realtime.realtime_url = gateway.realtime_url();
  options.audit.path = "example-audit.jsonl";   // empty: no audit log
  options.log.level = assist::LogLevel::warn;
  options.log.sink = [](const assist::LogLine& line) {
    std::fprintf(stderr, "assist: %.*s %.*s\n", static_cast<int>(line.message.size()), line.message.data(),
                 static_cast<int>(line.fields.size()), line.fields.data());
  };
  assist::Synchronizer sync(options);
  if (const assist::Status started = sync.start(); !started.ok()) {
    std::fprintf(stderr, "cannot start: %s\n", started.message.c_str());  // names the option or file
    return 1;
  }

  assist::AssistPrompt prompt;  // no timestamp: produced now
  prompt.session_id = "SESS-1";
  prompt.agent_id = "AGT-1";
  prompt.interaction_id = "INT-1";
  prompt.snippets = {{"KB-1", "Verify the account holder before any change.", {"verification"}, "CRM"}};
  auto submitted = sync.sync_prompt(prompt);
  if (!submitted) {
    std::fprintf(stderr, "refused: %s\n", submitted.error().message.c_str());  // names every violation
    return 1;
  }
  const assist::PromptTicket& ticket = submitted.value();
  const assist::SyncOutcome outcome = ticket.wait();  // or .then(callback), or .future()
  std::printf("%s: %s\n", ticket.frame_id().c_str(), std::string(to_string(outcome.kind)).c_str());

  sync.stop();  // drains what is pending (stop_drain), closes connections and the audit log
  gateway.stop();
  return outcome.kind == assist::OutcomeKind::acked ? 0 : 1;
}
