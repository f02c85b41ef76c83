// What a sanitizer build (the asan and tsan presets) cannot test: such a test skips with the
// reason. Reasons are facts about the runtimes, checked on these machines:
// - mlock: ASan's mlock/mlockall interceptors lock nothing; under TSan mlockall fails (ENOMEM:
//   it would lock the shadow mappings).
// - resident memory: TSan's allocator and shadow memory inflate RSS several times over, and
//   are charged to the process's memory cgroup.
// - pids.max: TSan's background thread is a task of the process's cgroup.
#pragma once

#include <gtest/gtest.h>

#if defined(__SANITIZE_ADDRESS__)
#define DUENDE_SANITIZER "AddressSanitizer"
#elif defined(__SANITIZE_THREAD__)
#define DUENDE_SANITIZER "ThreadSanitizer"
#endif

#ifdef DUENDE_SANITIZER
#define DUENDE_SKIP_UNDER_SANITIZER(why) GTEST_SKIP() << DUENDE_SANITIZER " build: " << why
#else
#define DUENDE_SKIP_UNDER_SANITIZER(why) (void)0
#endif
