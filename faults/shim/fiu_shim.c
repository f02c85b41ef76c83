// duende's libfiu firing shim: evidence that a failure point actually FIRED.
//
// libfiu's control FIFO can enable and disable failure points but cannot say whether one ever
// failed a call, and a point that is enabled but never evaluated (a blind spot: openat, the
// stat family, FORTIFY __*_chk calls, static binaries) is the commonest false pass of a
// syscall-fault test. This library is preloaded FIRST, before libfiu's fiu_run_preload.so and
// fiu_posix_preload.so (faults::PrepareFiuSpawn does it), and interposes three libfiu symbols:
//
//   fiu_fail()       every wrapped libc call asks it whether to fail. The shim counts the calls
//                    per point, forwards to libfiu, and when libfiu says "fail" it counts the
//                    failure and appends one line to PREFIX-PID.fired:
//                      <CLOCK_MONOTONIC ns> <pid> <tid> <point> <call number> <errno>
//   fiu_rc_string()  libfiu's control thread hands it every command read from the FIFO. The
//                    shim answers three commands of its own and passes the rest to libfiu:
//                      duende_calls name=P      calls of points matching P since P was enabled
//                      duende_fired name=P      of those, how many failed
//                      duende_nth name=P,nth=N,failinfo=E[,failnum=F]
//                                               fail exactly the Nth call of P (counted from
//                                               now) with errno E, through fiu_enable_external
//                    The reply is the number (libfiu writes the return value as the reply);
//                    -1 is an error. After a successful enable* of P, P's counters restart.
//   fiu_rc_fifo()    starts libfiu's control threads; the shim starts them with every signal
//                    blocked. Otherwise a SIGTERM sent to the process may be delivered to one
//                    of them (they block nothing), and a daemon that handles SIGTERM through
//                    signalfd in its main thread dies by the signal instead of shutting down:
//                    running under libfiu would change the behaviour under test.
//
// A forked child keeps logging to its parent's file (with its own pid on each line); a
// process that execs opens its own PREFIX-PID.fired.
//
// P may end in '*' (a prefix), as in libfiu. Runs inside arbitrary targets, on the path of
// malloc and write: so no allocation, no stdio, no locks in fiu_fail, and raw syscalls for
// the log (a wrapped write() would recurse into libfiu). Written in C so that it drags no C++
// runtime into the target.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

typedef int external_cb_t(const char* name, int* failnum, void** failinfo, unsigned int* flags);

#define EXPORT __attribute__((visibility("default")))

// String helpers of our own: the shim runs inside malloc and write, and calls no libc string
// function on shared data (a sanitizer runtime in the target intercepts those and, not seeing
// the atomics of this uninstrumented library, would report the slot table as a data race).
// Built with -fno-builtin -fno-tree-loop-distribute-patterns so the loops stay loops.
static size_t Len(const char* s) {
  size_t n = 0;
  while (s[n] != '\0') ++n;
  return n;
}

// Compares the first `n` bytes (n = (size_t)-1: whole strings); 0 when equal.
static int Compare(const char* a, const char* b, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return (unsigned char)a[i] - (unsigned char)b[i];
    if (a[i] == '\0') return 0;
  }
  return 0;
}

static void Copy(char* to, const char* from, size_t n) {
  for (size_t i = 0; i < n; ++i) to[i] = from[i];
}

// ---- Per-point counters: a fixed open-addressing table keyed by the point's name ----------

enum { kSlots = 512, kNameMax = 64, kNthSlots = 32, kMaxLogLines = 10000 };

struct Slot {
  int state;  // 0 free, 1 being filled, 2 ready
  char name[kNameMax];
  uint64_t calls, fails;            // since the library was loaded
  uint64_t base_calls, base_fails;  // at the last enable of a pattern matching this point
};

static struct Slot slots[kSlots];

static int (*real_fiu_fail)(const char*);
static void* (*real_fiu_failinfo)(void);
static int (*real_fiu_rc_string)(const char*, char** const);
static int (*real_fiu_enable_external)(const char*, int, void*, unsigned int, external_cb_t*);
static int (*real_fiu_rc_fifo)(const char*);

// Set on libfiu's control thread (the first time it hands us a command). libfiu never fails
// that thread's own calls (the byte-by-byte reads of a command, the write of its reply), so they
// are not counted: a query must not count itself as a call of posix/io/rw/write.
// initial-exec: the library is preloaded, and the dynamic TLS model may allocate.
static __thread int on_control_thread __attribute__((tls_model("initial-exec")));

static int log_fd = -1;
static int log_lines;

static uint64_t Hash(const char* s) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (; *s != '\0'; ++s) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

// The slot of `name`, created on first use; NULL when the table is full or the name too long.
static struct Slot* FindSlot(const char* name, int create) {
  size_t len = Len(name);
  if (len >= kNameMax) return NULL;
  size_t i = (size_t)(Hash(name) % kSlots);
  for (int probe = 0; probe < kSlots; ++probe, i = (i + 1) % kSlots) {
    struct Slot* s = &slots[i];
    int st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
    if (st == 0) {
      if (!create) return NULL;
      int expected = 0;
      if (__atomic_compare_exchange_n(&s->state, &expected, 1, 0, __ATOMIC_ACQ_REL,
                                      __ATOMIC_ACQUIRE)) {
        Copy(s->name, name, len + 1);
        __atomic_store_n(&s->state, 2, __ATOMIC_RELEASE);
        return s;
      }
      st = expected;
    }
    while (st == 1) st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);  // another thread fills
    if (Compare(s->name, name, (size_t)-1) == 0) return s;
  }
  return NULL;
}

// libfiu's wildcard rule: "posix/io/*" matches every name that starts with "posix/io/".
static int Matches(const char* pattern, const char* name) {
  size_t n = Len(pattern);
  if (n > 0 && pattern[n - 1] == '*') return Compare(pattern, name, n - 1) == 0;
  return Compare(pattern, name, (size_t)-1) == 0;
}

// ---- The firing log -----------------------------------------------------------------------

static char* AppendU64(char* p, uint64_t v) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0) *p++ = tmp[--n];
  return p;
}

static void OpenLog(void) {
  const char* prefix = getenv("FIU_CTRL_FIFO");
  if (prefix == NULL || *prefix == '\0') return;
  char path[PATH_MAX];
  size_t n = strlen(prefix);
  if (n + 32 >= sizeof path) return;
  memcpy(path, prefix, n);
  char* p = path + n;
  *p++ = '-';
  p = AppendU64(p, (uint64_t)syscall(SYS_getpid));
  memcpy(p, ".fired", 7);
  // Raw openat: libfiu wraps open(), and the log must never be failed by the faults it logs.
  log_fd =
      (int)syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
}

static void LogFiring(const char* name, uint64_t call, long err) {
  if (log_fd < 0 || __atomic_fetch_add(&log_lines, 1, __ATOMIC_RELAXED) >= kMaxLogLines) return;
  struct timespec ts;
  syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
  char line[kNameMax + 128];
  char* p = AppendU64(line, (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec);
  *p++ = ' ';
  p = AppendU64(p, (uint64_t)syscall(SYS_getpid));
  *p++ = ' ';
  p = AppendU64(p, (uint64_t)syscall(SYS_gettid));
  *p++ = ' ';
  size_t len = Len(name);
  Copy(p, name, len);
  p += len;
  *p++ = ' ';
  p = AppendU64(p, call);
  *p++ = ' ';
  if (err < 0) {
    *p++ = '-';
    err = -err;
  }
  p = AppendU64(p, (uint64_t)err);
  *p++ = '\n';
  // One write() of a short line to an O_APPEND file: lines of different threads do not mix.
  (void)syscall(SYS_write, log_fd, line, (size_t)(p - line));
}

// ---- Interposed libfiu entry points ---------------------------------------------------------

// Resolves libfiu's functions once. Runs from the constructor, or earlier from a wrapper
// when another preloaded library's constructor calls into libfiu first (the order of
// constructors is the loader's). dlsym may allocate, and malloc is itself a failure point:
// fiu_fail() answers "do not fail" until this is done.
static void Resolve(void) {
  static int done;
  if (__atomic_exchange_n(&done, 1, __ATOMIC_ACQ_REL)) return;
  real_fiu_failinfo = (void* (*)(void))dlsym(RTLD_NEXT, "fiu_failinfo");
  real_fiu_rc_string = (int (*)(const char*, char** const))dlsym(RTLD_NEXT, "fiu_rc_string");
  real_fiu_enable_external = (int (*)(const char*, int, void*, unsigned int, external_cb_t*))dlsym(
      RTLD_NEXT, "fiu_enable_external");
  real_fiu_rc_fifo = (int (*)(const char*))dlsym(RTLD_NEXT, "fiu_rc_fifo");
  OpenLog();
  __atomic_store_n(&real_fiu_fail, (int (*)(const char*))dlsym(RTLD_NEXT, "fiu_fail"),
                   __ATOMIC_RELEASE);
}

__attribute__((constructor)) static void Init(void) { Resolve(); }

EXPORT int fiu_rc_fifo(const char* basename) {
  Resolve();
  if (real_fiu_rc_fifo == NULL) return -1;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);  // the threads created now inherit this mask
  int r = real_fiu_rc_fifo(basename);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return r;
}

EXPORT int fiu_fail(const char* name) {
  int (*real)(const char*) = __atomic_load_n(&real_fiu_fail, __ATOMIC_ACQUIRE);
  if (real == NULL) return 0;  // not resolved yet (a malloc inside dlsym)
  if (on_control_thread) return real(name);
  struct Slot* s = FindSlot(name, 1);
  uint64_t call = s != NULL ? __atomic_add_fetch(&s->calls, 1, __ATOMIC_RELAXED) : 0;
  int r = real(name);
  if (r != 0) {
    uint64_t base = s != NULL ? __atomic_load_n(&s->base_calls, __ATOMIC_RELAXED) : 0;
    if (s != NULL) __atomic_add_fetch(&s->fails, 1, __ATOMIC_RELAXED);
    long err = real_fiu_failinfo != NULL ? (long)(intptr_t)real_fiu_failinfo() : 0;
    LogFiring(name, call - base, err);
  }
  return r;
}

// "duende_nth": one counter per enabled pattern; libfiu calls NthCallback with the pattern it
// was enabled under.
struct NthSlot {
  char pattern[kNameMax];
  uint64_t target;
  uint64_t seen;
};
static struct NthSlot nth_slots[kNthSlots];

static int NthCallback(const char* name, int* failnum, void** failinfo, unsigned int* flags) {
  (void)failnum;
  (void)failinfo;
  (void)flags;
  for (int i = 0; i < kNthSlots; ++i) {
    struct NthSlot* n = &nth_slots[i];
    if (n->target != 0 && Compare(n->pattern, name, (size_t)-1) == 0) {
      return __atomic_add_fetch(&n->seen, 1, __ATOMIC_RELAXED) == n->target;
    }
  }
  return 0;
}

// Restarts the counters of every point matching `pattern`.
static void ResetCounters(const char* pattern) {
  for (int i = 0; i < kSlots; ++i) {
    struct Slot* s = &slots[i];
    if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != 2 || !Matches(pattern, s->name)) continue;
    __atomic_store_n(&s->base_calls, __atomic_load_n(&s->calls, __ATOMIC_RELAXED),
                     __ATOMIC_RELAXED);
    __atomic_store_n(&s->base_fails, __atomic_load_n(&s->fails, __ATOMIC_RELAXED),
                     __ATOMIC_RELAXED);
  }
}

static int Sum(const char* pattern, int fired) {
  uint64_t total = 0;
  for (int i = 0; i < kSlots; ++i) {
    struct Slot* s = &slots[i];
    if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != 2 || !Matches(pattern, s->name)) continue;
    total += fired ? s->fails - s->base_fails : s->calls - s->base_calls;
  }
  return total > INT_MAX ? INT_MAX : (int)total;
}

// Finds "key=value" in a comma-separated parameter list; copies the value into `out`.
static int Param(const char* params, const char* key, char* out, size_t size) {
  size_t klen = strlen(key);
  for (const char* p = params; p != NULL && *p != '\0';) {
    const char* end = strchr(p, ',');
    size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
    if (len > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
      size_t vlen = len - klen - 1;
      if (vlen >= size) return 0;
      memcpy(out, p + klen + 1, vlen);
      out[vlen] = '\0';
      return 1;
    }
    p = end != NULL ? end + 1 : NULL;
  }
  return 0;
}

static int EnableNth(const char* params, char** const error) {
  char name[kNameMax], nth[24], info[24], failnum[24] = "1";
  if (!Param(params, "name", name, sizeof name) || !Param(params, "nth", nth, sizeof nth) ||
      !Param(params, "failinfo", info, sizeof info)) {
    *error = "duende_nth needs name=, nth= and failinfo=";
    return -1;
  }
  (void)Param(params, "failnum", failnum, sizeof failnum);
  unsigned long long n = strtoull(nth, NULL, 10);
  if (n == 0 || real_fiu_enable_external == NULL) {
    *error = "duende_nth: nth must be >= 1";
    return -1;
  }
  int slot = -1;
  for (int i = 0; i < kNthSlots; ++i) {
    if (nth_slots[i].target == 0 || Compare(nth_slots[i].pattern, name, (size_t)-1) == 0) {
      slot = i;
      break;
    }
  }
  if (slot < 0) {
    *error = "duende_nth: too many points";
    return -1;
  }
  struct NthSlot* s = &nth_slots[slot];
  __atomic_store_n(&s->target, 0, __ATOMIC_RELAXED);  // disarm while it is rewritten
  Copy(s->pattern, name, Len(name) + 1);
  __atomic_store_n(&s->seen, 0, __ATOMIC_RELAXED);
  __atomic_store_n(&s->target, (uint64_t)n, __ATOMIC_RELEASE);
  ResetCounters(name);
  return real_fiu_enable_external(name, atoi(failnum), (void*)(intptr_t)strtol(info, NULL, 10), 0,
                                  NthCallback);
}

EXPORT int fiu_rc_string(const char* cmd, char** const error) {
  Resolve();
  // Commands from FIU_ENABLE arrive on the main thread at start; the FIFO's on its own thread.
  if (syscall(SYS_gettid) != syscall(SYS_getpid)) on_control_thread = 1;
  if (real_fiu_rc_string == NULL) {
    *error = "duende fiu shim: libfiu not found";
    return -1;
  }
  const char* params = strchr(cmd, ' ');
  params = params != NULL ? params + 1 : "";
  char name[kNameMax];
  if (strncmp(cmd, "duende_calls ", 13) == 0 || strncmp(cmd, "duende_fired ", 13) == 0) {
    if (!Param(params, "name", name, sizeof name)) {
      *error = "duende_calls/duende_fired need name=";
      return -1;
    }
    return Sum(name, cmd[7] == 'f');
  }
  if (strncmp(cmd, "duende_nth ", 11) == 0) return EnableNth(params, error);
  int r = real_fiu_rc_string(cmd, error);
  if (r == 0 && strncmp(cmd, "enable", 6) == 0 && Param(params, "name", name, sizeof name)) {
    ResetCounters(name);
  }
  return r;
}
