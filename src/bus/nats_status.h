// Turns a libnats status into a Status (internal to the bus component).
#ifndef ASSIST_SRC_BUS_NATS_STATUS_H
#define ASSIST_SRC_BUS_NATS_STATUS_H

#include <nats/nats.h>

#include <string_view>

#include "bus/bus_error.h"

namespace assist::bus {

// The Status for `status` (not NATS_OK) returned by the operation described
// by `what` ("publish to assist.prompts.3"). `js_error` is the JetStream error
// code the server gave, 0 for none. The message is `what`, libnats' text for
// the status and the JetStream code; never libnats' thread-local error text,
// which can quote server URLs.
Status nats_failure(std::string_view what, natsStatus status, jsErrCode js_error = static_cast<jsErrCode>(0));

}  // namespace assist::bus

#endif
