#include "assist/status.h"

#include <cstring>

#include <fmt/format.h>

namespace assist {

Status Status::from_errno(int err, std::string_view op, std::string_view path) {
  return {std::error_code(err, std::system_category()), fmt::format("{} {}: {}", op, path, std::strerror(err))};
}

}  // namespace assist
