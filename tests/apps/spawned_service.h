// The assist-sync binary's processes that end-to-end tests talk to: a
// spawned `assist-sync gateway`, and the port a spawned `assist-sync run`
// listens on. Needs ASSIST_SYNC_BINARY (the binary's path).
#ifndef ASSIST_TESTS_APPS_SPAWNED_SERVICE_H
#define ASSIST_TESTS_APPS_SPAWNED_SERVICE_H

#include <chrono>
#include <cstdint>
#include <regex>
#include <string>
#include <vector>

#include "apps/child_process.h"

namespace assist::testing {

// A spawned `assist-sync gateway` on an ephemeral port, with `extra_args`
// (faults, feedback...).
struct SpawnedGateway {
  explicit SpawnedGateway(std::vector<std::string> extra_args = {}) : process(command(std::move(extra_args))) {
    const auto line = process.read_line(std::chrono::seconds(20));
    if (!line) return;
    std::smatch m;
    if (std::regex_search(*line, m, std::regex(R"(token_url=(\S+))"))) token_url = m[1];
    if (std::regex_search(*line, m, std::regex(R"(realtime_url=(\S+))"))) realtime_url = m[1];
  }
  bool ok() const { return !token_url.empty() && !realtime_url.empty(); }

  static std::vector<std::string> command(std::vector<std::string> extra_args) {
    std::vector<std::string> argv{ASSIST_SYNC_BINARY, "gateway", "--listen", "127.0.0.1:0"};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    return argv;
  }

  ChildProcess process;
  std::string token_url;
  std::string realtime_url;
};

// The port from the run command's "assist-sync listening on http://HOST:PORT"
// line; 0 when it does not come within 20 s.
inline std::uint16_t listening_port(ChildProcess& run) {
  const auto line = run.read_line(std::chrono::seconds(20));
  std::smatch m;
  if (!line || !std::regex_search(*line, m, std::regex(R"(listening on http://[^ ]+:(\d+))"))) return 0;
  return static_cast<std::uint16_t>(std::stoi(m[1]));
}

}  // namespace assist::testing

#endif  // ASSIST_TESTS_APPS_SPAWNED_SERVICE_H
