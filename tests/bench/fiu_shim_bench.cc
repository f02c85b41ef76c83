// Cost of duende's libfiu firing shim per intercepted call: a child does N write(2) calls of
// one byte to /dev/null (a wrapped libfiu point, posix/io/rw/write, never enabled) under
//   plain          no preload                      (the syscall's own cost)
//   libfiu         libfiu's two preload libraries  (the baseline the shim adds to)
//   libfiu+shim    the shim preloaded first        (what duende runs targets with)
// Each mode runs 5 times; the medians and the ratio shim/libfiu are printed.
// Usage: fiu_shim_bench [calls per run]
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "duende/faults/libfiu.h"
#include "duende/framework/clock.h"
#include "duende/framework/process.h"
#include "duende/framework/temp_dir.h"

namespace {

namespace fw = duende::framework;
namespace faults = duende::faults;

int Child(long calls) {
  int fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  char c = 'x';
  int64_t t0 = fw::MonotonicNs();
  for (long i = 0; i < calls; ++i) {
    if (::write(fd, &c, 1) != 1) return 1;
  }
  int64_t t1 = fw::MonotonicNs();
  std::printf("%.2f\n", static_cast<double>(t1 - t0) / static_cast<double>(calls));
  return 0;
}

// Runs this program as a child with `preload` and returns its ns per call.
double RunOnce(const std::string& self, long calls, const std::string& preload,
               const std::string& fifo_prefix) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) std::exit(3);
  fw::SpawnOptions o;
  o.argv = {self, "--child", std::to_string(calls)};
  o.stdout_fd = pipefd[1];
  if (!preload.empty()) {
    o.env_overrides = {"LD_PRELOAD=" + preload, "FIU_CTRL_FIFO=" + fifo_prefix};
  }
  auto child = fw::Spawn(o);
  ::close(pipefd[1]);
  if (!child.ok()) {
    std::fprintf(stderr, "spawn: %s\n", child.error().Message().c_str());
    std::exit(3);
  }
  char buf[64] = {};
  ssize_t n = ::read(pipefd[0], buf, sizeof buf - 1);
  ::close(pipefd[0]);
  (void)fw::WaitExit(child->pidfd.get());
  faults::RemoveFiuFifos(fifo_prefix);
  return n > 0 ? std::atof(buf) : -1;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--child") return Child(std::atol(argv[2]));
  long calls = argc > 1 ? std::atol(argv[1]) : 2000000;
  if (!faults::FiuAvailable() || faults::FiuShimPath().empty()) {
    std::fprintf(stderr, "needs libfiu (fiu-utils) and the built shim\n");
    return 3;
  }
  char self[4096] = {};
  if (::readlink("/proc/self/exe", self, sizeof self - 1) <= 0) return 3;
  auto dir = fw::PrivateTempDir::Make("duende-fiu-shim-bench");
  if (!dir.ok()) return 3;
  std::string prefix = dir->path() + "/fiu";
  std::string fiu = std::string(faults::kFiuRunPreload) + " " + faults::kFiuPosixPreload;
  std::string shim = faults::FiuShimPath() + " " + fiu;
  std::vector<double> plain, libfiu, shimmed;
  for (int i = 0; i < 5; ++i) {  // interleaved, so drift hits every mode alike
    plain.push_back(RunOnce(self, calls, "", prefix));
    libfiu.push_back(RunOnce(self, calls, fiu, prefix));
    shimmed.push_back(RunOnce(self, calls, shim, prefix));
  }
  double p = Median(plain), f = Median(libfiu), s = Median(shimmed);
  std::printf("write(2) of 1 byte to /dev/null, %ld calls per run, median of 5 runs\n", calls);
  std::printf("  plain         %8.1f ns/call\n", p);
  std::printf("  libfiu        %8.1f ns/call  (+%.1f ns over plain)\n", f, f - p);
  std::printf("  libfiu+shim   %8.1f ns/call  (+%.1f ns over libfiu)\n", s, s - f);
  std::printf("  ratio libfiu+shim / libfiu = %.3f\n", s / f);
  return 0;
}
