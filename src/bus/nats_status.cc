#include "bus/nats_status.h"

#include <fmt/format.h>

namespace assist::bus {
namespace {

BusErrc classify(natsStatus status, jsErrCode js_error) {
  switch (js_error) {
    case JSStreamNotFoundErr: return BusErrc::no_stream;
    case JSStreamNameExistErr: return BusErrc::bad_config;
    case JSNotEnabledErr:
    case JSNotEnabledForAccountErr: return BusErrc::jetstream_unavailable;
    default: break;
  }
  switch (status) {
    case NATS_NO_SERVER:
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_NOT_YET_CONNECTED:
    case NATS_STALE_CONNECTION: return BusErrc::unreachable;
    case NATS_TIMEOUT: return BusErrc::timeout;
    case NATS_INVALID_ARG: return BusErrc::bad_config;
    default: return BusErrc::failed;
  }
}

}  // namespace

Status nats_failure(std::string_view what, natsStatus status, jsErrCode js_error) {
  const auto errc = classify(status, js_error);
  auto message = fmt::format("{}: {}", what, natsStatus_GetText(status));
  if (js_error != 0) message += fmt::format(" (JetStream error {})", static_cast<int>(js_error));
  return {make_error_code(errc), std::move(message)};
}

}  // namespace assist::bus
