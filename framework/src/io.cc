#include "duende/framework/io.h"

#include <unistd.h>

namespace duende::framework {

Result<void> WriteAll(int fd, std::string_view text) {
  while (!text.empty()) {
    ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("write");
    }
    text.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

}  // namespace duende::framework
