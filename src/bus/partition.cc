#include "bus/partition.h"

namespace assist::bus {

std::uint32_t partition_of(std::string_view session_id, std::uint32_t partitions) {
  std::uint64_t hash = 14695981039346656037ULL;
  for (const char c : session_id) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ULL;
  }
  return static_cast<std::uint32_t>(hash % partitions);
}

}  // namespace assist::bus
