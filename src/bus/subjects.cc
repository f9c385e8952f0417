#include "bus/subjects.h"

#include <fmt/format.h>

namespace assist::bus {

std::string prompt_subject(std::uint32_t partition) { return fmt::format("assist.prompts.{}", partition); }

std::string outcome_subject(std::uint32_t partition, std::string_view frame_id) {
  return fmt::format("assist.outcomes.{}.{}", partition, frame_id);
}

StreamConfig outcomes_stream_config(std::string_view prompt_stream) {
  StreamConfig config;
  config.name = fmt::format("{}_OUTCOMES", prompt_stream);
  config.subjects = {"assist.outcomes.*.*"};
  return config;
}

}  // namespace assist::bus
