// Small descriptor I/O helpers shared by every module.
#pragma once

#include <string_view>

#include "duende/framework/result.h"

namespace duende::framework {

/// Writes all of `text` to `fd`, retrying short writes and EINTR. Errors: the errno of
/// write(2) with the context "write" (EPIPE, ENOSPC, EAGAIN on a non-blocking fd, ...).
Result<void> WriteAll(int fd, std::string_view text);

}  // namespace duende::framework
