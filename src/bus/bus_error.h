// Errors of the NATS JetStream layer (internal): a Status (assist/status.h)
// whose code is in the `bus` category and whose message names what failed. Messages never hold a
// credential: server URLs are shown without their user information, and the
// credentials file is named, never read into a message.
#ifndef ASSIST_SRC_BUS_BUS_ERROR_H
#define ASSIST_SRC_BUS_BUS_ERROR_H

#include <string>
#include <system_error>
#include <type_traits>

#include "assist/status.h"

namespace assist::bus {

enum class BusErrc {
  unreachable = 1,        // no server of the list accepts a connection, or the connection is closed
  timeout,                // the server did not answer in time (a JetStream API call, a PubAck, an ack)
  no_stream,              // no stream stores the subject, or the named stream does not exist
  jetstream_unavailable,  // the server answers but JetStream does not: not enabled, or a cluster without quorum
  lease_held,             // acquire: the key is held by another owner (or by this one, not yet expired)
  lease_lost,             // renew or release: the key is no longer at the revision this holder wrote
  bad_config,             // the server refused a configuration (a stream of that name exists with another one)
  failed,                 // any other refusal by the client library or the server
};

const std::error_category& bus_category() noexcept;
std::error_code make_error_code(BusErrc errc) noexcept;

}  // namespace assist::bus

template <>
struct std::is_error_code_enum<assist::bus::BusErrc> : std::true_type {};

#endif
