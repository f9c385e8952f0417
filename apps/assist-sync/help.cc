#include "help.h"

#include <fmt/format.h>

#include "assist/version.h"

namespace assist::cli {

std::string version_line() { return fmt::format("assist-sync {}", assist::version()); }

void document(CLI::App& command, const HelpSections& sections) {
  command.set_version_flag("--version", version_line(), "Print the version and exit");
  std::string footer = "\nEXAMPLES:\n";
  for (const auto& example : sections.examples) footer += fmt::format("  {}\n", example);
  footer += "\nENVIRONMENT:\n";
  if (sections.environment.empty()) footer += "  none read by this command\n";
  for (const auto& [name, meaning] : sections.environment) footer += fmt::format("  {:<28}  {}\n", name, meaning);
  footer += "\nEXIT STATUS:\n";
  for (const auto& [code, meaning] : sections.exit_status) footer += fmt::format("  {:<4}{}\n", code, meaning);
  footer += "\nMore: docs/operations.md (exit status, signals, logs), docs/configuration.md.";
  command.footer(footer);
}

}  // namespace assist::cli
