// A directory of the fuzz process's own for targets that need real files,
// removed when the process exits normally.
#ifndef ASSIST_FUZZ_TEMP_DIR_H
#define ASSIST_FUZZ_TEMP_DIR_H

#include <unistd.h>

#include <filesystem>
#include <string>

namespace assist::fuzz {

inline const std::filesystem::path& temp_dir() {
  struct Dir {
    Dir() : path(std::filesystem::temp_directory_path() / ("assist-fuzz-" + std::to_string(::getpid()))) {
      std::filesystem::create_directories(path);
    }
    ~Dir() {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
    }
    std::filesystem::path path;
  };
  static const Dir dir;
  return dir.path;
}

}  // namespace assist::fuzz

#endif
