// The deterministic simulation under ctest: many seeds, each a different run
// of faults and traffic, every invariant checked after each. A failure
// prints its seed and the command that replays it exactly.
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "sim/sim_world.h"

namespace assist::sim {
namespace {

std::uint64_t env_or(const char* name, std::uint64_t fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::stoull(value) : fallback;
}

TEST(Simulation, EverySeedKeepsTheGuarantees) {
  const std::uint64_t first = env_or("ASSIST_SIM_FIRST_SEED", 1);
  const std::uint64_t count = env_or("ASSIST_SIM_SEEDS", 10'000);
  int failures = 0;
  for (std::uint64_t seed = first; seed < first + count && failures < 5; ++seed) {
    const SimResult result = run_simulation(seed);
    if (result.ok()) continue;
    ++failures;
    std::string why;
    for (const auto& v : result.violations) why += "\n  " + v;
    ADD_FAILURE() << result.summary << why << "\nreplay: build/<preset>/tests/sim_runner --seed " << seed
                  << " --verbose";
  }
}

TEST(Simulation, ASeedReplaysExactly) {
  for (const std::uint64_t seed : {7u, 1234u}) {
    const SimResult a = run_simulation(seed);
    const SimResult b = run_simulation(seed);
    EXPECT_EQ(a.summary, b.summary);
    EXPECT_EQ(a.violations, b.violations);
  }
}

}  // namespace
}  // namespace assist::sim
