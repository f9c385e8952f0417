// One run of the deterministic simulation: the real synchronizer core
// (intake, scheduler, links, pool, token provider) on a ManualClock and an
// in-memory gateway with seeded faults, a seeded producer, and the
// invariants checked at the end. Same seed, same run, bit for bit.
#ifndef ASSIST_TESTS_SIM_SIM_WORLD_H
#define ASSIST_TESTS_SIM_SIM_WORLD_H

#include <cstdint>
#include <string>
#include <vector>

namespace assist::sim {

struct SimResult {
  std::uint64_t seed = 0;
  std::vector<std::string> violations;  // empty: every invariant held
  std::string summary;                  // what happened, for people
  bool ok() const { return violations.empty(); }
};

// Runs seed `seed`. `verbose` logs the synchronizer's own messages.
SimResult run_simulation(std::uint64_t seed, bool verbose = false);

}  // namespace assist::sim

#endif
