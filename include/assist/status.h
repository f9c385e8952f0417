// The error convention of assist-sync, one for every layer.
//
// A failure is a std::error_code whose category names the layer that failed
// (frame, submit, option, transport, audit, crm, the OS's for files and
// sockets): programs compare codes, never messages. Beside it, for people, a
// message naming what failed (the URL, file, member or step) and its system
// cause, never a secret. `Status` carries the two; `Result<T>` is a value or
// the error saying why there is none. Nothing throws across the public API
// except std::bad_alloc.
#ifndef ASSIST_STATUS_H
#define ASSIST_STATUS_H

#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>

namespace assist {

// Ok (no code), or a failure: its code and a message for people.
struct Status {
  std::error_code code;
  std::string message;

  bool ok() const noexcept { return !code; }
  // "<op> <path>: <strerror>", the errno value as a std::system_category code.
  static Status from_errno(int err, std::string_view op, std::string_view path);
};

// A T, or the error E (a Status, or a type extending it) saying why there is
// none. Converts implicitly from either, so a function returns whichever it has.
template <class T, class E = Status>
class Result {
 public:
  Result(T value) : value_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(E error) : value_(std::in_place_index<1>, std::move(error)) {}  // NOLINT
  bool ok() const noexcept { return value_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  // REQUIRES: ok().
  T& value() & { return std::get<0>(value_); }
  const T& value() const& { return std::get<0>(value_); }
  T&& value() && { return std::get<0>(std::move(value_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  // REQUIRES: !ok().
  const E& error() const { return std::get<1>(value_); }

 private:
  std::variant<T, E> value_;
};

}  // namespace assist

#endif  // ASSIST_STATUS_H
