// The public Synchronizer: a thin facade over sync::SynchronizerCore.
#include "assist/synchronizer.h"

#include "sync/synchronizer_core.h"

namespace assist {

namespace {

class SubmitCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "assist.submit"; }
  std::string message(int ev) const override {
    switch (static_cast<SubmitErrc>(ev)) {
      case SubmitErrc::invalid_prompt: return "invalid prompt";
      case SubmitErrc::queue_full: return "too many prompts pending";
      case SubmitErrc::not_running: return "synchronizer is not running";
      case SubmitErrc::audit_unavailable: return "audit log unavailable; sending stopped";
      case SubmitErrc::failed: return "the synchronizer gave up (see its status)";
      case SubmitErrc::ingest_unavailable: return "scale-out ingest could not store the prompt";
    }
    return "unknown submit error";
  }
};

class OptionCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "assist.options"; }
  std::string message(int ev) const override {
    switch (static_cast<OptionErrc>(ev)) {
      case OptionErrc::token_url: return "invalid option: token_url";
      case OptionErrc::realtime_url: return "invalid option: realtime_url";
      case OptionErrc::client_id: return "invalid option: client_id";
      case OptionErrc::client_secret: return "invalid option: client_secret";
      case OptionErrc::tls: return "invalid option: TLS settings";
      case OptionErrc::limits: return "invalid option: a limit or timeout";
    }
    return "invalid option";
  }
};

}  // namespace

const std::error_category& submit_category() {
  static const SubmitCategory category;
  return category;
}
std::error_code make_error_code(SubmitErrc e) { return {static_cast<int>(e), submit_category()}; }

const std::error_category& option_category() {
  static const OptionCategory category;
  return category;
}
std::error_code make_error_code(OptionErrc e) { return {static_cast<int>(e), option_category()}; }

Synchronizer::Synchronizer(SynchronizerOptions options)
    : core_(std::make_unique<sync::SynchronizerCore>(std::move(options))) {}
Synchronizer::~Synchronizer() { core_->stop(); }
Status Synchronizer::start() { return core_->start(); }
SubmitResult Synchronizer::sync_prompt(AssistPrompt prompt) { return core_->submit(std::move(prompt)); }
SubmitResult Synchronizer::sync_prompt(AssistPrompt prompt, IngestAssignment assigned) {
  return core_->submit(std::move(prompt), std::move(assigned));
}
std::size_t Synchronizer::room() const { return core_->room(); }
Status Synchronizer::flush_audit() { return core_->flush_audit(); }
void Synchronizer::stop() { core_->stop(); }
bool Synchronizer::ready() const { return core_->ready(); }
SynchronizerStatus Synchronizer::status() const { return core_->status(); }
MetricsSnapshot Synchronizer::metrics() const { return core_->metrics(); }

}  // namespace assist
