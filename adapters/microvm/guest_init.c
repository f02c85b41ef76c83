// duende-microvm-init: PID 1 of a duende microVM (docs/adapters.md, "microvm").
//
// Built static: the guest has no libc of its own besides the daemon's. The host's
// MicrovmAdapter puts it at /init of an initramfs with the daemon, its libraries and a few
// kernel modules. It
//   1. mounts /proc, /sys, /dev (devtmpfs); loads the modules listed in /duende/modules;
//   2. finds the virtio-serial port named "duende.ctl" (the control channel to the host);
//   3. mounts the virtio-blk data disk (/dev/vda, ext4) at the configured directory;
//   4. brings up lo and eth0 (qemu user-mode network, 10.0.2.15/24) and relays TCP from
//      RELAY_PORT to 127.0.0.1:PORT, so a daemon listening on loopback is reachable through
//      qemu's hostfwd (which always connects to the guest's eth0 address);
//   5. starts the daemon (argv and environment from /duende/argv, /duende/env);
//   6. reports "READY" once 127.0.0.1:PORT accepts a connection (or at once without a port),
//      forwards "SIGNAL N" lines from the host to the daemon, and when the daemon ends,
//      sync(2)s the disks, reports "EXIT code=N" or "EXIT signal=N", waits for the host's
//      "BYE" (at most 2 s) and powers the VM off.
// The sync before power-off is what makes a process kill lose nothing a write(2) put in the
// guest's page cache; only a power loss (qemu killed from the host) loses that.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int ctl_fd = -1;

static void Log(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  dprintf(2, "duende-init: %s\n", buf);
}

static void WriteAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;
    }
    data += w;
    n -= (size_t)w;
  }
}

// One line to the host over the control port.
static void Say(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n > sizeof buf - 2) n = (int)(sizeof buf - 2);
  buf[n++] = '\n';
  if (ctl_fd >= 0) WriteAll(ctl_fd, buf, (size_t)n);
}

static void PowerOff(void) {
  sync();
  reboot(RB_POWER_OFF);
  for (;;) pause();
}

// Reports a failure of the guest's own set-up and powers off (the host reads it as the
// daemon's exit code 125: it never ran).
static void Fail(const char* what) {
  int err = errno;
  Log("%s: %s", what, strerror(err));
  Say("FAIL %s: %s", what, strerror(err));
  Say("EXIT code=125");
  PowerOff();
}

// Seconds since the guest's kernel started, for the host's log ("BOOTED 0.84").
static double Uptime(void) {
  struct timespec ts;
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long NowMs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// Reads a whole small file; returns its length or -1.
static ssize_t ReadFile(const char* path, char* buf, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t got = 0;
  while (got < size) {
    ssize_t r = read(fd, buf + got, size - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  close(fd);
  return (ssize_t)got;
}

// Splits NUL-separated strings into a NULL-terminated vector (in place).
static char** SplitNul(char* buf, size_t n, char** extra_end, int extra) {
  size_t count = 0;
  for (size_t i = 0; i < n; ++i) count += buf[i] == '\0';
  char** v = calloc(count + (size_t)extra + 1, sizeof(char*));
  if (v == NULL) return NULL;
  size_t k = 0;
  for (size_t i = 0; i < n;) {
    v[k++] = buf + i;
    i += strlen(buf + i) + 1;
  }
  for (int e = 0; e < extra; ++e) v[k++] = extra_end[e];
  return v;
}

static void MkdirP(const char* path) {
  char tmp[512];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char* p = tmp + 1; *p; ++p) {
    if (*p == '/') {
      *p = '\0';
      mkdir(tmp, 0755);
      *p = '/';
    }
  }
  mkdir(tmp, 0755);
}

static void LoadModules(void) {
  static char list[16384];
  ssize_t n = ReadFile("/duende/modules", list, sizeof list - 1);
  if (n <= 0) return;
  list[n] = '\0';
  for (char* line = strtok(list, "\n"); line != NULL; line = strtok(NULL, "\n")) {
    int fd = open(line, O_RDONLY | O_CLOEXEC);
    if (fd < 0) Fail(line);
    if (syscall(SYS_finit_module, fd, "", 0) != 0 && errno != EEXIST) Fail(line);
    close(fd);
  }
}

// The /dev node of the virtio-serial port named `name`, waiting up to `ms` for it.
static int FindPort(const char* name, char* dev, size_t size, long ms) {
  long deadline = NowMs() + ms;
  do {
    DIR* d = opendir("/sys/class/virtio-ports");
    if (d != NULL) {
      struct dirent* e;
      while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[300], got[64];
        snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/name", e->d_name);
        ssize_t n = ReadFile(path, got, sizeof got - 1);
        if (n <= 0) continue;
        got[n] = '\0';
        if (got[n - 1] == '\n') got[n - 1] = '\0';
        if (strcmp(got, name) == 0) {
          snprintf(dev, size, "/dev/%s", e->d_name);
          closedir(d);
          if (access(dev, F_OK) == 0) return 0;
          break;
        }
      }
      if (e == NULL) closedir(d);
    }
    usleep(5000);
  } while (NowMs() < deadline);
  return -1;
}

static int WaitForFile(const char* path, long ms) {
  long deadline = NowMs() + ms;
  while (access(path, F_OK) != 0) {
    if (NowMs() >= deadline) return -1;
    usleep(5000);
  }
  return 0;
}

static void InterfaceUp(const char* name, const char* address) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) Fail("socket");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
  if (address != NULL) {
    struct sockaddr_in* sin = (struct sockaddr_in*)&ifr.ifr_addr;
    sin->sin_family = AF_INET;
    inet_pton(AF_INET, address, &sin->sin_addr);
    if (ioctl(s, SIOCSIFADDR, &ifr) != 0) Fail("SIOCSIFADDR");
    inet_pton(AF_INET, "255.255.255.0", &sin->sin_addr);
    if (ioctl(s, SIOCSIFNETMASK, &ifr) != 0) Fail("SIOCSIFNETMASK");
  }
  if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0) Fail(name);
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0) Fail("SIOCSIFFLAGS");
  close(s);
}

static int ConnectLoopback(int port) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(s, (struct sockaddr*)&a, sizeof a) != 0) {
    close(s);
    return -1;
  }
  return s;
}

// One relayed connection, in a child process of its own: copies both ways until either side
// closes (blocking writes; a slow reader only holds up its own connection).
static void Relay(int client, int port) {
  int server = ConnectLoopback(port);
  if (server < 0) _exit(0);
  struct pollfd p[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
  char buf[65536];
  for (;;) {
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      _exit(0);
    }
    for (int i = 0; i < 2; ++i) {
      if (p[i].revents == 0) continue;
      ssize_t n = read(p[i].fd, buf, sizeof buf);
      if (n <= 0) _exit(0);
      WriteAll(p[1 - i].fd, buf, (size_t)n);
    }
  }
}

struct Settings {
  int port;
  int relay;
  char data[256];
  char workdir[256];
};

static void ReadSettings(struct Settings* s) {
  static char text[4096];
  ssize_t n = ReadFile("/duende/settings", text, sizeof text - 1);
  if (n < 0) Fail("/duende/settings");
  text[n] = '\0';
  for (char* line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
    char* sp = strchr(line, ' ');
    if (sp == NULL) continue;
    *sp = '\0';
    const char* v = sp + 1;
    if (strcmp(line, "port") == 0) s->port = atoi(v);
    if (strcmp(line, "relay") == 0) s->relay = atoi(v);
    if (strcmp(line, "data") == 0) snprintf(s->data, sizeof s->data, "%s", v);
    if (strcmp(line, "workdir") == 0) snprintf(s->workdir, sizeof s->workdir, "%s", v);
  }
}

int main(void) {
  struct Settings settings;
  memset(&settings, 0, sizeof settings);

  mount("proc", "/proc", "proc", 0, NULL);
  mount("sysfs", "/sys", "sysfs", 0, NULL);
  mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
  // The kernel opened /dev/console before /dev existed as devtmpfs: reopen it for the daemon.
  int console = open("/dev/console", O_RDWR);
  if (console >= 0) {
    dup2(console, 0);
    dup2(console, 1);
    dup2(console, 2);
    if (console > 2) close(console);
  }
  char dev[300];
  LoadModules();
  if (FindPort("duende.ctl", dev, sizeof dev, 10000) != 0) {
    errno = ENODEV;
    Fail("no virtio-serial port named duende.ctl");
  }
  ctl_fd = open(dev, O_RDWR | O_CLOEXEC);
  if (ctl_fd < 0) Fail(dev);
  Say("BOOTED %.3f", Uptime());
  ReadSettings(&settings);

  if (settings.data[0] != '\0') {
    if (WaitForFile("/dev/vda", 10000) != 0) Fail("/dev/vda");
    MkdirP(settings.data);
    if (mount("/dev/vda", settings.data, "ext4", 0, "") != 0) Fail("mount /dev/vda");
  }
  MkdirP("/tmp");
  chmod("/tmp", 01777);
  MkdirP("/run");

  int listener = -1;
  if (settings.port > 0) {
    InterfaceUp("lo", NULL);
    if (WaitForFile("/sys/class/net/eth0", 10000) != 0) Fail("/sys/class/net/eth0");
    InterfaceUp("eth0", "10.0.2.15");
    listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)settings.relay);
    inet_pton(AF_INET, "10.0.2.15", &a.sin_addr);
    if (bind(listener, (struct sockaddr*)&a, sizeof a) != 0 || listen(listener, 128) != 0) {
      Fail("relay listener");
    }
  }

  static char argv_buf[65536], env_buf[65536];
  ssize_t an = ReadFile("/duende/argv", argv_buf, sizeof argv_buf);
  ssize_t en = ReadFile("/duende/env", env_buf, sizeof env_buf);
  if (an <= 0) Fail("/duende/argv");
  char* no_extra[1] = {NULL};
  char** args = SplitNul(argv_buf, (size_t)an, no_extra, 0);
  char* defaults[] = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/", "TMPDIR=/tmp"};
  char** env = SplitNul(env_buf, en > 0 ? (size_t)en : 0, defaults, 3);
  if (args == NULL || env == NULL) Fail("calloc");
  if (settings.workdir[0] != '\0') MkdirP(settings.workdir);

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
  if (sfd < 0) Fail("signalfd");

  pid_t daemon = fork();
  if (daemon < 0) Fail("fork");
  if (daemon == 0) {
    sigprocmask(SIG_UNBLOCK, &mask, NULL);
    setsid();
    if (settings.workdir[0] != '\0' && chdir(settings.workdir) != 0) {
      Log("chdir %s: %s", settings.workdir, strerror(errno));
      _exit(126);
    }
    execve(args[0], args, env);
    Log("unable to run %s: %s", args[0], strerror(errno));
    _exit(127);
  }
  Say("SPAWNED %d", (int)daemon);

  int ready = settings.port <= 0;
  if (ready) Say("READY");
  char line[256];
  size_t line_len = 0;
  for (;;) {
    struct pollfd p[3] = {{sfd, POLLIN, 0}, {ctl_fd, POLLIN, 0}, {listener, POLLIN, 0}};
    int r = poll(p, listener >= 0 ? 3 : 2, ready ? -1 : 10);
    if (r < 0 && errno != EINTR) Fail("poll");
    if (!ready) {
      int s = ConnectLoopback(settings.port);
      if (s >= 0) {
        close(s);
        ready = 1;
        Say("READY");
        Log("ready at %.3f s", Uptime());
      }
    }
    if (r <= 0) continue;
    if (p[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      (void)!read(sfd, &si, sizeof si);
      int status;
      pid_t pid;
      while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid != daemon) continue;  // a relay child or an orphan of the daemon
        // Before the host hears of the exit, everything written reaches the disk: a process
        // death does not lose the page cache, so the VM's power-off must not either.
        sync();
        if (WIFSIGNALED(status)) {
          Say("EXIT signal=%d", WTERMSIG(status));
        } else {
          Say("EXIT code=%d", WEXITSTATUS(status));
        }
        // Wait for the host to have read it (qemu may drop what is queued at power-off).
        long deadline = NowMs() + 2000;
        char bye[16];
        while (NowMs() < deadline) {
          struct pollfd q = {ctl_fd, POLLIN, 0};
          if (poll(&q, 1, 100) > 0 && read(ctl_fd, bye, sizeof bye) > 0 &&
              memmem(bye, sizeof bye, "BYE", 3) != NULL) {
            break;
          }
        }
        PowerOff();
      }
    }
    if (p[1].revents & POLLIN) {
      char buf[256];
      ssize_t n = read(ctl_fd, buf, sizeof buf);
      for (ssize_t i = 0; i < n; ++i) {
        if (buf[i] != '\n') {
          if (line_len < sizeof line - 1) line[line_len++] = buf[i];
          continue;
        }
        line[line_len] = '\0';
        line_len = 0;
        int sig = 0;
        if (sscanf(line, "SIGNAL %d", &sig) == 1 && sig > 0 && sig < 65) {
          if (kill(daemon, sig) != 0) Log("kill %d: %s", sig, strerror(errno));
        }
      }
    }
    if (listener >= 0 && (p[2].revents & POLLIN)) {
      int c = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
      if (c >= 0) {
        pid_t child = fork();
        if (child == 0) {
          sigprocmask(SIG_UNBLOCK, &mask, NULL);
          Relay(c, settings.port);
        }
        close(c);
      }
    }
  }
}
