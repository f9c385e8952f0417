#include "bus/bus_error.h"

namespace assist::bus {
namespace {

class BusCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "bus"; }
  std::string message(int value) const override {
    switch (static_cast<BusErrc>(value)) {
      case BusErrc::unreachable: return "NATS server unreachable";
      case BusErrc::timeout: return "NATS server did not answer in time";
      case BusErrc::no_stream: return "no JetStream stream for the subject";
      case BusErrc::jetstream_unavailable: return "JetStream unavailable (not enabled, or a cluster without quorum)";
      case BusErrc::lease_held: return "lease held by another owner";
      case BusErrc::lease_lost: return "lease lost";
      case BusErrc::bad_config: return "configuration refused by the server";
      case BusErrc::failed: return "NATS operation failed";
    }
    return "unknown bus error";
  }
};

}  // namespace

const std::error_category& bus_category() noexcept {
  static const BusCategory category;
  return category;
}

std::error_code make_error_code(BusErrc errc) noexcept { return {static_cast<int>(errc), bus_category()}; }

}  // namespace assist::bus
