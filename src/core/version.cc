#include "assist/version.h"

namespace assist {

std::string_view version() noexcept { return ASSIST_VERSION; }

}  // namespace assist
