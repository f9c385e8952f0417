// The subjects and streams assist-sync uses on the bus (internal), named in
// one place so that every publisher and consumer agrees; docs/scale-out.md
// describes them.
#ifndef ASSIST_SRC_BUS_SUBJECTS_H
#define ASSIST_SRC_BUS_SUBJECTS_H

#include <cstdint>
#include <string>
#include <string_view>

#include "bus/connection.h"

namespace assist::bus {

// "assist.prompts.<partition>": where the prompts of a partition
// (partition_of, partition.h) are published.
std::string prompt_subject(std::uint32_t partition);

// "assist.outcomes.<partition>.<frame_id>": where the terminal outcome of a
// prompt is published, one subject per prompt. `frame_id` must be one
// subject token: no '.', '*', '>' or white space (a UUID is).
std::string outcome_subject(std::uint32_t partition, std::string_view frame_id);

// The stream of outcomes beside the prompt stream `prompt_stream`:
// "<prompt_stream>_OUTCOMES" (ASSIST_PROMPTS_OUTCOMES), storing
// "assist.outcomes.*.*" with the default duplicate window, so an outcome
// published twice with Nats-Msg-Id = frame_id is stored once.
StreamConfig outcomes_stream_config(std::string_view prompt_stream);

}  // namespace assist::bus

#endif
