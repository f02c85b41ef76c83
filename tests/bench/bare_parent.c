/* The floor for a process manager's idle memory: a C parent that spawns N copies of a command
 * (one per service) and waits, with no restart logic, config or control socket. lean_bench.sh
 * measures duende supervise, s6 and runit beside it in the same run.
 * Usage: lean-bench-bare-parent N PROGRAM [ARGS...]   (SIGTERM ends it and its children) */
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

enum { kMaxChildren = 1024 };
static pid_t children[kMaxChildren];
static int count;

static void Stop(int sig) {
  (void)sig;
  for (int i = 0; i < count; ++i) kill(children[i], SIGTERM);
  _exit(0);
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: lean-bench-bare-parent N PROGRAM [ARGS...]\n");
    return 2;
  }
  int n = atoi(argv[1]);
  if (n < 1 || n > kMaxChildren) n = 1;
  signal(SIGTERM, Stop);
  for (int i = 0; i < n; ++i) {
    if (posix_spawn(&children[count], argv[2], NULL, NULL, argv + 2, environ) != 0) {
      perror("posix_spawn");
      Stop(0);
    }
    ++count;
  }
  for (;;) {
    if (wait(NULL) < 0) pause();
  }
}
