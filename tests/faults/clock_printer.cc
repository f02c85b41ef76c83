// Test target for the clock fault: prints what its clocks say every 50 ms, for at most 60 s.
//   realtime=<CLOCK_REALTIME seconds> monotonic=<CLOCK_MONOTONIC seconds>
#include <time.h>
#include <unistd.h>

#include <cstdio>

int main() {
  for (int i = 0; i < 1200; ++i) {
    timespec real{}, mono{};
    ::clock_gettime(CLOCK_REALTIME, &real);
    ::clock_gettime(CLOCK_MONOTONIC, &mono);
    std::printf("realtime=%lld monotonic=%lld\n", static_cast<long long>(real.tv_sec),
                static_cast<long long>(mono.tv_sec));
    std::fflush(stdout);
    ::usleep(50000);
  }
  return 0;
}
