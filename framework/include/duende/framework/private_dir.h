// Private directories: where duende keeps what it later trusts (undo journals, the control
// socket). Another user who could create, replace or write into such a directory could feed
// root a recipe of its choosing, or stand in for the supervisor, so every use checks first.
#pragma once

#include <sys/types.h>

#include <string>

#include "duende/framework/result.h"

namespace duende::framework {

/// Checks that `dir` is a real directory (lstat: not a symbolic link) owned by the effective
/// uid whose mode grants nothing to group or others beyond the bits in `group_bits` (0: mode
/// 0700 exactly; S_IXGRP: 0710, for a directory a control group may traverse).
/// Errors: lstat's errno (ENOENT); ENOTDIR; EPERM with a message naming the owner, the mode
/// and the fix.
Result<void> CheckPrivateDir(const std::string& dir, mode_t group_bits = 0);

/// Creates `dir` and its missing parents with mode 0700 (parents that exist are left as they
/// are), then CheckPrivateDir(dir, group_bits). Errors: mkdir's errno, or CheckPrivateDir's.
Result<void> EnsurePrivateDir(const std::string& dir, mode_t group_bits = 0);

}  // namespace duende::framework
