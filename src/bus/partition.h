// The partition of a session (internal): which partition subject of the
// prompts stream carries a session's prompts.
#ifndef ASSIST_SRC_BUS_PARTITION_H
#define ASSIST_SRC_BUS_PARTITION_H

#include <cstdint>
#include <string_view>

namespace assist::bus {

// FNV-1a 64 of the UTF-8 bytes of `session_id` (offset basis
// 14695981039346656037, prime 1099511628211, arithmetic mod 2^64), mod
// `partitions`. Every instance, in any language, must compute the same, so
// this never changes. Precondition: partitions > 0. Thread-safe, pure.
std::uint32_t partition_of(std::string_view session_id, std::uint32_t partitions);

}  // namespace assist::bus

#endif
