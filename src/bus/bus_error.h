// Errors of the NATS JetStream layer (internal): a std::error_code in the
// `bus` category and a message naming what failed. Messages never hold a
// credential: server URLs are shown without their user information, and the
// credentials file is named, never read into a message.
#ifndef ASSIST_SRC_BUS_BUS_ERROR_H
#define ASSIST_SRC_BUS_BUS_ERROR_H

#include <optional>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

namespace assist::bus {

enum class BusErrc {
  unreachable = 1,        // no server of the list accepts a connection, or the connection is closed
  timeout,                // the server did not answer in time (a JetStream API call, a PubAck, an ack)
  no_stream,              // no stream stores the subject, or the named stream does not exist
  jetstream_unavailable,  // the server answers but JetStream is not enabled on it
  lease_held,             // acquire: the key is held by another owner (or by this one, not yet expired)
  lease_lost,             // renew or release: the key is no longer at the revision this holder wrote
  bad_config,             // the server refused a configuration (a stream of that name exists with another one)
  failed,                 // any other refusal by the client library or the server
};

const std::error_category& bus_category() noexcept;
std::error_code make_error_code(BusErrc errc) noexcept;

// What failed: the code to branch on and a message for a log.
struct BusError {
  std::error_code code;
  std::string message;
};

// The value of an operation that can fail, or its BusError.
template <class T>
class BusResult {
 public:
  BusResult(T value) : value_(std::move(value)) {}  // implicit, like std::expected
  BusResult(BusError error) : error_(std::move(error)) {}

  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }
  // Preconditions: ok().
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  // Precondition: !ok().
  const BusError& error() const { return error_; }

 private:
  std::optional<T> value_;
  BusError error_;
};

// The outcome of an operation without a value: ok, or its BusError.
class BusStatus {
 public:
  BusStatus() = default;
  BusStatus(BusError error) : error_(std::move(error)) {}  // implicit, like BusResult

  bool ok() const { return !error_.code; }
  explicit operator bool() const { return ok(); }
  // Precondition: !ok().
  const BusError& error() const { return error_; }

 private:
  BusError error_;
};

}  // namespace assist::bus

template <>
struct std::is_error_code_enum<assist::bus::BusErrc> : std::true_type {};

#endif
