// What every command's --help and --version print beyond CLI11's option
// list: examples, the environment it reads, and its exit status.
#ifndef ASSIST_APPS_HELP_H
#define ASSIST_APPS_HELP_H

#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

namespace assist::cli {

struct HelpSections {
  std::vector<std::string> examples;                            // command lines
  std::vector<std::pair<std::string, std::string>> environment;  // variable, meaning
  std::vector<std::pair<int, std::string>> exit_status;         // code, meaning
};

// "assist-sync 0.1.0": what --version prints.
std::string version_line();

// Adds --version and the EXAMPLES, ENVIRONMENT and EXIT STATUS sections (as
// the help footer) to `command`.
void document(CLI::App& command, const HelpSections& sections);

}  // namespace assist::cli

#endif  // ASSIST_APPS_HELP_H
