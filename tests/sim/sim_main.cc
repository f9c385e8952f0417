// sim_runner: the deterministic simulation from the command line. Replays
// one seed (`--seed N --verbose`), or runs a range for longer hunts
// (`--first 1 --count 1000000`); exits 1 if any seed broke an invariant.
#include <chrono>
#include <cstdint>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "sim/sim_world.h"

int main(int argc, char** argv) {
  CLI::App app{"assist-sync deterministic simulation"};
  std::uint64_t seed = 0;
  std::uint64_t first = 1;
  std::uint64_t count = 10'000;
  bool verbose = false;
  app.add_option("--seed", seed, "replay this one seed");
  app.add_option("--first", first, "first seed of the range");
  app.add_option("--count", count, "seeds in the range");
  app.add_flag("--verbose", verbose, "log what the synchronizer logs");
  CLI11_PARSE(app, argc, argv);
  if (seed != 0) {
    first = seed;
    count = 1;
  }
  const auto started = std::chrono::steady_clock::now();
  std::uint64_t failed = 0;
  for (std::uint64_t s = first; s < first + count; ++s) {
    const auto result = assist::sim::run_simulation(s, verbose);
    if (count == 1 || !result.ok()) fmt::print("{}\n", result.summary);
    for (const auto& v : result.violations) fmt::print("  {}\n", v);
    if (!result.ok()) ++failed;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  fmt::print("{} seed(s) from {}: {} failed, {:.1f} s\n", count, first, failed, seconds);
  return failed == 0 ? 0 : 1;
}
