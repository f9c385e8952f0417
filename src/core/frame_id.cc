#include "assist/frame_id.h"

#include <array>
#include <random>

#include <boost/uuid/random_generator.hpp>
#include <boost/uuid/string_generator.hpp>
#include <boost/uuid/uuid.hpp>
#include <boost/uuid/uuid_io.hpp>

namespace assist {

struct FrameIdGenerator::Impl {
  explicit Impl(std::mt19937_64 e) : engine(e), generator(&engine) {}
  std::mt19937_64 engine;
  boost::uuids::basic_random_generator<std::mt19937_64> generator;
};

namespace {
std::mt19937_64 entropy_seeded_engine() {
  std::random_device device;
  std::array<std::uint32_t, 8> words{};  // 256 bits of OS entropy
  for (auto& w : words) w = device();
  std::seed_seq seq(words.begin(), words.end());
  return std::mt19937_64(seq);
}
}  // namespace

FrameIdGenerator::FrameIdGenerator() : impl_(std::make_unique<Impl>(entropy_seeded_engine())) {}
FrameIdGenerator::FrameIdGenerator(std::uint64_t seed)
    : impl_(std::make_unique<Impl>(std::mt19937_64(seed))) {}
FrameIdGenerator::~FrameIdGenerator() = default;
FrameIdGenerator::FrameIdGenerator(FrameIdGenerator&&) noexcept = default;
FrameIdGenerator& FrameIdGenerator::operator=(FrameIdGenerator&&) noexcept = default;

std::string FrameIdGenerator::next() { return boost::uuids::to_string(impl_->generator()); }

bool is_uuid_v4(std::string_view text) noexcept {
  // 8-4-4-4-12 form only: no braces, no missing dashes. Either case is fine.
  if (text.size() != 36 || text[8] != '-' || text[13] != '-' || text[18] != '-' || text[23] != '-')
    return false;
  try {
    const auto id = boost::uuids::string_generator()(text.begin(), text.end());
    return id.version() == boost::uuids::uuid::version_random_number_based &&
           id.variant() == boost::uuids::uuid::variant_rfc_4122;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace assist
