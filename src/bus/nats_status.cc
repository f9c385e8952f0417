#include "bus/nats_status.h"

#include <fmt/format.h>

namespace assist::bus {
namespace {

BusErrc classify(natsStatus status, jsErrCode js_error) {
  switch (js_error) {
    case JSStreamNotFoundErr: return BusErrc::no_stream;
    case JSStreamNameExistErr:
    case JSStreamReplicasNotSupportedErr:  // more than 1 on a single server
    case JSClusterNoPeersErr:              // more than the cluster's servers
    case JSInsufficientResourcesErr: return BusErrc::bad_config;
    case JSNotEnabledErr:
    case JSNotEnabledForAccountErr:
    case JSClusterNotAvailErr: return BusErrc::jetstream_unavailable;
    default: break;
  }
  switch (status) {
    case NATS_NO_SERVER:
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_NOT_YET_CONNECTED:
    case NATS_STALE_CONNECTION: return BusErrc::unreachable;
    case NATS_TIMEOUT: return BusErrc::timeout;
    // A JetStream API request nobody answers: JetStream is not enabled (or,
    // in a cluster, has no leader to answer).
    case NATS_NO_RESPONDERS: return BusErrc::jetstream_unavailable;
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
