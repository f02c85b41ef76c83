// Where duende finds its run-time files (the libfiu shim, fixture and helper programs): relative
// to an install prefix, never at a path fixed when the library was compiled, so that an install
// works at any prefix (`cmake --install build --prefix DIR`) and can be moved as a whole.
#pragma once

#include <string>
#include <vector>

namespace duende::framework {

/// The kinds of run-time files and where an install keeps them.
enum class RuntimeDir {
  kLibrary,   ///< PREFIX/lib/duende: libduende-fiu-shim.so
  kPrograms,  ///< PREFIX/libexec/duende: fixture daemons, duende-microvm-init and -runner
};

/// The directories to look in for run-time files of `kind`, best first, existing ones only:
///   1. under the prefix of the running executable, when it is installed (PREFIX/bin/duende,
///      PREFIX/libexec/duende/duende-supervise);
///   2. the directories recorded when the executable was linked: one linked against an
///      installed duende records that install's prefix (duendeConfig.cmake compiles one
///      generated source into each executable), one linked in duende's build tree records the
///      build tree's directories (framework/CMakeLists.txt).
/// No environment variable is read here (callers keep their own overrides).
std::vector<std::string> RuntimeDirs(RuntimeDir kind);

/// The first of RuntimeDirs(kind) holding `name` with `mode` access (access(2)), or "".
std::string FindRuntimeFile(RuntimeDir kind, const std::string& name, int mode);

}  // namespace duende::framework

/// Defined by the generated source an executable is linked with (see RuntimeDirs): the
/// directories of `kind` (0 library, 1 programs), separated by '\n'. Weak here: an executable
/// linked without it simply has no recorded directories.
extern "C" const char* duende_linked_runtime_dirs(int kind) __attribute__((weak));
