// The library's version (the CMake project version it was built from).
#ifndef ASSIST_VERSION_H
#define ASSIST_VERSION_H

#include <string_view>

namespace assist {

// "MAJOR.MINOR.PATCH", e.g. "0.1.0".
std::string_view version() noexcept;

}  // namespace assist

#endif  // ASSIST_VERSION_H
